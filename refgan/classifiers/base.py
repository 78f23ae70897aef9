"""Shared pieces of the classifiers: label encoding, class weights, moving arrays to the backend."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from refgan import backend


def to_device(a, dtype=np.float64):
    """Host array -> active backend array of ``dtype``."""
    return backend.get_backend().asarray(np.asarray(backend.to_numpy(a)), dtype=dtype)


def compute_class_weight(class_weight, classes, y_idx) -> np.ndarray:
    """Per-class weights ``(K,)`` for encoded labels ``y_idx`` in ``range(K)``.

    ``None`` gives ones; ``'balanced'`` gives ``n / (K * count_k)`` (scikit-learn's
    rule: every class then carries the same total weight); a dict maps original
    labels (or class indices) to weights, missing classes weigh 1.
    """
    k = len(classes)
    if class_weight is None:
        return np.ones(k)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {class_weight!r}")
        counts = np.bincount(y_idx, minlength=k).astype(np.float64)
        if (counts == 0).any():
            raise ValueError("class_weight='balanced' needs every class in the training labels")
        return len(y_idx) / (k * counts)
    w = np.ones(k)
    lookup = {c.item() if hasattr(c, "item") else c: i for i, c in enumerate(classes)}
    for label, weight in dict(class_weight).items():
        if label not in lookup:
            raise ValueError(f"class_weight names label {label!r}, not among {list(classes)}")
        w[lookup[label]] = float(weight)
    return w


class ClassifierBase(ClassifierMixin, BaseEstimator):
    """Label bookkeeping shared by every refgan classifier.

    Subclasses implement ``_fit(X, y_idx, sample_weight)`` on encoded labels and
    ``decision_function``; ``classes_`` holds the original labels.
    """

    def _encode(self, y):
        y = np.asarray(backend.to_numpy(y)).reshape(-1)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need at least two classes to fit a classifier, got {self.classes_}")
        return y_idx

    def _sample_weight(self, y_idx, sample_weight):
        """class weight of each sample's class times its own sample weight, (N,)."""
        cw = compute_class_weight(self.class_weight, self.classes_, y_idx)
        s = cw[y_idx]
        if sample_weight is not None:
            s = s * np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        return s

    def _check_fitted(self):
        if not hasattr(self, "classes_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def predict(self, X):
        """Predicted labels (N,) from the classes seen in ``fit``."""
        d = np.asarray(self.decision_function(X))
        idx = (d > 0).astype(int) if d.ndim == 1 else d.argmax(1)
        return self.classes_[idx]


def flat_features(X) -> np.ndarray:
    """(N, ...) -> float64 host (N, F)."""
    X = np.asarray(backend.to_numpy(X), dtype=np.float64)
    return X.reshape(len(X), -1)
