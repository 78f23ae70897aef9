"""JAX as an independent oracle for refgan: run a refgan callable with JAX twins and
compare its values and its JAX-autodiff derivatives with refgan's own.

    f = lambda x, w: ops.conv2d(x, w, stride=2, padding="same")   # refgan code
    jf = jax_function(f)                 # the same code, every op a JAX twin
    jax.grad(lambda x, w: jnp.vdot(jf(x, w), gy), argnums=(0, 1))(x, w)

refgan's gradients come from its hand-written backwards; JAX's from differentiating
the twins' forwards, so agreement checks the backwards without finite differences
(and, at second order, the double backwards the WGAN-GP penalty relies on).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from refgan import autograd
from refgan.autograd import Tensor
from refgan.export.jax_ops import Noise, using_noise
from refgan.export.to_jax import interpret_with_jax

# XLA's CPU backend spends most of a small program's compile time optimising it; an
# oracle runs each program once, so it compiles without (4x faster, same values).
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _outputs(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def jax_function(f, rng=None):
    """``f(*Tensors) -> Tensor or tuple`` (refgan code) as ``g(*arrays) -> array or tuple``
    evaluated with JAX twins; ``rng`` feeds dropout (see ``jax_ops.Noise``)."""
    def g(*arrays):
        with using_noise(Noise(rng)), autograd.interpret(interpret_with_jax):
            y = f(*(Tensor(jnp.asarray(a)) for a in arrays))
        ys = tuple(t.data for t in _outputs(y))
        return ys if isinstance(y, (tuple, list)) else ys[0]
    return g


def _inner(ys, gys):
    return sum(jnp.vdot(y, gy) for y, gy in zip(_outputs(ys), gys))


def refgan_grads(f, arrays, gys, order: int = 1, vs=None):
    """refgan's (hand-written) derivatives of <f(x), gy> w.r.t. every input x.

    order 1: grad_x <f(x), gy>.  order 2: grad_x <grad_x <f(x), gy>, v> (one Hessian-
    vector product per input direction v, through ``create_graph=True``)."""
    xs = [Tensor(np.asarray(a), requires_grad=True) for a in arrays]
    ys = _outputs(f(*xs))
    s = sum((y * Tensor(np.asarray(g))).sum() for y, g in zip(ys, gys))
    g1 = autograd.grad(s, xs, create_graph=order > 1, allow_unused=True)
    if order == 2:
        used = [(g, Tensor(np.asarray(v))) for g, v in zip(g1, vs) if g is not None]
        s2 = sum((g * v).sum() for g, v in used)
        # a gradient that does not depend on x (a linear op) has no second derivative
        g1 = (autograd.grad(s2, xs, allow_unused=True) if s2.requires_grad
              else [None] * len(xs))
    return [np.zeros_like(np.asarray(x)) if g is None else g.numpy()
            for x, g in zip(arrays, g1)]


def jax_grads(f, arrays, gys, order: int = 1, vs=None, rng=None):
    """The same derivatives by JAX autodiff of the twins (``jax.grad``, and ``jax.grad``
    of ``jax.grad`` for order 2)."""
    jf = jax_function(f, rng)
    argnums = tuple(range(len(arrays)))
    arrays = [jnp.asarray(a) for a in arrays]

    def first(*xs):
        return jax.grad(lambda *xs: _inner(jf(*xs), gys), argnums=argnums)(*xs)

    # one compiled program per derivative: far cheaper than op-by-op dispatch
    if order == 1:
        return [np.asarray(g) for g in jax.jit(first, compiler_options=FAST_COMPILE)(*arrays)]
    return [np.asarray(g) for g in jax.jit(jax.grad(
        lambda *xs: sum(jnp.vdot(g, v) for g, v in zip(first(*xs), vs)),
        argnums=argnums), compiler_options=FAST_COMPILE)(*arrays)]


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max |expected| (0 when both are 0): one number per
    comparison, independent of the array's scale."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"shape {actual.shape} != expected {expected.shape}")
    scale = np.abs(expected).max(initial=0.0)
    diff = np.abs(actual - expected).max(initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)


def assert_close(actual, expected, rtol: float, what: str = "") -> float:
    """Raise unless ``relative_error(actual, expected) <= rtol``; return the error. With
    $REFGAN_ORACLE_LOG set, every comparison is appended there (max-error reports)."""
    import os

    err = relative_error(actual, expected)
    log = os.environ.get("REFGAN_ORACLE_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{what}\t{err:.3e}\t{rtol:.0e}\n")
    if not err <= rtol:
        raise AssertionError(f"{what}: relative error {err:.3e} > {rtol:.0e}")
    return err
