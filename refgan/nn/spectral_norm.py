"""Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for Generative
Adversarial Networks", algorithm 1).

A wrapped layer uses W / sigma(W) instead of W, where sigma(W) is the largest
singular value of W viewed as a matrix W_mat (out, in * kh * kw). sigma is estimated
by power iteration with a persistent vector u (out,):

    v <- W_mat^T u / ||W_mat^T u||,    u <- W_mat v / ||W_mat v||     (training only)
    sigma = u^T W_mat v

one iteration per forward pass in training mode (the estimate improves across
steps because u persists), none in evaluation, which reuses the last u and v
(PyTorch's ``weight_u`` and ``weight_v``). As in the paper and PyTorch, u and v
are constants to autograd: sigma is then linear in W, and the normalised weight is
an ordinary differentiable function of W, to any order (the gradient penalties).
``u`` and ``v`` are buffers, so checkpoints carry them and a resumed run continues the same
iteration bit for bit.
"""
from __future__ import annotations

from refgan import backend, ops, random
from refgan.autograd import Tensor
from refgan.nn.layers import Conv2d, ConvTranspose2d, Linear
from refgan.nn.module import Module

__all__ = ["SpectralNorm", "spectral_norm", "apply_spectral_norm"]


def _normalise(v, eps):
    return v / (backend.get_array_module(v).sqrt((v * v).sum()) + eps)


class SpectralNorm(Module):
    """``module`` (Linear, Conv2d or ConvTranspose2d) with its weight divided by its
    spectral norm. The wrapped layer's parameters keep their names under ``module.``;
    ``u`` (out,) and ``v`` (in * kh * kw,) are this wrapper's buffers."""

    def __init__(self, module: Module, n_power_iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        if not isinstance(module, (Linear, Conv2d, ConvTranspose2d)):
            raise TypeError(f"spectral norm wraps Linear or Conv layers, got {type(module).__name__}")
        self.module, self.n_power_iterations, self.eps = module, n_power_iterations, eps
        # ConvTranspose2d's weight is (in, out, kh, kw): its matrix is taken over axis 1
        self.out_axis = 1 if isinstance(module, ConvTranspose2d) else 0
        rows = module.weight.shape[self.out_axis]
        self.register_buffer("u", _normalise(random.normal((rows,)), eps))
        self.register_buffer("v", _normalise(self._matrix(module.weight.data).T @ self.u, eps))

    def _matrix(self, W):
        """The weight as the matrix (out, rest), W a Tensor or a raw array."""
        axes = (1, 0) + tuple(range(2, W.ndim)) if self.out_axis else None
        if isinstance(W, Tensor):
            W = ops.transpose(W, axes) if axes else W
            return ops.reshape(W, (W.shape[0], -1))
        W = W.transpose(axes) if axes else W
        return W.reshape(W.shape[0], -1)

    def sigma(self, update: bool):
        """sigma(W) as a Tensor (differentiable in W); with ``update``, one power
        iteration advances ``u`` first."""
        W = self.module.weight
        Wm = self._matrix(W.data)
        u, v = self.u.astype(Wm.dtype), self.v.astype(Wm.dtype)
        if update:
            for _ in range(self.n_power_iterations):
                v = _normalise(Wm.T @ u, self.eps)
                u = _normalise(Wm @ v, self.eps)
            self.u, self.v = u, v
        xp = backend.get_array_module(Wm)
        uv = xp.outer(u, v).astype(Wm.dtype)              # sigma = sum(W_mat * u v^T)
        return ops.sum(self._matrix(W) * uv)

    def forward(self, *args):
        W = self.module.weight
        normalised = W / self.sigma(update=self.training)
        object.__setattr__(self.module, "weight", normalised)   # read by the layer's forward
        try:
            return self.module(*args)
        finally:
            object.__setattr__(self.module, "weight", W)

    def extra_repr(self):
        return f"n_power_iterations={self.n_power_iterations}"


def spectral_norm(module: Module, n_power_iterations: int = 1) -> SpectralNorm:
    """PyTorch's ``torch.nn.utils.spectral_norm``, as a wrapper module."""
    return SpectralNorm(module, n_power_iterations)


def apply_spectral_norm(net: Module) -> Module:
    """Wrap every Linear and Conv layer inside ``net`` (in place; returns ``net``)."""
    for m in net.modules():
        if isinstance(m, SpectralNorm):
            continue
        for name, child in list(m._modules.items()):
            if isinstance(child, (Linear, Conv2d, ConvTranspose2d)):
                wrapped = SpectralNorm(child)
                m._modules[name] = wrapped           # in place: Sequential runs in this order
                object.__setattr__(m, name, wrapped)
    return net
