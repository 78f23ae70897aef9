"""The study's splits: repeated stratified k folds with groups kept on one side, the
CNN's early-stopping images carved out of each training split, and set differences
by origin (an image and its derived copies leave together)."""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from refgan.data import Dataset, duplicate_groups
from refgan.errors import UserError


def folds(ds: Dataset, k: int, seed: int):
    """Stratified k folds; groups (patients, else near-duplicate clusters) never split.
    Yields ``(train, test)`` Datasets with roles set."""
    if k < 2:
        raise UserError(f"--folds must be >= 2, got {k}")
    if np.bincount(ds.labels).min() < k:
        raise UserError(f"the smallest class has fewer images than --folds {k}; use fewer folds")
    groups = ds.groups if ds.groups is not None else duplicate_groups(ds)[0]
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for tr, te in cv.split(np.zeros(len(ds)), ds.labels, groups):
        train, test = ds.subset(tr), ds.subset(te)
        train.role, test.role = "train", "test"
        yield train, test


def val_split(train: Dataset, seed: int, frac: float = 0.15) -> Dataset:
    """The CNN's early-stopping images: ``frac`` of each class of ``train``."""
    rng = np.random.default_rng([seed, 3])
    idx = np.concatenate([rng.permutation(np.flatnonzero(train.labels == c))[
        :max(1, int(round(frac * (train.labels == c).sum())))] for c in range(train.n_classes)])
    val = train.subset(np.sort(idx))
    val.role = "train"  # carved from training images: it may shape training (early stopping)
    return val


def without(ds: Dataset, other: Dataset | None) -> Dataset:
    """``ds`` without the images (and derived copies) of ``other``."""
    if other is None:
        return ds
    out = ds.subset(~np.isin(ds.origin, other.origin))
    out.role = ds.role
    return out
