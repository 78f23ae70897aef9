"""Conditional GAN (Mirza & Osindero 2014), as Guruswamy et al. uses it.

The class label y enters both players through learned embeddings: G reads
[z, embed_G(y)], D reads the image with one extra plane embed_D(y) (an embedding
of H*W values reshaped to the image grid). With the BCE loss:

    L_D = BCE(D(x, y), 1) + BCE(D(G(z, y'), y'), 0)
    L_G = BCE(D(G(z, y'), y'), 1)        y' drawn uniformly over the classes
"""
from __future__ import annotations

from refgan import nn, no_grad, ops
from refgan.gans.architectures import LabelPlane
from refgan.gans.base import GAN, bce, mean_of
from refgan.gans.dcgan import dcgan_pair


class CGAN(GAN):
    name = "cgan"
    conditional = True

    def make(self, c):
        G, D = dcgan_pair(c, c.latent_dim + c.embed_dim, d_extra_channels=1)
        self.nets = {"G": G, "D": D, "embed_G": nn.Embedding(self.n_classes, c.embed_dim),
                     "embed_D": LabelPlane(self.n_classes, c.size)}
        g_params = G.parameters() + self.nets["embed_G"].parameters()
        d_params = D.parameters() + self.nets["embed_D"].parameters()
        self.opts = {"G": self._optimizer(g_params, c.lr_g, c),
                     "D": self._optimizer(d_params, c.lr_d, c)}

    def generator_input(self, z, labels):
        return ops.concat([z, self.nets["embed_G"](labels)], axis=1)

    def D(self, x, y):
        return self.nets["D"](self.nets["embed_D"](x, y))

    def discriminator_step(self, batch):
        G = self.nets["G"]
        x, y = batch
        y_fake = self.random_labels(len(x))
        with no_grad():
            fake = G(self.generator_input(self.z(len(x)), y_fake))
        d_loss = bce(self.D(x, y), 1.0) + bce(self.D(fake, y_fake), 0.0)
        self.update(self.opts["D"], d_loss, self.nets["D"], self.nets["embed_D"])
        return {"d_loss": mean_of(d_loss)}

    def generator_step(self, batch=None):
        G = self.nets["G"]
        y = self.random_labels(self.batch_size)
        with self.frozen(self.nets["D"], self.nets["embed_D"]):
            g_loss = bce(self.D(G(self.generator_input(self.z(self.batch_size), y)), y), 1.0)
            self.update(self.opts["G"], g_loss, G, self.nets["embed_G"])
        return {"g_loss": mean_of(g_loss)}
