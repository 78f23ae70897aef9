"""WGAN-GP on the embedded blood cells, the whole algorithm in one file.

    python examples/wgan_gp.py [--steps 300] [--size 32] [--out wgan_gp.png]

Gaur et al. train one WGAN-GP per class (healthy lymphocytes, lymphoblasts) to grow a
few hundred training images. Critic D and generator G minimise (Gulrajani et al. 2017)

    L_D = E[D(G(z))] - E[D(x)] + lambda E[(||grad_x^ D(x^)||_2 - 1)^2]
    L_G = -E[D(G(z))]

with x^ = eps x + (1 - eps) G(z), eps ~ U(0, 1) once per image, lambda = 10,
n_critic critic steps per generator step, Adam(2e-4, betas (0.5, 0.9)). The critic:
5x5 stride-2 convolutions, LeakyReLU 0.2, dropout 0.3, no batch norm (the penalty is
per image); the generator grows a 4 x 4 grid by upsampling and 3x3 convolutions.

Everything here is refgan.nn (layers), refgan.ops / Tensor methods (functions) and
refgan.optim (Adam) on the plain NumPy backend. The library runs the same model with
every option, checkpoints and monitoring: ``refgan train --model wgan-gp``
(refgan/gans/wgan_gp.py, refgan/training/trainer.py). Below it, read ops/loss.py, then
autograd.py (how grad(..., create_graph=True) records a graph), ops/conv.py and the
NumPy kernels in kernels/reference.py.
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

import refgan
from refgan import nn, optim
from refgan.data import make_blood_cells, save_grid, split


def generator(latent_dim: int, size: int, width: int) -> nn.Module:
    """z (N, latent_dim) -> images (N, 3, size, size) in [-1, 1]."""
    n_up = int(math.log2(size // 4))                     # 4x4 -> size x size
    ch = [width * 2 ** i for i in range(n_up)][::-1]     # widest at 4x4
    layers = [nn.Linear(latent_dim, ch[0] * 16, bias=False), nn.BatchNorm1d(ch[0] * 16),
              nn.LeakyReLU(0.2), nn.Unflatten((ch[0], 4, 4))]
    for i in range(n_up):
        last = i == n_up - 1
        c_out = 3 if last else ch[i + 1]
        layers += [nn.Upsample(2), nn.Conv2d(ch[i], c_out, 3, 1, "same", bias=last)]
        layers += [nn.Tanh()] if last else [nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers)


def critic(size: int, width: int, dropout: float = 0.3) -> nn.Module:
    """images (N, 3, size, size) -> scores (N, 1): no sigmoid, no batch norm."""
    n_down = int(math.log2(size // 4))
    ch = [3] + [width * 2 ** i for i in range(n_down)]
    layers = []
    for i in range(n_down):
        layers += [nn.Conv2d(ch[i], ch[i + 1], 5, 2, "same"), nn.LeakyReLU(0.2),
                   nn.Dropout(dropout)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(ch[-1] * 16, 1))


def gradient_penalty(D, real, fake, eps):
    """E[(||grad_x^ D(x^)||_2 - 1)^2] with x^ = eps real + (1 - eps) fake.

    grad(..., create_graph=True) records the input gradient as a graph of ops, so the
    penalty is an ordinary function of D's weights: L_D.backward() differentiates
    D twice (double backprop), for any critic.
    """
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_()
    (g,) = refgan.grad(D(x_hat).sum(), x_hat, create_graph=True)
    norms = (g.reshape(len(g), -1) ** 2).sum(1).sqrt()
    return ((norms - 1) ** 2).mean()


def critic_step(G, D, opt_d, x, z, eps, gp_lambda: float = 10.0):
    """One critic update on real images x; returns (L_D, Wasserstein estimate)."""
    with refgan.no_grad():                          # the fake batch is a constant here:
        fake = G(z)                                 # L_D must not reach G's weights
    d_real, d_fake = D(x).mean(), D(fake).mean()
    loss_d = d_fake - d_real + gp_lambda * gradient_penalty(D, x, fake, eps)
    D.zero_grad()
    loss_d.backward()
    opt_d.step()
    return float(loss_d.numpy()), float(d_real.numpy()) - float(d_fake.numpy())


def generator_step(G, D, opt_g, z):
    """One generator update with D fixed (no weight gradients; the loss still flows
    through D to G); returns L_G."""
    D.requires_grad_(False)
    loss_g = -D(G(z)).mean()
    G.zero_grad()
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)
    return float(loss_g.numpy())


def train_wgan_gp(images: np.ndarray, steps: int, seed: int = 0, batch: int = 32,
                  latent_dim: int = 64, width: int = 16, n_critic: int = 5,
                  gp_lambda: float = 10.0, lr: float = 2e-4, log=print) -> nn.Module:
    """G trained on ``images`` (N, 3, S, S) in [-1, 1] for ``steps`` generator steps."""
    size = images.shape[-1]
    refgan.manual_seed(seed)                        # weights and dropout masks
    rng = np.random.default_rng(seed)               # batches, z and eps
    G, D = generator(latent_dim, size, width), critic(size, width)
    opt_g = optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.9))
    opt_d = optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.9))

    def z(n):
        return refgan.tensor(rng.standard_normal((n, latent_dim)), dtype=np.float32)

    for step in range(1, steps + 1):
        for _ in range(n_critic):
            x = refgan.tensor(images[rng.choice(len(images), batch)])
            eps = refgan.tensor(rng.uniform(0, 1, (batch, 1, 1, 1)), dtype=np.float32)
            loss_d, w = critic_step(G, D, opt_d, x, z(batch), eps, gp_lambda)
        loss_g = generator_step(G, D, opt_g, z(batch))
        if step % max(1, steps // 10) == 0 or step == steps:
            log(f"step {step:4d}/{steps}  L_D {loss_d:8.3f}  L_G {loss_g:8.3f}  "
                f"W estimate {w:7.3f}")
    return G


def sample(G: nn.Module, n: int, latent_dim: int, seed: int = 1) -> np.ndarray:
    """n images (n, 3, S, S) from G in eval mode (batch norm's running statistics)."""
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    G.eval()
    with refgan.no_grad():
        return G(refgan.tensor(z)).numpy()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300, help="generator steps per class")
    p.add_argument("--size", type=int, default=32, help="image side: 8, 16, 32 or 64")
    p.add_argument("--width", type=int, default=16, help="channels at full resolution")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--n-critic", type=int, default=5, help="critic steps per generator step")
    p.add_argument("--n-per-class", type=int, default=130, help="cells rendered per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="wgan_gp.png", help="the grid of samples written")
    args = p.parse_args(argv)

    refgan.set_backend("numpy")                     # the readable reference path
    cells = make_blood_cells(n_per_class=args.n_per_class, size=args.size, seed=args.seed)
    train, _, _ = split(cells, test=0.2, seed=args.seed)   # the GAN never sees test cells
    rows, latent_dim = [], 64
    for k, name in enumerate(train.class_names):    # one GAN per class (Gaur et al.)
        print(f"{name}: {int((train.labels == k).sum())} training images", file=sys.stderr)
        G = train_wgan_gp(train.images[train.labels == k], args.steps, seed=args.seed + k,
                          batch=args.batch, latent_dim=latent_dim, width=args.width,
                          n_critic=args.n_critic,
                          log=lambda msg: print(f"  {msg}", file=sys.stderr))
        rows.append(sample(G, 8, latent_dim))
    save_grid(np.concatenate(rows), args.out, nrow=8, row_labels=list(train.class_names),
              title=f"WGAN-GP after {args.steps} steps per class")
    print(f"samples: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
