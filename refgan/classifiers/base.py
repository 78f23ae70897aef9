"""Shared pieces of the classifiers: input checks, label encoding, class weights, moving arrays to the backend."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (_check_sample_weight, check_consistent_length, check_is_fitted,
                                      column_or_1d, validate_data)

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
    """Input checks and label bookkeeping shared by every refgan classifier.

    ``fit`` starts with :meth:`_validate_fit` (scikit-learn's ``validate_data``,
    ``check_classification_targets`` and ``_check_sample_weight``: NaN/inf,
    length mismatches, continuous or 2-D targets, sparse or complex input are
    refused with scikit-learn's messages); ``decision_function`` and the
    probability methods start with :meth:`_validate_predict` (fitted, same
    feature count).  Subclasses work on encoded labels ``y_idx`` in
    ``range(K)``; ``classes_`` holds the original labels.
    """

    def _validate_fit(self, X, y, sample_weight=None):
        """-> ``(X (N, F) float64, y_idx (N,), s (N,))`` with ``s`` the class
        weight of each sample's class times its sample weight."""
        X, y = validate_data(self, _rows(X), y, dtype=np.float64, y_numeric=False)
        y_idx, s = self._targets(X, y, sample_weight)
        return X, y_idx, s

    def _targets(self, X, y, sample_weight=None):
        """Checked labels: sets ``classes_``; -> ``(y_idx (N,), s (N,))``."""
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least two classes; got 1 class "
                             f"({self.classes_[0]!r}) in {len(y)} sample(s)")
        cw = compute_class_weight(self.class_weight, self.classes_, y_idx)
        s = cw[y_idx]
        if sample_weight is not None:
            s = s * _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not s.sum() > 0:
            raise ValueError("the sample weights (times the class weights) are all zero; "
                             "give some samples a positive weight")
        return y_idx, s

    def _validate_predict(self, X) -> np.ndarray:
        """Fitted check and the features ``(N, F)`` float64, same ``F`` as in fit."""
        check_is_fitted(self)
        return validate_data(self, _rows(X), dtype=np.float64, reset=False)

    def predict(self, X):
        """Predicted labels (N,) from the classes seen in ``fit``."""
        d = np.asarray(self.decision_function(X))
        idx = (d > 0).astype(int) if d.ndim == 1 else d.argmax(1)
        return self.classes_[idx]


def _rows(X):
    """Host array; images or other ``(N, ...)`` arrays flattened to ``(N, F)``
    (sparse and list input go to scikit-learn's checks unchanged)."""
    if sp.issparse(X) or not hasattr(X, "ndim"):
        return X
    X = backend.to_numpy(X)
    return X.reshape(len(X), -1) if X.ndim > 2 else X

