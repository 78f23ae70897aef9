"""VAE-GAN's reconstruction term for G (``--vae W``; Larsen et al. 2016).

A critic is a sparse teacher: in the main job's 2,000-odd steps G learns what a red
cell is only from the critic's gradients on its own samples, and draws mottled rings
(docs/main-job.md). Larsen et al. give G a dense signal besides: an encoder E maps
each real image to a Gaussian q(z | x) = N(mu(x), diag(exp(logvar(x)))), and G must
redraw the image from a code drawn from it (the reparameterisation z_x = mu + exp(logvar
/ 2) eps, :class:`refgan.gans.architectures.Encoder`). G and E minimise, on top of G's
adversarial loss,

    W * ( mean_pixels |G(z_x) - x|  +  KL(q(z | x) || N(0, I)) / (KL_SCALE * pixels) )

    KL = 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)    (per image, batch mean)

The L1 term is a Laplace likelihood of the pixels with scale b; the KL is divided by
the pixel count times KL_SCALE = 1/b = 10 (b = 0.1 of the [-1, 1] range, the scale of a
fair reconstruction's error), so the two keep the evidence bound's ratio; the KL keeps
the codes of real images where the prior draws G's samples, so what G learns from
redrawing real cells serves its samples. Deviations from Larsen et al.: the
reconstruction error is on pixels, not on the critic's features (a Wasserstein
critic's features are not a likelihood's), and the critic does not see the
reconstructions, only G's samples from the prior, as in plain WGAN-GP.
"""
from __future__ import annotations

from refgan import ops
from refgan.gans.base import mean_of

__all__ = ["KL_SCALE", "vae_loss"]

KL_SCALE = 10.0   # 1 / b, the Laplace scale b = 0.1 of the pixel range [-1, 1]


def vae_loss(G, E, x, eps):
    """``(loss, logs)``: mean|G(z_x) - x| + KL / (KL_SCALE * pixels) for the real batch
    ``x`` (N, C, S, S), with z_x = mu + exp(logvar / 2) eps drawn from E's q(z | x)."""
    mu, logvar = E(x)
    z = mu + ops.exp(0.5 * logvar) * eps
    l1 = ops.mean(ops.abs(G(z) - x))
    kl = 0.5 * ops.mean(ops.sum(mu * mu + ops.exp(logvar) - 1.0 - logvar, axis=1))
    pixels = x.size // x.shape[0]
    loss = l1 + kl / (KL_SCALE * pixels)
    return loss, {"vae_l1": mean_of(l1), "vae_kl": mean_of(kl)}
