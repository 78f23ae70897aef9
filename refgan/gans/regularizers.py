"""Critic losses and regularisers for limited data, shared by the models of the zoo.

Every function is composed of refgan ops, so any critic works and the penalties that
differentiate the critic's input gradient get their second derivative for free.

* Hinge loss (Lim & Ye 2017; Miyato et al. 2018, eq. 17 of the SN-GAN paper):

      L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))],     L_G = -E[D(G(z))]

* R1 penalty (Mescheder et al. 2018, "Which Training Methods for GANs do actually
  Converge?", eq. 9): on real images only,

      R1 = (gamma / 2) E[||grad_x D(x)||^2]

  lazily, as StyleGAN2 (section 3.1) applies it: k * R1 on every k-th critic update.

* LeCam regularisation (Tseng et al. 2021, "Regularizing Generative Adversarial
  Networks under Limited Data", eq. 3):

      R_LC = E[(D(x) - alpha_F)^2] + E[(D(G(z)) - alpha_R)^2]

  where alpha_R and alpha_F are exponential moving averages (decay 0.99, the paper's)
  of the critic's mean output on real and on generated images. It keeps the critic's
  outputs on the two sides from drifting apart, which is what a critic that has
  memorised a small training set does.

* Mode seeking (Mao et al. 2019, "Mode Seeking Generative Adversarial Networks for
  Diverse Image Synthesis", eq. 3): the batch's two halves z_1, z_2 and their images,

      L_ms = mean|G(z_1) - G(z_2)| / mean|z_1 - z_2|,     L_G += lambda_ms / (L_ms + 1e-5)

  so G pays for mapping distinct latents to near-identical images.
"""
from __future__ import annotations

import numpy as np

from refgan import nn, ops
from refgan.autograd import grad

__all__ = ["hinge_d_loss", "r1_penalty", "LeCam", "LOSSES", "mode_seeking"]

# The critic losses a model can choose (``--loss``).
LOSSES = ("wgan", "hinge")


def hinge_d_loss(d_real, d_fake):
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; d_* (N, 1) or (N,)."""
    return ops.mean(ops.relu(1.0 - d_real)) + ops.mean(ops.relu(1.0 + d_fake))


def r1_penalty(critic, real):
    """(E[||grad_x D(x)||^2] as a Tensor differentiable in the critic's weights,
    per-sample squared norms (N,)). ``real`` must not depend on G (the penalty is on
    real data); it is made a leaf that requires its gradient when it is not one."""
    x = real if real.requires_grad else real.detach().requires_grad_()
    (g,) = grad(ops.sum(critic(x)), x, create_graph=True)
    sq = ops.sum(ops.reshape(g * g, (g.shape[0], -1)), axis=1)
    return ops.mean(sq), sq


def mode_seeking(fake, z, eps: float = 1e-5):
    """1 / (L_ms + eps) for images ``fake`` (N, ...) made from latents ``z`` (N, d),
    N even: sample i of the first half is paired with sample i of the second."""
    h = fake.shape[0] // 2
    if h < 1 or 2 * h != fake.shape[0]:
        raise ValueError(f"mode seeking pairs the batch's halves: needs an even batch, got {fake.shape[0]}")
    f1, f2 = fake[:h], fake[h:]
    z1, z2 = z[:h], z[h:]
    ratio = ops.mean(ops.abs(f1 - f2)) / ops.mean(ops.abs(z1 - z2))
    return 1.0 / (ratio + eps)


class LeCam(nn.Module):
    """LeCam regulariser with its two moving averages as buffers (checkpointed).

    ``penalty(d_real, d_fake)`` updates the averages with this batch's means (in
    training mode) and returns R_LC (module docstring) as a Tensor."""

    def __init__(self, decay: float = 0.99):
        super().__init__()
        self.decay = float(decay)
        self.register_buffer("ema_real", np.zeros((), np.float64))
        self.register_buffer("ema_fake", np.zeros((), np.float64))

    def update(self, d_real, d_fake) -> None:
        d = self.decay
        self.ema_real = d * self.ema_real + (1 - d) * float(d_real.numpy().mean())
        self.ema_fake = d * self.ema_fake + (1 - d) * float(d_fake.numpy().mean())

    def penalty(self, d_real, d_fake):
        if self.training:
            self.update(d_real, d_fake)
        a_real, a_fake = float(self.ema_real), float(self.ema_fake)
        return ops.mean((d_real - a_fake) ** 2) + ops.mean((d_fake - a_real) ** 2)

    def extra_repr(self):
        return f"decay={self.decay}"
