"""Elementwise ops: arithmetic, transcendental functions and activations.

Each backward is written with ops, so it is itself differentiable. Where a derivative
reuses the output (tanh' = 1 - y^2) the output tensor is used, not its array, so the
second derivative flows through it too. Piecewise-linear activations multiply by a
constant mask (their second derivative is zero almost everywhere).
"""
from __future__ import annotations

import numpy as np

from refgan import backend
from refgan.autograd import Function, Tensor, as_tensor
from refgan.backend import get_array_module
from refgan.ops.shape import sum_to


def _operands(a, b):
    """Two tensors with a Python scalar taking the other operand's dtype."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def unbroadcast(g: Tensor, shape) -> Tensor:
    """Sum ``g`` down to ``shape``: the adjoint of NumPy broadcasting."""
    return g if g.shape == tuple(shape) else sum_to(g, shape)


# ----------------------------------------------------------------------- arithmetic
class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy, a.shape), unbroadcast(gy, b.shape)


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy, a.shape), unbroadcast(-gy, b.shape)


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        ga = unbroadcast(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = unbroadcast(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, gy):
        return -gy


class PowScalar(Function):
    """y = x ** c for a constant exponent c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** x.dtype.type(self.c)

    def backward(self, gy):
        (x,) = self.inputs
        c = self.c
        return gy * (c * x ** (c - 1)) if c != 1 else gy


class Pow(Function):
    """y = a ** b, both tensors (a > 0 where b's gradient is needed)."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        y = self.output()
        ga = unbroadcast(gy * b * a ** (b - 1.0), a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(gy * y * log(a), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def add(a, b):
    return Add()(*_operands(a, b))


def sub(a, b):
    return Sub()(*_operands(a, b))


def mul(a, b):
    return Mul()(*_operands(a, b))


def div(a, b):
    return Div()(*_operands(a, b))


def neg(a):
    return Neg()(a)


def pow(a, b):  # noqa: A001 - mirrors torch.pow
    if np.isscalar(b):
        return PowScalar(b)(a)
    return Pow()(*_operands(a, b))


# ---------------------------------------------------------------- transcendental
class Exp(Function):
    def forward(self, x):
        return get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


class Log(Function):
    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        return get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2.0 * self.output())


class Abs(Function):
    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * Tensor(get_array_module(x).sign(x))


class Tanh(Function):
    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1.0 - y * y)


class Sigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        # 0.5 * (1 + tanh(x/2)) is sigmoid without overflow for large |x|
        return xp.tanh(x * x.dtype.type(0.5)) * x.dtype.type(0.5) + x.dtype.type(0.5)

    def backward(self, gy):
        y = self.output()
        return gy * y * (1.0 - y)


class Softplus(Function):
    """y = log(1 + e^x), computed stably as max(x, 0) + log1p(e^-|x|)."""

    def forward(self, x):
        xp = get_array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        return gy * sigmoid(self.inputs[0])


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)


def abs(x):  # noqa: A001 - mirrors torch.abs
    return Abs()(x)


def tanh(x):
    return Tanh()(x)


def sigmoid(x):
    return Sigmoid()(x)


def silu(x):
    """SiLU / swish: y = x sigmoid(x) (Keras 'swish', PyTorch SiLU). Composed from ops,
    so every derivative order follows: y' = s (1 + x (1 - s)) with s = sigmoid(x)."""
    return x * sigmoid(x)


def softplus(x):
    return Softplus()(x)


# --------------------------------------------------------------------- activations
class ReLU(Function):
    def forward(self, x):
        return get_array_module(x).maximum(x, 0)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * Tensor((x > 0).astype(x.dtype))


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x (fused kernel)."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        return backend.kernels().leaky_relu(x, self.slope)

    def backward(self, gy):
        return LeakyReLUGrad(self.inputs[0].data, self.slope)(gy)


class LeakyReLUGrad(Function):
    """gx = gy * (1 if x > 0 else slope): linear in gy, so its backward is itself."""

    def __init__(self, x, slope):
        self.x, self.slope = x, slope

    def forward(self, gy):
        return backend.kernels().leaky_relu_grad(self.x, gy, self.slope)

    def backward(self, ggx):
        return LeakyReLUGrad(self.x, self.slope)(ggx)


def relu(x):
    return ReLU()(x)


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU(negative_slope)(x)


# ---------------------------------------------------------------------- utilities
class AsType(Function):
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return AsType(self.src)(gy)


def astype(x, dtype):
    return x if x.dtype == np.dtype(dtype) else AsType(dtype)(x)


def where(cond, a, b):
    """Elementwise select with a constant (non-differentiable) condition."""
    a, b = _operands(a, b)
    c = cond.data if isinstance(cond, Tensor) else cond
    mask = Tensor(c.astype(a.dtype))
    return a * mask + b * (1.0 - mask)


def clip(x, lo, hi):
    """Clamp values; the gradient passes where lo < x < hi (a constant mask)."""
    d = x.data
    xp = get_array_module(d)
    inside = Tensor(((d > lo) & (d < hi)).astype(d.dtype))
    return x * inside + Tensor(xp.clip(d, lo, hi) * (1 - inside.data))


def maximum(a, b):
    """Elementwise max; the gradient goes to the larger operand (ties to ``a``)."""
    a, b = _operands(a, b)
    return where(a.data >= b.data, a, b)


def minimum(a, b):
    a, b = _operands(a, b)
    return where(a.data <= b.data, a, b)
