"""InfoGAN (Chen et al. 2016): DCGAN plus latent codes whose mutual information
with the image is maximised.

G reads (z, c) with c = (one-hot categorical code c_cat of ``n_cat`` values,
continuous codes c_cont ~ U(-1, 1)^n_cont). The discriminator trunk is shared by
two heads: D's real/fake logit and Q's estimate of the codes (category logits and
the mean of a unit-variance Gaussian for c_cont). The variational lower bound of
I(c; G(z, c)) is, up to constants, -L_I with

    L_I = CE(Q_cat(G(z, c)), c_cat) + 0.5 * ||Q_cont(G(z, c)) - c_cont||^2

and the players minimise

    L_D = BCE(D(x), 1) + BCE(D(G(z, c)), 0) + lambda_I * L_I     (D and Q)
    L_G = BCE(D(G(z, c)), 1) + lambda_I * L_I                      (G)

(Gaur et al. wished for InfoGAN combined with WGAN-GP; this is the classic form).
"""
from __future__ import annotations

import numpy as np

import refgan
from refgan import nn, no_grad, ops, random
from refgan.gans.architectures import Generator, Trunk
from refgan.gans.base import GAN, bce, mean_of


class InfoGAN(GAN):
    name = "infogan"

    def make(self, c):
        self.n_cat, self.n_cont, self.lam_info = c.n_cat, c.n_cont, c.info_lambda
        G = Generator(c.latent_dim + self.n_cat + self.n_cont, c.size, c.width_g,
                      style="deconv")
        trunk = Trunk(c.size, c.width_d, style="dcgan")
        D = nn.Linear(trunk.out_features, 1)
        Q = nn.Linear(trunk.out_features, self.n_cat + self.n_cont)
        for m in (G, trunk, D, Q):
            nn.init.dcgan_(m)
        self.nets = {"G": G, "trunk": trunk, "D": D, "Q": Q}
        self.opts = {"G": self._optimizer(G.parameters(), c.lr_g, c),
                     "D": self._optimizer(trunk.parameters() + D.parameters() + Q.parameters(),
                                          c.lr_d, c)}

    def codes(self, n, cat=None):
        """(categorical labels (n,), codes Tensor (n, n_cat + n_cont))."""
        if cat is None:
            cat = random.generator().integers(0, self.n_cat, n)
        cont = random.generator().uniform(-1, 1, (n, self.n_cont))
        c = np.concatenate([np.eye(self.n_cat)[cat], cont], axis=1).astype(np.float32)
        return np.asarray(cat, np.int64), refgan.tensor(c)

    def generator_input(self, z, labels):
        # sampling: ``labels`` pick the categorical code (default: cycle through
        # them), continuous codes at 0
        n = len(z)
        cat = np.arange(n) if labels is None else np.asarray(labels)
        c = np.zeros((n, self.n_cat + self.n_cont), np.float32)
        c[np.arange(n), cat % self.n_cat] = 1
        return ops.concat([z, refgan.tensor(c)], axis=1)

    def info_loss(self, h, cat, c):
        q = self.nets["Q"](h)
        q_cat, q_cont = ops.split(q, [self.n_cat, self.n_cont], axis=1)
        c_cont = ops.split(c, [self.n_cat, self.n_cont], axis=1)[1]
        return ops.cross_entropy(q_cat, cat) + 0.5 * ops.mse_loss(q_cont, c_cont) * self.n_cont

    def coded_fakes(self, n: int):
        """(G(z, c) for n fresh codes, without gradient; the categorical codes; c):
        what a discriminator step scores."""
        cat, c = self.codes(n)
        with no_grad():
            fake = self.nets["G"](ops.concat([self.z(n), c], axis=1))
        return fake, cat, c

    def adversarial_g_loss(self, d_fake):
        """G's adversarial loss from D's scores of its samples: non-saturating BCE."""
        return bce(d_fake, 1.0)

    def discriminator_step(self, batch):
        trunk, D = self.nets["trunk"], self.nets["D"]
        x, _ = batch
        fake, cat, c = self.coded_fakes(len(x))
        h_fake = trunk(fake)
        l_info = self.info_loss(h_fake, cat, c)
        d_loss = bce(D(trunk(x)), 1.0) + bce(D(h_fake), 0.0) + self.lam_info * l_info
        self.update(self.opts["D"], d_loss, trunk, D, self.nets["Q"])
        return {"d_loss": mean_of(d_loss), "info_loss": mean_of(l_info)}

    def generator_step(self, batch=None):
        G, trunk, D = self.nets["G"], self.nets["trunk"], self.nets["D"]
        cat, c = self.codes(self.batch_size)
        with self.frozen(trunk, D, self.nets["Q"]):
            h = trunk(G(ops.concat([self.z(self.batch_size), c], axis=1)))
            l_info = self.info_loss(h, cat, c)
            g_loss = self.adversarial_g_loss(D(h)) + self.lam_info * l_info
            self.update(self.opts["G"], g_loss, G)
        return {"g_loss": mean_of(g_loss), "info_loss_g": mean_of(l_info)}
