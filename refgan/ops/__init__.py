"""Every differentiable op, as functions (PyTorch's ``torch`` / ``nn.functional`` names).

==================  ======================================================
module              ops
==================  ======================================================
``math``            + - * / neg pow exp log sqrt abs tanh sigmoid softplus
                    relu leaky_relu silu astype where clip maximum minimum
``shape``           reshape flatten transpose broadcast_to sum_to concat stack
                    split getitem expand_dims squeeze
``reduce``          sum mean max logsumexp log_softmax softmax matmul linear
``conv``            conv2d (groups) conv_transpose2d unfold pad2d avg_pool2d
                    max_pool2d adaptive_avg_pool2d upsample_nearest upsample_bilinear
                    sum_pool2d
``norm``            batch_norm dropout
``loss``            binary_cross_entropy_with_logits cross_entropy mse_loss
                    hinge_loss gradient_penalty
==================  ======================================================

:func:`setup_tensor` gives :class:`~refgan.autograd.Tensor` its operators and methods;
``refgan/__init__.py`` calls it once (as DeZero's ``setup_variable()``), so importing an
op module changes no class behind the reader's back.
"""
from refgan.autograd import Tensor, as_tensor
from refgan.ops.conv import (adaptive_avg_pool2d, avg_pool2d, conv2d, conv_transpose2d,
                             max_pool2d, pad2d, sum_pool2d, unfold, upsample_bilinear,
                             upsample_nearest)
from refgan.ops.loss import (binary_cross_entropy_with_logits, cross_entropy,
                             gradient_penalty, hinge_loss, mse_loss)
from refgan.ops.math import (abs, add, astype, clip, div, exp, leaky_relu, log, maximum,
                             minimum, mul, neg, pow, relu, sigmoid, silu, softplus, sqrt,
                             sub, tanh, where)
from refgan.ops.norm import batch_norm, dropout
from refgan.ops.reduce import (linear, log_softmax, logsumexp, matmul, max, mean, softmax,
                               sum)
from refgan.ops.shape import (broadcast_to, cat, concat, expand_dims, flatten, getitem,
                              permute, reshape, split, squeeze, stack, sum_to, transpose)


def _rsub(a, b):
    return sub(b, a)


def _rdiv(a, b):
    return div(b, a)


def _rpow(a, b):
    return pow(as_tensor(b, like=a), a)


_OPERATORS = {
    "__add__": add, "__radd__": add, "__sub__": sub, "__rsub__": _rsub,
    "__mul__": mul, "__rmul__": mul, "__truediv__": div, "__rtruediv__": _rdiv,
    "__neg__": neg, "__pow__": pow, "__rpow__": _rpow, "__matmul__": matmul,
    "__getitem__": getitem,
}
_METHODS = {
    "sum": sum, "mean": mean, "max": max, "reshape": reshape, "view": reshape,
    "flatten": flatten, "transpose": transpose, "permute": permute, "exp": exp, "log": log,
    "sqrt": sqrt, "abs": abs, "tanh": tanh, "sigmoid": sigmoid, "relu": relu,
    "pow": pow, "matmul": matmul, "expand_dims": expand_dims, "squeeze": squeeze,
    "broadcast_to": broadcast_to, "clip": clip, "astype": astype,
}


def setup_tensor() -> None:
    """Attach the operators (``x + y``, ``x @ w``, ``x[i]``, ...) and the methods
    (``x.sum()``, ``x.reshape(...)``, ``x.T``, ...) to ``Tensor``.

    ``autograd`` defines the graph and does not know the ops (they are built on it);
    this one call joins them, so neither module imports the other in a cycle.
    """
    for name, fn in {**_OPERATORS, **_METHODS}.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(lambda self: transpose(self))
