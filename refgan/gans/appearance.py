"""Per-image appearance measured on the training images instead of learnt by G
(``--appearance white``, ``stain`` or ``stain-peak``; the last two with a ``-noise`` twin).

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

   ``--appearance stain-peak`` (and ``stain-peak-noise``) reads the stain where it is
   densest instead, a percentile of the optical density (STAIN_PEAK_PERCENTILE = 99)::

       s_c = 99th percentile over the pixels of max(OD_c, 0)   (how strongly stained)

   On a white-cell field that is the nucleus, which every image has, so s no longer
   grows with the stained area. With the mean, normalising a crowded field to s_bar
   pales its cells and a drawn s' that does not fit them gives a field unlike real
   ones: the colour test tells the autoencoder's redrawings apart more often with
   drawn appearances than with their own (docs/log/2026-12-07-1700-main-job-peak-stain.md).

2. Normalise every training image to the geometric means ``w_bar``, ``s_bar`` of the
   training images: ``y_c = min(w_bar_c exp(-OD_c s_bar_c / s_c), 1)``. G is trained
   on these.

3. To sample, draw an appearance ``a'`` and apply it to G's output ``y``:
   ``x_c = clip(w'_c (y_c / w_bar_c) ^ (s'_c / s_bar_c), 0, 1)`` -- the inverse of 2,
   so a training image normalised and given back its own appearance is itself
   (where 2 did not clip).

``a'`` is a smoothed bootstrap draw from the training images' appearances (Silverman
1986, section 6.4.1): a row ``a_i`` picked at random plus Gaussian noise with the
rows' covariance scaled by Scott's factor ``h = M^(-1/10)`` (d = 6 numbers), shrunk towards
the mean so that the draws keep the rows' mean and covariance::

    a' = mean + (a_i - mean + h L e) / sqrt(1 + h^2),   L L^T = cov(a),  e ~ N(0, I)

The draw is a function of the latent row z (its bytes seed it), so a fixed z still
gives a fixed image, and it is independent of what G draws from z. Conditional
models keep one table per class and draw within the class asked for.

The assumption is that appearance and content are independent given the class: the
module's test renders cells, normalises them, swaps their appearances and asks the
two-sample test whether the result is still told from fresh cells.

``--appearance stain-noise`` (and ``stain-peak-noise``) also measures each image's
sensor noise and draws it on the samples. A camera adds noise to every pixel; a
generator that learns the mean image given its code (an autoencoder's decoder trained
with L1, ``--latent-ae``) draws it without, and the colour statistics (spreads, channel
correlations) give the samples away. Per channel, the noise's standard deviation in
[0, 1] units is Immerkaer's estimate (Immerkaer 1996, "Fast noise variance estimation")::

    r = x * M,   M = [1 -2 1]^T [1 -2 1] = [[1, -2, 1], [-2, 4, -2], [1, -2, 1]]
    sigma_c = sqrt(pi / 2) * mean |r| / 6      (over the (H-2)(W-2) valid pixels)

M is the difference of two Laplacians: it cancels every plane a + b u + c v (slow
shading), and white noise of standard deviation sigma gives r a standard deviation of
sigma * |M| = 6 sigma, whose mean absolute value is sqrt(2 / pi) 6 sigma for a
Gaussian. Edges add to mean |r|, so the estimate is high on images with much detail;
the module's test measures noise of a known level on rendered cells. ``ln sigma`` (3
numbers) joins the appearance, ``a = (ln w, ln s, ln sigma)`` (9), drawn by the same
smoothed bootstrap (Scott's factor ``h = M^(-1/(d + 4))`` for d numbers: 1/10 for 6, 1/13
for 9), and Gaussian noise of the drawn sigma, seeded by z's row as the draw is, is
added before the final clip to [0, 1].
"""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["Appearance", "KINDS", "measure", "noise_sigma", "WHITE_PERCENTILE"]

WHITE_PERCENTILE = 97
FLOOR = 1.0 / 255  # darkest value read: 8-bit images hold no less light than this
KINDS = ("white", "stain", "stain-noise", "stain-peak", "stain-peak-noise")
#: How many numbers each kind measures per image (ln w, ln s [, ln sigma]: 3 per channel).
WIDTH = {kind: 9 if kind.endswith("-noise") else 6 for kind in KINDS}
#: The '-peak' kinds' stain strength: this percentile of each channel's optical density.
STAIN_PEAK_PERCENTILE = 99


def _unit(images) -> np.ndarray:
    """[-1, 1] images -> [FLOOR, 1] float64."""
    return np.clip((np.asarray(images, np.float64) + 1) / 2, FLOOR, 1.0)


def noise_sigma(images) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, C): Immerkaer's estimate of the standard deviation
    of each channel's white noise, in [0, 1] units (module docstring)."""
    x = (np.asarray(images, np.float64) + 1) / 2
    rows = x[..., :-2, :] - 2 * x[..., 1:-1, :] + x[..., 2:, :]      # [1 -2 1] down
    r = rows[..., :-2] - 2 * rows[..., 1:-1] + rows[..., 2:]         # and across
    return np.sqrt(np.pi / 2) * np.abs(r).mean(axis=(-2, -1)) / 6


def measure(images, kind: str = "stain") -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, WIDTH[kind]): each image's (ln w, ln s) and, for
    the '-noise' kinds, ln sigma (module docstring; ``kind`` 'white': ln s = 0; the
    '-peak' kinds: s the STAIN_PEAK_PERCENTILE of max(OD, 0), not its mean)."""
    x = _unit(images).reshape(len(images), 3, -1)
    w = np.percentile(x, WHITE_PERCENTILE, axis=2)
    if kind == "white":
        return np.concatenate([np.log(w), np.zeros_like(w)], axis=1)
    od = np.maximum(-np.log(x / w[..., None]), 0)
    s = np.percentile(od, STAIN_PEAK_PERCENTILE, axis=2) if "-peak" in kind else od.mean(axis=2)
    a = np.concatenate([np.log(w), np.log(np.maximum(s, 1e-6))], axis=1)
    if kind.endswith("-noise"):
        a = np.concatenate([a, np.log(np.maximum(noise_sigma(images), 1e-6))], axis=1)
    return a


def _seeds(z) -> np.ndarray:
    """One 32-bit seed per latent row, from its float32 bytes."""
    z = np.ascontiguousarray(np.asarray(z, np.float32).reshape(len(z), -1))
    return np.array([zlib.crc32(row.tobytes()) for row in z], np.uint64)


class Appearance:
    """The training images' appearances and the normalise / apply maps (module
    docstring). State (checkpointed under ``aux.appearance.``): ``table`` (M, d) of
    distinct appearances (d = ``WIDTH[kind]``), ``labels`` (M,) their classes,
    ``reference`` (d,) their mean, whose first 6 are the geometric means
    ``(ln w_bar, ln s_bar)``."""

    sized_by_data = True   # the table has a row per distinct training image
    floor = FLOOR          # the darkest value read (exports' twins of apply use it)

    def __init__(self, kind: str = "stain"):
        if kind not in KINDS:
            raise ValueError(f"appearance kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.width = kind, WIDTH[kind]
        self.table = np.zeros((0, self.width))
        self.labels = np.zeros(0, np.int64)
        self.reference = np.zeros(self.width)

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
        """Images with appearances ``a`` (N, d) -> normalised to ``reference``, clipped
        to [-1, 1] as G's tanh output is (a pixel brighter than its image's white point
        in a faintly stained image can map above 1: about 1 in 1,000 on the cells)."""
        x = _unit(images)
        w, s, w_bar, s_bar = self._maps(a)
        y = np.minimum(w_bar * np.exp(np.log(x / w) * s_bar / s), 1.0)
        return (2 * y - 1).astype(np.float32)

    def _maps(self, a):
        """w, s (N, 3, 1, 1) of appearances ``a`` and w_bar, s_bar (3, 1, 1) of the reference."""
        w, s = np.exp(a[:, :3])[..., None, None], np.exp(a[:, 3:6])[..., None, None]
        w_bar = np.exp(self.reference[:3])[:, None, None]
        s_bar = np.exp(self.reference[3:6])[:, None, None]
        return w, s, w_bar, s_bar

    def apply(self, normalised, a, noise=None) -> np.ndarray:
        """G's normalised images (N, 3, H, W) in [-1, 1] given appearances ``a``, with
        ``noise`` (N, 3, H, W, [0, 1] units; :meth:`noise`) added before the clip."""
        y = _unit(normalised)
        w, s, w_bar, s_bar = self._maps(a)
        x = w * np.exp(np.log(y / w_bar) * s / s_bar)
        x = np.clip(x if noise is None else x + noise, 0.0, 1.0)
        return (2 * x - 1).astype(np.float32)

    # -- drawing ------------------------------------------------------------------
    def draw(self, z, labels=None) -> np.ndarray:
        """(N, d) appearances for the latent rows ``z`` (N, ...) of classes ``labels``
        (None: class 0, a per-class model): the smoothed bootstrap of the docstring."""
        n, d = len(z), self.width
        labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
        out = np.empty((n, d))
        for k in np.unique(labels):
            rows = self.table[self.labels == k]
            if not len(rows):
                raise ValueError(f"no training appearance of class {k}")
            mean = rows.mean(axis=0)
            cov = np.cov(rows, rowvar=False) if len(rows) > 1 else np.zeros((d, d))
            chol = np.linalg.cholesky(cov + 1e-12 * np.eye(d))
            h = len(rows) ** (-1 / (d + 4))
            for j in np.flatnonzero(labels == k):
                rng = np.random.default_rng(_seeds(z[j:j + 1])[0])
                i, e = rng.integers(len(rows)), rng.standard_normal(d)
                out[j] = mean + (rows[i] - mean + h * chol @ e) / np.sqrt(1 + h * h)
        return out

    def noise(self, z, a, shape):
        """The sensor noise (N, 3, H, W) in [0, 1] units for the latent rows ``z`` with
        drawn appearances ``a`` (``shape`` (N, 3, H, W)): Gaussian, channel c of row j
        with standard deviation exp(a[j, 6 + c]), from a stream seeded by z's row (apart
        from the draw's); None for the kinds that measure no noise."""
        if not self.kind.endswith("-noise"):
            return None
        out = np.empty(shape)
        for j, seed in enumerate(_seeds(z)):
            rng = np.random.default_rng([int(seed), 1])
            out[j] = rng.standard_normal(shape[1:]) * np.exp(a[j, 6:9])[:, None, None]
        return out

    def sample(self, normalised, z, labels=None) -> np.ndarray:
        """G's output with an appearance (and, for the '-noise' kinds, sensor noise) drawn for
        each latent row."""
        z = np.asarray(z)
        a = self.draw(z, labels)
        return self.apply(normalised, a, self.noise(z, a, np.shape(normalised)))

    # -- state (aux.appearance.* in checkpoints) ----------------------------------------
    def state_dict(self) -> dict:
        return {"table": self.table.copy(), "labels": self.labels.copy(),
                "reference": self.reference.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.table = np.asarray(state["table"], np.float64).reshape(-1, self.width)
        self.labels = np.asarray(state["labels"], np.int64).reshape(-1)
        self.reference = np.asarray(state["reference"], np.float64).reshape(self.width)

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
