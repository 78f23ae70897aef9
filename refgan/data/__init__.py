"""Data for refgan: an embedded blood-cell generator, loaders for real
datasets, leak-free splits and image grids.

Images everywhere are float32 ``(N, 3, H, W)`` in [-1, 1] (``Dataset.images``);
``Dataset.uint8()`` gives ``(N, H, W, 3)`` for viewing.

    >>> from refgan.data import make_blood_cells, split
    >>> ds = make_blood_cells(n_per_class=130, size=64, seed=0)   # ALL-IDB2-like
    >>> train, val, test = split(ds, test=0.2, seed=0)

This package uses NumPy (and Numba for one kernel) only, never the autograd core.
"""
import warnings

import numpy as np

from refgan.data.dataset import Dataset, LeakError, check_no_leak, require_train, to_float, to_uint8
from refgan.data.loaders import IMAGE_EXTS, LAYOUTS, detect_layout, load_dataset
from refgan.data.splits import Normalizer, duplicate_groups, find_duplicates, fit_normalizer, split
from refgan.data.synthetic import (CLASS_IDS, DEFAULT_DIFFICULTY, PBC_CLASSES, make_blood_cells,
                                   make_pbc_cells)
from refgan.data.imops import resize
from refgan.data.viz import save_grid

__all__ = [
    "Dataset", "LeakError", "check_no_leak", "require_train", "to_float", "to_uint8",
    "load_dataset", "detect_layout", "LAYOUTS", "IMAGE_EXTS",
    "split", "find_duplicates", "duplicate_groups", "fit_normalizer", "Normalizer",
    "make_blood_cells", "make_pbc_cells", "CLASS_IDS", "PBC_CLASSES", "DEFAULT_DIFFICULTY",
    "save_grid", "lr_accuracy",
]


def lr_accuracy(ds: "Dataset", seed: int = 0, test: float = 0.2, pixels: int = 25, C: float = 1.0) -> float:
    """Gaur et al.'s logistic-regression baseline on ``ds``: images area-resized to
    ``pixels x pixels``, RGB in [0, 1] flattened (1,875 features at 25), a
    stratified ``1 - test`` / ``test`` split (:func:`split`), scikit-learn
    ``LogisticRegression(C=C, max_iter=5000)``; returns test accuracy."""
    # lazy: scikit-learn takes about a second to import and refgan.data is imported by
    # every command; only this baseline needs it
    from sklearn.linear_model import LogisticRegression

    train, _, held = split(ds, test=test, seed=seed, dedupe=False)
    feats = lambda d: ((resize(d.images, pixels) + 1) / 2).reshape(len(d), -1)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=C, max_iter=5000).fit(feats(train), train.labels)
    return float(np.mean(clf.predict(feats(held)) == held.labels))
