"""A critic head that judges each image as a set of local patches (``--patch-critic``).

What it is for. The main job's samples are told from real cells by texture a red cell
wide: red cells drawn as mottled rings instead of evenly filled discs, blotches in the
background (docs/main-job.md). Gaur et al.'s critic flattens its 4x4 map into one
linear decision, so a defect is judged where it sits, among everything else in the
image. Patch critics judge local texture instead: PatchGAN (Isola et al. 2017, section
3.2.2) classifies every N x N patch and averages the answers; SinGAN (Shaham et al.
2019) learns a generator from one image with patch critics alone; the U-Net GAN
(Schönfeld et al. 2020) adds a per-pixel decision to the global one. Here a small head
reads the critic's own features on its 16 x 16 grid (each seeing 13 x 13 pixels at 64
x 64: most of a red cell) and its per-patch scores are averaged and added to the
critic's output:

    D(x) = D_Gaur(x) + mean_p psi(f_p(x))
    psi  = Conv1x1(LeakyReLU(0.2)(Conv3x3(f)))  -> one score per patch p

psi is non-linear, so the mean judges the set of patches (a Deep Set of patches,
Zaheer et al. 2017), not just their average feature. A sum of critic outputs is one
critic: the Wasserstein and hinge losses, the gradient penalty (through both parts:
the head is convs and a leaky ReLU), R1, LeCam, spectral norm and ADA read it as any
critic. The head shares the critic's first stages, so it costs one 3x3 conv on the 16
x 16 grid.
"""
from __future__ import annotations

from refgan import nn, ops
from refgan.gans.architectures import Trunk

__all__ = ["WithPatchHead", "PATCH_SIDE"]

PATCH_SIDE = 16   # the grid of the critic's features the head reads


class WithPatchHead(nn.Module):
    """D(x) = critic(x) + mean_p psi(f_p(x)), f the critic's trunk's 16 x 16 stage
    output (module docstring)."""

    def __init__(self, critic: nn.Module, side: int = PATCH_SIDE):
        super().__init__()
        trunks = [m for m in critic.modules() if isinstance(m, Trunk)]
        if len(trunks) != 1:
            raise ValueError(f"a patch head reads one trunk's features, found {len(trunks)}")
        self.critic, self.side = critic, side
        # a reference, not a child: the trunk's weights belong to the critic once
        object.__setattr__(self, "trunk", trunks[0])
        c = self.trunk.channels_at(side)
        self.head = nn.Sequential(nn.Conv2d(c, c, 3, 1, "same"), nn.LeakyReLU(0.2),
                                  nn.Conv2d(c, 1, 1))

    def forward(self, x):
        with self.trunk.keeping(self.side) as kept:
            d = self.critic(x)
        scores = self.head(kept[0])                                  # (N, 1, side, side)
        return d + ops.reshape(ops.mean(scores, axis=(2, 3)), (x.shape[0], 1))

    def extra_repr(self):
        return f"side={self.side}"
