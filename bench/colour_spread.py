"""Per-image colour spread of a run's samples against real cells.

Each image's global appearance is summarised by its mean R, G and B (stain hue and
strength, white point, background together); the spread of a set of images is the
standard deviation of those means over the images, per channel. A generator that
draws every cell at the average stain has a small spread even when each image is
plausible. Usage (one or more run folders of the embedded cells)::

    python bench/colour_spread.py RUN_DIR [RUN_DIR ...]

prints, per run and class, the samples' spread (R, G, B), the real cells' and their
ratio (1 = as varied as real cells), and what the run summary's colour test leans
on: the accuracy of its classifier (RBF SVM on the 24 colour statistics of
``refgan.training.quality.colour_statistics``, 5-fold) on all of them, on each group
alone (per-channel means, standard deviations, percentiles, channel correlations)
and on all but that group; the accuracy of a linear classifier on the same
statistics (if it is near the SVM's, one direction gives the samples away); and the
statistics that give them away most, each alone (:func:`statistic_gaps`) and given
the other 23. Samples come from the checkpoint the run reported, 200
per class, z from seed 1; the real cells are fresh renderings (seed data_seed +
20,000, as the run summary's figures use).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from refgan.data import make_blood_cells
from refgan.training.config import TrainConfig
from refgan.training.load import load_models, sample_class
from refgan.training.quality import COLOUR_STATISTICS, colour_classifier, colour_statistics


def spread(images: np.ndarray) -> np.ndarray:
    """(N, 3, S, S) -> (3,): std over images of each image's channel mean."""
    return np.asarray(images, np.float64).mean(axis=(2, 3)).std(axis=0)


GROUPS = {"means": range(0, 3), "stds": range(3, 6), "percentiles": range(6, 21),
          "correlations": range(21, 24)}


def classifier_accuracy(real_stats: np.ndarray, fake_stats: np.ndarray, linear: bool = False) -> float:
    """The colour test's classifier (RBF SVM, quality.two_sample_test) on given statistics;
    ``linear``: a logistic regression on the same standardised statistics instead."""
    x = np.concatenate([real_stats, fake_stats])
    y = np.r_[np.zeros(len(real_stats)), np.ones(len(fake_stats))]
    clf = (make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)) if linear
           else colour_classifier())
    return float(cross_val_score(clf, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean())


def statistic_gaps(real_stats: np.ndarray, fake_stats: np.ndarray) -> dict:
    """How far each colour statistic of the samples is from the real cells'.

    Returns {name: (shift, spread, conditional shift, conditional spread)}, in units
    of the real cells: shift = (mean_fake - mean_real) / sd_real and spread =
    sd_fake / sd_real for the statistic alone; the conditional pair is the same for
    the residual r = s_j - f(s_{-j}) of a ridge regression f (alpha 1, on
    standardised statistics) of the statistic on the other 23, fitted on the real
    cells. A statistic that looks right alone but misses what the others predict of
    it (a channel correlation that does not go with the percentiles, say) has a
    small shift and a large conditional one. The real residuals are in-sample, so
    their spread is slightly understated."""
    mu, sd = real_stats.mean(0), real_stats.std(0) + 1e-12
    zr, zf = (real_stats - mu) / sd, (fake_stats - mu) / sd
    out = {}
    for j, name in enumerate(COLOUR_STATISTICS):
        others = [k for k in range(zr.shape[1]) if k != j]
        fit = Ridge(alpha=1.0).fit(zr[:, others], zr[:, j])
        rr, rf = zr[:, j] - fit.predict(zr[:, others]), zf[:, j] - fit.predict(zf[:, others])
        out[name] = (float(zf[:, j].mean()), float(zf[:, j].std()),
                     float((rf.mean() - rr.mean()) / rr.std()), float(rf.std() / rr.std()))
    return out


def colour_test_groups(real_stats: np.ndarray, fake_stats: np.ndarray) -> dict:
    """{'all': acc, group: acc on the group alone, '-group': acc without it,
    'linear': a linear classifier's acc on all}, from the colour statistics of real
    cells and of samples, both (N, 24)."""
    out = {"all": classifier_accuracy(real_stats, fake_stats)}
    for name, idx in GROUPS.items():
        rest = [j for j in range(real_stats.shape[1]) if j not in idx]
        out[name] = classifier_accuracy(real_stats[:, list(idx)], fake_stats[:, list(idx)])
        out["-" + name] = classifier_accuracy(real_stats[:, rest], fake_stats[:, rest])
    out["linear"] = classifier_accuracy(real_stats, fake_stats, linear=True)
    return out


def run_spread(run_dir, n: int = 200) -> dict:
    """{class: (samples' spread (3,), reals' spread (3,), colour_test_groups,
    statistic_gaps)} for one run folder, from the checkpoint the run reported."""
    models, meta = load_models(Path(run_dir))
    c = TrainConfig.from_json(meta["config"])
    classes = list(c.classes)
    reals = make_blood_cells(n_per_class=n, classes=tuple(classes), size=c.size,
                             seed=int(c.data_seed) + 20_000)
    out = {}
    for i, name in enumerate(classes):
        fake = sample_class(models, classes, name, n, seed=1)
        real = reals.images[reals.labels == i]
        a, b = colour_statistics(real), colour_statistics(fake)
        out[name] = (spread(fake), spread(real), colour_test_groups(a, b), statistic_gaps(a, b))
    return out


def main(paths, top: int = 5) -> None:
    for path in paths:
        for name, (fake, real, groups, gaps) in run_spread(path).items():
            print(f"{path}  {name:8s} samples {np.round(fake, 3)}  real {np.round(real, 3)}"
                  f"  ratio {np.round(fake / real, 2)}")
            print(f"{path}  {name:8s} colour test on " + ", ".join(f"{k} {v:.2f}" for k, v in groups.items()))
            for label, at in (("alone", 0), ("given the others", 2)):
                worst = sorted(gaps, key=lambda k: -abs(gaps[k][at]))[:top]
                print(f"{path}  {name:8s} furthest {label}: " + ", ".join(
                    f"{k} {gaps[k][at]:+.2f} (spread x{gaps[k][at + 1]:.2f})" for k in worst))


if __name__ == "__main__":
    main(sys.argv[1:])
