"""Limited-memory BFGS for the smooth convex objectives of the linear classifiers.

Nocedal & Wright (2006), Algorithm 7.4 (two-loop recursion) with a backtracking line
search on the Armijo condition; a curvature pair is kept only when ``s^T y > 0``, so
the implicit Hessian stays positive definite. Arrays are of the active backend's
array module (numpy or cupy), float64.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LBFGSResult:
    x: object
    fun: float
    n_iter: int
    converged: bool
    grad_max: float
    losses: list = field(default_factory=list)


def minimize(fun_grad, x0, max_iter: int = 1000, gtol: float = 1e-5, memory: int = 10,
             c1: float = 1e-4) -> LBFGSResult:
    """Minimise ``f`` from ``x0``; ``fun_grad(x) -> (f, g)``.

    Stops when ``max |g| <= gtol`` (scikit-learn's lbfgs criterion with its ``tol``)
    or after ``max_iter`` iterations. ``losses`` records ``f`` at every iterate.
    """
    x = x0.copy()
    f, g = fun_grad(x)
    losses = [float(f)]
    S, Y, R = [], [], []
    it = 0
    gmax = float(abs(g).max())
    while gmax > gtol and it < max_iter:
        # two-loop recursion: d = -H g
        q = g.copy()
        alphas = []
        for s, y, rho in zip(reversed(S), reversed(Y), reversed(R)):
            a = rho * float((s * q).sum())
            alphas.append(a)
            q = q - a * y
        if S:
            gamma = float((S[-1] * Y[-1]).sum() / (Y[-1] * Y[-1]).sum())
        else:  # first step: unit length along -g
            gamma = 1.0 / max(float((g * g).sum()) ** 0.5, 1e-12)
        r = gamma * q
        for (s, y, rho), a in zip(zip(S, Y, R), reversed(alphas)):
            b = rho * float((y * r).sum())
            r = r + (a - b) * s
        d = -r
        slope = float((g * d).sum())
        if slope >= 0:  # not a descent direction (numerical trouble): restart on -g
            S, Y, R = [], [], []
            d = -g
            slope = -float((g * g).sum())
        step = 1.0
        for _ in range(60):
            x_new = x + step * d
            f_new, g_new = fun_grad(x_new)
            if f_new <= f + c1 * step * slope:
                break
            step *= 0.5
        else:
            break  # no decrease possible at float precision: stop where we are
        s, y = x_new - x, g_new - g
        sy = float((s * y).sum())
        if sy > 1e-12 * float((y * y).sum()) ** 0.5 * float((s * s).sum()) ** 0.5:
            S.append(s), Y.append(y), R.append(1.0 / sy)
            if len(S) > memory:
                S.pop(0), Y.pop(0), R.pop(0)
        x, f, g = x_new, f_new, g_new
        losses.append(float(f))
        gmax = float(abs(g).max())
        it += 1
    return LBFGSResult(x=x, fun=float(f), n_iter=it, converged=gmax <= gtol, grad_max=gmax,
                       losses=losses)
