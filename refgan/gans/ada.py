"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", section 3), with DiffAugment's
differentiable transforms (:mod:`refgan.gans.diffaugment`).

Each transform group of the policy (color, translation, cutout) is applied to each
image independently with probability p, to real and generated images alike and with
G trained through it (as DiffAugment), so that at p < 1 the critic still sees some
clean images and the augmentations do not leak into the samples (ADA section 2.2):

    T_p(x) = x + m (T(x) - x),      m ~ Bernoulli(p) per image and group

p is adjusted from the critic's overfitting heuristic (ADA eq. 1, r_t):

    r_t = E[sign(D(x_real))]   over the last ``interval`` critic updates
    p  <- clip(p + sign(r_t - target) * (images seen) / speed, 0, 1)

so p rises while the critic is too sure of the real images (r_t > target; ADA's
target 0.6) and falls otherwise; ``speed`` images let p go from 0 to 1 (ADA: 500k
images; refgan's runs see a few tens of thousands, so the default is shorter). r_t
reads the sign of the critic's raw output, which for the BCE and hinge losses is the
side of the decision boundary; a Wasserstein critic's output has no fixed zero, so
ADA is best paired with ``--loss hinge`` there. p and the running sums are buffers:
checkpoints carry them and a resumed run adjusts p exactly as the uninterrupted one.
"""
from __future__ import annotations

import numpy as np

from refgan import nn, random
from refgan.gans.diffaugment import POLICIES, parse_policy

__all__ = ["ADA", "DEFAULT_POLICY"]

DEFAULT_POLICY = "color,translation,cutout"


class ADA(nn.Module):
    """The augmentation T_p and its controller (module docstring)."""

    def __init__(self, policy: str = DEFAULT_POLICY, target: float = 0.6, interval: int = 4,
                 speed: int = 20_000, p: float = 0.0):
        super().__init__()
        self.groups = parse_policy(policy) or parse_policy(DEFAULT_POLICY)
        self.target, self.interval, self.speed = float(target), int(interval), int(speed)
        self.register_buffer("p", np.asarray(p, np.float64))
        self.register_buffer("sign_sum", np.zeros((), np.float64))
        self.register_buffer("seen", np.zeros((), np.int64))       # images since the last adjustment
        self.register_buffer("calls", np.zeros((), np.int64))

    def augment(self, x):
        """T_p(x) for images (N, C, H, W); the identity while p = 0."""
        p = float(self.p)
        if p <= 0.0:
            return x
        for name in self.groups:
            y = x
            for f in POLICIES[name]:
                y = f(y)
            m = (random.uniform((x.shape[0], 1, 1, 1), dtype=x.dtype) < p).astype(x.dtype)
            x = x + (y - x) * m
        return x

    def observe(self, d_real) -> None:
        """Accumulate sign(D(x_real)) of one critic update; adjust p every ``interval``."""
        s = np.sign(np.asarray(d_real.numpy(), np.float64))
        self.sign_sum = self.sign_sum + s.sum()
        self.seen = self.seen + s.size
        self.calls = self.calls + 1
        if int(self.calls) % self.interval == 0:
            r = float(self.sign_sum) / max(int(self.seen), 1)
            step = np.sign(r - self.target) * int(self.seen) / self.speed
            self.p = np.asarray(np.clip(float(self.p) + step, 0.0, 1.0), np.float64)
            self.sign_sum = np.zeros((), np.float64)
            self.seen = np.zeros((), np.int64)

    @property
    def r_t(self) -> float:
        return float(self.sign_sum) / max(int(self.seen), 1)

    def extra_repr(self):
        return f"policy={','.join(self.groups)}, target={self.target}, p={float(self.p):.4f}"
