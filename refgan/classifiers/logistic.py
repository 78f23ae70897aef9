"""Logistic regression (binary and multinomial) with an L2 penalty.

Objective, as scikit-learn's ``LogisticRegression(penalty='l2')``::

    min_{W, b}  C * sum_i s_i * loss_i  +  ||W||^2 / 2

with ``s_i`` the class weight of ``y_i`` times the sample weight and

* two classes: ``loss_i = log(1 + exp(z_i)) - t_i z_i``,  ``z_i = x_i . w + b``;
* K > 2 classes: ``loss_i = logsumexp_k z_ik - z_i,y_i``,  ``z_i = W x_i + b`` (softmax).

The intercept is not penalised. L-BFGS minimises the objective divided by
``C * sum_i s_i`` (the same minimiser; scikit-learn scales it so and stops when the
largest gradient entry is below ``tol``, as we do).
"""
from __future__ import annotations

import warnings

import numpy as np

from refgan import backend
from refgan.classifiers import lbfgs
from refgan.classifiers.base import ClassifierBase, to_device


def _logsumexp(z, axis):
    xp = backend.xp()
    m = z.max(axis=axis, keepdims=True)
    return (m + xp.log(xp.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)


class LogisticRegression(ClassifierBase):
    """L2-regularised logistic regression (Gaur et al.: C = 1, max_iter = 5000).

    Parameters
    ----------
    C : inverse regularisation strength.
    penalty : ``'l2'`` or ``None``.
    max_iter : L-BFGS iterations at most.
    tol : stop when ``max |grad| <= tol`` of the scaled objective.
    fit_intercept : learn ``b``.
    class_weight : None, ``'balanced'`` or ``{label: weight}``.

    Attributes
    ----------
    coef_ : (1, F) for two classes, (K, F) otherwise; ``intercept_`` (1,) or (K,).
    n_iter_ : iterations used; ``loss_curve_`` : scaled objective per iteration.
    """

    def __init__(self, C: float = 1.0, penalty="l2", max_iter: int = 5000, tol: float = 1e-4,
                 fit_intercept: bool = True, class_weight=None):
        self.C = C
        self.penalty = penalty
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None):
        """Fit on features ``X`` (N, F) (or any (N, ...), flattened) and labels ``y`` (N,)."""
        if self.penalty not in ("l2", None):
            raise ValueError(f"penalty must be 'l2' or None, got {self.penalty!r}")
        Xh, y_idx, s = self._validate_fit(X, y, sample_weight)
        n, f = Xh.shape
        k = len(self.classes_)
        rows = 1 if k == 2 else k
        Xd = to_device(Xh)
        sd = to_device(s / s.sum())  # normalised weights: objective / (C sum s)
        lam = 0.0 if self.penalty is None else 1.0 / (self.C * s.sum())
        a = backend.xp()
        if k == 2:
            t = to_device(y_idx.astype(np.float64))
        else:
            T = a.zeros((n, k))
            T[a.arange(n), to_device(y_idx, np.int64)] = 1.0
        use_b = self.fit_intercept

        def fun_grad(theta):
            W = theta[:rows * f].reshape(rows, f)
            b = theta[rows * f:] if use_b else a.zeros(rows)
            Z = Xd @ W.T + b  # (N, rows)
            if k == 2:
                z = Z[:, 0]
                # softplus(z) - t z, stable for any z
                loss = a.maximum(z, 0) + a.log1p(a.exp(-abs(z))) - t * z
                r = (1.0 / (1.0 + a.exp(-z)) - t)[:, None]
            else:
                lse = _logsumexp(Z, 1)
                loss = lse - (Z * T).sum(1)
                r = a.exp(Z - lse[:, None]) - T
            r = r * sd[:, None]
            val = float((sd * loss).sum()) + 0.5 * lam * float((W * W).sum())
            gW = r.T @ Xd + lam * W
            parts = [gW.ravel()] + ([r.sum(0)] if use_b else [])
            return val, a.concatenate(parts)

        theta0 = a.zeros(rows * f + (rows if use_b else 0))
        res = lbfgs.minimize(fun_grad, theta0, max_iter=self.max_iter, gtol=self.tol)
        if not res.converged:
            warnings.warn(f"LogisticRegression: L-BFGS stopped after {res.n_iter} iterations with "
                          f"max |grad| = {res.grad_max:.2e} > tol = {self.tol}; raise max_iter",
                          RuntimeWarning, stacklevel=2)
        theta = backend.to_numpy(res.x)
        self.coef_ = theta[:rows * f].reshape(rows, f)
        self.intercept_ = theta[rows * f:] if use_b else np.zeros(rows)
        self.n_iter_ = res.n_iter
        self.loss_curve_ = res.losses
        return self

    def decision_function(self, X):
        """Logits: (N,) for two classes (positive -> ``classes_[1]``), else (N, K)."""
        Z = self._validate_predict(X) @ self.coef_.T + self.intercept_
        return Z[:, 0] if len(self.classes_) == 2 else Z

    def predict_proba(self, X):
        """Class probabilities (N, K), columns in ``classes_`` order."""
        Z = self.decision_function(X)
        if Z.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-Z))
            return np.stack([1 - p1, p1], 1)
        Z = Z - Z.max(1, keepdims=True)
        E = np.exp(Z)
        return E / E.sum(1, keepdims=True)

    def predict_log_proba(self, X):
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))
