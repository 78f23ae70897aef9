"""A style-based skip generator (StyleGAN2, Karras et al. 2020, figure 7b "skip").

    z (N, in_dim) -> mapping network -> w (N, w_dim)
    x_b   = LeakyReLU(0.2)(Linear(w)) reshaped to (N, C_0, b, b)
    rgb_b = ModConv1x1(w, no demodulation)(x_b)                               (toRGB)
    for each resolution r = 2b, 4b, ..., S:
        x_r   = upsample x2 -> ModConv3x3(w) -> noise -> bias -> LeakyReLU(0.2)
        rgb_r = blur(upsample(rgb_{r/2})) + ModConv1x1(w, no demodulation)(x_r)
    image = tanh(rgb_S)

The skip path's upsampling is nearest-neighbour followed by the fixed binomial
filter [1, 2, 1] (x) [1, 2, 1] / 16 per channel (StyleGAN2 upsamples the RGB skips
with a FIR filter): without it the coarse resolutions' RGB shows as 4 x 4 and 8 x 8
blocks in the image.

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
from refgan.gans.stain_generator import StainGenerator
from refgan.nn.modulated import MappingNetwork, ModulatedConv2d, NoiseInput

__all__ = ["StyledGenerator", "GENERATORS", "make_generator", "blur_upsample"]


def blur_upsample(rgb):
    """(N, C, r, r) -> (N, C, 2r, 2r): nearest-neighbour x2, then the binomial 3 x 3
    filter per channel; at the border the filter is renormalised over the taps inside
    the image (so a flat image stays flat instead of fading towards 0 at its edge)."""
    n, c, h, w = rgb.shape
    taps = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
    kernel = np.zeros((c, c, 3, 3), dtype=rgb.dtype)
    kernel[np.arange(c), np.arange(c)] = taps
    inside = np.ones((2 * h, 2 * w))
    weight = sum(np.pad(inside, 1)[i:i + 2 * h, j:j + 2 * w] * taps[i, j]
                 for i in range(3) for j in range(3))           # the taps' mass inside
    xp = backend.get_backend()
    y = ops.conv2d(ops.upsample_nearest(rgb, 2), xp.asarray(kernel), None, 1, "same")
    return y * xp.asarray((1.0 / weight).astype(rgb.dtype))

# The generator designs an unconditional model can choose (``--generator``).
GENERATORS = ("upsample", "styled", "stain")


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
            rgb = blur_upsample(rgb) + out
        return ops.tanh(rgb)

    def extra_repr(self):
        return f"in_dim={self.in_dim}, size={self.size}, w_dim={self.w_dim}"


def make_generator(c, in_dim: int) -> nn.Module:
    """The generator ``c.generator`` names (``'upsample'`` when the config has none),
    reading ``in_dim`` numbers: Gaur et al.'s upsample generator, the styled one or the
    Beer-Lambert one (:mod:`refgan.gans.stain_generator`)."""
    design = getattr(c, "generator", "upsample")
    if design == "stain":
        return StainGenerator(in_dim, c.size, c.width_g)
    if design == "styled":
        return StyledGenerator(in_dim, c.size, c.width_g)
    if design == "upsample":
        return Generator(in_dim, c.size, c.width_g, style="upsample")
    raise ValueError(f"unknown generator {design!r}; choose one of {', '.join(GENERATORS)}")
