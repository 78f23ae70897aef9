"""Reductions (sum, mean, max, logsumexp) and matrix products (matmul, linear)."""
from __future__ import annotations

import numpy as np

from refgan import backend
from refgan.autograd import Function, Tensor
from refgan.ops.math import exp, unbroadcast
from refgan.ops.shape import broadcast_to, reshape, transpose


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axis)


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        axes = _axes(self.axis, len(self.in_shape))
        gy = reshape(gy, _keepdims_shape(self.in_shape, axes))
        return broadcast_to(gy, self.in_shape)


def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - mirrors torch.sum
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims: bool = False):
    n = int(np.prod([x.shape[a] for a in _axes(axis, x.ndim)]))
    return sum(x, axis, keepdims) * (1.0 / n)


class Max(Function):
    """Max over axes; the gradient goes to the first maximal element (ties broken by
    position, so the result is deterministic)."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return x.max(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0].data
        xp = backend.get_array_module(x)
        axes = _axes(self.axis, x.ndim)
        # move reduced axes last, flatten them, one-hot the argmax
        rest = [a for a in range(x.ndim) if a not in axes]
        moved = x.transpose(rest + list(axes)).reshape([x.shape[a] for a in rest] + [-1])
        onehot = xp.zeros_like(moved)
        xp.put_along_axis(onehot, moved.argmax(axis=-1)[..., None], 1, axis=-1)
        mask = onehot.reshape([x.shape[a] for a in rest] + [x.shape[a] for a in axes])
        mask = mask.transpose(np.argsort(rest + list(axes)))
        gy = broadcast_to(reshape(gy, _keepdims_shape(x.shape, axes)), x.shape)
        return gy * Tensor(mask)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001 - mirrors torch.max
    return Max(axis, keepdims)(x)


class LogSumExp(Function):
    """y = log sum_i exp(x_i) along ``axis`` (kept), computed stably."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        return m + xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        x, y = self.inputs[0], self.output()
        return gy * exp(x - y)  # softmax, built from ops so it differentiates again


def logsumexp(x, axis: int = -1, keepdims: bool = False):
    y = LogSumExp(axis)(x)
    return y if keepdims else reshape(y, tuple(n for i, n in enumerate(x.shape)
                                                if i != axis % x.ndim))


def log_softmax(x, axis: int = -1):
    return x - LogSumExp(axis)(x)


def softmax(x, axis: int = -1):
    return exp(log_softmax(x, axis))


# ------------------------------------------------------------------ matrix products
class MatMul(Function):
    """NumPy matmul semantics for operands of 2 or more axes (batched, broadcasting)."""

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError("matmul needs operands with at least 2 axes; reshape vectors")
        return a @ b

    def backward(self, gy):
        a, b = self.inputs
        ga = unbroadcast(matmul(gy, _mT(b)), a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(matmul(_mT(a), gy), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def _mT(x):
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes)


def matmul(a, b):
    return MatMul()(a, b)


def linear(x, weight, bias=None):
    """y = x W^T + b with W of shape (out_features, in_features) (PyTorch layout)."""
    y = matmul(x, transpose(weight))
    return y if bias is None else y + bias
