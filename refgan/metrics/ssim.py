"""SSIM, the structural similarity index (Wang, Bovik, Sheikh and Simoncelli 2004).

For two images ``x``, ``y`` of one channel, with Gaussian-weighted local statistics
(an 11 x 11 window, sigma 1.5, normalised to sum 1) around every pixel ``p``::

    mu_x(p) = sum_q w(q) x(p + q)                      (the same for y)
    s_x(p)  = sum_q w(q) x(p + q)^2 - mu_x(p)^2        (population variance)
    s_xy(p) = sum_q w(q) x(p + q) y(p + q) - mu_x(p) mu_y(p)

    SSIM(p) = (2 mu_x mu_y + C1) (2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (s_x + s_y + C2)),
    C1 = (K1 L)^2, C2 = (K2 L)^2, K1 = 0.01, K2 = 0.03, L = the data range,

and ``SSIM(x, y)`` is the mean of ``SSIM(p)`` over the pixels whose window lies inside
the image (a 5-pixel border left out) and over the channels. This is
``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=L, channel_axis=0)``.

:func:`ssim` scores image pairs; :func:`ssim_to_nearest` scores each generated image
against its nearest real image (nearest in pixel L2), the comparison Gaur et al. wished
for; :func:`ssim_naive` is the loop-by-window twin the vectorised path is tested against.
"""
from __future__ import annotations

import numpy as np

from refgan.metrics.generative import _flat, _sqdist

K1, K2 = 0.01, 0.03
SIGMA = 1.5
RADIUS = 5  # scipy's gaussian_filter radius at truncate 3.5: int(3.5 * 1.5 + 0.5)


def gaussian_window(sigma: float = SIGMA, radius: int = RADIUS) -> np.ndarray:
    """The 1-D taps ``(2 radius + 1,)``, ``exp(-t^2 / (2 sigma^2))`` normalised to sum 1;
    the 2-D window is their outer product."""
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def _images(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{name} must be images (N, C, H, W), (C, H, W) or (H, W); got shape {x.shape}")
    if min(x.shape[2:]) < 2 * RADIUS + 1:
        raise ValueError(f"{name}: SSIM's {2 * RADIUS + 1}x{2 * RADIUS + 1} window needs images of at "
                         f"least that size, got {x.shape[2]}x{x.shape[3]}")
    return x


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of the last two axes with ``g``:
    ``(..., H, W) -> (..., H - 2r, W - 2r)``."""
    k = len(g)
    h, w = x.shape[-2:]
    rows = sum(g[i] * x[..., i:h - k + 1 + i, :] for i in range(k))
    return sum(g[j] * rows[..., :, j:w - k + 1 + j] for j in range(k))


def ssim_map(x, y, data_range: float) -> np.ndarray:
    """Per-pixel SSIM ``(N, C, H - 10, W - 10)`` of image pairs ``x``, ``y`` (N, C, H, W)."""
    if not data_range > 0:
        raise ValueError(f"data_range must be positive (the span of the pixel values, e.g. 2 for "
                         f"[-1, 1]), got {data_range}")
    x, y = _images(x, "x"), _images(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"SSIM compares images of one shape; got {x.shape} and {y.shape}")
    g = gaussian_window()
    mx, my = _filter_valid(x, g), _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mx * mx
    syy = _filter_valid(y * y, g) - my * my
    sxy = _filter_valid(x * y, g) - mx * my
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def ssim(x, y, data_range: float) -> np.ndarray:
    """SSIM of each pair ``(x[i], y[i])``: ``(N,)`` for images (N, C, H, W) (a scalar
    array for one image (C, H, W) or (H, W)); the mean over valid pixels and channels."""
    single = np.ndim(x) < 4
    s = ssim_map(x, y, data_range).mean(axis=(1, 2, 3))
    return s[0] if single else s


def ssim_naive(x, y, data_range: float) -> float:
    """One pair (C, H, W), window by window with explicit loops: the reference twin of
    :func:`ssim`."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    g = gaussian_window()
    w = np.outer(g, g)
    k = len(g)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    vals = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - k + 1):
            for j in range(x.shape[2] - k + 1):
                a, b = x[c, i:i + k, j:j + k], y[c, i:i + k, j:j + k]
                ma, mb = (w * a).sum(), (w * b).sum()
                va = (w * (a - ma) ** 2).sum()
                vb = (w * (b - mb) ** 2).sum()
                cov = (w * (a - ma) * (b - mb)).sum()
                vals.append((2 * ma * mb + c1) * (2 * cov + c2)
                            / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def nearest_real(fake, real, batch: int = 256) -> np.ndarray:
    """Index ``(N_fake,)`` of each fake image's nearest real image in pixel L2."""
    r = _flat(real)
    f = _flat(fake)
    return np.concatenate([_sqdist(f[i:i + batch], r).argmin(1) for i in range(0, len(f), batch)]
                          ) if len(f) else np.zeros(0, np.int64)


def ssim_to_nearest(fake, real, data_range: float) -> dict:
    """SSIM of each fake image (N, C, H, W) with its nearest real image (pixel L2).

    Returns ``dict(mean, median, per_image (N,) list, nearest (N,) list of real
    indices)``. Read it against the same number for real images the generator never saw
    (:func:`refgan.metrics.generator.generator_metrics` gives that floor): far below it,
    the generated structure is unlike any real image; at or above 1 - a few thousandths,
    the generator is copying.
    """
    fake, real = _images(fake, "fake"), _images(real, "real")
    if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"fake images {fake.shape[1:]} and real images {real.shape[1:]} (C, H, W) differ; "
                         "resize one set first")
    if not len(fake) or not len(real):
        raise ValueError("ssim_to_nearest needs at least one fake and one real image")
    nn = nearest_real(fake, real)
    s = ssim(fake, real[nn], data_range)
    return dict(mean=float(s.mean()), median=float(np.median(s)), per_image=s.tolist(),
                nearest=nn.tolist())
