"""InfoWGAN-GP: InfoGAN's latent codes with the WGAN-GP critic (Gaur et al. wished
for it: InfoGAN's interpretable codes, WGAN-GP's stable training).

G reads (z, c), c = (one-hot categorical code c_cat, continuous codes c_cont ~
U(-1, 1)^n_cont), as in InfoGAN (:mod:`refgan.gans.infogan`, which also holds the
codes and L_I). The critic trunk (Gaur et al.'s: 5x5 stride-2 convolutions,
LeakyReLU(0.2), dropout, no batch norm) feeds two heads: the critic score D and
Q's estimate of the codes. With L_I the negative variational bound on
I(c; G(z, c)) (up to constants),

    L_I = CE(Q_cat(G(z, c)), c_cat) + 0.5 * ||Q_cont(G(z, c)) - c_cont||^2,

the players minimise

    L_D = E[D(G(z, c))] - E[D(x)] + lambda * E[(||grad D(x_hat)||_2 - 1)^2]
          + lambda_I * L_I                                     (critic and Q)
    L_G = -E[D(G(z, c))] + lambda_I * L_I                     (G)

The penalty involves D only: Q's head is not a critic and needs no Lipschitz bound
(its gradient reaches the shared trunk through L_I alone).
"""
from __future__ import annotations

from refgan import nn
from refgan.gans.architectures import Generator, Trunk
from refgan.gans.base import mean_of
from refgan.gans.infogan import InfoGAN
from refgan.gans.wgan_gp import add_penalty


class InfoWGANGP(InfoGAN):
    name = "infowgan-gp"

    def make(self, c):
        self.n_cat, self.n_cont, self.lam_info = c.n_cat, c.n_cont, c.info_lambda
        self.gp_lambda, self.gp_every = c.gp_lambda, c.gp_every
        G = Generator(c.latent_dim + self.n_cat + self.n_cont, c.size, c.width_g,
                      style="upsample")
        trunk = Trunk(c.size, c.width_d, style="wgan", dropout=c.dropout,
                      minibatch_std=c.minibatch_std)
        D = nn.Linear(trunk.out_features, 1)
        Q = nn.Linear(trunk.out_features, self.n_cat + self.n_cont)
        self.nets = {"G": G, "trunk": trunk, "D": D, "Q": Q}
        self.opts = {"G": self._optimizer(G.parameters(), c.lr_g, c),
                     "D": self._optimizer(trunk.parameters() + D.parameters() + Q.parameters(),
                                          c.lr_d, c)}

    def critic(self, x):
        """D(x) (N, 1): the Wasserstein critic (trunk and score head)."""
        return self.nets["D"](self.nets["trunk"](x))

    def adversarial_g_loss(self, d_fake):
        """G's Wasserstein loss: -E[D(G(z, c))]."""
        return -d_fake.mean()

    def discriminator_step(self, batch):
        trunk, D = self.nets["trunk"], self.nets["D"]
        x, _ = batch
        fake, cat, c = self.coded_fakes(len(x))
        h_fake = trunk(fake)
        d_real, d_fake = self.critic(x), D(h_fake)
        d_loss, logs = add_penalty(d_fake.mean() - d_real.mean(), self.critic, x, fake,
                                   self.gp_lambda, self.gp_every, self.opts["D"].step_count)
        l_info = self.info_loss(h_fake, cat, c)
        d_loss = d_loss + self.lam_info * l_info
        self.update(self.opts["D"], d_loss, trunk, D, self.nets["Q"])
        return {"d_loss": mean_of(d_loss), "wasserstein": mean_of(d_real) - mean_of(d_fake),
                **logs, "info_loss": mean_of(l_info)}

