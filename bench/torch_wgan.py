"""refgan's ``wgan-gp`` model and one generator iteration, written in PyTorch.

Module names and nesting mirror refgan's (``refgan.gans.architectures``), so refgan's
state dict loads as it is: ``D = Sequential(Trunk(body=...), Linear)``,
``G.project = Sequential(Linear, BatchNorm1d, LeakyReLU, Unflatten)``, ``G.blocks``.
The iteration is the textbook PyTorch WGAN-GP (Gulrajani et al., Algorithm 1) as
refgan's ``WGANGP.discriminator_step`` / ``generator_step`` compute it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from refgan.torch_template import MinibatchStd  # the exported networks' twin of nn.MinibatchStd


class SameConv2d(nn.Conv2d):
    """Conv with TensorFlow 'same' padding (the odd pixel at the bottom/right)."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[2:], self.kernel_size, self.stride):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(F.pad(x, (left, right, top, bottom)))


class Trunk(nn.Module):
    def __init__(self, size, width, dropout, minibatch_std=0):
        super().__init__()
        n = int(np.log2(size // 4))
        ch = [3] + [width * 2 ** i for i in range(n)]
        layers = []
        for i in range(n):
            c_in = ch[i]
            if minibatch_std and i == n - 1:
                layers += [MinibatchStd(minibatch_std)]
                c_in += 1
            layers += [SameConv2d(c_in, ch[i + 1], 5, 2), nn.LeakyReLU(0.2)]
            if dropout:
                layers += [nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.out_features = ch[-1] * 16

    def forward(self, x):
        return self.body(x)


class Generator(nn.Module):
    def __init__(self, latent, size, width):
        super().__init__()
        n = int(np.log2(size // 4))
        ch = [width * 2 ** i for i in range(n)][::-1]
        self.project = nn.Sequential(nn.Linear(latent, ch[0] * 16, bias=False),
                                     nn.BatchNorm1d(ch[0] * 16), nn.LeakyReLU(0.2),
                                     nn.Unflatten(1, (ch[0], 4, 4)))
        layers = []
        for i in range(n):
            last = i == n - 1
            c_out = 3 if last else ch[i + 1]
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       SameConv2d(ch[i], c_out, 3, 1, bias=last)]
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
        self.blocks = nn.Sequential(*layers)

    def forward(self, z):
        return self.blocks(self.project(z))


def build(c, weights_path=None):
    """(G, D) for a refgan config; with refgan's initial weights when a path is given."""
    if c.size < 16:
        raise ValueError("the PyTorch twin covers images of 16 pixels and more")
    G = Generator(c.latent_dim, c.size, c.width_g)
    trunk = Trunk(c.size, c.width_d, c.dropout, c.minibatch_std)
    D = nn.Sequential(trunk, nn.Linear(trunk.out_features, 1))
    if weights_path is not None:
        state = np.load(weights_path)
        for name, net in (("G", G), ("D", D)):
            p = f"net.{name}."
            net.load_state_dict({k[len(p):]: torch.from_numpy(state[k]) for k in state.files
                                 if k.startswith(p)})
    return G, D


def gradient_penalty(D, real, fake):
    eps = torch.rand(real.shape[0], 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    norms = torch.sqrt((g * g).reshape(g.shape[0], -1).sum(1) + 1e-12)
    return ((norms - 1) ** 2).mean()


def torch_iteration(c, threads, weights_path):
    """A function running one generator iteration (``n_disc`` critic steps + 1 G step)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    G, D = build(c, weights_path)
    opt_g = torch.optim.Adam(G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
    rng = np.random.default_rng(1)
    B, S, Z = c.batch, c.size, c.latent_dim
    real = [torch.from_numpy(rng.uniform(-1, 1, (B, 3, S, S)).astype(np.float32))
            for _ in range(c.n_disc)]

    def iteration():
        for k in range(c.n_disc):
            with torch.no_grad():
                fake = G(torch.randn(B, Z))
            loss = (D(fake).mean() - D(real[k]).mean()
                    + c.gp_lambda * gradient_penalty(D, real[k], fake))
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
        D.requires_grad_(False)
        g_loss = -D(G(torch.randn(B, Z))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)

    return iteration
