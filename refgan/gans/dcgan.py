"""DCGAN (Radford et al. 2016) with the binary cross-entropy loss, as Nizam and Md Ali uses it.

D outputs a logit; with s = sigmoid, the two players minimise

    L_D = -E[log s(D(x))] - E[log(1 - s(D(G(z))))]
    L_G = -E[log s(D(G(z)))]            (the non-saturating generator loss)

Adam with separate learning rates for G and D: Nizam and Md Ali's grid (G, D) =
(2e-4, 2e-4), (4e-4, 3e-4), (4e-4, 4e-4), (4e-4, 2e-4) is reached with
``--lr-g/--lr-d``, and its cosine decay with ``--schedule cosine``.

The limited-data toolkit applies to D (docs/toolkit.md): ``--loss hinge``, ``--r1``,
``--lecam``, ``--diffaugment``, ``--ada-target``, ``--spectral-norm``.
"""
from __future__ import annotations

from refgan import nn, no_grad
from refgan.gans.architectures import Generator, Trunk
from refgan.gans.base import GAN, bce, mean_of


def dcgan_pair(c, g_in: int, d_extra_channels: int = 0, heads: int = 1):
    """G (deconv style) and D (trunk + linear head of ``heads`` outputs), DCGAN init."""
    G = Generator(g_in, c.size, c.width_g, style="deconv")
    trunk = Trunk(c.size, c.width_d, style="dcgan", in_channels=3 + d_extra_channels)
    D = nn.Sequential(trunk, nn.Linear(trunk.out_features, heads))
    nn.init.dcgan_(G)
    nn.init.dcgan_(D)
    return G, D


class DCGAN(GAN):
    name = "dcgan"

    def make(self, c):
        G, D = dcgan_pair(c, c.latent_dim)
        D = self.make_toolkit(c, D)
        self.nets = {"G": G, "D": D}
        self.opts = {"G": self._optimizer(G.parameters(), c.lr_g, c),
                     "D": self._optimizer(D.parameters(), c.lr_d, c)}

    def discriminator_step(self, batch):
        G, D = self.nets["G"], self.nets["D"]
        x, _ = batch
        with no_grad():
            fake = G(self.z(len(x)))
        x, fake = self.augment(x), self.augment(fake)
        (d_real, recon), d_fake = self.judge_real(D, x), D(fake)
        d_loss = self.critic_loss(d_real, d_fake, lambda r, f: bce(r, 1.0) + bce(f, 0.0))
        d_loss, logs = self.regularise(d_loss, D, x, d_real, d_fake, self.opts["D"].step_count,
                                       recon)
        self.update(self.opts["D"], d_loss, D)
        return {"d_loss": mean_of(d_loss), "d_real": mean_of(d_real.sigmoid()),
                "d_fake": mean_of(d_fake.sigmoid()), **logs}

    def generator_step(self, batch=None):
        G, D = self.nets["G"], self.nets["D"]
        with self.frozen(D):
            z = self.z(self.batch_size)
            fake = G(z)
            g_loss = self.generator_loss(D(self.augment(fake)), lambda f: bce(f, 1.0), fake, z)
            self.update(self.opts["G"], g_loss, G)
        return {"g_loss": mean_of(g_loss)}
