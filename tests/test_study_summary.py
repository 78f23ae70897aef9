"""The study's tables and comparisons (refgan/study/summary.py): the decision rule on
fake records, degenerate classifiers, and Saquib and Rodriguez's accuracy-against-
threshold sweep for any number of classes (`_row`, `positive_probability`)."""
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import softmax

from refgan.study import quick_config, run_study, summarise
from refgan.study.report import verdict
from refgan.study.results import Record
from refgan.study.summary import _row, positive_probability

from study_helpers import SMALL, fake_jobs, results_of, stub_gan


def records(n_classes, n_folds=2, n=30, seed=0):
    """Fitted-classifier records of ``n_folds`` folds: true labels, random scores."""
    rng = np.random.default_rng(seed)
    out = []
    for fold in range(n_folds):
        y = rng.integers(0, n_classes, n)
        d = rng.normal(0, 2, (n, n_classes))
        d[np.arange(n), y] += 2                    # better than chance
        scores = d if n_classes > 2 else None
        score = d[:, -1] if n_classes > 2 else d[:, 1] - d[:, 0]
        out.append(Record("lr", "real", 0, fold, -1, 60, y_true=y.tolist(),
                          y_pred=d.argmax(1).tolist(), score=score.tolist(),
                          scores=None if scores is None else scores.tolist()))
    return out


def sweep_of(recs, n_classes):
    names = [f"c{i}" for i in range(n_classes)]
    row = _row(recs, names, n_classes - 1, ["accuracy"], 60, 30, n_boot=10, seed=0, top_k=())
    return row.threshold_sweep


def test_multiclass_sweep_is_the_one_vs_rest_accuracy_of_the_positive_class():
    K, pos = 4, 3
    recs = records(K)
    ts = sweep_of(recs, K)
    y = np.concatenate([r.y_true for r in recs])
    p_pos = softmax(np.concatenate([r.scores for r in recs]), axis=1)[:, pos]
    for t, acc in zip(ts.threshold, ts.accuracy):
        called = [p >= t for p in p_pos]           # one image at a time, not the vectorised rule
        assert acc == pytest.approx(np.mean([c == (yi == pos) for c, yi in zip(called, y)]))
    assert ts.accuracy[0] == pytest.approx(np.mean(y == pos))      # all called positive
    assert ts.accuracy[-1] == pytest.approx(np.mean(y != pos))     # none called positive


def test_softmax_of_two_scores_is_the_logistic_of_their_difference():
    """The multi-class rule reduces to the binary one: P(pos) the same either way."""
    recs = records(2)
    binary = positive_probability(recs, 1)
    s = np.concatenate([r.score for r in recs])
    d = np.stack([np.zeros(len(s)), s], 1)
    as_multiclass = positive_probability(
        [replace(r, scores=part.tolist()) for r, part in zip(recs, np.split(d, 2))], 1)
    # the logistic written out, not the function the code under test calls
    assert np.allclose(binary, 1 / (1 + np.exp(-s)), rtol=1e-12, atol=0)
    assert np.allclose(binary, as_multiclass, rtol=1e-12, atol=0)


def test_positive_probability_known_values():
    """Scores 0 and log 3 are P = 1/2 and 3/4 (two classes); scores (0, log 2, 0) give
    the middle class 2/4 and the last 1/4 (three classes)."""
    two = Record("lr", "real", 0, 0, -1, 1, y_true=[0, 1], y_pred=[0, 1], score=[0.0, np.log(3)])
    assert positive_probability([two], 1) == pytest.approx([0.5, 0.75], abs=1e-12)
    three = replace(two, y_true=[0], y_pred=[1], score=[0.0], scores=[[0.0, np.log(2), 0.0]])
    assert positive_probability([three], 1) == pytest.approx([0.5], abs=1e-12)
    assert positive_probability([three], 2) == pytest.approx([0.25], abs=1e-12)


def test_digits_study_report_shows_the_threshold_sweep(tmp_path):
    from refgan.study.datasets import sklearn_digits

    cfg = quick_config(**dict(SMALL, data="digits", size=16, classifiers=("lr",), ratios=(),
                              balance=False, repeats=1, gan_seeds=1, n_generated=4,
                              conditions=("real", "real+gen")))
    res = run_study(cfg, tmp_path, gan_step=stub_gan, dataset=sklearn_digits(size=16, n_per_class=10),
                    log=lambda m: None)
    ts = res.table["lr"]["real"].threshold_sweep
    assert len(ts.threshold) == len(ts.accuracy) == 41
    html = (tmp_path / "report.html").read_text()
    assert "Accuracy against the decision threshold" in html and "one vs rest" in html


def test_summarise_flags_a_real_difference():
    """Two conditions on the same 200 images, one far better in every fold: significant,
    and its simultaneous interval excludes 0."""
    s = summarise(fake_jobs({"real": 0.6, "real+classic": 0.62, "real+gen": 0.95}),
                  ["healthy", "blast"], n_boot=100)
    by = {(c.condition, c.baseline): c for c in s.comparisons["lr"]}
    c = by[("real+gen", "real")]
    assert c.significant and c.diff > 0.2 and c.low > 0
    assert not by[("real+classic", "real")].significant


def test_one_lucky_fold_is_not_significant_though_mcnemar_says_so():
    """One lucky fold: per-fold differences [0, +42, 0] pooled into McNemar look
    significant; the fold-level corrected t does not (and decides)."""
    jobs = fake_jobs({"real": 0.5, "real+gen": 0.5}, n_folds=3, n_test=60,
                     per_fold={"real": [1.0, 0.5, 1.0], "real+gen": [1.0, 0.95, 1.0]})
    s = summarise(jobs, ["healthy", "blast"], n_boot=50)
    c = next(c for c in s.comparisons["lr"] if c.condition == "real+gen")
    assert c.p_mcnemar < 0.01 and c.diff > 0.1
    assert not c.significant and c.low < 0 < c.high and c.p_value > 0.05


def test_degenerate_classifier_flagged_and_its_comparisons_not_interpretable():
    jobs = fake_jobs({"real": 0.8, "real+gen": 0.8})
    for j in jobs:  # real+gen: always 'healthy'
        for r in j.records:
            if r.condition == "real+gen":
                r.y_pred = [0] * len(r.y_true)
    s = summarise(jobs, ["healthy", "blast"], n_boot=50)
    assert "predicts a single class in most folds" in s.table["lr"]["real+gen"].degenerate
    assert not s.table["lr"]["real"].degenerate
    c = next(c for c in s.comparisons["lr"] if c.condition == "real+gen")
    assert not c.interpretable and not c.significant
    res = results_of(s, jobs, config=dict(quick=False, folds=5, repeats=1, gan_seeds=1))
    assert "Not interpretable" in " ".join(verdict(res))
