"""AC-GAN (Odena et al. 2017) with Guruswamy et al.'s real/fake proportions.

D has two heads on one trunk: the source S (real or fake) and the class C. With
the log-likelihoods of the correct source and class

    L_S = E[log P(S = real | x)] + E[log P(S = fake | G(z, y))]
    L_C = E[log P(C = y | x)]   + E[log P(C = y | G(z, y))]

D maximises L_S + L_C and G maximises L_C - L_S. As losses to minimise (G's
-L_S term in its non-saturating form, as in the AC-GAN paper's code):

    L_D = f     [BCE(S(x), real)       + CE(C(x), y)]               real batch
        + (1-f) [BCE(S(G(z, y')), fake) + CE(C(G(z, y')), y')]       fake batch
    L_G = BCE(S(G(z, y)), real) + CE(C(G(z, y)), y)

Real and fake images go through D as two separate batches of B images each, so
D's batch-norm statistics are always those of one kind of image, as in the G step
(an all-fake batch). ``f`` weighs the real term against the fake term: L_D is the
expected loss of a mixed batch holding a share f of real images, without the
mixing. (Mixing them in one batch lets D tell real from fake by the batch
statistics, which change with the mixture; G, scored on all-fake batches, then
learns nothing useful and both losses still fall.) ``--real-fraction``: ``plain``
(the default: Odena et al.'s AC-GAN, f = 0.5, real and fake weighed alike, the
"AC-GAN" row of Guruswamy et al.'s Table I) or their variants v1 f = 0.25; v2
f = 0.75; v3 f = 0.75 but 0.5 every third epoch; or a number.
"""
from __future__ import annotations

import numpy as np

from refgan import nn, no_grad, ops
from refgan.errors import UserError
from refgan.gans.architectures import Generator, Trunk
from refgan.gans.base import GAN, bce, mean_of, one_hot

SCHEDULES = {"plain": 0.5, "v1": 0.25, "v2": 0.75, "v3": 0.75}


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
        raise UserError(f"--real-fraction must be plain, v1, v2, v3 or a number in (0, 1), "
                        f"got {schedule!r}")
    return f


class ACGAN(GAN):
    name = "acgan"
    conditional = True

    def make(self, c):
        G = Generator(c.latent_dim + self.n_classes, c.size, c.width_g, style="deconv")
        trunk = Trunk(c.size, c.width_d, style="dcgan")
        heads = nn.Linear(trunk.out_features, 1 + self.n_classes)
        for m in (G, trunk, heads):
            nn.init.dcgan_(m)
        self.nets = {"G": G, "trunk": trunk, "heads": heads}
        self.opts = {"G": self._optimizer(G.parameters(), c.lr_g, c),
                     "D": self._optimizer(trunk.parameters() + heads.parameters(), c.lr_d, c)}
        real_fraction(c.real_fraction, 0)  # validate early

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

    def discriminator_loss(self, x, y, fake, y_fake, fake_source_weight=None):
        """L_D for a real batch (x, y) and a fake batch (fake, y_fake), weighted by
        the real fraction f of this epoch. ``fake_source_weight`` (N, 1) masks the
        fake images' source term (ACGAN-ALI: encoder codes are not scored as fake)."""
        f = real_fraction(self.config.real_fraction, self.epoch)
        s_real, c_real = self.D(x)
        s_fake, c_fake = self.D(fake)
        real_term = bce(s_real, 1.0) + ops.cross_entropy(c_real, y)
        fake_term = bce(s_fake, 0.0, weight=fake_source_weight) + ops.cross_entropy(c_fake, y_fake)
        return f * real_term + (1.0 - f) * fake_term, f

    def discriminator_step(self, batch):
        x, y = batch
        with no_grad():
            fake, y_fake = self.fakes(len(x))
        d_loss, f = self.discriminator_loss(x, y, fake, y_fake)
        self.update(self.opts["D"], d_loss, self.nets["trunk"], self.nets["heads"])
        return {"d_loss": mean_of(d_loss), "real_fraction": f}

    def generator_step(self, batch=None):
        with self.frozen(self.nets["trunk"], self.nets["heads"]):
            fake, y = self.fakes(self.batch_size)
            s, cls = self.D(fake)
            g_loss = bce(s, 1.0) + ops.cross_entropy(cls, y)
            self.update(self.opts["G"], g_loss, self.nets["G"])
        return {"g_loss": mean_of(g_loss)}
