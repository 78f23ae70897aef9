"""FastGAN's two ideas for 100-image datasets (Liu et al. 2021, "Towards faster and
stabilized GAN training for high-fidelity few-shot image synthesis", ICLR).

**Skip-layer excitation** (``--generator fastgan``, section 3.1). A low-resolution
feature map gates the channels of a feature map four times finer:

    e(x_low) = sigmoid(Conv1x1(SiLU(Conv4x4(AvgPool_to_4x4(x_low)))))    (N, C_high, 1, 1)
    y        = x_high * e(x_low)

so a coarse, global description of the image (its layout and, here, its stain
and background) sets which of the fine channels draw, a direct path from the
latent's early features to the whole image's appearance that a chain of
upsampling convs lacks. The generator is

    x_b = LeakyReLU(BN(Linear(z)))  reshaped to (C_0, b, b)                 (b = 4)
    x_r = LeakyReLU(BN(noise(Conv3x3(upsample x2 (x_{r/2})))))              r = 2b .. S/2
    x_4r <- x_4r * e(x_r)   for 4r <= S/2                (64 px: 4 -> 16, 8 -> 32)
    image = tanh(Conv3x3(upsample x2 (x_{S/2})))

with LeakyReLU(0.2) where FastGAN has the gated linear unit GLU(a, g) = a *
sigmoid(g) over the two halves of a conv's channels: GLU doubles every conv's
outputs, and within the main job's time budget that cost more steps than the
design can make up (measured: docs/toolkit.md). The channels follow
the project's other generators: ``width`` at the last upsampling stage, doubling
towards 4 x 4, and the last stage draws the image from the upsampled S/2 features
as Gaur et al.'s does (FastGAN has one more stage at full resolution).

**A self-supervised critic** (``--recon W``, section 3.2). The critic's 8 x 8
feature map f (after the stride-2 stage that reaches 8 x 8) is decoded to images
of half the input's side by two small decoders, on real images only:

    L_recon = || Dec_whole(f) - AvgPool2(x) ||^2  +  || Dec_part(f_q) - x_q ||^2

f_q one of f's four 4 x 4 quadrants, drawn once per critic step, and x_q the same
quadrant of x at full resolution. The critic's loss gains W * L_recon: its features
must describe the real images well enough to redraw them, which keeps a critic
that sees a few hundred images from judging by a handful of memorised cues.

Deviations from FastGAN, for a CPU budget and to fit refgan's zoo: the
reconstruction is compared by mean squared error, not LPIPS (that needs a
pretrained VGG, which refgan does not download at run time); the decoders are
[upsample x2, Conv3x3, LeakyReLU(0.2)] stages without batch norm; one conv per
generator stage (FastGAN alternates one- and two-conv stages) with noise in every
stage; LeakyReLU instead of GLU (above); no second output at half resolution for a
two-scale critic; the critic is refgan's own (Gaur et al.'s trunk for WGAN-GP,
DCGAN's for DCGAN) with its own loss (``--loss hinge`` gives FastGAN's). The
upsampling is nearest-neighbour, or bilinear with ``--upsample bilinear``.
"""
from __future__ import annotations

import math

from refgan import nn, ops, random
from refgan.gans.architectures import Trunk, stages
from refgan.nn.modulated import NoiseInput

__all__ = ["SkipLayerExcitation", "FastGANGenerator", "Decoder",
           "SelfSupervisedCritic", "RECON_SIDE"]

RECON_SIDE = 8   # the side of the critic's feature map the decoders read (FastGAN: 8 x 8)


class SkipLayerExcitation(nn.Module):
    """y = x_high * sigmoid(Conv1x1(SiLU(Conv4x4(AvgPool_to_4x4(x_low))))) (module docstring)."""

    def __init__(self, c_low: int, c_high: int):
        super().__init__()
        self.squeeze = nn.Conv2d(c_low, c_high, 4, 1, 0, bias=False)   # 4 x 4 -> 1 x 1
        self.excite = nn.Conv2d(c_high, c_high, 1, 1, 0, bias=False)

    def gate(self, low):
        """e(x_low), (N, C_high, 1, 1), each in (0, 1)."""
        pooled = ops.adaptive_avg_pool2d(low, 4)
        return ops.sigmoid(self.excite(ops.silu(self.squeeze(pooled))))

    def forward(self, low, high):
        return high * self.gate(low)


class UpStage(nn.Module):
    """upsample x2 (nearest or bilinear) -> Conv3x3 -> noise -> BN -> LeakyReLU(0.2)."""

    def __init__(self, c_in: int, c_out: int, size: int, upsample: str = "nearest"):
        super().__init__()
        self.up = nn.Upsample(2, mode=upsample)
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, "same", bias=False)
        self.noise = NoiseInput(size)
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.act(self.norm(self.noise(self.conv(self.up(x)))))


class FastGANGenerator(nn.Module):
    """z (N, in_dim) -> image (N, channels, size, size) in [-1, 1] (module docstring)."""

    def __init__(self, in_dim: int, size: int, width: int, channels: int = 3,
                 upsample: str = "nearest"):
        super().__init__()
        n, base = stages(size)
        chans = [width * 2 ** i for i in range(n)][::-1]
        self.in_dim, self.size, self.n_stages = in_dim, size, n - 1
        self.project = nn.Sequential(nn.Linear(in_dim, chans[0] * base * base, bias=False),
                                     nn.BatchNorm1d(chans[0] * base * base), nn.LeakyReLU(0.2),
                                     nn.Unflatten((chans[0], base, base)))
        sides = [base * 2 ** i for i in range(n)]
        for i in range(1, n):
            setattr(self, f"up{i}", UpStage(chans[i - 1], chans[i], sides[i], upsample))
        # stage i (side r) excites stage i + 2 (side 4r)
        self.excited_by = {i + 2: i for i in range(n - 2)}
        for hi, lo in self.excited_by.items():
            setattr(self, f"sle{hi}", SkipLayerExcitation(chans[lo], chans[hi]))
        self.up = nn.Upsample(2, mode=upsample)
        self.to_rgb = nn.Conv2d(chans[-1], channels, 3, 1, "same")

    def forward(self, z):
        feats = [self.project(z)]
        for i in range(1, self.n_stages + 1):
            x = getattr(self, f"up{i}")(feats[-1])
            if i in self.excited_by:
                x = getattr(self, f"sle{i}")(feats[self.excited_by[i]], x)
            feats.append(x)
        return ops.tanh(self.to_rgb(self.up(feats[-1])))

    def extra_repr(self):
        excite = ", ".join(f"{self.size >> (self.n_stages + 1 - lo)}->"
                           f"{self.size >> (self.n_stages + 1 - hi)}"
                           for hi, lo in self.excited_by.items())
        return f"in_dim={self.in_dim}, size={self.size}, excitation={excite or 'none'}"


class Decoder(nn.Module):
    """(N, C, s, s) -> (N, channels, s * 2^ups, s * 2^ups) in [-1, 1]:
    [upsample x2, Conv3x3 halving the channels, LeakyReLU(0.2)] x ups, Conv3x3, tanh."""

    def __init__(self, c_in: int, ups: int, channels: int = 3):
        super().__init__()
        layers, c = [], c_in
        for _ in range(ups):
            c_out = max(c // 2, 4)
            layers += [nn.Upsample(2), nn.Conv2d(c, c_out, 3, 1, "same"), nn.LeakyReLU(0.2)]
            c = c_out
        layers += [nn.Conv2d(c, channels, 3, 1, "same"), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, f):
        return self.body(f)


def _quadrant(x, q: int):
    """Quadrant q (0 top left, 1 top right, 2 bottom left, 3 bottom right) of (N, C, H, W)."""
    h, w = x.shape[2] // 2, x.shape[3] // 2
    r, c = divmod(q, 2)
    return x[:, :, r * h:(r + 1) * h, c * w:(c + 1) * w]


class SelfSupervisedCritic(nn.Module):
    """A critic with FastGAN's two decoders on its 8 x 8 features (module docstring).

    ``critic(x)`` is the wrapped critic's output, unchanged (the losses, the gradient
    penalty, R1 and LeCam read it as before); :meth:`with_reconstruction` also returns
    L_recon of the images. The features come from the critic's :class:`Trunk`, the only
    one inside it, which keeps its 8 x 8 stage output while asked to."""

    def __init__(self, critic: nn.Module, size: int, channels: int = 3):
        super().__init__()
        trunks = [m for m in critic.modules() if isinstance(m, Trunk)]
        if len(trunks) != 1:
            raise ValueError(f"a self-supervised critic needs exactly one trunk, found {len(trunks)}")
        if size < 2 * RECON_SIDE:
            raise ValueError(f"the reconstruction reads {RECON_SIDE}x{RECON_SIDE} features: "
                             f"images of 16x16 or more (got {size})")
        self.critic = critic
        # a reference, not a child: the trunk's weights belong to the critic once
        object.__setattr__(self, "trunk", trunks[0])
        c = self.trunk.channels_at(RECON_SIDE)
        ups = int(math.log2(size // 2 // RECON_SIDE))
        self.whole = Decoder(c, ups, channels)
        self.part = Decoder(c, ups + 1, channels)

    def forward(self, x):
        return self.critic(x)

    def with_reconstruction(self, x):
        """(D(x), L_recon(x)); the quadrant comes from refgan's seeded stream."""
        with self.trunk.keeping(RECON_SIDE) as kept:
            d = self.critic(x)
        f = kept[0]
        q = int(random.generator().integers(4))
        target_whole = ops.avg_pool2d(x, 2)
        target_part = _quadrant(x, q)
        loss = (ops.mse_loss(self.whole(f), target_whole)
                + ops.mse_loss(self.part(_quadrant(f, q)), target_part))
        return d, loss
