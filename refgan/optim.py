"""Optimisers (SGD, Adam, RMSprop) and learning-rate schedules, PyTorch semantics.

Updates run outside the graph on raw arrays; Adam's and RMSprop's are fused kernels.
``state_dict()`` holds every moment buffer and the step count, so a resumed run
continues bit-for-bit on the same backend.
"""
from __future__ import annotations

import math

import numpy as np

from refgan import backend


class Optimizer:
    def __init__(self, params, defaults: dict):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = dict(defaults)
        self.lr = defaults["lr"]
        self.step_count = 0
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        self.step_count += 1
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p, p.grad.data, state)

    def _update(self, p, g, state):
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Flat dict of NumPy arrays and scalars (savable with np.savez)."""
        out = {"step_count": np.array(self.step_count), "lr": np.array(self.lr)}
        for i, state in enumerate(self.state):
            for k, v in state.items():
                out[f"{i}.{k}"] = backend.to_numpy(v).copy()
        return out

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        self.lr = float(state["lr"])
        be = backend.get_backend()
        self.state = [{} for _ in self.params]
        for key, value in state.items():
            if "." in key:
                i, name = key.split(".", 1)
                i = int(i)
                if i >= len(self.params):
                    raise ValueError(f"optimizer state has {key} but only "
                                     f"{len(self.params)} parameters")
                self.state[i][name] = be.asarray(value)


class SGD(Optimizer):
    """v = momentum * v + g (+ weight_decay * p);  p -= lr * v."""

    def __init__(self, params, lr: float = 1e-2, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def _update(self, p, g, state):
        d = self.defaults
        if d["weight_decay"]:
            g = g + d["weight_decay"] * p.data
        if d["momentum"]:
            v = state.get("momentum_buffer")
            v = g.copy() if v is None else d["momentum"] * v + g
            state["momentum_buffer"] = v
            g = v
        p.data = p.data - p.dtype.type(self.lr) * g


class Adam(Optimizer):
    """Kingma & Ba (2015) as torch.optim.Adam: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps); weight decay adds wd*p to g.
    WGAN-GP uses betas (0.5, 0.9) (Gaur et al.), DCGAN (0.5, 0.999)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _update(self, p, g, state):
        if "exp_avg" not in state:
            xp = backend.get_array_module(p.data)
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        b1, b2 = self.defaults["betas"]
        backend.kernels().adam_update(p.data, g, state["exp_avg"], state["exp_avg_sq"],
                                      self.lr, b1, b2, self.defaults["eps"], self.step_count,
                                      self.defaults["weight_decay"])


class RMSprop(Optimizer):
    """torch.optim.RMSprop (non-centred): s = alpha s + (1-alpha) g^2,
    p -= lr * g / (sqrt(s) + eps)."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state):
        if "square_avg" not in state:
            state["square_avg"] = backend.get_array_module(p.data).zeros_like(p.data)
        d = self.defaults
        backend.kernels().rmsprop_update(p.data, g, state["square_avg"], self.lr, d["alpha"],
                                         d["eps"], d["weight_decay"])


# --------------------------------------------------------------------- schedules
class LRSchedule:
    """Sets ``optimizer.lr`` from the base rate and the number of ``step()`` calls."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.defaults["lr"]
        self.last_step = 0

    def factor(self, t: int) -> float:
        raise NotImplementedError

    def retarget(self, total_steps: int) -> None:
        """Stretch or shrink the schedule to end at ``total_steps`` (a run cut short by
        its time budget); the constant schedule has no end."""

    def step(self) -> float:
        self.last_step += 1
        self.optimizer.lr = self.base_lr * self.factor(self.last_step)
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {"last_step": self.last_step}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = int(state["last_step"])
        self.optimizer.lr = self.base_lr * self.factor(self.last_step)


class ConstantLR(LRSchedule):
    def factor(self, t):
        return 1.0


class StepLR(LRSchedule):
    """lr = base * gamma ** (t // step_size)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def factor(self, t):
        return self.gamma ** (t // self.step_size)

    def retarget(self, total_steps):
        self.step_size = max(int(total_steps) // 2, 1)


class CosineAnnealingLR(LRSchedule):
    """lr = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2 (Nizam and Md Ali's decay)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def retarget(self, total_steps):
        self.T_max = max(int(total_steps), 1)

    def factor(self, t):
        t = min(t, self.T_max)
        lr = self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        return lr / self.base_lr


def make_schedule(name: str, optimizer: Optimizer, total_steps: int) -> LRSchedule:
    """'constant', 'cosine' (to 0 at the last step) or 'step' (x0.1 from half-way)."""
    if name == "constant":
        return ConstantLR(optimizer)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if name == "step":
        return StepLR(optimizer, step_size=max(total_steps // 2, 1), gamma=0.1)
    raise ValueError(f"unknown schedule {name!r}: constant, cosine or step")
