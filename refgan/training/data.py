"""The data a GAN trains on, prepared once for ``train`` and for the study.

A :class:`GanData` holds three datasets:

* ``train``: the real training images (the quality figures' and the study's
  reference, and the lineage of every generated image);
* ``test``: the held-out real images (empty in the study, where the fold's test split
  never comes near a GAN);
* ``gan_set``: ``train`` grown by ``grow`` (what the GAN sees): ``dihedral`` adds the
  8 rotations/flips of the square (exact: no interpolation), ``rot45flip`` the 8
  rotations by 45 degrees and their mirror images (16x, Gaur et al.), ``affine`` 7
  copies by Guruswamy et al.'s small affine changes (rotation up to 15 degrees, zoom
  0.9-1.1, shift up to 10%, no flip: the orientation is kept), ``none`` nothing.
  ``auto`` chooses by the data (:func:`auto_growth`, the one rule for ``train`` and
  the study): the square's symmetries for cells, which have no orientation; the
  affine growth for other data, whose class may be its orientation (6 and 9, b and d).

The trainer is handed a GanData (as Chainer's updaters are handed an iterator) and
never builds data from its config: ``train`` builds it with :func:`prepare`, the study
from each fold's split with :func:`from_split`, resume and the study's run-folder step
with :func:`run_data`, which checks it against the hash the run recorded.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refgan import augment
from refgan.data import Dataset, make_blood_cells, split
from refgan.data.cells import is_cell_data
from refgan.data.loaders import load_reported
from refgan.errors import UserError
from refgan.training import checkpoint
from refgan.gans import MODEL_CLASSES
from refgan.training.config import GROWTHS, TrainConfig, crop_arg


@dataclass
class GanData:
    """The real split and the grown GAN training set (see the module docstring)."""

    train: Dataset
    test: Dataset
    gan_set: Dataset
    grow: str = "none"       # how gan_set was grown from train
    grow_why: str = ""       # and why
    npz_split: str = "auto"  # the part of a .npz used ('auto': the data are no npz)

    @property
    def class_names(self) -> list[str]:
        return list(self.gan_set.class_names)

    def record(self, config: TrainConfig) -> TrainConfig:
        """``config`` with the choices made while preparing these data written in
        ('auto' resolved), as the run's config.json records them."""
        return config.replace(grow=self.grow, grow_why=self.grow_why, npz_split=self.npz_split)

    def hash(self) -> str:
        """sha256 of the GAN set's images and labels: resume refuses other data."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.gan_set.images).tobytes())
        h.update(np.ascontiguousarray(self.gan_set.labels).tobytes())
        return h.hexdigest()


def auto_growth(ds: Dataset) -> tuple[str, str]:
    """The growth ``auto`` gives ``ds``, and why (see the module docstring)."""
    if is_cell_data(ds.class_names):
        return "dihedral", ("cell images have no orientation: the 8 exact rotations and flips of "
                            "the square keep the class")
    names = ", ".join(map(str, ds.class_names[:4])) + (", ..." if len(ds.class_names) > 4 else "")
    return "affine", (f"classes {names} are not cell types: a turn or a mirror may change the class "
                      "(6 and 9, b and d), so Guruswamy et al.'s small affine changes, which keep "
                      "the orientation (rotation up to 15 degrees, zoom 0.9-1.1, shift up to 10%, "
                      "no flip)")


def grow(train: Dataset, how: str, seed: int = 0) -> Dataset:
    """``train`` grown by ``how``, one of ``GROWTHS`` ('auto' is resolved by
    :func:`from_split`); ``seed`` draws the affine copies."""
    if how == "dihedral":
        return augment.dihedral(train)
    if how == "rot45flip":
        return augment.expand(augment.rotations45(train), [augment.HorizontalFlip(p=1.0)])
    if how == "affine":  # 8x, as the square's symmetries
        return augment.expand(train, augment.guruswamy_affine(), k=7, seed=seed)
    if how == "none":
        return train
    raise UserError(f"--grow must be auto, {', '.join(GROWTHS[:-1])} or {GROWTHS[-1]}, got {how!r}")


def from_split(train: Dataset, test: Dataset | None = None, how: str = "none",
               seed: int = 0) -> GanData:
    """GanData of a given real split (``test`` None: an empty one), grown by ``how``
    ('auto' resolved by :func:`auto_growth`) with ``seed``."""
    if test is None:
        test = train.subset(np.zeros(0, np.int64))
    auto, why = auto_growth(train)
    if how != "auto":
        why = "chosen by --grow or the preset" + (
            f"; --grow auto would choose {auto}: {why}" if how != auto else "")
    how = auto if how == "auto" else how
    return GanData(train, test, grow(train, how, seed), grow=how, grow_why=why)


def prepare(config: TrainConfig, log=None) -> GanData:
    """The real split of ``config.data`` (the embedded cells or a dataset on disk),
    split with ``config.test_frac`` and ``config.data_seed``, grown by ``config.grow``.

    Of a .npz only the part ``config.npz_split`` is used: by default its official train
    part, so that the file's official test images never reach the GAN. A dataset on
    disk is loaded with its load report printed by ``log`` (default: stderr), as
    ``data info`` prints it, and one line saying which images the GAN trains on."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if config.data == "synthetic":
        ds = make_blood_cells(n_per_class=config.n_per_class, classes=tuple(config.classes),
                              size=config.size, seed=config.data_seed)
    else:
        ds = load_reported(config.data, log, size=config.size, skip_bad=config.skip_bad,
                           npz_split=config.npz_split, crop=crop_arg(config.crop),
                           min_classes=2 if MODEL_CLASSES[config.model].conditional else 1)
    train, _, test = split(ds, test=config.test_frac, seed=config.data_seed)
    data = from_split(train, test, config.grow, seed=config.data_seed)
    data.npz_split = ds.meta.get("npz_part", "auto")
    if config.data != "synthetic":
        log(f"data: {_images_used(ds)}: {len(train)} for the GAN, {len(test)} held out "
            f"(--test-frac {config.test_frac:g}, --data-seed {config.data_seed})")
    return data


def _images_used(ds: Dataset) -> str:
    """Which images of a dataset on disk were loaded, in words."""
    root, part, parts = ds.meta.get("root"), ds.meta.get("npz_part"), ds.meta.get("npz_parts")
    if part is None:
        return f"{len(ds)} images of {root}"
    if not parts:
        return f"all {len(ds)} images of {root} (it has no official train/test partition)"
    if part == "all":
        return (f"every official part of {root} together ("
                + ", ".join(f"{p} {n}" for p, n in parts.items()) + f": {len(ds)} images)")
    others = ["all", *(p for p in parts if p != part)]
    return (f"the official {part!r} part of {root} ({len(ds)} of {sum(parts.values())} images; "
            f"--npz-split {', '.join(others[:-1])} or {others[-1]} to change)")


def run_data(run_dir) -> GanData:
    """The data the run in ``run_dir`` trained on, rebuilt from its recorded config and
    checked against the data hash of its latest checkpoint."""
    _, meta = checkpoint.load(Path(run_dir) / "checkpoints")
    config = TrainConfig.from_json(meta["config"]).validate()  # a damaged record: one line
    where = Path(str(config.data)).expanduser()
    if config.data != "synthetic" and not where.exists():
        raise UserError(f"the run {run_dir} was trained on --data {config.data}, which is not there "
                        f"(looked for {where.resolve()}): it was moved or deleted"
                        + (", or the run was started from another folder (the path is relative)"
                           if not where.is_absolute() else "")
                        + "; put the data back there, or work from the folder the run was started in")
    data = prepare(config)
    if data.hash() != meta["data_hash"]:
        raise UserError(f"the data rebuilt from {run_dir}'s config differ from those the run "
                        "was trained on (data hash mismatch): has the dataset changed?")
    return data
