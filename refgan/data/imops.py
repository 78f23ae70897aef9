"""Batched image operations on NCHW float32 arrays (plain NumPy).

Every geometric or filtering operation here is written as one of two vectorised
forms so that a whole batch is processed with a handful of NumPy calls:

* separable linear maps (resize, Gaussian blur) are matrices applied on both
  sides, ``Y = A_h @ X @ A_w^T``, for every image and channel at once;
* warps (rotation, scaling, translation, crops) compute one sampling position per
  output pixel and gather the four bilinear neighbours with ``take_along_axis``.

The generator (``refgan.data.synthetic``), the loaders (``refgan.data.preprocess``)
and the augmentations (``refgan.augment``) all share these functions, so each is
tested once.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "resize_matrix",
    "resize",
    "gaussian_blur_matrices",
    "gaussian_blur",
    "boundary_index",
    "affine_warp",
    "rotation_matrices",
    "rgb_to_gray",
    "hue_rotation_matrices",
]


# ---------------------------------------------------------------------------
# resizing
# ---------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _resize_matrix_cached(n_in: int, n_out: int) -> np.ndarray:
    if n_out == n_in:
        return np.eye(n_in, dtype=np.float32)
    m = np.zeros((n_out, n_in), dtype=np.float64)
    if n_out < n_in:
        # Area (box) filter: output pixel i averages input interval
        # [i*s, (i+1)*s) with s = n_in / n_out, weighting each input pixel
        # [j, j+1) by its overlap length / s.  Rows sum to one.
        s = n_in / n_out
        for i in range(n_out):
            lo, hi = i * s, (i + 1) * s
            for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                m[i, j] = max(0.0, min(hi, j + 1) - max(lo, j)) / s
    else:
        # Bilinear with half-pixel centres (align_corners=False), edge clamped.
        s = n_in / n_out
        src = (np.arange(n_out) + 0.5) * s - 0.5
        src = np.clip(src, 0, n_in - 1)
        j0 = np.floor(src).astype(int)
        j1 = np.minimum(j0 + 1, n_in - 1)
        w1 = src - j0
        m[np.arange(n_out), j0] += 1 - w1
        m[np.arange(n_out), j1] += w1
    m = m.astype(np.float32)
    m.setflags(write=False)
    return m


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Matrix ``(n_out, n_in)`` resampling one axis: area filter when shrinking,
    bilinear (half-pixel centres) when enlarging, identity when equal."""
    return _resize_matrix_cached(int(n_in), int(n_out))


def resize(x: np.ndarray, size) -> np.ndarray:
    """Resize the last two axes of ``x`` (``(..., H, W)``) to ``size``.

    Parameters
    ----------
    x : ndarray, shape (..., H, W), float
    size : int or (h, w)

    Returns
    -------
    ndarray, shape (..., h, w), float32.  Area averaging for down-sampling (no
    aliasing: every input pixel contributes with weight proportional to its
    overlap), bilinear interpolation for up-sampling; each axis independently.
    """
    h, w = (size, size) if np.isscalar(size) else size
    H, W = x.shape[-2:]
    x = np.asarray(x, dtype=np.float32)
    if (H, W) == (h, w):
        return x.copy()
    y = x
    if H != h:
        y = np.matmul(resize_matrix(H, h), y)
    if W != w:
        y = np.matmul(y, resize_matrix(W, w).T)
    return np.ascontiguousarray(y, dtype=np.float32)


# ---------------------------------------------------------------------------
# Gaussian blur with one sigma per image
# ---------------------------------------------------------------------------
def boundary_index(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map integer indices (possibly outside ``[0, n)``) into range.

    ``reflect``: half-sample symmetric (``d c b a | a b c d | d c b a``, as
    scipy.ndimage 'reflect'); ``nearest``: clamp; ``wrap``: periodic;
    ``constant``: clamp (the caller masks the out-of-range weights).
    """
    if mode == "reflect":
        m = np.mod(i, 2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m)
    if mode == "wrap":
        return np.mod(i, n)
    if mode in ("nearest", "constant"):
        return np.clip(i, 0, n - 1)
    raise ValueError(f"unknown boundary mode {mode!r}; use reflect, nearest, wrap or constant")


def gaussian_blur_matrices(sigma: np.ndarray, n: int, mode: str = "reflect") -> np.ndarray:
    """Per-image blur matrices ``(B, n, n)`` for a 1-D Gaussian of std ``sigma[b]``
    pixels, truncated at 3 sigma, with the boundary folded in (``mode`` as in
    :func:`boundary_index`).  ``sigma == 0`` gives the identity."""
    sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
    r = int(np.ceil(3 * max(float(sigma.max(initial=0.0)), 1e-3)))
    offs = np.arange(-r, r + 1)
    safe = np.maximum(sigma, 1e-6)[:, None]
    k = np.exp(-0.5 * (offs[None, :] / safe) ** 2)
    k /= k.sum(1, keepdims=True)  # (B, 2r+1); sigma -> 0 gives a delta
    rows = np.arange(n)[:, None]
    cols = boundary_index(rows + offs[None, :], n, mode)  # (n, 2r+1)
    m = np.zeros((sigma.size, n, n), dtype=np.float64)
    bidx = np.arange(sigma.size)[:, None, None]
    np.add.at(m, (bidx, rows[None], cols[None]), np.broadcast_to(k[:, None, :], (sigma.size, n, 2 * r + 1)))
    return m.astype(np.float32)


def gaussian_blur(x: np.ndarray, sigma, mode: str = "reflect") -> np.ndarray:
    """Blur each image of ``x`` (``(B, C, H, W)``) with its own isotropic
    Gaussian of std ``sigma[b]`` pixels (truncated at 3 sigma, edges by
    ``mode``: reflect, nearest or wrap; ``sigma = 0`` leaves an image as is):
    ``Y_b = G_h(s_b) X_b G_w(s_b)^T`` with the matrices of
    :func:`gaussian_blur_matrices`.  Two batched matmuls (BLAS) beat O(r)
    shifted sums in NumPy for the small images used here."""
    if mode == "constant":
        raise ValueError("gaussian_blur supports reflect, nearest and wrap edges")
    x = np.asarray(x, dtype=np.float32)
    B, _, H, W = x.shape
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (B,))
    gh = gaussian_blur_matrices(sigma, H, mode)[:, None]
    gw = gh if W == H else gaussian_blur_matrices(sigma, W, mode)[:, None]
    return np.matmul(np.matmul(gh, x), np.swapaxes(gw, -1, -2))


# ---------------------------------------------------------------------------
# affine warps (bilinear)
# ---------------------------------------------------------------------------
def rotation_matrices(angle_deg, scale=1.0, shift=(0.0, 0.0)) -> np.ndarray:
    """Inverse affine maps ``(B, 2, 3)`` for :func:`affine_warp` that rotate the
    image counter-clockwise (as displayed) by ``angle_deg``, zoom by ``scale``
    (>1 enlarges) and then shift by ``shift = (dx, dy)`` pixels (x right, y down).

    With centred pixel coordinates ``p`` of the output, the source position is
    ``q = R(-angle) (p - shift) / scale``; in display coordinates (y down) the
    counter-clockwise rotation reads ``q_x = c p_x - s p_y``, ``q_y = s p_x + c p_y``.
    """
    a = np.deg2rad(np.atleast_1d(np.asarray(angle_deg, dtype=np.float64)))
    B = a.size
    sc = np.broadcast_to(np.asarray(scale, dtype=np.float64), (B,))
    sh = np.broadcast_to(np.asarray(shift, dtype=np.float64), (B, 2))
    c, s = np.cos(a) / sc, np.sin(a) / sc
    m = np.empty((B, 2, 3))
    m[:, 0, 0], m[:, 0, 1] = c, -s
    m[:, 1, 0], m[:, 1, 1] = s, c
    m[:, 0, 2] = -(c * sh[:, 0] - s * sh[:, 1])
    m[:, 1, 2] = -(s * sh[:, 0] + c * sh[:, 1])
    return m


def affine_warp(x: np.ndarray, inv_mats: np.ndarray, mode: str = "reflect", cval: float = 0.0, out_size=None) -> np.ndarray:
    """Warp each image by its own affine map, bilinear interpolation.

    Parameters
    ----------
    x : (B, C, H, W) float
    inv_mats : (B, 2, 3)
        Maps an output pixel position ``p`` (centred: the image centre is 0, in
        pixels, x right, y down) to the source position ``q = M[:, :2] p + M[:, 2]``
        (centred source pixels).  ``out_size`` (h, w) defaults to (H, W).
    mode : 'reflect' | 'constant' | 'nearest' | 'wrap'
        How samples outside the source are filled; ``constant`` uses ``cval``.

    Returns
    -------
    (B, C, h, w) float32.  Positions that land within 1e-4 px of the pixel grid
    are snapped to it, so 90-degree rotations and flips are exact.
    """
    x = np.asarray(x, dtype=np.float32)
    B, C, H, W = x.shape
    h, w = (H, W) if out_size is None else out_size
    yy, xx = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    M = np.asarray(inv_mats, dtype=np.float64)
    qx = M[:, 0, 0, None, None] * xx + M[:, 0, 1, None, None] * yy + M[:, 0, 2, None, None] + (W - 1) / 2
    qy = M[:, 1, 0, None, None] * xx + M[:, 1, 1, None, None] * yy + M[:, 1, 2, None, None] + (H - 1) / 2
    for q in (qx, qy):
        r = np.round(q)
        np.copyto(q, r, where=np.abs(q - r) < 1e-4)
    x0 = np.floor(qx).astype(np.int64)
    y0 = np.floor(qy).astype(np.int64)
    fx = (qx - x0).astype(np.float32)
    fy = (qy - y0).astype(np.float32)
    flat = x.reshape(B, C, H * W)
    out = np.zeros((B, C, h * w), dtype=np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yi, xi = y0 + dy, x0 + dx
            wgt = wy * wx
            if mode == "constant":
                inside = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)
                out += (cval * np.where(inside, 0, wgt)).reshape(B, 1, h * w)
                wgt = np.where(inside, wgt, 0)
            idx = boundary_index(yi, H, mode) * W + boundary_index(xi, W, mode)
            vals = np.take_along_axis(flat, np.broadcast_to(idx.reshape(B, 1, h * w), (B, C, h * w)), axis=2)
            out += vals * wgt.reshape(B, 1, h * w)
    return out.reshape(B, C, h, w)


# ---------------------------------------------------------------------------
# colour
# ---------------------------------------------------------------------------
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def rgb_to_gray(x: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601) of ``(B, 3, H, W)`` images, shape ``(B, 1, H, W)``."""
    return np.einsum("c,bchw->bhw", _LUMA, x)[:, None]


def hue_rotation_matrices(angle_rad: np.ndarray) -> np.ndarray:
    """``(B, 3, 3)`` rotations of RGB space about the grey axis (1,1,1)/sqrt(3)
    by ``angle_rad`` (Rodrigues' formula): a hue shift that keeps grey grey."""
    a = np.asarray(angle_rad, dtype=np.float64).reshape(-1)
    k = np.ones(3) / np.sqrt(3)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    eye = np.eye(3)
    s, c = np.sin(a)[:, None, None], np.cos(a)[:, None, None]
    return (eye + s * K + (1 - c) * (K @ K)).astype(np.float32)
