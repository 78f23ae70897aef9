"""Does a conditional GAN draw its classes, and how varied is each class?

The suite's recognition protocol (``tests/test_gans_real_data.py``: four white-cell
types at 16 x 16, CGAN trained 400 steps, a logistic regression trained on real
cells labels 200 samples asked for each class in turn; chance 0.25), with one more
figure per run: within-class variety, the mean pairwise distance between 100
samples of one class over the same for the real training images of that class
(``refgan.metrics.diversity``; 1 = as varied as real cells, near 0 = one image per
class), averaged over the classes, on the pixels and on 4 x 4 thumbnails (layout
and stain, which pixel noise does not inflate). Usage::

    python bench/conditional_variety.py --seeds 0-9 [--setting NAME ...] [--grid PNG]

prints one line per seed and setting, then each setting's means and ranges and its
paired difference from the first setting (Wilcoxon signed-rank test over the seeds).
``--grid PNG`` also writes the first seed's samples, 12 per class (a row each, the
settings one block each, in order), above 12 real training images per class.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
# the suite's data, classifier and training loop: one definition of the protocol
from test_gans_real_data import CLASSES, STEPS, conditional_recognition, flat, train_model  # noqa: E402

from refgan.data import make_blood_cells, split, to_uint8  # noqa: E402
from refgan.data.imops import resize  # noqa: E402
from refgan.metrics import diversity  # noqa: E402

SETTINGS = {
    "label plane (today's CGAN)": {},
    "label plane + mode seeking 0.1": dict(mode_seeking=0.1),
    "projection": dict(critic="projection"),
    "projection, hinge": dict(critic="projection", loss="hinge"),
    "projection + mode seeking 0.1": dict(critic="projection", mode_seeking=0.1),
    "projection, hinge + mode seeking 0.1": dict(critic="projection", loss="hinge",
                                                 mode_seeking=0.1),
}
FIGURES = ("recognised", "variety", "variety 4x4")


def seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi) + 1)) if hi else [int(v) for v in text.split(",")]


def figures(m, train, clf) -> tuple[float, float, float]:
    """(recognised, variety on pixels, variety on 4 x 4 thumbnails) of a trained CGAN."""
    pixels, thumbs = [], []
    for k in range(len(CLASSES)):
        fake, real = m.sample(100, labels=np.full(100, k)), train.images[train.labels == k]
        pixels.append(diversity(real, fake, n_boot=1)["ratio"])
        thumbs.append(diversity(resize(real, 4), resize(fake, 4), n_boot=1)["ratio"])
    return conditional_recognition(m, clf), float(np.mean(pixels)), float(np.mean(thumbs))


def grid_rows(images_per_class: list[np.ndarray], scale: int = 3) -> np.ndarray:
    """One block of a picture: a row per class of (n, 3, S, S) images, enlarged."""
    rows = [np.concatenate(list(np.kron(to_uint8(x), np.ones((1, scale, scale, 1), np.uint8))), 1)
            for x in images_per_class]
    gap = np.full((2 * scale, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate(rows + [gap], 0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=seeds, default=seeds("0-9"), help="e.g. 0-9 or 0,3,5")
    p.add_argument("--setting", action="append", choices=list(SETTINGS),
                   help="settings to compare, the first is the reference (default: all)")
    p.add_argument("--grid", metavar="PNG", help="also write the first seed's samples here")
    args = p.parse_args(argv)
    names = args.setting or list(SETTINGS)
    ds = make_blood_cells(n_per_class=96, classes=CLASSES, size=16, style="segmented", seed=0)
    train, _, _ = split(ds, test=0.25, seed=0)
    from sklearn.linear_model import LogisticRegression
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=1.0, max_iter=2000).fit(flat(train.images), train.labels)
    got = {name: [] for name in names}
    blocks = []
    for seed in args.seeds:
        for name in names:
            m = train_model("cgan", train.images, train.labels, len(CLASSES), seed=seed,
                            **dict(STEPS["cgan"], **SETTINGS[name]))
            got[name].append(figures(m, train, clf))
            if args.grid and seed == args.seeds[0]:
                blocks.append(grid_rows([m.sample(12, labels=np.full(12, k))
                                         for k in range(len(CLASSES))]))
            print(f"seed {seed}  {name:38s} " + "  ".join(
                f"{f} {v:.3f}" for f, v in zip(FIGURES, got[name][-1])), flush=True)
    if args.grid:
        blocks.append(grid_rows([train.images[train.labels == k][:12] for k in range(len(CLASSES))]))
        iio.imwrite(args.grid, np.concatenate(blocks, 0)[:-6])
        print(f"wrote {args.grid}")
    print(f"\n{len(args.seeds)} seeds: mean [min-max]; paired difference from {names[0]!r} (Wilcoxon p)")
    ref = np.array(got[names[0]])
    for name in names:
        a = np.array(got[name])
        cells = []
        for j, f in enumerate(FIGURES):
            cell = f"{f} {a[:, j].mean():.3f} [{a[:, j].min():.2f}-{a[:, j].max():.2f}]"
            d = a[:, j] - ref[:, j]
            if name != names[0] and len(d) > 1 and np.any(d):
                cell += f" {d.mean():+.3f} (p={stats.wilcoxon(d).pvalue:.3f})"
            cells.append(cell)
        print(f"{name:38s} " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
