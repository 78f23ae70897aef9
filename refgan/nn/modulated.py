"""StyleGAN2's building blocks (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN", section 2.2 and appendix B): the modulated / demodulated
convolution, the mapping network and the noise inputs.

Modulated convolution. A style vector s (N, C) scales the conv weight W (O, C, k, k)
per sample and per input channel, and demodulation rescales each output channel back
to unit expected norm:

    W'[n, o, c, :, :] = s[n, c] W[o, c, :, :]
    d[n, o]           = 1 / sqrt(sum_{c, i, j} W'[n, o, c, i, j]^2 + eps)
    y[n]              = conv(x[n], d[n, :, None, None, None] W'[n])

Because the conv is linear in x, the per-sample weight never has to be built
(StyleGAN2's ``fused_modconv=False`` path): scale the input, run the ordinary conv
with the shared W, scale the output,

    y = d[:, :, None, None] * conv(s[:, :, None, None] * x, W)
    d = 1 / sqrt((s * s) @ (sum_{i, j} W^2)^T + eps)        (N, O)

which is the same function, one conv instead of N, and made only of differentiable
ops, so it has first and second derivatives (the gradient penalties) for free. The
tests compare it with the naive per-sample-weight form.
"""
from __future__ import annotations

import math

import numpy as np

from refgan import backend, ops, random
from refgan.autograd import Tensor
from refgan.nn import init
from refgan.nn.layers import LeakyReLU, Linear
from refgan.nn.module import Module, Parameter

__all__ = ["modulated_conv2d", "ModulatedConv2d", "MappingNetwork", "NoiseInput",
           "pixel_norm", "EqualLinear"]


def modulated_conv2d(x, weight, styles, demodulate: bool = True, padding="same",
                     eps: float = 1e-8):
    """x (N, C, H, W), weight (O, C, k, k), styles (N, C) -> (N, O, H', W'); the
    modulated (and, with ``demodulate``, demodulated) convolution of the module
    docstring, stride 1."""
    n, c = styles.shape
    y = ops.conv2d(x * ops.reshape(styles, (n, c, 1, 1)), weight, None, 1, padding)
    if not demodulate:
        return y
    wsq = ops.sum(weight * weight, axis=(2, 3))                          # (O, C)
    d = 1.0 / ops.sqrt(ops.matmul(styles * styles, ops.transpose(wsq)) + eps)  # (N, O)
    return y * ops.reshape(d, (n, weight.shape[0], 1, 1))


def pixel_norm(z, eps: float = 1e-8):
    """z / sqrt(mean(z^2) + eps) per sample (ProGAN's pixel-wise normalisation; the
    mapping network's input, so the scale of z does not matter)."""
    return z / ops.sqrt(ops.mean(z * z, axis=1, keepdims=True) + eps)


class ModulatedConv2d(Module):
    """A conv whose weight a latent w (N, style_dim) modulates per sample.

    The style s = A(w) is an affine map of w whose bias starts at 1, so that at
    initialisation every sample sees the plain conv (StyleGAN2's ``bias_init=1``).
    The weight is drawn N(0, 1) / sqrt(fan_in); with demodulation its scale does not
    matter, and without (the toRGB layers) the 1 / sqrt(fan_in) keeps outputs O(1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 style_dim: int, demodulate: bool = True, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.demodulate = kernel_size, demodulate
        self.affine = Linear(style_dim, in_channels)
        init.constant_(self.affine.bias, 1.0)
        self.weight = Parameter(backend.xp().zeros(
            (out_channels, in_channels, kernel_size, kernel_size), dtype=np.float32))
        init.normal_(self.weight, 0.0, 1.0 / math.sqrt(in_channels * kernel_size ** 2))
        self.bias = (Parameter(backend.xp().zeros(out_channels, dtype=np.float32))
                     if bias else None)

    def forward(self, x, w):
        """x (N, C, H, W), w (N, style_dim) -> (N, O, H, W)."""
        y = modulated_conv2d(x, self.weight, self.affine(w), self.demodulate)
        if self.bias is not None:
            y = y + ops.reshape(self.bias, (1, self.out_channels, 1, 1))
        return y

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"demodulate={self.demodulate}")


class EqualLinear(Module):
    """y = x (c W)^T + lr_mul b with c = lr_mul / sqrt(in_features) and W ~ N(0, 1 /
    lr_mul^2) (StyleGAN's equalised learning rate with a learning-rate multiplier): the
    layer computes what a Linear of standard initialisation computes, but an optimiser
    step on W moves the effective weight c W by lr_mul times less in relative terms, so
    the mapping network (lr_mul 0.01 in StyleGAN) learns slowly and steadily."""

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 1.0):
        super().__init__()
        self.in_features, self.out_features, self.lr_mul = in_features, out_features, lr_mul
        self.weight = Parameter(backend.xp().zeros((out_features, in_features), dtype=np.float32))
        init.normal_(self.weight, 0.0, 1.0 / lr_mul)
        self.bias = Parameter(backend.xp().zeros(out_features, dtype=np.float32))
        self.scale = lr_mul / math.sqrt(in_features)

    def forward(self, x):
        return ops.linear(x, self.weight * self.scale, self.bias * self.lr_mul)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, lr_mul={self.lr_mul}"


class MappingNetwork(Module):
    """z (N, z_dim) -> w (N, w_dim): pixel norm, then ``layers`` x [EqualLinear ->
    LeakyReLU(0.2)] (StyleGAN's f: Z -> W, which untangles the latent before it
    reaches the styles), learning-rate multiplier ``lr_mul`` (StyleGAN's 0.01)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int = 2, lr_mul: float = 0.01):
        super().__init__()
        if layers < 1:
            raise ValueError(f"the mapping network needs >= 1 layer, got {layers}")
        self.z_dim, self.w_dim, self.depth = z_dim, w_dim, layers
        for i in range(layers):
            setattr(self, f"fc{i}", EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul))
        self.act = LeakyReLU(0.2)

    def forward(self, z):
        h = pixel_norm(z)
        for i in range(self.depth):
            h = self.act(getattr(self, f"fc{i}")(h))
        return h

    def extra_repr(self):
        return f"{self.z_dim}, {self.w_dim}, layers={self.depth}"


class NoiseInput(Module):
    """y = x + strength * noise, one noise plane (N, 1, H, W) shared by the channels
    and one learned ``strength`` (starting at 0) per layer (StyleGAN's per-pixel
    noise: the stochastic detail that the style need not encode).

    Training draws the noise from ``refgan.random`` (seeded and checkpointed with the
    run); evaluation uses the fixed plane ``noise_const`` (a buffer, StyleGAN2's
    ``noise_mode='const'``), so a fixed z always gives the same image."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.strength = Parameter(backend.xp().zeros((1,), dtype=np.float32))
        self.register_buffer("noise_const", random.normal((1, 1, size, size)))

    def forward(self, x):
        n, _, h, w = x.shape
        if self.training:
            noise = random.normal((n, 1, h, w), dtype=x.dtype)
        else:  # the buffer wrapped as it is (a JAX value under export), not copied to NumPy
            noise = Tensor(self.noise_const.astype(x.dtype))
        return x + ops.reshape(self.strength, (1, 1, 1, 1)) * noise

    def extra_repr(self):
        return f"size={self.size}"
