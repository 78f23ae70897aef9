"""A second critic that judges each image at a coarser scale (``--low-res-critic F``).

What it is for. The main job's samples are told from real cells by their colour
distribution: red cells drawn as dark rings with pale centres instead of even discs, a
white halo where the nucleus has a lavender rim, blotches in the background
(docs/log/2026-12-04-main-job-appearance.md). Each of these changes the image's mean
colour over regions of a few pixels, which is what an average-pooled copy of the image
shows directly: at 16x16 a red-cell ring and an even disc differ in the colour of one
or two pixels, not in the shape of an edge. Gaur et al.'s critic reaches that scale only
through stride-2 5x5 convs trained on the full image, whose gradients the edges
dominate.

The multi-scale discriminators of pix2pixHD (Wang et al. 2018, section 3.2) and
MSG-GAN (Karnewar and Wang 2020) judge each image at several resolutions with critics
of one architecture. Here the second critic is Gaur et al.'s critic built for the
image side S / F and fed the image average-pooled by F:

    D(x) = D_S(x) + D_{S/F}(avgpool_F(x))

A sum of critic outputs is one critic, so the Wasserstein, hinge and BCE losses, the
gradient penalty (taken through both branches: the average pool is linear, its double
backward that of the conv layers behind it), R1, LeCam, spectral norm and ADA read it
like any critic, and a WGAN's loss is the sum of the two critics' losses. At F = 4 the
branch is a 16x16 critic with two stride-2 stages where the main one has four.
"""
from __future__ import annotations

from refgan import nn
from refgan.gans.architectures import Trunk

__all__ = ["WithLowResCritic", "pools_to_a_critic"]


def pools_to_a_critic(size: int, factor: int) -> bool:
    """Whether average-pooling a ``size`` x ``size`` image by ``factor`` leaves a side
    Gaur et al.'s critic is built for: ``factor`` >= 2 divides ``size`` and the pooled
    side is 8 or more (``architectures.stages``' smallest)."""
    return factor >= 2 and size % factor == 0 and size // factor >= 8


class WithLowResCritic(nn.Module):
    """D(x) = main(x) + low(avgpool_factor(x)), ``low`` Gaur et al.'s critic at side
    ``size // factor`` (module docstring)."""

    def __init__(self, main: nn.Module, size: int, width: int, factor: int,
                 minibatch_std: int = 0, in_channels: int = 3):
        super().__init__()
        if not pools_to_a_critic(size, factor):
            raise ValueError(f"a low-resolution critic needs a factor >= 2 that leaves a side "
                             f"of 8 or more, got {factor} for side {size}")
        self.main = main
        self.pool = nn.AvgPool2d(factor)
        trunk = Trunk(size // factor, width, style="wgan", in_channels=in_channels,
                      dropout=0.0, minibatch_std=minibatch_std)
        self.low = nn.Sequential(trunk, nn.Linear(trunk.out_features, 1))

    def forward(self, x):
        return self.main(x) + self.low(self.pool(x))
