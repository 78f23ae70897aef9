"""Conditional GAN (Mirza & Osindero 2014), as Guruswamy et al. uses it.

The class label y enters both players through learned embeddings: G reads
[z, embed_G(y)], D reads the image with one extra plane embed_D(y) (an embedding
of H*W values reshaped to the image grid). With the BCE loss:

    L_D = BCE(D(x, y), 1) + BCE(D(G(z, y'), y'), 0)
    L_G = BCE(D(G(z, y'), y'), 1)        y' drawn uniformly over the classes

With ``--critic projection`` D reads the label by projection instead (Miyato &
Koyama 2018, "cGANs with Projection Discriminator", eq. 3): with phi(x) (N, F) the
trunk's features,

    D(x, y) = psi(phi(x)) + <embed_D(y), phi(x)>

psi the linear head and embed_D an (n_classes, F) table: the class enters as an
inner product with the features, the form the paper derives from a log-linear
model of p(y | x), instead of an input plane the critic may learn to ignore.
The limited-data toolkit applies to D (docs/toolkit.md).

With ``--mode-seeking W`` G's loss gains Mao et al.'s term (2019, eq. 3, the form
they give for conditional GANs): the batch's two halves are drawn for the same
labels, so each pair (G(z1, y), G(z2, y)) differs by its latents alone and

    L_G + W / (mean|G(z1, y) - G(z2, y)| / mean|z1 - z2|)

rewards a generator whose images of one class change with z. The projection critic
needs it: without it the generator draws nearly one image per class (docs/toolkit.md
has the measurement).
"""
from __future__ import annotations

import math

import numpy as np

from refgan import nn, no_grad, ops
from refgan.gans.architectures import LabelPlane
from refgan.gans.base import GAN, bce, mean_of
from refgan.gans.dcgan import dcgan_pair


class CGAN(GAN):
    name = "cgan"
    conditional = True

    def make(self, c):
        self.projection = getattr(c, "critic", "concat") == "projection"
        G, D = dcgan_pair(c, c.latent_dim + c.embed_dim,
                          d_extra_channels=0 if self.projection else 1)
        if self.projection:
            features = D[1].in_features
            embed_D = nn.Embedding(self.n_classes, features)
            nn.init.normal_(embed_D.weight, 0.0, 1.0 / math.sqrt(features))
        else:
            embed_D = LabelPlane(self.n_classes, c.size)
        D = self.make_toolkit(c, D)
        self.nets = {"G": G, "D": D, "embed_G": nn.Embedding(self.n_classes, c.embed_dim),
                     "embed_D": embed_D}
        g_params = G.parameters() + self.nets["embed_G"].parameters()
        d_params = D.parameters() + self.nets["embed_D"].parameters()
        self.opts = {"G": self._optimizer(g_params, c.lr_g, c),
                     "D": self._optimizer(d_params, c.lr_d, c)}

    def generator_input(self, z, labels):
        return ops.concat([z, self.nets["embed_G"](labels)], axis=1)

    def D(self, x, y):
        """D(x, y) (N, 1): on the image with its label plane, or by projection."""
        D, embed = self.nets["D"], self.nets["embed_D"]
        if not self.projection:
            return D(embed(x, y))
        h = D[0](x)
        return D[1](h) + ops.sum(embed(y) * h, axis=1, keepdims=True)

    def discriminator_step(self, batch):
        G = self.nets["G"]
        x, y = batch
        y_fake = self.random_labels(len(x))
        with no_grad():
            fake = G(self.generator_input(self.z(len(x)), y_fake))
        x, fake = self.augment(x), self.augment(fake)
        d_real, d_fake = self.D(x, y), self.D(fake, y_fake)
        d_loss = self.critic_loss(d_real, d_fake, lambda r, f: bce(r, 1.0) + bce(f, 0.0))
        d_loss, logs = self.regularise(d_loss, lambda v: self.D(v, y), x, d_real, d_fake,
                                       self.opts["D"].step_count)
        self.update(self.opts["D"], d_loss, self.nets["D"], self.nets["embed_D"])
        return {"d_loss": mean_of(d_loss), **logs}

    def generator_labels(self) -> np.ndarray:
        """The labels G is asked for in one step: uniform over the classes; with
        mode seeking, the first half's labels again for the second half (its pairs)."""
        if self.mode_seeking_weight > 0:
            return np.tile(self.random_labels(self.batch_size // 2), 2)
        return self.random_labels(self.batch_size)

    def generator_step(self, batch=None):
        G = self.nets["G"]
        y = self.generator_labels()
        with self.frozen(self.nets["D"], self.nets["embed_D"]):
            z = self.z(len(y))
            fake = G(self.generator_input(z, y))
            g_loss = self.generator_loss(self.D(self.augment(fake), y), lambda f: bce(f, 1.0),
                                         fake, z)
            self.update(self.opts["G"], g_loss, G, self.nets["embed_G"])
        return {"g_loss": mean_of(g_loss)}
