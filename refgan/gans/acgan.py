"""AC-GAN (Odena et al. 2017) with Guruswamy et al.'s real/fake proportions.

D has two heads on one trunk: the source S (real or fake) and the class C. With
the log-likelihoods of the correct source and class

    L_S = E[log P(S = real | x)] + E[log P(S = fake | G(z, y))]
    L_C = E[log P(C = y | x)]   + E[log P(C = y | G(z, y))]

D maximises L_S + L_C and G maximises L_C - L_S. As losses to minimise (G's
-L_S term in its non-saturating form, as in the AC-GAN paper's code):

    L_D = BCE(S(batch), source) + CE(C(batch), y)     batch = real and fake mixed
    L_G = BCE(S(G(z, y)), real) + CE(C(G(z, y)), y)

D's batch of B images holds round(f B) real and B - round(f B) fake ones, and the
two kinds are averaged together, so f weighs real against fake. Guruswamy et al.'s
schedules (``--real-fraction``): v1 f = 0.25; v2 f = 0.75; v3 f = 0.75 but 0.5
every third epoch; or a number.
"""
from __future__ import annotations

import numpy as np

from refgan import nn, no_grad, ops
from refgan.errors import UserError
from refgan.gans.architectures import Generator, Trunk
from refgan.gans.base import GAN, bce, mean_of, one_hot

SCHEDULES = {"v1": 0.25, "v2": 0.75, "v3": 0.75}


def real_fraction(schedule: str, epoch: int) -> float:
    """Fraction of real images in D's batch at ``epoch`` (0-based)."""
    if schedule == "v3" and epoch % 3 == 2:
        return 0.5
    if schedule in SCHEDULES:
        return SCHEDULES[schedule]
    try:
        f = float(schedule)
    except ValueError:
        f = -1.0
    if not 0.0 < f < 1.0:
        raise UserError(f"--real-fraction must be v1, v2, v3 or a number in (0, 1), "
                        f"got {schedule!r}")
    return f


class ACGAN(GAN):
    name = "acgan"
    conditional = True

    def make(self, c):
        G = Generator(c["latent_dim"] + self.n_classes, c["size"], c["width_g"], style="deconv")
        trunk = Trunk(c["size"], c["width_d"], style="dcgan")
        heads = nn.Linear(trunk.out_features, 1 + self.n_classes)
        for m in (G, trunk, heads):
            nn.init.dcgan_(m)
        self.nets = {"G": G, "trunk": trunk, "heads": heads}
        self.opts = {"G": self._optimizer(G.parameters(), c["lr_g"], c),
                     "D": self._optimizer(trunk.parameters() + heads.parameters(), c["lr_d"], c)}
        real_fraction(c["real_fraction"], 0)  # validate early

    def generator_input(self, z, labels):
        labels = np.zeros(len(z), np.int64) if labels is None else labels
        return ops.concat([z, one_hot(labels, self.n_classes)], axis=1)

    def D(self, x):
        """(source logit (N, 1), class logits (N, K))."""
        out = self.nets["heads"](self.nets["trunk"](x))
        return ops.split(out, [1, self.n_classes], axis=1)

    def fakes(self, n, labels=None):
        labels = self.random_labels(n) if labels is None else labels
        return self.nets["G"](self.generator_input(self.z(n), labels)), labels

    def discriminator_step(self, batch):
        x, y = batch
        f = real_fraction(self.config["real_fraction"], self.epoch)
        n_real = min(max(int(round(f * len(x))), 1), len(x) - 1)
        with no_grad():
            fake, y_fake = self.fakes(len(x) - n_real)
        s, cls = self.D(ops.concat([x[:n_real], fake], axis=0))
        source = np.r_[np.ones(n_real), np.zeros(len(fake))].reshape(-1, 1)
        d_loss = bce(s, source) + ops.cross_entropy(cls, np.r_[y[:n_real], y_fake])
        self.update(self.opts["D"], d_loss, self.nets["trunk"], self.nets["heads"])
        return {"d_loss": mean_of(d_loss), "real_fraction": n_real / len(x)}

    def generator_step(self, batch=None):
        with self.frozen(self.nets["trunk"], self.nets["heads"]):
            fake, y = self.fakes(self.batch_size)
            s, cls = self.D(fake)
            g_loss = bce(s, 1.0) + ops.cross_entropy(cls, y)
            self.update(self.opts["G"], g_loss, self.nets["G"])
        return {"g_loss": mean_of(g_loss)}
