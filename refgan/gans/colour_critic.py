"""A second critic branch that sees each image's colours as a set (``--colour-critic H``).

What it is for. The main job's samples are told from real cells by the colour two-sample
test, and that test leans on each image's colour *distribution* (per-channel percentiles,
means, spreads and channel correlations: ``refgan.training.quality.colour_statistics``),
not on where the colours are. Gaur et al.'s critic reaches an image's pixel histogram only
through four strided 5x5 convs whose first stage has 16 channels at the main job's
width; pale-centred red cells and a white halo round the nucleus shift that histogram
without looking wrong locally.

The branch is a Deep Sets function (Zaheer et al. 2017, theorem 2) of the image's pixels
``x_p`` (an RGB triple each):

    B(x) = rho( (1/P) sum_p phi(x_p) )

``phi`` is one per-pixel layer (a 1x1 conv 3 -> H and leaky ReLU 0.2: H ramps of
projected colour, whose pixel means are smoothed points of the image's colour CDF along
H directions), ``rho`` an MLP (H -> H -> 1). One per-pixel layer because the branch runs
at full resolution on every image the critic sees, and an H x H layer there doubles
its cost (measured in docs/toolkit.md). The mean over pixels makes
B a function of the image's colour distribution alone, invariant to any permutation
of its pixels, and any continuous function of that distribution's moments can be
written so (theorem 2). The critic is

    D(x) = D_main(x) + B(x)

so the Wasserstein, hinge and BCE losses, the gradient penalty, R1, LeCam, spectral
norm and ADA read it like any critic; the penalty differentiates B's input gradient,
which is smooth apart from the leaky ReLU's kink, as the main branch's is.

HistoGAN (Afifi et al. 2021) puts a colour histogram into the generator's loss; the
branch here leaves the choice of colour features to the critic and G's loss unchanged.
"""
from __future__ import annotations

from refgan import nn, ops

__all__ = ["ColourBranch", "WithColourBranch"]


class ColourBranch(nn.Module):
    """image (N, C, S, S) -> (N, 1): rho(mean over pixels of phi(pixel))."""

    def __init__(self, hidden: int, in_channels: int = 3):
        super().__init__()
        self.phi = nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.LeakyReLU(0.2))
        self.rho = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, x):
        return self.rho(ops.mean(self.phi(x), axis=(2, 3)))


class WithColourBranch(nn.Module):
    """D(x) = main(x) + colour(x): a critic with the colour branch beside it."""

    def __init__(self, main: nn.Module, hidden: int, in_channels: int = 3):
        super().__init__()
        self.main = main
        self.colour = ColourBranch(hidden, in_channels)

    def forward(self, x):
        return self.main(x) + self.colour(x)
