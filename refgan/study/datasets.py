"""The study's data: the embedded blood cells, scikit-learn's digits, or a folder; and
the real images a GAN's *parent runs* were trained on (lineage for the leak checks)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from refgan.data import Dataset, make_blood_cells, resize, to_float
from refgan.data.loaders import load_reported
from refgan.training.run_folder import read_config_record
from refgan.errors import UserError
from refgan.training import data as gan_data


def sklearn_digits(size: int = 32, n_per_class: int = 0, seed: int = 0) -> Dataset:
    """scikit-learn's handwritten digits (UCI; 1,797 images of 8x8, 16 grey levels,
    10 classes), shipped inside scikit-learn: no download.

    Grey levels 0..16 (white ink on black, as stored) are scaled to 0..255, copied to 3
    channels and resized bilinearly to ``size``. With
    ``n_per_class`` > 0 a random subset of that many images per class (seeded).
    """
    from sklearn.datasets import load_digits  # lazy: only this dataset needs it

    d = load_digits()
    u8 = np.clip(np.rint(d.images * (255 / 16)), 0, 255).astype(np.uint8)  # (N, 8, 8)
    y = d.target.astype(np.int64)
    if n_per_class:
        rng = np.random.default_rng([seed, 5])
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), n_per_class,
                                                  replace=False) for c in range(10)]))
        u8, y = u8[keep], y[keep]
    x = to_float(np.repeat(u8[..., None], 3, axis=-1))
    if size != 8:
        x = np.clip(resize(x, size), -1, 1).astype(np.float32)
    return Dataset(x, y, [str(c) for c in range(10)], name="scikit-learn digits (8x8, upsampled)",
                   meta=dict(source="sklearn.datasets.load_digits"))


def load_study_data(data: str, n_per_class: int, size: int, data_seed: int, log=print,
                    skip_bad: bool = False, crop=None) -> Dataset:
    """'synthetic', 'digits' or a folder (loaded with its load report logged; ``crop``:
    its centre crop before resizing, pixels or a fraction)."""
    if crop and data in ("synthetic", "digits"):
        raise UserError(f"--crop crops images of a dataset on disk; leave it out for --data {data}")
    if data == "synthetic":
        return make_blood_cells(n_per_class=n_per_class, size=size, seed=data_seed)
    if data == "digits":
        return sklearn_digits(size=size, n_per_class=n_per_class, seed=data_seed)
    return load_reported(data, log, size=size, skip_bad=skip_bad, crop=crop)


def run_config(run_dir) -> dict:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise UserError(f"{run_dir} is not a run folder (no config.json)")
    return read_config_record(path)


def run_training_images(run_dir) -> Dataset:
    """The real training split a run folder was trained on (rebuilt by
    :func:`refgan.training.data.run_data` from its config, checked against its data hash)."""
    return gan_data.run_data(run_dir).train


def parent_runs(run_dir) -> list:
    """Run folders whose weights a run started from: acgan-ali's ALI run (its encoder,
    and its generator when fine-tuned), recursively."""
    c = run_config(run_dir)
    return [c["ali"], *parent_runs(c["ali"])] if c.get("ali") else []


def _keys(images) -> list:
    """A content key per image (uint8-rounded pixels), equal for the same picture
    however it was loaded."""
    u8 = np.clip(np.rint((np.asarray(images, np.float32) + 1) * 127.5), 0, 255).astype(np.uint8)
    return [hashlib.sha1(im.tobytes()).hexdigest() for im in u8]


def origins_seen_by(runs, ds: Dataset) -> np.ndarray:
    """Origins (in ``ds``) of the images of ``ds`` that any of ``runs`` trained on: the
    parents' training data belong to the lineage of whatever is generated from them.
    Images are matched by content, so a parent trained on another split, another
    ``n_per_class`` or a differently ordered copy of the data is still caught."""
    if not runs:
        return np.zeros(0, np.int64)
    index = {}
    for k, o in zip(_keys(ds.images), ds.origin):
        index.setdefault(k, []).append(int(o))
    seen = []
    for run in runs:
        tr = run_training_images(run)
        if tr.image_size != ds.image_size:
            raise UserError(f"parent run {run} has {tr.image_size[0]} px images, the study "
                            f"{ds.image_size[0]} px")
        for k in _keys(tr.images):
            seen.extend(index.get(k, ()))
    return np.unique(np.asarray(seen, np.int64))
