"""ALI / BiGAN (Dumoulin et al. 2017; Donahue et al. 2017) and Guruswamy et al.'s ACGAN_ALI.

ALI
---
An encoder E: x -> z and a generator G: z -> x are trained against one
discriminator that sees (image, code) pairs: (x, z_hat) with z_hat ~ q(z | x) from
the data side and (G(z), z) with z ~ N(0, I) from the prior side. As in the ALI
paper the encoder is stochastic: q(z | x) = N(mu(x), diag(exp(logvar(x)))), and
z_hat = mu(x) + exp(logvar(x) / 2) * eps is reparameterised, so L_GE's gradient
reaches E's weights through the draw (architectures.Encoder). With BCE on D's logit:

    L_D    = BCE(D(x, z_hat), 1) + BCE(D(G(z), z), 0)
    L_{GE} = BCE(D(x, z_hat), 0) + BCE(D(G(z), z), 1)     (G and E together)

D(x, z) = joint([trunk(x), mlp(z)]): a no-batch-norm conv trunk (dropout 0.2),
a small MLP on z, and a joint MLP on both.

ACGAN_ALI
---------
An AC-GAN whose generator is fed a mixture: half of each batch are codes
z_hat ~ q(z | x) of real images (with their true labels, E taken from a trained ALI and frozen), half
random z (with random labels). The real/fake term is masked for the encoder
codes, so those images only have to carry their class:

    L_G = L_C - L_S * 1(S = fake)      (maximised; written below as losses)

(``--ali-loss unmasked``: L_C - L_S for every image, the variant Guruswamy et al.
compare it with.)

D's loss is AC-GAN's (real and fake images as two batches, weighted by the
real fraction ``--real-fraction``), with the same mask on the fake source term. G is trained from scratch or
fine-tuned from the ALI generator (``--finetune``: the ALI G's weights, with
zero-initialised weights for the new one-hot class inputs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refgan import nn, no_grad, ops
from refgan.errors import UserError
from refgan.gans.acgan import ACGAN
from refgan.gans.architectures import Encoder, Generator, Trunk
from refgan.gans.base import GAN, bce, mean_of


class PairDiscriminator(nn.Module):
    """D(x, z) -> logit (N, 1)."""

    def __init__(self, size, width, latent_dim, hidden: int = 256):
        super().__init__()
        self.trunk = Trunk(size, width, style="wgan", dropout=0.2)
        self.code = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(nn.Linear(self.trunk.out_features + hidden, hidden),
                                   nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x, z):
        return self.joint(ops.concat([self.trunk(x), self.code(z)], axis=1))


class ALI(GAN):
    name = "ali"
    needs_real_in_g_step = True

    def make(self, c):
        G = Generator(c.latent_dim, c.size, c.width_g, style="deconv")
        E = Encoder(c.size, c.width_d, c.latent_dim)
        D = PairDiscriminator(c.size, c.width_d, c.latent_dim)
        for m in (G, E):
            nn.init.dcgan_(m)
        self.nets = {"G": G, "E": E, "D": D}
        self.opts = {"GE": self._optimizer(G.parameters() + E.parameters(), c.lr_g, c),
                     "D": self._optimizer(D.parameters(), c.lr_d, c)}

    def encode(self, x):
        """z_hat ~ q(z | x), (N, latent_dim)."""
        return self.nets["E"].sample(x)

    def discriminator_step(self, batch):
        G, E, D = self.nets["G"], self.nets["E"], self.nets["D"]
        x, _ = batch
        z = self.z(len(x))
        with no_grad():
            x_fake, z_real = G(z), E.sample(x)
        d_real, d_fake = D(x, z_real), D(x_fake, z)
        d_loss = bce(d_real, 1.0) + bce(d_fake, 0.0)
        self.update(self.opts["D"], d_loss, D)
        return {"d_loss": mean_of(d_loss), "d_real": mean_of(d_real.sigmoid()),
                "d_fake": mean_of(d_fake.sigmoid())}

    def generator_step(self, batch=None):
        G, E, D = self.nets["G"], self.nets["E"], self.nets["D"]
        x, _ = batch
        z = self.z(len(x))
        with self.frozen(D):
            z_hat = E.sample(x)
            ge_loss = bce(D(x, z_hat), 0.0) + bce(D(G(z), z), 1.0)
            self.update(self.opts["GE"], ge_loss, G, E)
        return {"g_loss": mean_of(ge_loss)}


@dataclass
class TrainedALI:
    """A trained ALI for ACGAN-ALI: its weights (``ALI.state_dict()``) and the options
    its networks were built with (``size``, ``width_g``, ``width_d``, ``latent_dim``)."""

    state: dict
    options: dict


class ACGANALI(ACGAN):
    """AC-GAN fed encoder codes of real images and random codes (see module doc)."""

    name = "acgan-ali"
    needs_real_in_g_step = True

    def __init__(self, n_classes: int = 1, ali: TrainedALI | None = None):
        """``ali``: the trained ALI whose encoder feeds G (and whose generator G starts
        from with ``--finetune``); :func:`refgan.training.load.load_ali` reads one from
        an ALI run."""
        super().__init__(n_classes)
        self.ali = ali

    def make(self, c):
        super().make(c)
        if self.ali is None:
            raise UserError("acgan-ali needs a trained ALI encoder: first run "
                            "'train --model ali --no-per-class', then pass --ali RUN_DIR")
        ali = ALI(1)
        ali.build(c.replace(**self.ali.options))
        ali.load_state_dict(self.ali.state)
        self.nets["E"] = ali.nets["E"].requires_grad_(False)  # frozen: it only provides codes
        if c.finetune:
            self._init_from(ali.nets["G"])

    def _init_from(self, g_ali):
        """Copy the ALI generator; the class inputs start with zero weights."""
        state = g_ali.state_dict()
        w = state["project.0.weight"]                      # (F, latent)
        extra = np.zeros((w.shape[0], self.n_classes), w.dtype)
        state["project.0.weight"] = np.concatenate([w, extra], axis=1)
        self.nets["G"].load_state_dict(state)

    def mixed_codes(self, x, y):
        """First half of the batch: E(x) with the true labels; second: random z, random
        labels. Returns (z, labels, mask) with mask = 1(S = fake) = 1 for random z, and 1
        for every image with ``--ali-loss unmasked``."""
        h = len(x) // 2
        with no_grad():
            self.nets["E"].eval()
            z_enc = self.nets["E"].sample(x[:h])
        z = ops.concat([z_enc, self.z(len(x) - h)], axis=0)
        labels = np.r_[y[:h], self.random_labels(len(x) - h)]
        masked = getattr(self.config, "ali_loss", "masked") == "masked"
        mask = np.r_[np.full(h, 0.0 if masked else 1.0), np.ones(len(x) - h)].astype(np.float32).reshape(-1, 1)
        return z, labels, mask

    def discriminator_step(self, batch):
        x, y = batch
        z, labels, mask = self.mixed_codes(x, y)
        with no_grad():
            fake = self.nets["G"](self.generator_input(z, labels))
        d_loss, f = self.discriminator_loss(x, y, fake, labels, fake_source_weight=mask)
        self.update(self.opts["D"], d_loss, self.nets["trunk"], self.nets["heads"])
        return {"d_loss": mean_of(d_loss), "real_fraction": f}

    def generator_step(self, batch=None):
        x, y = batch
        z, labels, mask = self.mixed_codes(x, y)
        with self.frozen(self.nets["trunk"], self.nets["heads"]):
            s, cls = self.D(self.nets["G"](self.generator_input(z, labels)))
            g_loss = ops.cross_entropy(cls, labels) + bce(s, 1.0, weight=mask)
            self.update(self.opts["G"], g_loss, self.nets["G"])
        return {"g_loss": mean_of(g_loss)}
