"""Per-image appearance measured on the training images instead of learnt by G
(``--appearance white`` or ``--appearance stain``).

A bright-field micrograph is light through an absorbing stain (Beer-Lambert): pixel
p of channel c is ``x_c(p) = w_c exp(-OD_c(p))``, with ``w`` the white point (lamp,
camera white balance) and ``OD`` the optical density, the stain's amount times its
absorbance. Two slides of the same cells differ mostly in ``w`` and in how strongly
they took the stain, a factor on ``OD`` per channel: both are global properties of an
image, not of its cells (Ruifrok & Johnston 2001; Reinhard et al. 2001 normalise
them away; Tellez et al. 2019 augment them). A GAN has to learn their spread over
images from its latent, and the main job's generators draw about half of it
(docs/main-job.md). This module takes that part off the generator:

1. Measure each training image's appearance ``a = (ln w, ln s)`` (6 numbers), x in
   [0, 1] clipped below at 1/255::

       w_c = 97th percentile of x_c over the pixels       (the background's level)
       OD_c = -ln(x_c / w_c)
       s_c = mean over the pixels of max(OD_c, 0)           (how much stain, channel c)

   ``--appearance white`` measures the white point only (s = 1): it reads the
   background alone, while s also counts how much of the image is stained (a field
   with more red cells has a larger s), which mixes content into "appearance".

2. Normalise every training image to the geometric means ``w_bar``, ``s_bar`` of the
   training images: ``y_c = min(w_bar_c exp(-OD_c s_bar_c / s_c), 1)``. G is trained
   on these.

3. To sample, draw an appearance ``a'`` and apply it to G's output ``y``:
   ``x_c = clip(w'_c (y_c / w_bar_c) ^ (s'_c / s_bar_c), 0, 1)`` -- the inverse of 2,
   so a training image normalised and given back its own appearance is itself
   (where 2 did not clip).

``a'`` is a smoothed bootstrap draw from the training images' appearances (Silverman
1986, section 6.4.1): a row ``a_i`` picked at random plus Gaussian noise with the
rows' covariance scaled by Scott's factor ``h = M^(-1/10)`` (d = 6), shrunk towards
the mean so that the draws keep the rows' mean and covariance::

    a' = mean + (a_i - mean + h L e) / sqrt(1 + h^2),   L L^T = cov(a),  e ~ N(0, I)

The draw is a function of the latent row z (its bytes seed it), so a fixed z still
gives a fixed image, and it is independent of what G draws from z. Conditional
models keep one table per class and draw within the class asked for.

The assumption is that appearance and content are independent given the class: the
module's test renders cells, normalises them, swaps their appearances and asks the
two-sample test whether the result is still told from fresh cells.
"""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["Appearance", "KINDS", "measure", "WHITE_PERCENTILE"]

WHITE_PERCENTILE = 97
FLOOR = 1.0 / 255  # darkest value read: 8-bit images hold no less light than this
KINDS = ("white", "stain")


def _unit(images) -> np.ndarray:
    """[-1, 1] images -> [FLOOR, 1] float64."""
    return np.clip((np.asarray(images, np.float64) + 1) / 2, FLOOR, 1.0)


def measure(images, kind: str = "stain") -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, 6): each image's (ln w, ln s) (module docstring;
    ``kind`` 'white': ln s = 0)."""
    x = _unit(images).reshape(len(images), 3, -1)
    w = np.percentile(x, WHITE_PERCENTILE, axis=2)
    if kind == "white":
        return np.concatenate([np.log(w), np.zeros_like(w)], axis=1)
    od = -np.log(x / w[..., None])
    s = np.maximum(od, 0).mean(axis=2)
    return np.concatenate([np.log(w), np.log(np.maximum(s, 1e-6))], axis=1)


def _seeds(z) -> np.ndarray:
    """One 32-bit seed per latent row, from its float32 bytes."""
    z = np.ascontiguousarray(np.asarray(z, np.float32).reshape(len(z), -1))
    return np.array([zlib.crc32(row.tobytes()) for row in z], np.uint64)


class Appearance:
    """The training images' appearances and the normalise / apply maps (module
    docstring). State (checkpointed under ``aux.appearance.``): ``table`` (M, 6) of
    distinct appearances, ``labels`` (M,) their classes, ``reference`` (6,) the
    geometric means ``(ln w_bar, ln s_bar)``."""

    sized_by_data = True   # the table has a row per distinct training image
    floor = FLOOR          # the darkest value read (exports' twins of apply use it)

    def __init__(self, kind: str = "stain"):
        if kind not in KINDS:
            raise ValueError(f"appearance kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.table = np.zeros((0, 6))
        self.labels = np.zeros(0, np.int64)
        self.reference = np.zeros(6)

    # -- fitting ----------------------------------------------------------------
    def fit_normalise(self, images, labels) -> np.ndarray:
        """Measure ``images`` (N, 3, H, W) in [-1, 1] with their ``labels``, keep
        their distinct appearances, and return them normalised (float32, [-1, 1])."""
        a = measure(images, self.kind)
        labels = np.asarray(labels, np.int64)
        # grown sets repeat each image's appearance (rotations keep the percentiles);
        # the bootstrap draws from the distinct images, not from their copies
        key = np.round(np.c_[a, labels], 6)
        _, first = np.unique(key, axis=0, return_index=True)
        first = np.sort(first)
        self.table, self.labels = a[first], labels[first]
        self.reference = self.table.mean(axis=0)
        return self.normalise(images, a)

    def normalise(self, images, a) -> np.ndarray:
        """Images with appearances ``a`` (N, 6) -> normalised to ``reference``, clipped
        to [-1, 1] as G's tanh output is (a pixel brighter than its image's white point
        in a faintly stained image can map above 1: about 1 in 1,000 on the cells)."""
        x = _unit(images)
        w, s = np.exp(a[:, :3])[..., None, None], np.exp(a[:, 3:])[..., None, None]
        w_bar, s_bar = np.exp(self.reference[:3])[:, None, None], np.exp(self.reference[3:])[:, None, None]
        y = np.minimum(w_bar * np.exp(np.log(x / w) * s_bar / s), 1.0)
        return (2 * y - 1).astype(np.float32)

    def apply(self, normalised, a) -> np.ndarray:
        """G's normalised images (N, 3, H, W) in [-1, 1] given appearances ``a``."""
        y = _unit(normalised)
        w, s = np.exp(a[:, :3])[..., None, None], np.exp(a[:, 3:])[..., None, None]
        w_bar, s_bar = np.exp(self.reference[:3])[:, None, None], np.exp(self.reference[3:])[:, None, None]
        x = np.clip(w * np.exp(np.log(y / w_bar) * s / s_bar), 0.0, 1.0)
        return (2 * x - 1).astype(np.float32)

    # -- drawing ------------------------------------------------------------------
    def draw(self, z, labels=None) -> np.ndarray:
        """(N, 6) appearances for the latent rows ``z`` (N, ...) of classes ``labels``
        (None: class 0, a per-class model): the smoothed bootstrap of the docstring."""
        n = len(z)
        labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
        out = np.empty((n, 6))
        for k in np.unique(labels):
            rows = self.table[self.labels == k]
            if not len(rows):
                raise ValueError(f"no training appearance of class {k}")
            mean = rows.mean(axis=0)
            cov = np.cov(rows, rowvar=False) if len(rows) > 1 else np.zeros((6, 6))
            chol = np.linalg.cholesky(cov + 1e-12 * np.eye(6))
            h = len(rows) ** (-1 / 10)
            for j in np.flatnonzero(labels == k):
                rng = np.random.default_rng(_seeds(z[j:j + 1])[0])
                i, e = rng.integers(len(rows)), rng.standard_normal(6)
                out[j] = mean + (rows[i] - mean + h * chol @ e) / np.sqrt(1 + h * h)
        return out

    def sample(self, normalised, z, labels=None) -> np.ndarray:
        """G's output with an appearance drawn for each latent row."""
        return self.apply(normalised, self.draw(np.asarray(z), labels))

    # -- state (aux.appearance.* in checkpoints) ----------------------------------------
    def state_dict(self) -> dict:
        return {"table": self.table.copy(), "labels": self.labels.copy(),
                "reference": self.reference.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.table = np.asarray(state["table"], np.float64).reshape(-1, 6)
        self.labels = np.asarray(state["labels"], np.int64).reshape(-1)
        self.reference = np.asarray(state["reference"], np.float64).reshape(6)

    # -- files (exports carry them with this module, which needs numpy only) ----------
    def save(self, path) -> None:
        """Write :meth:`state_dict` to ``path`` (``.npz``)."""
        np.savez(path, **self.state_dict())

    @classmethod
    def load(cls, path, kind: str) -> "Appearance":
        """The appearances of ``kind`` that :meth:`save` wrote to ``path``."""
        appearance = cls(kind)
        with np.load(path) as f:
            appearance.load_state_dict(dict(f))
        return appearance
