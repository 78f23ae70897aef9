"""Intervals and paired tests: how sure can a 52-image test set make us?

* :func:`wilson_interval` - score interval for a proportion (accuracy, sensitivity,
  specificity, precision): good coverage even at 52 images and near 0 or 1, where the
  textbook ``p +- 1.96 sqrt(p(1-p)/n)`` fails.
* :func:`bootstrap_interval` - percentile bootstrap over test images for metrics
  without a closed form (AUC, F1), optionally stratified (by class or fold).
* :func:`t_interval`, :func:`corrected_resampled_t` - over the k * r folds of repeated
  k-fold cross-validation; the corrected one (Nadeau & Bengio 2003, Bouckaert & Frank
  2004) inflates the variance by ``1/(k r) + n_test/n_train`` because folds share
  training images, which the plain t-interval ignores. The study decides with it.
* :func:`mcnemar` - exact McNemar test for two classifiers on the same images: only
  the discordant images (one right, the other wrong) carry information. It treats the
  two fitted models as fixed, so the study reports it as a description only.
* :func:`paired_bootstrap` - interval and p-value of a metric difference between two
  conditions, resampling the shared test images.
* :func:`corrected_paired_ttest`, :func:`holm`, :func:`bonferroni` - across repeats;
  multiple comparisons (Bonferroni's adjustment has matching simultaneous intervals).
"""
from __future__ import annotations

import numpy as np
from scipy import stats


def wilson_interval(k, n, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials.

    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``; ``(nan, nan)`` if n = 0.
    """
    if n == 0:
        return float("nan"), float("nan")
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return float(min(lo, p)), float(max(hi, p))  # exact ends at k = 0 and k = n


def bootstrap_interval(fn, *arrays, n_boot: int = 2000, confidence: float = 0.95, seed=0,
                       strata=None) -> tuple[float, float, float]:
    """Percentile bootstrap of ``fn(*arrays)`` over rows (test images).

    ``strata`` (N,) resamples within each stratum (keeps class balance / fold sizes).
    Resamples where ``fn`` is NaN (e.g. AUC with one class) are dropped.
    Returns ``(estimate, low, high)``, widened if needed so ``low <= estimate <= high``.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    est = float(fn(*arrays))
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s)
                                                    for s in np.unique(strata)]
    vals = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        vals[b] = fn(*[a[idx] for a in arrays])
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return est, float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo, hi = np.quantile(vals, [a, 1 - a])
    # a percentile interval can miss the estimate by rounding (or skew): widen to hold it
    return est, float(min(lo, est)), float(max(hi, est))


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` with the Student-t interval ``mean +- t_{k-1} s / sqrt(k)``."""
    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return m, m - float(half), m + float(half)


def corrected_resampled_t(values, n_train: float, n_test: float, confidence: float = 0.95) -> dict:
    """Corrected repeated k-fold t (Nadeau & Bengio 2003; Bouckaert & Frank 2004).

    ``values`` are the n = k * r per-fold results (or paired differences) of r repeats of
    k-fold cross-validation. The folds share training images, so the plain variance
    ``s^2 / n`` is too small; the corrected one is ``s^2 (1/n + n_test/n_train)``:

        t = mean / sqrt(s^2 (1/n + n_test/n_train)),   df = n - 1.

    Returns ``dict(mean, se, t, df, p_value, low, high)``: the two-sided p-value of
    ``mean = 0`` and the ``confidence`` interval of the mean from the same t, so the
    interval excludes 0 exactly when ``p_value < 1 - confidence``. With one value, or no
    spread, the interval is ``(nan, nan)`` / a point and p is 1 (no spread, mean 0) or 0.
    """
    v = np.asarray(values, float)
    n = len(v)
    m = float(v.mean()) if n else float("nan")
    if n < 2:
        return dict(mean=m, se=float("nan"), t=float("nan"), df=0, p_value=1.0,
                    low=float("nan"), high=float("nan"))
    se = float(np.sqrt(v.var(ddof=1) * (1 / n + n_test / n_train)))
    if se == 0:
        return dict(mean=m, se=0.0, t=float("nan"), df=n - 1, p_value=1.0 if m == 0 else 0.0,
                    low=m, high=m)
    t = m / se
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * se)
    return dict(mean=m, se=se, t=float(t), df=n - 1, p_value=float(2 * stats.t.sf(abs(t), n - 1)),
                low=m - half, high=m + half)


def corrected_t_interval(values, n_train: int, n_test: int, confidence: float = 0.95):
    """``(mean, low, high)`` of :func:`corrected_resampled_t`."""
    r = corrected_resampled_t(values, n_train, n_test, confidence)
    return r["mean"], r["low"], r["high"]


def corrected_paired_ttest(diffs, n_train: int, n_test: int) -> dict:
    """Two-sided corrected resampled t-test that the mean paired difference is 0
    (:func:`corrected_resampled_t` on the differences)."""
    r = corrected_resampled_t(diffs, n_train, n_test)
    return dict(mean=r["mean"], t=r["t"], p_value=r["p_value"], k=len(np.atleast_1d(diffs)))


def mcnemar(correct_a, correct_b) -> dict:
    """Exact McNemar test: are A and B equally accurate on these (shared) images?

    ``b`` = images A got right and B wrong, ``c`` = the reverse; under H0 each
    discordant image is a fair coin, so ``p = P(Binom(b + c, 1/2) as extreme)``
    (two-sided, capped at 1). Returns ``dict(b, c, n, p_value, diff)``, ``diff`` =
    accuracy(A) - accuracy(B).
    """
    a, b_ = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    p = 1.0 if b + c == 0 else float(min(1.0, 2 * stats.binom.cdf(min(b, c), b + c, 0.5)))
    return dict(b=b, c=c, n=len(a), p_value=p, diff=(b - c) / len(a) if len(a) else 0.0)


def paired_bootstrap(y_true, pred_a, pred_b, metric=None, n_boot: int = 2000, seed=0,
                     confidence: float = 0.95, strata=None) -> dict:
    """Difference ``metric(A) - metric(B)`` on the same images, with a percentile
    bootstrap interval and the two-sided p-value ``2 min(P(d* <= 0), P(d* >= 0))``.

    ``metric(y_true, pred) -> float`` defaults to accuracy; ``pred_*`` may be labels or
    scores (for AUC).
    """
    if metric is None:
        metric = lambda y, p: float((y == p).mean())  # noqa: E731
    y, pa, pb = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    est = metric(y, pa) - metric(y, pb)
    rng = np.random.default_rng(seed)
    n = len(y)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s)
                                                    for s in np.unique(strata)]
    d = np.empty(n_boot)
    for i in range(n_boot):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        d[i] = metric(y[idx], pa[idx]) - metric(y[idx], pb[idx])
    d = d[np.isfinite(d)]
    a = (1 - confidence) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    p = float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean())))
    return dict(diff=float(est), low=float(lo), high=float(hi), p_value=p)


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control), same order."""
    p = np.asarray(p_values, float)
    m = len(p)
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def bonferroni(p_values) -> np.ndarray:
    """Bonferroni-adjusted p-values ``min(1, m p)``. Unlike Holm's, they match the
    simultaneous intervals at level ``1 - alpha/m``: an adjusted p below alpha exactly
    when that interval excludes 0."""
    p = np.asarray(p_values, float)
    return np.minimum(1.0, len(p) * p)
