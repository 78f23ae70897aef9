"""refgan.metrics against scikit-learn and hand-computed cases."""
import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from refgan import metrics as M


def test_binary_metrics_hand_case():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    m = M.binary_metrics(y, p, positive=1)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (3, 1, 3, 1)
    assert m["accuracy"] == 0.75 and m["precision"] == 0.75 and m["recall"] == 0.75
    assert m["specificity"] == 0.75 and m["f1"] == pytest.approx(0.75)
    assert M.specificity(y, p) == 0.75


def test_metrics_match_sklearn_random():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = y + rng.standard_normal(200)
    p = (s > 0.5).astype(int)
    m = M.binary_metrics(y, p)
    assert m["precision"] == pytest.approx(skm.precision_score(y, p))
    assert m["recall"] == pytest.approx(skm.recall_score(y, p))
    assert m["f1"] == pytest.approx(skm.f1_score(y, p))
    tn, fp, fn, tp = skm.confusion_matrix(y, p).ravel()
    assert m["specificity"] == pytest.approx(tn / (tn + fp))
    assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    fpr, tpr, _ = M.roc_curve(y, s)
    assert skm.auc(fpr, tpr) == pytest.approx(M.roc_auc(y, s))
    np.testing.assert_array_equal(M.confusion_matrix(y, p), skm.confusion_matrix(y, p))
    assert M.roc_auc(np.ones(5), np.arange(5)) != M.roc_auc(np.ones(5), np.arange(5))  # NaN


def test_zero_division_gives_zero_not_nan():
    m = M.binary_metrics([0, 0, 1], [0, 0, 0])
    assert m["precision"] == 0.0 and m["f1"] == 0.0 and m["recall"] == 0.0


def test_threshold_sweep_and_top_k():
    th, acc = M.threshold_sweep([0, 1, 1], [0.2, 0.6, 0.9], thresholds=[0.0, 0.5, 0.7, 1.0])
    np.testing.assert_allclose(acc, [2 / 3, 1.0, 2 / 3, 1 / 3])
    scores = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    y = np.array([1, 0, 2])
    assert M.top_k_accuracy(y, scores, k=2) == pytest.approx(skm.top_k_accuracy_score(y, scores, k=2))
    assert M.top_k_accuracy(y, scores, k=1) == pytest.approx(0.0)


def test_wilson_interval_known_values():
    # Newcombe (1998), Table I: 81/263 -> 0.2553 .. 0.3662
    lo, hi = M.wilson_interval(81, 263)
    assert lo == pytest.approx(0.2553, abs=5e-4) and hi == pytest.approx(0.3662, abs=5e-4)
    lo, hi = M.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=5e-4)
    assert M.wilson_interval(52, 52)[1] == 1.0


def test_bootstrap_interval_covers_and_orders():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300)
    est, lo, hi = M.bootstrap_interval(np.mean, x, n_boot=500)
    assert lo < est < hi and hi - lo == pytest.approx(2 * 1.96 / np.sqrt(300), rel=0.25)


def test_t_intervals():
    v = [0.7, 0.8, 0.75, 0.85, 0.8]
    m, lo, hi = M.t_interval(v)
    half = stats.t.ppf(0.975, 4) * np.std(v, ddof=1) / np.sqrt(5)
    assert (lo, hi) == pytest.approx((m - half, m + half))
    m2, lo2, hi2 = M.corrected_t_interval(v, n_train=208, n_test=52)
    assert m2 == m and (hi2 - lo2) / (hi - lo) == pytest.approx(np.sqrt(5 * (1 / 5 + 52 / 208)))


def test_mcnemar_exact_hand_case():
    a = np.array([1] * 10 + [1] * 6 + [0] * 1 + [0] * 3, bool)
    b = np.array([1] * 10 + [0] * 6 + [1] * 1 + [0] * 3, bool)
    r = M.mcnemar(a, b)
    assert (r["b"], r["c"]) == (6, 1)
    assert r["p_value"] == pytest.approx(2 * (1 + 7) / 2 ** 7)  # 2 * P(X <= 1), X ~ Bin(7, .5)
    assert M.mcnemar(a, a)["p_value"] == 1.0


def test_paired_bootstrap_and_holm():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    good = np.where(rng.random(400) < 0.9, y, 1 - y)
    bad = np.where(rng.random(400) < 0.6, y, 1 - y)
    r = M.paired_bootstrap(y, good, bad, n_boot=500)
    assert r["low"] < r["diff"] < r["high"] and r["low"] > 0 and r["p_value"] < 0.01
    same = M.paired_bootstrap(y, good, good, n_boot=100)
    assert same["diff"] == 0 and same["p_value"] == 1.0
    np.testing.assert_allclose(M.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    t = M.corrected_paired_ttest([0.02, 0.01, 0.03, 0.0, 0.02], 208, 52)
    assert 0 < t["p_value"] < 1


def test_corrected_repeated_kfold_t_by_hand():
    """Bouckaert & Frank: t = mean / sqrt(s^2 (1/(k r) + n_test/n_train)), df = k r - 1;
    the interval comes from the same t, so it excludes 0 exactly when p < 0.05."""
    d = np.array([0.02, 0.04, -0.01, 0.03, 0.05, 0.01, 0.0, 0.02, 0.03, 0.04])  # k=5, r=2
    r = M.corrected_resampled_t(d, n_train=208, n_test=52)
    se = np.sqrt(d.var(ddof=1) * (1 / 10 + 52 / 208))
    assert r["t"] == pytest.approx(d.mean() / se) and r["df"] == 9
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(d.mean() / se, 9))
    half = stats.t.ppf(0.975, 9) * se
    assert (r["low"], r["high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    for shift in np.linspace(-0.05, 0.05, 21):
        q = M.corrected_resampled_t(d + shift, 208, 52)
        assert (q["p_value"] < 0.05) == (q["low"] > 0 or q["high"] < 0)
    # one lucky fold: per-fold differences [0, +42.3, 0] are not evidence
    assert M.corrected_resampled_t([0, 0.423, 0], 53, 27)["p_value"] > 0.3


def test_bonferroni_matches_simultaneous_intervals():
    """Bonferroni's m p (capped at 1), and the study's rule built on it: the corrected t's
    1 - 0.05/m interval (half-width t_{df, 1 - 0.025/m} se, written out here) excludes 0
    exactly when the adjusted p is below 0.05."""
    np.testing.assert_allclose(M.bonferroni([0.01, 0.04, 0.5]), [0.03, 0.12, 1.0])
    rng = np.random.default_rng(3)
    m, n, n_train, n_test = 4, 10, 180, 20
    for trial in range(200):
        d = rng.normal(rng.uniform(-0.05, 0.05), 0.04, n)
        q = M.corrected_resampled_t(d, n_train, n_test, 1 - 0.05 / m)
        se = np.sqrt(d.var(ddof=1) * (1 / n + n_test / n_train))
        half = stats.t.ppf(1 - 0.025 / m, n - 1) * se
        assert (q["low"], q["high"]) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-9)
        adjusted = M.bonferroni([q["p_value"]] * m)[0]
        assert (adjusted < 0.05) == (q["low"] > 0 or q["high"] < 0), trial


def test_multiclass_metrics_macro_and_per_class():
    y = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 2, 0, 0])
    m = M.multiclass_metrics(y, p, n_classes=4)  # class 3 absent: counts as 0 in the macro mean
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["per_class"]["recall"] == pytest.approx([0.5, 1.0, 0.5, 0.0])
    assert m["macro_recall"] == pytest.approx(0.5) == m["balanced_accuracy"]
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p, labels=[0, 1, 2, 3], average="macro",
                                                       zero_division=0))
    assert m["per_class"]["support"] == [2, 2, 4, 0]


def test_top_k_with_unseen_classes():
    scores = np.eye(6)[[0, 1, 2, 3]] + 0.01 * np.arange(6)
    assert M.top_k_accuracy([0, 1, 2, 4], scores, k=2) == pytest.approx(0.75)


def test_f1_and_auc_are_the_ones_the_study_used_before():
    """One F1 and one AUC (refgan.metrics): the values scikit-learn gave binary_metrics
    and roc_auc before (binary and one-vs-rest labels, ties in the scores, a class never
    predicted), to rounding, so the study's numbers are unchanged."""
    rng = np.random.default_rng(1)
    for trial in range(40):
        k = 2 if trial % 2 else 4
        y = rng.integers(0, k, 60)
        p = rng.integers(0, k, 60) if trial % 5 else np.zeros(60, int)
        s = np.round(rng.standard_normal(60) + (y == k - 1), 1)  # rounding makes ties
        for pos in (0, k - 1):
            old_f1 = skm.f1_score(y == pos, p == pos, zero_division=0)
            assert M.f1_score(y, p, pos) == pytest.approx(old_f1, rel=1e-12, abs=1e-15)
            assert M.binary_metrics(y, p, pos)["f1"] == pytest.approx(old_f1, rel=1e-12, abs=1e-15)
            old_auc = skm.roc_auc_score(y == pos, s)
            assert M.roc_auc(y, s, pos) == pytest.approx(old_auc, rel=1e-12)
    assert M.f1_score([0, 0], [0, 0], 1) == 0.0 and np.isnan(M.roc_auc([1, 1], [0.2, 0.3]))
    # hand cases: 2 TP, 1 FP, 1 FN -> F1 = 4 / 6; scores (0.1, 0.4 | 0.35, 0.8): 3 of 4 pairs
    assert M.f1_score([1, 1, 1, 0], [1, 1, 0, 1]) == pytest.approx(4 / 6)
    assert M.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert M.roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts 1/2
