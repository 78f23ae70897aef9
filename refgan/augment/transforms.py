"""Classic augmentations on batches: float32 ``(N, C, H, W)`` in [-1, 1].

Conventions follow albumentations: every transform has a probability ``p`` of
being applied to each image, independently; ``Compose`` chains transforms,
``OneOf`` applies one of several (chosen with weights proportional to their
``p``).  Randomness comes only from the ``numpy.random.Generator`` passed in (or
``seed=``), so a run is reproducible.  Every transform is vectorised: the
images that were selected are processed in one batched call, each with its own
random parameters.  Labels are never touched (a transform sees images only).

Subclasses implement ``apply(x, rng) -> x'`` for a batch that must be
transformed; ``__call__`` does the per-image ``p`` selection.
"""
from __future__ import annotations

import numpy as np

from refgan.data.imops import affine_warp, gaussian_blur, hue_rotation_matrices, rgb_to_gray, rotation_matrices

__all__ = [
    "Transform", "Compose", "OneOf", "Identity",
    "HorizontalFlip", "VerticalFlip", "Rotate90", "Rotate45", "Rotate", "Affine", "Translate", "Scale",
    "RandomCrop", "GaussianBlur", "GaussianNoise", "BrightnessContrast", "HueSaturation", "StainJitter",
]


def _rng(rng=None, seed=None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(seed if rng is None else rng)


def _range(v, default_sym=True):
    """``a`` -> ``(-a, a)`` (symmetric) ; ``(lo, hi)`` stays."""
    if np.isscalar(v):
        return (-float(v), float(v)) if default_sym else (float(v), float(v))
    lo, hi = v
    return float(lo), float(hi)


class Transform:
    """Base class: apply to each image with probability ``p``."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x: np.ndarray, rng=None, seed=None) -> np.ndarray:
        """Return a new batch; image ``i`` is transformed with probability ``p``."""
        rng = _rng(rng, seed)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"transforms expect (N, C, H, W) batches, got shape {x.shape}")
        sel = rng.random(len(x)) < self.p
        out = x.copy()
        if sel.any():
            out[sel] = self.apply(x[sel], rng)
        return out

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Identity(Transform):
    def __init__(self, p: float = 1.0):
        super().__init__(p)

    def apply(self, x, rng):
        return x.copy()


class Compose(Transform):
    """Apply ``transforms`` in order (each with its own ``p``); the whole chain
    runs with probability ``p``."""

    def __init__(self, transforms, p: float = 1.0):
        super().__init__(p)
        self.transforms = list(transforms)

    def apply(self, x, rng):
        for t in self.transforms:
            x = t(x, rng)
        return x


class OneOf(Transform):
    """Apply exactly one of ``transforms`` per selected image, picked with
    probability proportional to the children's ``p`` (albumentations); the
    picked transform is then applied unconditionally."""

    def __init__(self, transforms, p: float = 1.0):
        super().__init__(p)
        self.transforms = list(transforms)
        w = np.array([t.p for t in self.transforms], dtype=np.float64)
        if not len(w) or w.sum() <= 0:
            raise ValueError("OneOf needs at least one transform with p > 0")
        self.weights = w / w.sum()

    def apply(self, x, rng):
        pick = rng.choice(len(self.transforms), size=len(x), p=self.weights)
        out = x.copy()
        for k, t in enumerate(self.transforms):
            m = pick == k
            if m.any():
                out[m] = t.apply(x[m], rng)
        return out


# ---------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------
class HorizontalFlip(Transform):
    """Mirror left-right."""

    def apply(self, x, rng):
        return x[..., ::-1].copy()


class VerticalFlip(Transform):
    """Mirror top-bottom."""

    def apply(self, x, rng):
        return x[..., ::-1, :].copy()


class Rotate90(Transform):
    """Rotate counter-clockwise by ``k * 90`` degrees, ``k`` uniform in ``ks``
    (default 1, 2, 3); exact (no interpolation).  Non-square images are only
    rotated by 180 degrees."""

    def __init__(self, ks=(1, 2, 3), p: float = 0.5):
        super().__init__(p)
        self.ks = tuple(int(k) % 4 for k in np.atleast_1d(ks))

    def apply(self, x, rng):
        ks = rng.choice(self.ks, size=len(x))
        if x.shape[-1] != x.shape[-2]:
            ks = np.where(ks % 2 == 1, 2, ks)
        out = x.copy()
        for k in set(ks.tolist()):
            m = ks == k
            out[m] = np.rot90(x[m], k, axes=(2, 3))
        return out


class Rotate(Transform):
    """Rotate counter-clockwise by an angle drawn uniformly from ``limit``
    degrees (a number ``a`` means ``(-a, a)``; ``angles=[...]`` draws from a
    list instead), bilinear, corners filled by ``mode`` ('reflect', 'constant'
    with ``cval`` in [-1, 1], 'nearest' or 'wrap').  Source position of output
    pixel ``p`` (centred): ``R(-theta) p``."""

    def __init__(self, limit=45.0, angles=None, mode: str = "reflect", cval: float = -1.0, p: float = 0.5):
        super().__init__(p)
        self.limit = _range(limit)
        self.angles = None if angles is None else np.asarray(angles, dtype=np.float64)
        self.mode, self.cval = mode, float(cval)

    def sample(self, n, rng):
        if self.angles is not None:
            return rng.choice(self.angles, size=n)
        return rng.uniform(*self.limit, size=n)

    def apply(self, x, rng):
        return affine_warp(x, rotation_matrices(self.sample(len(x), rng)), self.mode, self.cval)


class Rotate45(Rotate):
    """Rotate by a random multiple of 45 degrees (Gaur et al.'s rotations):
    multiples of 90 are exact, odd multiples bilinear with ``mode`` fill."""

    def __init__(self, steps=(1, 2, 3, 4, 5, 6, 7), mode: str = "reflect", cval: float = -1.0, p: float = 0.5):
        super().__init__(angles=45.0 * np.asarray(steps), mode=mode, cval=cval, p=p)


class Affine(Transform):
    """Rotation (degrees), isotropic scale (zoom factor) and translation
    (fraction of the image size, per axis) in one bilinear resampling."""

    def __init__(self, rotate=0.0, scale=(1.0, 1.0), translate=0.0, mode: str = "reflect", cval: float = -1.0,
                 p: float = 0.5):
        super().__init__(p)
        self.rotate = _range(rotate)
        self.scale = _range(scale, default_sym=False)
        self.translate = _range(translate)
        self.mode, self.cval = mode, float(cval)

    def apply(self, x, rng):
        n, (h, w) = len(x), x.shape[2:]
        ang = rng.uniform(*self.rotate, n)
        sc = rng.uniform(*self.scale, n)
        sh = rng.uniform(*self.translate, (n, 2)) * np.array([w, h])
        return affine_warp(x, rotation_matrices(ang, sc, sh), self.mode, self.cval)


class Translate(Affine):
    """Shift by up to ``limit`` (fraction of the size) in x and y."""

    def __init__(self, limit=0.1, mode: str = "reflect", cval: float = -1.0, p: float = 0.5):
        super().__init__(translate=limit, mode=mode, cval=cval, p=p)


class Scale(Affine):
    """Zoom by a factor drawn from ``limit`` (e.g. (0.9, 1.1)) about the centre."""

    def __init__(self, limit=(0.9, 1.1), mode: str = "reflect", cval: float = -1.0, p: float = 0.5):
        super().__init__(scale=limit, mode=mode, cval=cval, p=p)


class RandomCrop(Transform):
    """Crop a random square covering a fraction ``scale`` of the side and
    resize it back to the input size (bilinear): shapes stay fixed."""

    def __init__(self, scale=(0.75, 1.0), p: float = 0.5):
        super().__init__(p)
        self.scale = _range(scale, default_sym=False)
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError("crop scale must satisfy 0 < lo <= hi <= 1")

    def apply(self, x, rng):
        n, (h, w) = len(x), x.shape[2:]
        f = rng.uniform(*self.scale, n)
        # the crop centre may move by the slack (1 - f) / 2 of the side
        off = rng.uniform(-1, 1, (n, 2)) * ((1 - f) / 2)[:, None] * np.array([w, h])
        m = rotation_matrices(np.zeros(n), 1.0 / f)
        m[:, :, 2] = off
        return affine_warp(x, m, "nearest")


# ---------------------------------------------------------------------------
# filtering and noise
# ---------------------------------------------------------------------------
class GaussianBlur(Transform):
    """Blur with std ``sigma`` pixels drawn from ``sigma_limit`` (reflect edges)."""

    def __init__(self, sigma_limit=(0.3, 1.5), p: float = 0.5):
        super().__init__(p)
        self.sigma_limit = _range(sigma_limit, default_sym=False)

    def apply(self, x, rng):
        return gaussian_blur(x, rng.uniform(*self.sigma_limit, len(x)))


class GaussianNoise(Transform):
    """Add i.i.d. ``N(0, std^2)`` per pixel and channel, ``std`` drawn from
    ``std_limit`` (in [-1, 1] units; 2/255 = one grey level); clipped to
    [-1, 1] when ``clip``."""

    def __init__(self, std_limit=(0.02, 0.08), clip: bool = True, p: float = 0.5):
        super().__init__(p)
        self.std_limit = _range(std_limit, default_sym=False)
        self.clip = clip

    def apply(self, x, rng):
        std = rng.uniform(*self.std_limit, len(x)).astype(np.float32)
        y = x + rng.standard_normal(x.shape, dtype=np.float32) * std[:, None, None, None]
        return np.clip(y, -1, 1) if self.clip else y


# ---------------------------------------------------------------------------
# colour
# ---------------------------------------------------------------------------
class BrightnessContrast(Transform):
    """``y = (x - m) * (1 + c) + m + 2 b`` with ``m`` the image mean, ``b`` from
    ``brightness`` (fraction of the [0, 1] range) and ``c`` from ``contrast``."""

    def __init__(self, brightness=0.1, contrast=0.1, p: float = 0.5):
        super().__init__(p)
        self.brightness, self.contrast = _range(brightness), _range(contrast)

    def apply(self, x, rng):
        n = len(x)
        b = rng.uniform(*self.brightness, n).astype(np.float32)[:, None, None, None]
        c = rng.uniform(*self.contrast, n).astype(np.float32)[:, None, None, None]
        m = x.mean(axis=(1, 2, 3), keepdims=True)
        return np.clip((x - m) * (1 + c) + m + 2 * b, -1, 1)


class HueSaturation(Transform):
    """Stain colour jitter: rotate hue about the grey axis by up to ``hue``
    degrees and scale saturation (distance from the pixel's luma) by
    ``1 + s``, ``s`` from ``saturation``.  RGB images only."""

    def __init__(self, hue=8.0, saturation=0.15, p: float = 0.5):
        super().__init__(p)
        self.hue, self.saturation = _range(hue), _range(saturation)

    def apply(self, x, rng):
        n = len(x)
        if x.shape[1] != 3:
            raise ValueError("HueSaturation needs RGB (C = 3) images")
        u = (x + 1) * 0.5
        R = hue_rotation_matrices(np.deg2rad(rng.uniform(*self.hue, n)))
        u = np.einsum("nij,njhw->nihw", R, u)
        s = rng.uniform(*self.saturation, n).astype(np.float32)[:, None, None, None]
        g = rgb_to_gray(u)
        u = g + (u - g) * (1 + s)
        return np.clip(u * 2 - 1, -1, 1)


class StainJitter(Transform):
    """Jitter in optical density, the physics of stained slides: with
    ``OD = -log(I)`` (``I`` in (0, 1]), ``OD'_c = OD_c * a_c + b_c``,
    ``a_c ~ U(1 - alpha, 1 + alpha)``, ``b_c ~ U(-beta, beta)`` per channel
    (Tellez et al. 2018 do it per stain; per channel is the stain-free variant)."""

    def __init__(self, alpha=0.1, beta=0.03, p: float = 0.5):
        super().__init__(p)
        self.alpha, self.beta = float(alpha), float(beta)

    def apply(self, x, rng):
        n, c = x.shape[:2]
        od = -np.log(np.clip((x + 1) * 0.5, 1e-3, 1.0))
        a = rng.uniform(1 - self.alpha, 1 + self.alpha, (n, c, 1, 1)).astype(np.float32)
        b = rng.uniform(-self.beta, self.beta, (n, c, 1, 1)).astype(np.float32)
        return np.clip(np.exp(-(od * a + b)) * 2 - 1, -1, 1).astype(np.float32)
