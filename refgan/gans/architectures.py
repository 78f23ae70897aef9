"""Network builders shared by the GAN zoo; every one scales with the image size.

An image of side ``S`` (a power of two, 8 .. 256) is reached from / reduced to a
4 x 4 grid (2 x 2 below 16 pixels) in ``n = log2(S / 4)`` stride-2 stages. ``width``
is the channel count of the widest-resolution stage; it doubles per stage towards
the 4 x 4 end, as in DCGAN and the Keras WGAN-GP example Gaur et al. follows::

    S = 64, width = 64:   critic  3 -> 64 -> 128 -> 256 -> 512 (4x4) -> Linear -> 1
                          gen     z -> Linear(512*4*4) -> 256 -> 128 -> 64 -> 3

Two generator styles:

* ``'upsample'`` (Gaur et al.): Linear -> BN -> LeakyReLU(0.2) -> reshape ->
  [Upsample x2 -> Conv 3x3 s1 'same' -> BN -> LeakyReLU(0.2)] x (n-1) ->
  Upsample x2 -> Conv 3x3 -> tanh; the upsampling nearest-neighbour (Keras
  UpSampling2D, Gaur et al.'s) or, with ``upsample='bilinear'``, bilinear.
* ``'deconv'`` (DCGAN): Linear -> BN -> ReLU -> reshape ->
  [ConvTranspose 4x4 s2 p1 -> BN -> ReLU] x (n-1) -> ConvTranspose -> tanh.

Two discriminator trunks, both ending in a flat feature vector (N, F) that heads
(real/fake, class, InfoGAN's Q, ALI's joint head) read:

* ``'wgan'`` (Gaur et al.): [Conv 5x5 s2 'same' -> LeakyReLU(0.2) -> Dropout(0.3)] x n,
  no batch norm (batch norm would make the gradient penalty's per-sample gradient
  depend on the other samples). With ``minibatch_std`` = g > 0 the last stage's conv
  also reads one feature map of the batch's spread (:class:`refgan.nn.MinibatchStd`,
  groups of g samples; Karras et al. 2018), so the critic can tell a batch of
  too-similar samples from a real one.
* ``'dcgan'``: [Conv 4x4 s2 p1 -> BN (not on the first) -> LeakyReLU(0.2)] x n.
"""
from __future__ import annotations

import contextlib
import math

from refgan import nn, ops, random

__all__ = ["stages", "Generator", "Trunk", "Encoder", "LabelPlane"]


def stages(size: int) -> tuple[int, int]:
    """(number of stride-2 stages, side of the smallest grid) for an image side."""
    if size < 8 or size & (size - 1):
        raise ValueError(f"image size must be a power of two >= 8, got {size}")
    base = 4 if size >= 16 else 2
    return int(math.log2(size // base)), base


def _widths(size: int, width: int) -> list[int]:
    """Channels per stage, widest-resolution first: width, 2 width, 4 width, ..."""
    n, _ = stages(size)
    return [width * 2 ** i for i in range(n)]


class Generator(nn.Module):
    """z (N, in_dim) -> image (N, channels, size, size) in [-1, 1] (with ``tanh=False``
    the last conv's output as it is, for an output stage of the caller's)."""

    def __init__(self, in_dim: int, size: int, width: int, style: str = "upsample",
                 channels: int = 3, tanh: bool = True, upsample: str = "nearest"):
        super().__init__()
        n, base = stages(size)
        ch = _widths(size, width)[::-1]          # 4x4 end first
        self.in_dim, self.size, self.style = in_dim, size, style
        act = (lambda: nn.LeakyReLU(0.2)) if style == "upsample" else nn.ReLU
        self.project = nn.Sequential(nn.Linear(in_dim, ch[0] * base * base, bias=False),
                                     nn.BatchNorm1d(ch[0] * base * base), act(),
                                     nn.Unflatten((ch[0], base, base)))
        layers = []
        for i in range(n):
            last = i == n - 1
            c_in, c_out = ch[i], channels if last else ch[i + 1]
            if style == "upsample":
                layers += [nn.Upsample(2, mode=upsample), nn.Conv2d(c_in, c_out, 3, 1, "same", bias=last)]
            elif style == "deconv":
                layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last)]
            else:
                raise ValueError(f"unknown generator style {style!r}")
            if not last:
                layers += [nn.BatchNorm2d(c_out), act()]
            elif tanh:
                layers += [nn.Tanh()]
        self.blocks = nn.Sequential(*layers)

    def forward(self, z):
        return self.blocks(self.project(z))


class Trunk(nn.Module):
    """image (N, in_channels, size, size) -> features (N, out_features)."""

    def __init__(self, size: int, width: int, style: str = "wgan", in_channels: int = 3,
                 dropout: float = 0.3, minibatch_std: int = 0):
        super().__init__()
        n, base = stages(size)
        ch = [in_channels] + _widths(size, width)
        layers = []
        for i in range(n):
            if style == "wgan":
                c_in = ch[i]
                if minibatch_std and i == n - 1:   # the batch's spread, read by the last conv
                    layers += [nn.MinibatchStd(minibatch_std)]
                    c_in += 1
                layers += [nn.Conv2d(c_in, ch[i + 1], 5, 2, "same"), nn.LeakyReLU(0.2)]
                if dropout:
                    layers += [nn.Dropout(dropout)]
            elif style == "dcgan":
                layers += [nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1, bias=i == 0)]
                if i:
                    layers += [nn.BatchNorm2d(ch[i + 1])]
                layers += [nn.LeakyReLU(0.2)]
            else:
                raise ValueError(f"unknown discriminator style {style!r}")
        if minibatch_std and style != "wgan":
            raise ValueError("minibatch_std is implemented for the 'wgan' trunk only")
        layers += [nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.out_features = ch[-1] * base * base
        self.sides = {size >> (i + 1): ch[i + 1] for i in range(n)}   # stage output side -> channels
        self._kept: list | None = None   # while keeping(): [side, the stage output of that side]

    def channels_at(self, side: int) -> int:
        """The channels of the stage output of ``side`` x ``side``."""
        if side not in self.sides:
            raise ValueError(f"no stage of this trunk outputs {side}x{side}; it has {sorted(self.sides)}")
        return self.sides[side]

    @contextlib.contextmanager
    def keeping(self, side: int):
        """Within the block, forward passes keep the activated output of the stage that
        reaches ``side`` x ``side`` in the yielded list (read after the pass;
        FastGAN's self-supervised critic decodes it, :mod:`refgan.gans.fastgan`)."""
        self.channels_at(side)
        kept: list = []
        self._kept = [side, kept]
        try:
            yield kept
        finally:
            self._kept = None

    def forward(self, x):
        if self._kept is None:
            return self.body(x)
        side, kept = self._kept
        for layer in self.body._modules.values():
            x = layer(x)
            if not kept and isinstance(layer, nn.LeakyReLU) and x.shape[-1] == side:
                kept.append(x)
        return x


class Encoder(nn.Module):
    """ALI's stochastic encoder q(z | x) = N(mu(x), diag(exp(logvar(x)))).

    A trunk and one linear map to 2 * latent_dim numbers, split into the mean and
    the log-variance. ``sample`` draws z by the reparameterisation

        z = mu(x) + exp(logvar(x) / 2) * eps,    eps ~ N(0, I)

    so the draw is a differentiable function of the encoder's weights (Dumoulin et
    al. 2017, section 2.2; Kingma & Welling 2014).
    """

    def __init__(self, size: int, width: int, latent_dim: int, style: str = "dcgan"):
        super().__init__()
        self.latent_dim = latent_dim
        self.trunk = Trunk(size, width, style, dropout=0.0)
        self.head = nn.Linear(self.trunk.out_features, 2 * latent_dim)

    def forward(self, x):
        """(mu, logvar), each (N, latent_dim)."""
        return ops.split(self.head(self.trunk(x)), [self.latent_dim, self.latent_dim], axis=1)

    def sample(self, x, eps=None):
        """z (N, latent_dim) drawn from q(z | x); ``eps`` (N, latent_dim) fixes the noise."""
        mu, logvar = self(x)
        if eps is None:
            eps = random.normal(mu.shape, dtype=mu.dtype)
        return mu + ops.exp(0.5 * logvar) * eps


class LabelPlane(nn.Module):
    """CGAN's label input to D: an embedding of the class, shaped as one extra image
    plane (N, 1, size, size) and stacked onto the image channels."""

    def __init__(self, n_classes: int, size: int):
        super().__init__()
        self.size = size
        self.embed = nn.Embedding(n_classes, size * size)

    def forward(self, x, labels):
        plane = ops.reshape(self.embed(labels), (x.shape[0], 1, self.size, self.size))
        return ops.concat([x, plane], axis=1)
