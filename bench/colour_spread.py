"""Per-image colour spread of a run's samples against real cells.

Each image's global appearance is summarised by its mean R, G and B (stain hue and
strength, white point, background together); the spread of a set of images is the
standard deviation of those means over the images, per channel. A generator that
draws every cell at the average stain has a small spread even when each image is
plausible. Usage (one or more run folders of the embedded cells)::

    python bench/colour_spread.py RUN_DIR [RUN_DIR ...]

prints, per run and class, the samples' spread (R, G, B), the real cells' and their
ratio (1 = as varied as real cells). Samples come from the checkpoint the run ended
with (``checkpoints/best.npz`` when the run used it), 200 per class, z from seed 1;
the real cells are fresh renderings (seed data_seed + 20,000, as the run summary's
figures use).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from refgan.data import make_blood_cells
from refgan.training import checkpoint
from refgan.training.config import TrainConfig
from refgan.training.load import load_models, sample_class


def spread(images: np.ndarray) -> np.ndarray:
    """(N, 3, S, S) -> (3,): std over images of each image's channel mean."""
    return np.asarray(images, np.float64).mean(axis=(2, 3)).std(axis=0)


def run_spread(run_dir, n: int = 200) -> dict:
    """{class: (samples' spread (3,), reals' spread (3,))} for one run folder."""
    run_dir = Path(run_dir)
    models, meta = load_models(run_dir)
    c = TrainConfig.from_json(meta["config"])
    best = run_dir / "checkpoints" / checkpoint.BEST_NPZ
    if c.use_best and best.exists():
        with np.load(best) as z:
            checkpoint.restore_models(models, dict(z), best)
    classes = list(c.classes)
    reals = make_blood_cells(n_per_class=n, classes=tuple(classes), size=c.size,
                             seed=int(c.data_seed) + 20_000)
    out = {}
    for i, name in enumerate(classes):
        fake = sample_class(models, classes, name, n, seed=1)
        out[name] = (spread(fake), spread(reals.images[reals.labels == i]))
    return out


def main(paths) -> None:
    for path in paths:
        for name, (fake, real) in run_spread(path).items():
            print(f"{path}  {name:8s} samples {np.round(fake, 3)}  real {np.round(real, 3)}"
                  f"  ratio {np.round(fake / real, 2)}")


if __name__ == "__main__":
    main(sys.argv[1:])
