"""Differentiable augmentation for the discriminator (DiffAugment, Zhao et al. 2020).

With a few hundred training images the critic memorises them and its feedback to G
stops meaning anything. DiffAugment shows the critic only augmented images, real
and generated alike, with one random transform T per image:

    L_D = E[D(T(G(z)))] - E[D(T(x))] + lambda * GP(D; T(x), T(G(z)))
    L_G = -E[D(T(G(z)))]

G's loss goes *through* T, so T must be differentiable in its input: every transform
here is written with refgan ops (gather, multiply, add, mean), and the gradient
reaches G. The transforms and their ranges are Zhao et al.'s
(``DiffAugment_pytorch.py``), per image:

* ``color``: brightness x + (r - 0.5), saturation (x - m_c) 2r + m_c with m_c the
  per-pixel channel mean, contrast (x - m) (r + 0.5) + m with m the image mean;
  r ~ U(0, 1) for each;
* ``translation``: shift by up to 1/8 of the side in x and y, zeros shifted in;
* ``cutout``: one square of half the side set to 0, centred anywhere in the image.

Images are (N, C, H, W) in [-1, 1] (zero is mid-grey, as in Zhao et al.'s code).
The draws come from ``refgan.random`` (seeded and checkpointed with the run).
"""
from __future__ import annotations

import numpy as np

from refgan import backend, ops, random
from refgan.errors import UserError

__all__ = ["brightness", "saturation", "contrast", "translation", "cutout", "diff_augment",
           "POLICIES", "parse_policy"]


def _per_image(x, shape_tail=(1, 1, 1)):
    """U(0, 1) draws (N, 1, 1, 1), one per image, in x's dtype."""
    return random.uniform((x.shape[0],) + shape_tail, dtype=x.dtype)


def _constant(mask, x):
    """A NumPy mask as an array of x's dtype on the active backend."""
    return backend.get_backend().asarray(mask.astype(x.dtype))


def brightness(x):
    return x + (_per_image(x) - 0.5)


def saturation(x):
    m = ops.mean(x, axis=1, keepdims=True)
    return (x - m) * (_per_image(x) * 2.0) + m


def contrast(x):
    m = ops.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - m) * (_per_image(x) + 0.5) + m


def _shifts(n, size, ratio, rng):
    limit = int(size * ratio + 0.5)
    return rng.integers(-limit, limit + 1, size=(n, 1, 1))


def translation(x, ratio: float = 0.125):
    """Each image shifted by (dy, dx), |d| <= ratio * side; pixels shifted in are 0.

    A gather: y[n, c, i, j] = x[n, c, i + dy_n, j + dx_n] where that index is inside
    the image, else 0 (its backward scatters the gradient back: GetItemGrad)."""
    n, c, h, w = x.shape
    rng = random.generator()
    dy, dx = _shifts(n, h, ratio, rng), _shifts(n, w, ratio, rng)
    iy = np.arange(h).reshape(1, h, 1) + dy                         # (N, H, 1)
    ix = np.arange(w).reshape(1, 1, w) + dx                         # (N, 1, W)
    inside = ((iy >= 0) & (iy < h)) & ((ix >= 0) & (ix < w))        # (N, H, W)
    index = (np.arange(n).reshape(n, 1, 1, 1), np.arange(c).reshape(1, c, 1, 1),
             np.clip(iy, 0, h - 1)[:, None], np.clip(ix, 0, w - 1)[:, None])
    return ops.getitem(x, index) * _constant(inside[:, None], x)


def cutout(x, ratio: float = 0.5):
    """Each image with one (ratio * side)^2 square, centred anywhere, set to 0."""
    n, _, h, w = x.shape
    rng = random.generator()
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = rng.integers(0, h + (1 - ch % 2), size=(n, 1, 1)) - ch // 2
    ox = rng.integers(0, w + (1 - cw % 2), size=(n, 1, 1)) - cw // 2
    yy, xx = np.arange(h).reshape(1, h, 1), np.arange(w).reshape(1, 1, w)
    hole = (yy >= oy) & (yy < oy + ch) & (xx >= ox) & (xx < ox + cw)
    return x * _constant((~hole)[:, None], x)


POLICIES = {"color": (brightness, saturation, contrast), "translation": (translation,),
            "cutout": (cutout,)}


def parse_policy(policy: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> the names; '' or 'none' -> ()."""
    names = tuple(p.strip() for p in (policy or "").split(",") if p.strip() and p != "none")
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise UserError(f"unknown DiffAugment policy {unknown[0]!r}; use a comma-separated "
                        f"subset of {', '.join(POLICIES)} (or none)")
    return names


def diff_augment(x, policy: str = "color,translation,cutout"):
    """T(x) for a batch (N, C, H, W): the policy's transforms in turn."""
    for name in parse_policy(policy):
        for f in POLICIES[name]:
            x = f(x)
    return x
