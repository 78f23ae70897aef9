"""Finite-difference checks of first and second derivatives (Chainer's gradient_check).

First order. For f: inputs -> outputs and a random cotangent gy, backprop gives
g = J^T gy. Along a random unit direction d (one component per input),

    <g, d>   must equal   (<f(x + h d), gy> - <f(x - h d), gy>) / (2 h)   + O(h^2)

which checks every input's gradient with two evaluations of f per direction.

Second order. G(x, gy) = J^T gy is itself a function, computed by
``grad(f(x), x, gy, create_graph=True)``; checking G's backward the same way, in both
x and gy, checks the double backward (the Hessian-vector and Jacobian paths).

Run checks in float64: with h = 1e-6 the central difference is accurate to ~1e-10
relative, far below any bug worth finding. Keep inputs away from kinks (LeakyReLU at 0,
ties of a max): a difference straddling a kink is not a derivative.
"""
from __future__ import annotations

import numpy as np

from refgan import backend
from refgan.autograd import Tensor, grad

TOLERANCES = {np.dtype(np.float64): dict(atol=1e-6, rtol=1e-5),
              np.dtype(np.float32): dict(atol=1e-2, rtol=1e-2)}


class GradientCheckError(AssertionError):
    """Backprop disagrees with finite differences."""


def _as_tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def _leaf(x) -> Tensor:
    data = x.data if isinstance(x, Tensor) else backend.get_backend().asarray(x)
    return Tensor(data, requires_grad=True)


def _dot(outputs, cotangents) -> float:
    return float(sum(float((y.data * g.data).sum()) for y, g in zip(outputs, cotangents)))


def check_backward(fn, inputs, grad_outputs=None, params=(), eps: float = 1e-6,
                   atol: float | None = None, rtol: float | None = None,
                   n_directions: int = 2, seed: int = 0) -> None:
    """Raise :class:`GradientCheckError` unless backprop through ``fn`` matches central
    differences.

    Parameters
    ----------
    fn : callable(*inputs) -> Tensor or tuple of Tensor
        Must be deterministic (reseed inside ``fn`` if it uses dropout).
    inputs : arrays or Tensors, the points to differentiate at (float64 recommended).
    grad_outputs : cotangents gy, one per output; random normal if None.
    params : leaf Tensors used inside ``fn`` (module parameters), also checked.
    n_directions : random directions tried; each costs two evaluations of ``fn``.
    """
    xs = [_leaf(x) for x in inputs]
    params = list(params)
    wrt = xs + params
    for t in params:
        if not t.requires_grad:
            raise ValueError("check_backward: every param must require grad")
    dtype = wrt[0].dtype
    tol = TOLERANCES.get(np.dtype(dtype), TOLERANCES[np.dtype(np.float32)])
    atol = tol["atol"] if atol is None else atol
    rtol = tol["rtol"] if rtol is None else rtol
    rng = np.random.default_rng(seed)
    be = backend.get_backend()

    ys = _as_tuple(fn(*xs))
    if grad_outputs is None:
        gys = [Tensor(be.asarray(rng.standard_normal(y.shape).astype(y.dtype))) for y in ys]
    else:
        gys = [g if isinstance(g, Tensor) else Tensor(be.asarray(g))
               for g in _as_tuple(grad_outputs)]
    live = [(y, g) for y, g in zip(ys, gys) if y.requires_grad]  # constant outputs add 0
    analytic = (grad([y for y, _ in live], wrt, [g for _, g in live], allow_unused=True)
                if live else [None] * len(wrt))
    analytic = [be.xp.zeros(t.shape, t.dtype) if g is None else g.data
                for t, g in zip(wrt, analytic)]

    originals = [t.data for t in wrt]
    try:
        for k in range(n_directions):
            ds = [rng.standard_normal(t.shape) for t in wrt]
            norm = np.sqrt(sum(float((d * d).sum()) for d in ds)) or 1.0
            ds = [be.asarray((d / norm).astype(t.dtype)) for d, t in zip(ds, wrt)]
            values = []
            for sign in (1.0, -1.0):
                for t, x0, d in zip(wrt, originals, ds):
                    t.data = x0 + (sign * eps) * d
                values.append(_dot(_as_tuple(fn(*xs)), gys))
                for t, x0 in zip(wrt, originals):
                    t.data = x0
            numeric = (values[0] - values[1]) / (2 * eps)
            backprop = float(sum(float((g * d).sum()) for g, d in zip(analytic, ds)))
            if not abs(numeric - backprop) <= atol + rtol * abs(numeric):
                worst = _worst_input(analytic, ds, wrt, xs)
                raise GradientCheckError(
                    f"gradient check failed along direction {k}: finite differences give "
                    f"{numeric:.10g}, backprop gives {backprop:.10g} "
                    f"(|diff| {abs(numeric - backprop):.3g} > atol {atol:g} + rtol {rtol:g}"
                    f" * |numeric|); largest contribution from {worst}")
    finally:
        for t, x0 in zip(wrt, originals):
            t.data = x0


def _worst_input(analytic, ds, wrt, xs):
    contrib = [abs(float((g * d).sum())) for g, d in zip(analytic, ds)]
    i = int(np.argmax(contrib))
    return f"input {i}" if i < len(xs) else f"param {i - len(xs)} of shape {wrt[i].shape}"


def check_double_backward(fn, inputs, grad_outputs=None, grad_grad_inputs=None,
                          params=(), eps: float = 1e-6, atol: float | None = None,
                          rtol: float | None = None, n_directions: int = 2,
                          seed: int = 0) -> None:
    """Check second derivatives: the backward of G(x, gy) = J^T gy in both x and gy.

    G is computed with ``create_graph=True``; its gradients w.r.t. x, gy and ``params``
    are then compared with finite differences of G by :func:`check_backward`.
    """
    rng = np.random.default_rng(seed + 1)
    be = backend.get_backend()
    xs0 = [_leaf(x) for x in inputs]
    ys0 = _as_tuple(fn(*xs0))
    if grad_outputs is None:
        grad_outputs = [be.asarray(rng.standard_normal(y.shape).astype(y.dtype)) for y in ys0]
    n_in = len(xs0)
    params = list(params)

    def first_order(*args):
        xs, gys = args[:n_in], args[n_in:]
        ys = _as_tuple(fn(*xs))
        gs = grad(ys, list(xs) + params, list(gys), create_graph=True, allow_unused=True)
        wrt = list(xs) + params
        return tuple(Tensor(be.xp.zeros(t.shape, t.dtype)) if g is None else g
                     for g, t in zip(gs, wrt))

    check_backward(first_order, list(inputs) + list(_as_tuple(grad_outputs)),
                   grad_outputs=grad_grad_inputs, params=params, eps=eps, atol=atol,
                   rtol=rtol, n_directions=n_directions, seed=seed + 2)
