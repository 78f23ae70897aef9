"""A generator that draws stain densities and renders them by Beer-Lambert (``--generator stain``).

A brightfield microscope image of a stained smear is light that passed through dyes:
per pixel p and colour channel c (Ruifrok & Johnston 2001)

    I_c(p) = L_c(p) * exp(- sum_k d_k(p) A_kc)

with d_k >= 0 the density of absorber k at p, A_kc >= 0 how strongly absorber k takes
out channel c, and L the light that reaches the slide. A generator that outputs RGB
directly has to find this manifold of colours by itself; the colour two-sample test
of the main job reads each image's colour distribution jointly (its channel
correlations and percentiles, ``refgan.training.quality.colour_statistics``), where
colours off the manifold show (a tinted halo, greenish blotches).

This generator is Gaur et al.'s upsample generator with K + 1 output maps instead of
RGB, no tanh, and the physics as its output stage:

    d_k(p)  = softplus(h_k(p) - 2)            k = 1 .. K      (densities >= 0; the
                                              offset starts a fresh G on a pale field)
    A       = softplus(a)                     (K, 3), learnt, shared by all images
    log L_c(p) = s h_{K+1}(p) + w_c(z)        colour-neutral light field + the image's
                                              white point, w = Linear(z)
    x_c(p)  = 2 min(L_c(p) exp(- sum_k d_k(p) A_kc), 1) - 1

Initialisation: the white point's Linear starts at zero and the light field is scaled
by s, so a fresh generator draws under even, neutral light; with the Linear's default
initialisation every image starts with a colour cast of its own, and the critic wins
on the casts (docs/toolkit.md).

With nearest-neighbour upsampling (Gaur et al.'s) the maps carry the 2x2 blocks of
each stage, which the exponential turns into a grid-like mottling of the densities;
``upsample='bilinear'`` (``--upsample bilinear``) draws them smooth.

The min at 1 is the camera's saturation, which real images have where the background
is brightest (a tanh output reaches 1 only in the limit).
Every part is differentiable where the min does not bind; where it binds the pixel
is white and its gradient 0, as the real one's. The first-order derivatives are what
G's training needs; the critic's double backward does not pass through G.

Caveat: the embedded cells are rendered with this same law (``refgan.data.synthetic``,
plus focus blur and sensor noise), so the design fits them better than it can fit a
real camera's images (gamma, JPEG, white balance); on those it is an assumption.
"""
from __future__ import annotations

import numpy as np

from refgan import backend, nn, ops, random
from refgan.gans.architectures import Generator

__all__ = ["StainGenerator"]

DENSITY_OFFSET = 2.0   # softplus(-2) = 0.13: a fresh G's densities start low, its field pale
LIGHT_SCALE = 0.1      # the light field starts nearly even


class StainGenerator(nn.Module):
    """z (N, in_dim) -> image (N, 3, size, size) in [-1, 1], drawn as K stain densities
    and a light field rendered by Beer-Lambert."""

    def __init__(self, in_dim: int, size: int, width: int, absorbers: int = 4,
                 upsample: str = "nearest"):
        super().__init__()
        self.in_dim, self.size, self.absorbers = in_dim, size, absorbers
        self.maps = Generator(in_dim, size, width, style="upsample", channels=absorbers + 1,
                              tanh=False, upsample=upsample)
        self.white = nn.Linear(in_dim, 3)
        nn.init.constant_(self.white.weight, 0.0)
        nn.init.constant_(self.white.bias, 0.0)
        # softplus(a) starts spread over 0.2 .. 1.3 per channel: absorbers that take out
        # different colours, so each has a reason to specialise (drawn with the weights).
        xp = backend.xp()
        a0 = 0.2 + 1.1 * xp.asarray(random.uniform((absorbers, 3)), dtype=np.float64)
        self.absorb = nn.Parameter(xp.log(xp.expm1(a0)).astype(np.float32))

    def forward(self, z):
        k = self.absorbers
        h, light_field = ops.split(self.maps(z), [k, 1], axis=1)
        density = ops.softplus(h - DENSITY_OFFSET)
        A = ops.softplus(self.absorb)                                   # (K, 3)
        od = ops.conv2d(density, ops.reshape(ops.transpose(A), (3, k, 1, 1)))
        log_light = LIGHT_SCALE * light_field + ops.reshape(self.white(z), (z.shape[0], 3, 1, 1))
        light = ops.exp(log_light - od)
        return 2.0 * ops.minimum(light, 1.0) - 1.0

    def extra_repr(self):
        return f"in_dim={self.in_dim}, size={self.size}, absorbers={self.absorbers}"
