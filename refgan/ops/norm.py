"""Batch normalisation and dropout.

Batch norm in training mode normalises with the batch's own statistics, so the mean
and variance are functions of x and the second derivative has to differentiate through
them. The forward runs the fused kernel; the backward is

    xhat   = (x - mean) * invstd,            M = elements per channel
    gbeta  = sum gy,   ggamma = sum gy * xhat
    gx     = gamma * invstd / M * (M gy - gbeta - xhat * ggamma)

When no graph is being recorded (plain training), the fused kernel computes it. When
``create_graph=True`` the same formula is composed from ops, *with mean and invstd
recomputed as ops of x*, so the double backward is the true one (DeZero treats 1/std
as a constant there; our second-order test catches that mistake).
"""
from __future__ import annotations

from refgan import backend, random
from refgan.autograd import Function, Tensor, is_grad_enabled
from refgan.ops.reduce import mean as _mean
from refgan.ops.reduce import sum as _sum
from refgan.ops.shape import reshape


def _channel_shape(ndim, C):
    return (1, C) + (1,) * (ndim - 2)


def _reduce_axes(ndim):
    return (0,) + tuple(range(2, ndim))


class BatchNormTrain(Function):
    """y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta with batch statistics."""

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, gamma, beta):
        y, self.mean, self.invstd = backend.kernels().batch_norm_forward(x, gamma, beta,
                                                                         self.eps)
        return y

    def backward(self, gy):
        x, gamma = self.inputs[0], self.inputs[1]
        if not is_grad_enabled():  # first order only: the fused kernel suffices
            gx, ggamma, gbeta = backend.kernels().batch_norm_backward(
                x.data, gamma.data, gy.data, self.mean, self.invstd)
            return Tensor(gx), Tensor(ggamma), Tensor(gbeta)
        return batch_norm_backward_ops(x, gamma, gy, self.eps)


def batch_norm_backward_ops(x, gamma, gy, eps):
    """The training-mode gradient composed from ops (differentiable to any order)."""
    axes = _reduce_axes(x.ndim)
    cshape = _channel_shape(x.ndim, x.shape[1])
    M = x.size // x.shape[1]
    mu = _mean(x, axis=axes, keepdims=True)
    xc = x - mu
    invstd = (_mean(xc * xc, axis=axes, keepdims=True) + eps) ** -0.5
    xhat = xc * invstd
    gbeta = _sum(gy, axis=axes)
    ggamma = _sum(gy * xhat, axis=axes)
    gx = (reshape(gamma, cshape) * invstd * (1.0 / M)) * (
        gy * float(M) - reshape(gbeta, cshape) - xhat * reshape(ggamma, cshape))
    return gx, ggamma, gbeta


def batch_norm(x, running_mean, running_var, weight, bias, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalisation over axis 1 (PyTorch's F.batch_norm).

    x (N, C) or (N, C, H, W). ``running_mean`` / ``running_var`` are raw arrays (C,) or
    None; in training mode they are returned updated (unbiased variance, as PyTorch),
    never written in place. Returns ``(y, new_running_mean, new_running_var)``.
    """
    if training:
        if x.size // x.shape[1] < 2:
            raise ValueError("batch_norm in training mode needs more than one value per "
                             "channel (use a batch larger than 1)")
        fn = BatchNormTrain(eps)
        y = fn(x, weight, bias)
        if running_mean is not None:
            M = x.size // x.shape[1]
            var_unbiased = (1.0 / (fn.invstd * fn.invstd) - eps) * (M / (M - 1))
            running_mean = (1 - momentum) * running_mean + momentum * fn.mean
            running_var = (1 - momentum) * running_var + momentum * var_unbiased
        return y, running_mean, running_var
    cshape = _channel_shape(x.ndim, x.shape[1])
    # array methods and operators only (no xp calls): the running statistics may be
    # JAX arrays when the graph is replayed by refgan.export
    inv = Tensor((1.0 / (running_var + eps) ** 0.5).reshape(cshape).astype(x.dtype))
    mu = Tensor(running_mean.reshape(cshape).astype(x.dtype))
    y = (x - mu) * inv * reshape(weight, cshape) + reshape(bias, cshape)
    return y, running_mean, running_var


class Dropout(Function):
    """y = x * mask / (1 - p), mask = (u >= p) with u ~ U[0, 1) from refgan.random."""

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.u = random.uniform(x.shape, x.dtype)
        return backend.kernels().dropout(x, self.u, self.p)

    def backward(self, gy):
        return DropoutGrad(self.u, self.p)(gy)


class DropoutGrad(Function):
    """gx = gy * mask / (1 - p) with the forward's mask: linear in gy, so its backward
    is itself (the same fused kernel as the forward)."""

    def __init__(self, u, p):
        self.u, self.p = u, p

    def forward(self, gy):
        return backend.kernels().dropout(gy, self.u, self.p)

    def backward(self, ggx):
        return DropoutGrad(self.u, self.p)(ggx)


def dropout(x, p: float = 0.5, training: bool = True):
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    return Dropout(p)(x)
