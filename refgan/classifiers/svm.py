"""Support vector machines: kernel SVC (dual, SMO) and primal LinearSVC.

SVC solves libsvm's C-SVC dual for labels ``y_i = +-1``::

    min_a  a^T Q a / 2 - sum_i a_i,   Q_ij = y_i y_j K(x_i, x_j),
    s.t.   0 <= a_i <= C_i,  sum_i y_i a_i = 0,   C_i = C * class_weight[y_i] * s_i

by sequential minimal optimisation with the second-order working-set selection of
Fan, Chen & Lin (2005) ("WSS3"), as in libsvm's ``Solver::Solve`` (without
shrinking), stopping when the maximal KKT violation ``m(a) - M(a) < tol``. The
decision function is ``f(x) = sum_i a_i y_i K(x_i, x) - rho``.

:func:`smo_solve` is one plain-Python loop over raw arrays: it runs as written (the
readable reference) or compiled by Numba (:func:`smo_solve_fast`); tests check the
two give the same solution.

More than two classes: one-vs-one as libsvm, the pairwise decisions combined into
scikit-learn's ``'ovr'`` decision shape (votes plus a confidence term in (-1/3, 1/3)).
``probability=True`` fits Platt's sigmoid (Lin, Lin & Weng 2007) on 5-fold
cross-validated decision values and, for K > 2, couples the pairwise probabilities
(Wu, Lin & Weng 2004, method 2).

LinearSVC minimises liblinear's primal (squared hinge, intercept penalised as a
constant feature, one-vs-rest)::

    min_{w,b} (||w||^2 + b^2) / 2 + C sum_i s_i max(0, 1 - y_i (w . x_i + b))^2
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.metaestimators import available_if

from refgan import backend
from refgan.classifiers import lbfgs
from refgan.classifiers.base import ClassifierBase, to_device


# ------------------------------------------------------------------------- kernels
def kernel_matrix(A, B, kernel: str, gamma: float, degree: int = 3, coef0: float = 0.0) -> np.ndarray:
    """K(A_i, B_j) as a host float64 array (N_A, N_B); computed on the backend."""
    a, b = to_device(A), to_device(B)
    dot = a @ b.T
    if kernel == "linear":
        k = dot
    elif kernel == "rbf":
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * dot
        xp = backend.xp()
        k = xp.exp(-gamma * xp.maximum(sq, 0.0))
    elif kernel == "poly":
        k = (gamma * dot + coef0) ** degree
    else:
        raise ValueError(f"kernel must be 'rbf', 'linear' or 'poly', got {kernel!r}")
    return np.asarray(backend.to_numpy(k), dtype=np.float64)


# ---------------------------------------------------------------------------- SMO
def smo_solve(K, y, Cs, tol, max_iter, every):
    """libsvm's SMO on a precomputed kernel matrix.

    Parameters
    ----------
    K : (n, n) float64 kernel matrix;  y : (n,) float64 in {-1, +1};
    Cs : (n,) upper bounds;  tol : KKT tolerance;  max_iter : iteration cap;
    every : record the dual objective every ``every`` iterations.

    Returns ``(alpha (n,), rho, n_iter, trace)``; ``trace`` holds the recorded dual
    objectives ``a^T Q a / 2 - sum a`` (a decreasing sequence).
    """
    n = K.shape[0]
    alpha = np.zeros(n)
    G = -np.ones(n)  # gradient Q a - e
    trace = np.empty(4096)
    nt = 0
    tau = 1e-12
    it = 0
    while it < max_iter:
        # -- working set: i maximises -y_t G_t over I_up ...
        gmax = -np.inf
        i = -1
        for t in range(n):
            if y[t] > 0:
                if alpha[t] < Cs[t] and -G[t] >= gmax:
                    gmax = -G[t]
                    i = t
            elif alpha[t] > 0 and G[t] >= gmax:
                gmax = G[t]
                i = t
        # ... j over I_low minimises the second-order decrease -(b^2 / a)
        gmax2 = -np.inf
        j = -1
        obj_min = np.inf
        for t in range(n):
            if y[t] > 0:
                if alpha[t] > 0:
                    diff = gmax + G[t]
                    if G[t] >= gmax2:
                        gmax2 = G[t]
                    if diff > 0:
                        quad = K[i, i] + K[t, t] - 2.0 * K[i, t]
                        ob = -diff * diff / (quad if quad > 0 else tau)
                        if ob <= obj_min:
                            obj_min = ob
                            j = t
            elif alpha[t] < Cs[t]:
                diff = gmax - G[t]
                if -G[t] >= gmax2:
                    gmax2 = -G[t]
                if diff > 0:
                    quad = K[i, i] + K[t, t] - 2.0 * K[i, t]
                    ob = -diff * diff / (quad if quad > 0 else tau)
                    if ob <= obj_min:
                        obj_min = ob
                        j = t
        if gmax + gmax2 < tol or j == -1:
            break
        if it % every == 0 and nt < trace.shape[0]:
            obj = 0.0
            for t in range(n):
                obj += alpha[t] * (G[t] - 1.0)
            trace[nt] = 0.5 * obj
            nt += 1
        it += 1
        # -- analytic update of (a_i, a_j) on the segment, clipped to the box
        Ci, Cj = Cs[i], Cs[j]
        ai_old, aj_old = alpha[i], alpha[j]
        qij = y[i] * y[j] * K[i, j]
        if y[i] != y[j]:
            quad = K[i, i] + K[j, j] + 2.0 * qij
            if quad <= 0:
                quad = tau
            delta = (-G[i] - G[j]) / quad
            diff = ai_old - aj_old
            ai = ai_old + delta
            aj = aj_old + delta
            if diff > 0:
                if aj < 0:
                    aj = 0.0
                    ai = diff
            elif ai < 0:
                ai = 0.0
                aj = -diff
            if diff > Ci - Cj:
                if ai > Ci:
                    ai = Ci
                    aj = Ci - diff
            elif aj > Cj:
                aj = Cj
                ai = Cj + diff
        else:
            quad = K[i, i] + K[j, j] - 2.0 * qij
            if quad <= 0:
                quad = tau
            delta = (G[i] - G[j]) / quad
            total = ai_old + aj_old
            ai = ai_old - delta
            aj = aj_old + delta
            if total > Ci:
                if ai > Ci:
                    ai = Ci
                    aj = total - Ci
            elif aj < 0:
                aj = 0.0
                ai = total
            if total > Cj:
                if aj > Cj:
                    aj = Cj
                    ai = total - Cj
            elif ai < 0:
                ai = 0.0
                aj = total
        alpha[i] = ai
        alpha[j] = aj
        dai = ai - ai_old
        daj = aj - aj_old
        for t in range(n):
            G[t] += y[t] * (y[i] * K[i, t] * dai + y[j] * K[j, t] * daj)
    # -- rho: mean of y G over free vectors, else the middle of the feasible interval
    ub = np.inf
    lb = -np.inf
    nfree = 0
    sfree = 0.0
    for t in range(n):
        yg = y[t] * G[t]
        if alpha[t] >= Cs[t]:
            if y[t] < 0:
                ub = min(ub, yg)
            else:
                lb = max(lb, yg)
        elif alpha[t] <= 0:
            if y[t] > 0:
                ub = min(ub, yg)
            else:
                lb = max(lb, yg)
        else:
            nfree += 1
            sfree += yg
    rho = sfree / nfree if nfree > 0 else (ub + lb) / 2.0
    return alpha, rho, it, trace[:nt].copy()


try:  # the same source, compiled
    import numba

    smo_solve_fast = numba.njit(cache=True, nogil=True)(smo_solve)
except ImportError:  # pragma: no cover - numba is a dependency; the reference still works
    smo_solve_fast = smo_solve


def _gamma_value(gamma, X, sample_weight=None) -> float:
    if gamma == "scale":  # Gaur et al.: 1 / (n_features * Var(X))
        # Var over all entries, each row weighted by its sample weight, so that a weight
        # of 2 means what repeating the row means (scikit-learn ignores the weights here)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        mean = float(w @ X.mean(1)) / w.sum()
        var = float(w @ ((X - mean) ** 2).mean(1)) / w.sum()
        return 1.0 / (X.shape[1] * var) if var > 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return float(gamma)


# ----------------------------------------------------------------------- Platt
def platt_fit(dec, t, max_iter: int = 100):
    """Sigmoid ``P(y=1|f) = 1 / (1 + exp(A f + B))`` fitted by Newton's method with
    backtracking (Lin, Lin & Weng 2007), with Platt's smoothed targets. Returns (A, B)."""
    dec = np.asarray(dec, float)
    t = np.asarray(t, bool)
    n_pos, n_neg = t.sum(), (~t).sum()
    hi, lo = (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0)
    tt = np.where(t, hi, lo)
    A, B = 0.0, math.log((n_neg + 1.0) / (n_pos + 1.0))

    def fval(A, B):
        f = dec * A + B
        return float(np.sum(np.where(f >= 0, tt * f + np.log1p(np.exp(-f)),
                                     (tt - 1) * f + np.log1p(np.exp(f)))))

    fv = fval(A, B)
    for _ in range(max_iter):
        f = dec * A + B
        p = np.where(f >= 0, np.exp(-f) / (1 + np.exp(-f)), 1 / (1 + np.exp(f)))
        q = 1 - p
        d2 = p * q
        h11, h22, h21 = 1e-12 + (dec * dec * d2).sum(), 1e-12 + d2.sum(), (dec * d2).sum()
        d1 = tt - p
        g1, g2 = (dec * d1).sum(), d1.sum()
        if abs(g1) < 1e-5 and abs(g2) < 1e-5:
            break
        det = h11 * h22 - h21 * h21
        dA, dB = -(h22 * g1 - h21 * g2) / det, -(-h21 * g1 + h11 * g2) / det
        gd = g1 * dA + g2 * dB
        step = 1.0
        while step >= 1e-10:
            nf = fval(A + step * dA, B + step * dB)
            if nf < fv + 1e-4 * step * gd:
                A, B, fv = A + step * dA, B + step * dB, nf
                break
            step /= 2
        else:
            break
    return A, B


def pairwise_coupling(r: np.ndarray) -> np.ndarray:
    """Class probabilities (K,) from pairwise ``r[i, j] = P(i | i or j)`` (Wu, Lin &
    Weng 2004, method 2): min_p sum_i sum_{j != i} (r_ji p_i - r_ij p_j)^2, sum p = 1."""
    k = r.shape[0]
    Q = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            if i != j:
                Q[i, i] += r[j, i] ** 2
                Q[i, j] = -r[j, i] * r[i, j]
    M = np.zeros((k + 1, k + 1))
    M[:k, :k], M[:k, k], M[k, :k] = Q, 1.0, 1.0
    rhs = np.zeros(k + 1)
    rhs[k] = 1.0
    p = np.linalg.lstsq(M, rhs, rcond=None)[0][:k]
    p = np.clip(p, 0, None)
    return p / p.sum()


def ovr_decision(pairwise: np.ndarray, k: int) -> np.ndarray:
    """scikit-learn's one-vs-one -> 'ovr' decision: votes (pair decision > 0 votes
    for its second class) plus sum of confidences squashed into (-1/3, 1/3)."""
    n = pairwise.shape[0]
    votes = np.zeros((n, k))
    conf = np.zeros((n, k))
    p = 0
    for a in range(k):
        for b in range(a + 1, k):
            d = pairwise[:, p]
            conf[:, a] -= d
            conf[:, b] += d
            votes[d <= 0, a] += 1
            votes[d > 0, b] += 1
            p += 1
    return votes + conf / (3 * (np.abs(conf) + 1))


# ------------------------------------------------------------------------- SVC
def _has_probability(svc) -> bool:
    if not svc.probability:
        raise AttributeError("predict_proba is available only with SVC(probability=True), which also fits "
                             "Platt scaling")
    return True


class SVC(ClassifierBase):
    """Kernel SVM (Gaur et al.: RBF kernel, C = 1, gamma = 'scale').

    Parameters
    ----------
    C : box constraint; kernel : 'rbf', 'linear' or 'poly';
    gamma : 'scale' (``1 / (n_features * Var(X))``), 'auto' (``1 / n_features``) or a float;
    degree, coef0 : polynomial kernel ``(gamma x.x' + coef0)^degree``;
    tol : KKT tolerance (libsvm's eps); max_iter : SMO iterations per pair (-1: libsvm's
    default ``max(10^7, 100 n)``);
    class_weight : None, 'balanced' or {label: weight} (scales C per class);
    probability : also fit Platt scaling (5 extra fits) for ``predict_proba``;
    random_state : seed of Platt's internal folds.

    Attributes
    ----------
    support_, support_vectors_, n_support_; dual_coef_ and intercept_ (two classes:
    (1, n_SV) and (1,), decision = dual_coef_ K(SV, x) + intercept_); n_iter_ per pair;
    loss_curve_ : dual objective along the SMO iterations (first pair).
    """

    def __init__(self, C: float = 1.0, kernel: str = "rbf", gamma="scale", degree: int = 3,
                 coef0: float = 0.0, tol: float = 1e-3, max_iter: int = -1, class_weight=None,
                 probability: bool = False, random_state=0):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.probability = probability
        self.random_state = random_state

    # -- one binary problem on rows ``idx`` (t: True for the positive class)
    def _solve_binary(self, Kfull, idx, t, Cs):
        K = np.ascontiguousarray(Kfull[np.ix_(idx, idx)])
        y = np.where(t, 1.0, -1.0)
        n = len(idx)
        cap = self.max_iter if self.max_iter >= 0 else max(10_000_000, 100 * n)
        alpha, rho, it, trace = smo_solve_fast(K, y, np.ascontiguousarray(Cs), float(self.tol),
                                               int(cap), max(1, n // 4))
        if it >= cap:
            warnings.warn(f"SVC: SMO hit max_iter={cap} before reaching tol={self.tol}",
                          RuntimeWarning, stacklevel=3)
        return alpha * y, rho, it, trace

    def _fit_core(self, X, y_idx, s, sample_weight=None):
        """Solve every pairwise problem; returns the fitted pieces as a dict."""
        k = int(y_idx.max()) + 1
        gamma = _gamma_value(self.gamma, X, sample_weight)
        Kfull = kernel_matrix(X, X, self.kernel, gamma, self.degree, self.coef0)
        Cs_all = self.C * s
        coefs, rhos, iters, curve = [], [], [], None
        used = np.zeros(len(X), bool)
        for a in range(k):
            for b in range(a + 1, k):
                idx = np.flatnonzero((y_idx == a) | (y_idx == b))
                coef, rho, it, trace = self._solve_binary(Kfull, idx, y_idx[idx] == b, Cs_all[idx])
                nz = coef != 0
                used[idx[nz]] = True
                coefs.append((idx[nz], coef[nz]))
                rhos.append(rho)
                iters.append(it)
                if curve is None:
                    curve = trace
        return dict(gamma=gamma, coefs=coefs, rhos=np.array(rhos), iters=iters, curve=curve,
                    used=used, k=k)

    def fit(self, X, y, sample_weight=None):
        """Fit on features ``X`` (N, F) and labels ``y`` (N,)."""
        Xh, y_idx, s = self._validate_fit(X, y, sample_weight)
        core = self._fit_core(Xh, y_idx, s, sample_weight)
        self._install(Xh, core)
        if self.probability:
            self._fit_platt(Xh, y_idx, s)
        return self

    def _install(self, Xh, core):
        self._gamma = core["gamma"]
        self.support_ = np.flatnonzero(core["used"])
        self.support_vectors_ = Xh[self.support_]
        pos = -np.ones(len(Xh), int)
        pos[self.support_] = np.arange(len(self.support_))
        self._pairs = [(pos[i], c) for i, c in core["coefs"]]
        self.intercept_ = -core["rhos"]
        self.n_iter_ = np.array(core["iters"])
        self.loss_curve_ = list(core["curve"])
        self._k = core["k"]
        if self._k == 2:
            dc = np.zeros((1, len(self.support_)))
            dc[0, self._pairs[0][0]] = self._pairs[0][1]
            self.dual_coef_ = dc

    def _pairwise(self, Xh):
        Ks = kernel_matrix(Xh, self.support_vectors_, self.kernel, self._gamma,
                           self.degree, self.coef0)
        return np.stack([Ks[:, p] @ c + b for (p, c), b in zip(self._pairs, self.intercept_)], 1)

    def decision_function(self, X):
        """(N,) for two classes (positive -> ``classes_[1]``), else (N, K) 'ovr' shape."""
        d = self._pairwise(self._validate_predict(X))
        return d[:, 0] if self._k == 2 else ovr_decision(d, self._k)

    def predict(self, X):
        d = self._pairwise(self._validate_predict(X))
        if self._k == 2:
            return self.classes_[(d[:, 0] > 0).astype(int)]
        votes = ovr_decision(d, self._k)
        return self.classes_[votes.argmax(1)]

    # -- probabilities
    def _fit_platt(self, Xh, y_idx, s):
        k = self._k
        n_pairs = k * (k - 1) // 2
        dec = np.zeros((len(Xh), n_pairs))
        folds = StratifiedKFold(5, shuffle=True, random_state=self.random_state)
        for tr, te in folds.split(Xh, y_idx):
            sub = SVC(**{**self.get_params(), "probability": False})
            sub.classes_ = np.arange(k)
            sub._install(Xh[tr], sub._fit_core(Xh[tr], y_idx[tr], s[tr]))
            dec[te] = sub._pairwise(Xh[te])
        self._platt = []
        p = 0
        for a in range(k):
            for b in range(a + 1, k):
                m = (y_idx == a) | (y_idx == b)
                self._platt.append(platt_fit(dec[m, p], y_idx[m] == b))
                p += 1

    @available_if(_has_probability)
    def predict_proba(self, X):
        """(N, K) Platt probabilities; exists only with ``probability=True``."""
        d = self._pairwise(self._validate_predict(X))
        pb = np.stack([1 / (1 + np.exp(np.clip(A * d[:, p] + B, -500, 500)))
                       for p, (A, B) in enumerate(self._platt)], 1)  # P(second class)
        pb = np.clip(pb, 1e-7, 1 - 1e-7)
        k = self._k
        if k == 2:
            return np.stack([1 - pb[:, 0], pb[:, 0]], 1)
        out = np.zeros((len(d), k))
        for n in range(len(d)):
            r = np.zeros((k, k))
            p = 0
            for a in range(k):
                for b in range(a + 1, k):
                    r[b, a], r[a, b] = pb[n, p], 1 - pb[n, p]
                    p += 1
            out[n] = pairwise_coupling(r)
        return out


# ------------------------------------------------------------------- LinearSVC
class LinearSVC(ClassifierBase):
    """Linear SVM on the primal (liblinear's L2-regularised squared hinge).

    Parameters
    ----------
    C, tol, max_iter, class_weight : as scikit-learn's ``LinearSVC``;
    fit_intercept, intercept_scaling : the intercept is a weight on a constant feature
    of value ``intercept_scaling`` and is penalised like the others (liblinear).

    Attributes: ``coef_`` (1, F) or (K, F) one-vs-rest, ``intercept_``, ``n_iter_``,
    ``loss_curve_``.
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-4, max_iter: int = 1000,
                 class_weight=None, fit_intercept: bool = True, intercept_scaling: float = 1.0):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling

    def fit(self, X, y, sample_weight=None):
        Xh, y_idx, s = self._validate_fit(X, y, sample_weight)
        if self.fit_intercept:
            Xh_aug = np.hstack([Xh, np.full((len(Xh), 1), float(self.intercept_scaling))])
        else:
            Xh_aug = Xh
        Xd = to_device(Xh_aug)
        k = len(self.classes_)
        targets = [y_idx == 1] if k == 2 else [y_idx == c for c in range(k)]
        a = backend.xp()
        scale = 1.0 / (self.C * s.sum())
        sd = to_device(s * self.C * scale)
        W, iters, curve = [], [], None
        for t in targets:
            yy = to_device(np.where(t, 1.0, -1.0))

            def fun_grad(w):
                m = a.maximum(1.0 - yy * (Xd @ w), 0.0)
                val = 0.5 * scale * float((w * w).sum()) + float((sd * m * m).sum())
                g = scale * w - 2.0 * (Xd.T @ (sd * m * yy))
                return val, g

            res = lbfgs.minimize(fun_grad, a.zeros(Xd.shape[1]), max_iter=self.max_iter,
                                 gtol=self.tol * scale)
            if not res.converged:
                warnings.warn(f"LinearSVC: L-BFGS did not reach tol in {res.n_iter} iterations",
                              RuntimeWarning, stacklevel=2)
            W.append(backend.to_numpy(res.x))
            iters.append(res.n_iter)
            curve = res.losses if curve is None else curve
        W = np.stack(W)
        if self.fit_intercept:
            self.coef_, self.intercept_ = W[:, :-1], W[:, -1] * self.intercept_scaling
        else:
            self.coef_, self.intercept_ = W, np.zeros(len(W))
        self.n_iter_ = max(iters)
        self.loss_curve_ = curve
        return self

    def decision_function(self, X):
        Z = self._validate_predict(X) @ self.coef_.T + self.intercept_
        return Z[:, 0] if len(self.classes_) == 2 else Z
