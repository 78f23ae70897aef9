"""WGAN-GP (Gulrajani et al. 2017), as Gaur et al. trains it.

Critic D (no sigmoid, no batch norm) and generator G minimise

    L_D = E[D(G(z))] - E[D(x)] + lambda * E[(||grad_x D(x_hat)||_2 - 1)^2]
    L_G = -E[D(G(z))]

with x_hat = eps x + (1 - eps) G(z), eps ~ U(0, 1) per sample, lambda = 10, and
n_critic = 5 critic steps per generator step (Gaur et al.: 8 was too many). -L_D
without the penalty, E[D(x)] - E[D(G(z))], is the critic's estimate of the
Wasserstein-1 distance; it is logged as ``wasserstein``.

With ``diffaugment`` (a policy such as 'color,translation,cutout'; '' = off) the
critic sees only augmented images, real and generated alike, and G is trained
through the augmentation (DiffAugment, :mod:`refgan.gans.diffaugment`): D above
reads D(T(.)), and the penalty is taken between T(x) and T(G(z)), where the critic
is evaluated.

With ``gp_every`` = k > 1 the penalty is lazy (Karras et al. 2020, StyleGAN2 section
3.1): k * lambda * GP on every k-th critic update, none on the others -- the same
penalty on average, its double backward, the dearest part of a critic update, paid
once in k updates (the saving, measured: docs/training.md).

The limited-data toolkit (docs/toolkit.md) applies: ``--generator styled`` (the
StyleGAN2 skip generator, :mod:`refgan.gans.styled`), ``--loss hinge``, ``--r1``,
``--lecam``, ``--ada-target``, ``--spectral-norm``, ``--vae`` (VAE-GAN's
encoder and reconstruction term for G, :mod:`refgan.gans.vae`); ``--gp-lambda 0``
turns the gradient penalty off (with R1 in its place, say). ``--progressive P`` grows both networks
from 16 x 16 to the full size, fading each doubling in over P steps (progressive
growing, :mod:`refgan.gans.progressive`). ``--latent-ae N`` trains an autoencoder for
the first N steps and WGAN-GP on its codes after them (:mod:`refgan.gans.latent`).
"""
from __future__ import annotations

from refgan import nn, no_grad, ops, optim
from refgan.gans.architectures import Encoder, Trunk
from refgan.gans.base import GAN, mean_of
from refgan.gans.latent import AE_BETAS, AE_LR, latent_networks
from refgan.gans.progressive import ProgressiveGenerator, ProgressiveTrunk, at_level, growth
from refgan.gans.styled import make_generator
from refgan.gans.vae import vae_loss


def add_penalty(d_loss, critic, real, fake, lam: float, every: int, updates: int):
    """``(d_loss + penalty, logs)``: ``lam * GP`` on every update when ``every`` = 1;
    ``every * lam * GP`` when ``updates`` (the critic optimiser's updates so far, which
    a checkpoint restores) is a multiple of ``every``, and ``(d_loss, {})`` otherwise
    (lazy regularisation)."""
    if updates % every:
        return d_loss, {}
    gp, norms = ops.gradient_penalty(critic, real, fake)
    return d_loss + (every * lam) * gp, {"gp": mean_of(gp), "grad_norm": mean_of(norms)}


class WGANGP(GAN):
    name = "wgan-gp"

    def make(self, c):
        self.gp_lambda, self.gp_every = c.gp_lambda, c.gp_every
        self.grow_steps = int(getattr(c, "progressive", 0))
        # two stages (refgan/gans/latent.py): ``latent`` says the run trains on codes,
        # ``ae_steps`` where its first stage ends (the trainer may end it earlier)
        self.ae_steps = int(getattr(c, "latent_ae", 0))
        self.latent = self.ae_steps > 0
        if self.latent:
            ae, G, trunk = latent_networks(c)
            self.growing = ()
        elif self.grow_steps:
            G = ProgressiveGenerator(c.latent_dim, c.size, c.width_g)
            trunk = ProgressiveTrunk(c.size, c.width_d, dropout=c.dropout,
                                     minibatch_std=c.minibatch_std)
            self.growing = (G, trunk)
        else:
            G = make_generator(c, c.latent_dim)
            trunk = Trunk(c.size, c.width_d, style="wgan", dropout=c.dropout,
                          minibatch_std=c.minibatch_std)
            self.growing = ()
        D = nn.Sequential(trunk, nn.Linear(trunk.out_features, 1))
        D = self.make_toolkit(c, D)
        self.nets = {"G": G, "D": D}
        # with --latent-ae G's optimiser steps G_lat only: the decoder is the autoencoder's
        trained_g = G.latent_g if self.latent else G
        self.opts = {"G": self._optimizer(trained_g.parameters(), c.lr_g, c),
                     "D": self._optimizer(D.parameters(), c.lr_d, c)}
        if self.latent:
            self.nets["AE"] = ae
            self.opts["AE"] = optim.Adam(ae.parameters(), lr=AE_LR, betas=AE_BETAS)
        self.vae_weight = float(getattr(c, "vae", 0.0))
        if self.vae_weight > 0:            # VAE-GAN's encoder (refgan/gans/vae.py)
            self.nets["E"] = Encoder(c.size, c.width_d, c.latent_dim, style="wgan")
            self.opts["E"] = self._optimizer(self.nets["E"].parameters(), c.lr_g, c)
            self.needs_real_in_g_step = True
        self.grow_to_step()

    def grow_to_step(self) -> float | None:
        """Set G's and D's growth level for the current step (``--progressive``); returns it
        (None without growing). The EMA generator copies G's level with its buffers."""
        if not self.growing:
            return None
        p = growth(self.step, self.grow_steps, self.config.size)
        for net in self.growing:
            net.set_level(p)
        return p

    def in_autoencoder_stage(self) -> bool:
        """True while ``--latent-ae N`` trains the autoencoder (steps 0 .. N-1)."""
        return self.step < self.ae_steps

    def autoencoder_step(self, x) -> dict:
        """One update of the autoencoder on the real batch ``x`` (the first stage)."""
        ae = self.nets["AE"]
        loss, logs = ae.loss(x)
        self.update(self.opts["AE"], loss, ae)
        return logs

    def discriminator_step(self, batch):
        G, D = self.nets["G"], self.nets["D"]
        x, _ = batch
        if self.latent:
            if self.in_autoencoder_stage():
                return self.autoencoder_step(x)
            with no_grad():                  # the critic judges codes (refgan/gans/latent.py)
                x, fake = self.nets["AE"].encoder(x), G.latent(self.z(len(x)))
            return self.critic_update(D, x, fake, None)
        p = self.grow_to_step()
        if p is not None:
            x = at_level(x, p, self.config.size)
        with no_grad():
            fake = G(self.z(len(x)))
        return self.critic_update(D, self.augment(x), self.augment(fake), p)

    def critic_update(self, D, x, fake, p) -> dict:
        """One critic update on the real batch ``x`` and the generated ``fake`` (both as
        the critic sees them); ``p`` the growth level, logged (None: not growing)."""
        (d_real, recon), d_fake = self.judge_real(D, x), D(fake)
        d_loss = self.critic_loss(d_real, d_fake, lambda r, f: f.mean() - r.mean())
        updates, logs = self.opts["D"].step_count, {}
        if self.gp_lambda > 0:
            d_loss, logs = add_penalty(d_loss, D, x, fake, self.gp_lambda, self.gp_every, updates)
        d_loss, more = self.regularise(d_loss, D, x, d_real, d_fake, updates, recon)
        logs.update(more)
        self.update(self.opts["D"], d_loss, D)
        if p is not None:
            logs["grow_level"] = p
        return {"d_loss": mean_of(d_loss), "wasserstein": mean_of(d_real) - mean_of(d_fake),
                **logs}

    def generator_step(self, batch=None):
        G, D = self.nets["G"], self.nets["D"]
        if self.in_autoencoder_stage():
            return {}
        self.grow_to_step()
        with self.frozen(D):
            z = self.z(self.batch_size)
            fake = G.latent(z) if self.latent else G(z)
            g_loss = self.generator_loss(D(self.augment(fake)), lambda f: -f.mean(), fake, z)
            logs = {"g_loss": mean_of(g_loss)}
            if self.vae_weight > 0:
                x, _ = batch
                rec, more = vae_loss(G, self.nets["E"], x, self.z(len(x)))
                g_loss = g_loss + self.vae_weight * rec
                logs.update(more)
                self.update(self.opts["E"], g_loss, G, self.nets["E"])   # backward once ...
                self.opts["G"].step()                                     # ... both step
            else:
                self.update(self.opts["G"], g_loss, G)
        return logs

    def update_ema(self, decay: float, step: int, warmup: int = 10) -> float:
        """The base EMA of G; with ``--latent-ae`` the EMA generator's decoder is then set
        to the autoencoder's, which is trained, not averaged (refgan/gans/latent.py)."""
        d = super().update_ema(decay, step, warmup)
        if self.latent:
            trained = self.nets["G"].decoder.parameters()
            for pe, p in zip(self.nets["G_ema"].decoder.parameters(), trained):
                pe.data = p.data
        return d
