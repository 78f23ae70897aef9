"""Image features for the linear models (Gaur et al.: 25 x 25 RGB, flattened = 1,875)."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from refgan import backend
from refgan.data.imops import resize


def downsize_flatten(images, size: int = 25) -> np.ndarray:
    """``(N, 3, H, W)`` images -> ``(N, 3 * size * size)`` float32, area-downsized.

    Area averaging (``refgan.data.imops.resize``) keeps every pixel's contribution, so
    small details are blurred rather than aliased away.
    """
    x = np.asarray(backend.to_numpy(images), dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {x.shape}")
    if size:
        x = resize(x, int(size))
    return x.reshape(len(x), -1)


class ImageFeatures(TransformerMixin, BaseEstimator):
    """Stateless transformer: images ``(N, C, H, W)`` -> downsized flattened rows.

    ``size=None`` or 0 keeps the full resolution. Use it first in a Pipeline so a
    classifier sees Gaur et al.'s features: ``Pipeline([('f', ImageFeatures(25)), ('m', SVC())])``.
    """

    def __init__(self, size: int = 25):
        self.size = size

    def fit(self, X, y=None):
        self.n_features_in_ = int(np.prod(np.shape(X)[1:]))
        return self

    def transform(self, X):
        return downsize_flatten(X, self.size)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False  # images (N, C, H, W); see CNNClassifier
        tags.input_tags.three_d_array = True
        return tags
