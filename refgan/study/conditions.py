"""Training sets of the study, built from one fold's real training split.

Gaur et al.'s Table 2 (same hyper-parameters, real test set):

===================  ========================================================
``real``             the real training images
``real+classic``     each real image and its seven 45-degree rotations
``real+gen``         real + generated (each generated image with its rotations
                     when ``rotate_generated``, as Gaur et al. did)
``real+classic+gen`` rotated real + generated
===================  ========================================================

Ratio sweep: ``real+gen x r`` adds ``round(r * n_c)`` generated images to each class c
(``n_c`` real images), no rotations, so the dose of synthetic data is the variable.

Balancing mode (Georgiev; Guruswamy et al.) on a training split where the minority class keeps
only a fraction of its images: ``imbalanced`` (as is), ``class-weights`` ('balanced'
loss weights), ``oversample`` (minority images repeated at random up to balance),
``undersample`` (majority images dropped at random down to balance), ``gan-balance``
(minority filled with generated images up to balance).
"""
from __future__ import annotations

import numpy as np

from refgan.augment import rotations45
from refgan.data import Dataset


def make_imbalanced(train: Dataset, minority: str, fraction: float, seed: int) -> Dataset:
    """Keep ``fraction`` of the ``minority`` class's training images (random)."""
    if minority not in train.class_names:
        minority = train.class_names[-1]
    c = train.class_names.index(minority)
    rng = np.random.default_rng([seed, 7])
    idx = np.flatnonzero(train.labels == c)
    keep_c = rng.choice(idx, max(2, int(round(fraction * len(idx)))), replace=False)
    keep = np.sort(np.concatenate([np.flatnonzero(train.labels != c), keep_c]))
    out = train.subset(keep)
    out.role = train.role
    return out


def deficits(ds: Dataset) -> dict:
    """Images each class lacks to match the largest class, ``{name: n}``."""
    counts = np.bincount(ds.labels, minlength=ds.n_classes)
    return {n: int(counts.max() - k) for n, k in zip(ds.class_names, counts)}


def _take_per_class(gen: Dataset, counts: dict) -> Dataset:
    idx = []
    for i, name in enumerate(gen.class_names):
        pool = np.flatnonzero(gen.labels == i)
        k = int(counts.get(name, 0))
        if k > len(pool):
            raise ValueError(f"need {k} generated {name} images, have {len(pool)}")
        idx.append(pool[:k])
    return gen.subset(np.concatenate(idx))


def table2_sets(train: Dataset, classic: Dataset, gen: Dataset, names, n_generated: int,
                rotate_generated: bool = True) -> dict:
    """``{condition: (Dataset, class_weight)}`` for Gaur et al.'s Table 2."""
    sub = _take_per_class(gen, {c: n_generated for c in train.class_names})
    if rotate_generated:
        sub = rotations45(sub)
    sets = {"real": lambda: train, "real+classic": lambda: classic,
            "real+gen": lambda: Dataset.concat([train, sub]),
            "real+classic+gen": lambda: Dataset.concat([classic, sub])}
    return {n: (sets[n](), None) for n in names}


def ratio_sets(train: Dataset, gen: Dataset, ratios) -> dict:
    """``{'real+gen x r': (Dataset, None)}`` for the ratio sweep."""
    counts = np.bincount(train.labels, minlength=train.n_classes)
    out = {}
    for r in ratios:
        want = {n: int(round(float(r) * k)) for n, k in zip(train.class_names, counts)}
        out[f"real+gen x{float(r):g}"] = (Dataset.concat([train, _take_per_class(gen, want)]), None)
    return out


def balance_sets(imb: Dataset, gen_fill: Dataset, seed: int) -> dict:
    """``{condition: (Dataset, class_weight)}`` for the balancing mode."""
    rng = np.random.default_rng([seed, 11])
    counts = np.bincount(imb.labels, minlength=imb.n_classes)
    hi, lo = counts.max(), counts[counts > 0].min()
    over, under = [], []
    for c in range(imb.n_classes):
        idx = np.flatnonzero(imb.labels == c)
        over.append(np.concatenate([idx, rng.choice(idx, hi - len(idx), replace=True)]))
        under.append(rng.choice(idx, lo, replace=False))
    return {
        "imbalanced": (imb, None),
        "class-weights": (imb, "balanced"),
        "oversample": (imb.subset(np.sort(np.concatenate(over))), None),
        "undersample": (imb.subset(np.sort(np.concatenate(under))), None),
        "gan-balance": (Dataset.concat([imb, _take_per_class(gen_fill, deficits(imb))]), None),
    }
