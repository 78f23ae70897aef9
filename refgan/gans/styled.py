"""A style-based skip generator (StyleGAN2, Karras et al. 2020, figure 7b "skip").

    z (N, in_dim) -> mapping network -> w (N, w_dim)
    x_b   = LeakyReLU(0.2)(Linear(w)) reshaped to (N, C_0, b, b)
    rgb_b = ModConv1x1(w, no demodulation)(x_b)                               (toRGB)
    for each resolution r = 2b, 4b, ..., S:
        x_r   = upsample x2 -> ModConv3x3(w) -> noise -> bias -> LeakyReLU(0.2)
        rgb_r = bilinear_upsample(rgb_{r/2}) + ModConv1x1(w, no demodulation)(x_r)
    image = tanh(rgb_S)

The skip path's upsampling is bilinear (:func:`refgan.ops.upsample_bilinear`:
nearest-neighbour followed by the binomial filter [1, 2, 1] (x) [1, 2, 1] / 16 per
channel; StyleGAN2 upsamples the RGB skips with a FIR filter): with nearest-neighbour
upsampling the coarse resolutions' RGB shows as 4 x 4 and 8 x 8 blocks in the image.

Every conv is modulated by w (per sample, no batch norm), and every resolution
writes to the image through its own toRGB, so the latent has a direct path to the
image's global appearance (stain hue and strength, white point, background: the
coarse toRGB outputs are upsampled to cover the whole image). The channels follow
the project's other generators (``width`` at full resolution, doubling towards the
b x b start, ``refgan.gans.architectures``); the full-resolution block has half of
``width`` (at least 4), since it only has to add detail to the upsampled image.

Deviations from StyleGAN2, for a CPU budget: the b x b start is a linear map of w
(as the project's other generators start from z) instead of a learned constant and a
modulated conv, one conv per resolution instead of two, nearest-neighbour
upsampling of the features instead of the FIR filter, the equalised learning rate
(with StyleGAN's multiplier 0.01) in the mapping network only, no style mixing or
path-length penalty, and a tanh on the output so that samples lie in [-1, 1] like
the other generators'.
"""
from __future__ import annotations

import numpy as np

from refgan import backend, nn, ops
from refgan.gans.architectures import Generator, stages
from refgan.gans.disc_generator import DiscGenerator
from refgan.gans.fastgan import FastGANGenerator
from refgan.gans.stain_generator import StainGenerator
from refgan.nn.modulated import MappingNetwork, ModulatedConv2d, NoiseInput

__all__ = ["StyledGenerator", "GENERATORS", "UPSAMPLING_GENERATORS", "make_generator"]


# The generator designs an unconditional model can choose (``--generator``).
GENERATORS = ("upsample", "styled", "stain", "fastgan", "discs")
# Those built on Gaur et al.'s upsampling stages, which ``--upsample`` sets.
UPSAMPLING_GENERATORS = tuple(g for g in GENERATORS if g != "styled")


class StyledBlock(nn.Module):
    """upsample x2 -> ModConv3x3 -> noise -> bias -> LeakyReLU(0.2), and toRGB."""

    def __init__(self, c_in: int, c_out: int, size: int, w_dim: int, channels: int = 3):
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim, bias=False)
        self.noise = NoiseInput(size)
        self.bias = nn.Parameter(backend.xp().zeros(c_out, dtype=np.float32))
        self.to_rgb = ModulatedConv2d(c_out, channels, 1, w_dim, demodulate=False)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x, w):
        """x (N, c_in, r, r), w (N, w_dim) -> (features (N, c_out, 2r, 2r), rgb (N, 3, 2r, 2r))."""
        x = self.noise(self.conv(ops.upsample_nearest(x, 2), w))
        x = self.act(x + ops.reshape(self.bias, (1, -1, 1, 1)))
        return x, self.to_rgb(x, w)


class StyledGenerator(nn.Module):
    """z (N, in_dim) -> image (N, channels, size, size) in [-1, 1] (module docstring)."""

    def __init__(self, in_dim: int, size: int, width: int, w_dim: int | None = None,
                 mapping_layers: int = 2, channels: int = 3):
        super().__init__()
        n, base = stages(size)
        chans = [width * 2 ** i for i in range(n)][::-1] + [max(width // 2, 4)]
        self.in_dim, self.size = in_dim, size
        self.w_dim = w_dim or chans[0]
        self.mapping = MappingNetwork(in_dim, self.w_dim, mapping_layers)
        self.project = nn.Sequential(nn.Linear(self.w_dim, chans[0] * base * base),
                                     nn.LeakyReLU(0.2), nn.Unflatten((chans[0], base, base)))
        self.to_rgb = ModulatedConv2d(chans[0], channels, 1, self.w_dim, demodulate=False)
        for i in range(1, n + 1):
            setattr(self, f"b{i}", StyledBlock(chans[i - 1], chans[i], base * 2 ** i,
                                               self.w_dim, channels=channels))
        self.n_blocks = n

    def forward(self, z):
        w = self.mapping(z)
        x = self.project(w)
        rgb = self.to_rgb(x, w)
        for i in range(1, self.n_blocks + 1):
            x, out = getattr(self, f"b{i}")(x, w)
            rgb = ops.upsample_bilinear(rgb) + out
        return ops.tanh(rgb)

    def extra_repr(self):
        return f"in_dim={self.in_dim}, size={self.size}, w_dim={self.w_dim}"


def make_generator(c, in_dim: int) -> nn.Module:
    """The generator ``c.generator`` names (``'upsample'`` when the config has none),
    reading ``in_dim`` numbers: Gaur et al.'s upsample generator, the styled one, the
    Beer-Lambert one (:mod:`refgan.gans.stain_generator`), FastGAN's
    (:mod:`refgan.gans.fastgan`) or the upsample one with discs
    (:mod:`refgan.gans.disc_generator`)."""
    design = getattr(c, "generator", "upsample")
    upsample = getattr(c, "upsample", "nearest")
    if design == "fastgan":
        return FastGANGenerator(in_dim, c.size, c.width_g, upsample=upsample)
    if design == "stain":
        return StainGenerator(in_dim, c.size, c.width_g, upsample=upsample)
    if design == "discs":
        return DiscGenerator(in_dim, c.size, c.width_g, upsample=upsample)
    if design == "styled":
        return StyledGenerator(in_dim, c.size, c.width_g)
    if design == "upsample":
        return Generator(in_dim, c.size, c.width_g, style="upsample", upsample=upsample)
    raise ValueError(f"unknown generator {design!r}; choose one of {', '.join(GENERATORS)}")
