"""refgan.classifiers against scikit-learn on the embedded dataset (Gaur et al.'s features)."""
import numpy as np
import pytest
import sklearn.linear_model as skl
import sklearn.svm as sks
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline

import refgan
from refgan.classifiers import (CNNClassifier, ImageFeatures, LinearSVC, LogisticRegression, SVC,
                                compute_class_weight, make_classifier)
from refgan.classifiers.svm import smo_solve, smo_solve_fast


@pytest.fixture(scope="module")
def cells():
    """Gaur et al.'s setting: 130 + 130 cells, 25x25x3 features, 80/20 split."""
    from refgan.data import make_blood_cells
    from refgan.classifiers.features import downsize_flatten

    ds = make_blood_cells(130, size=32, seed=0)
    X = downsize_flatten(ds.images, 25).astype(np.float64)
    p = np.random.default_rng(0).permutation(len(X))
    return X[p[:208]], ds.labels[p[:208]], X[p[208:]], ds.labels[p[208:]], ds


def _lr_objective(m, X, y, C, sw):
    z = X @ m.coef_[0] + m.intercept_[0]
    return C * np.sum(sw * (np.logaddexp(0, z) - y * z)) + 0.5 * np.sum(m.coef_ ** 2)


@pytest.mark.parametrize("cw", [None, {0: 1.0, 1: 3.0}])
def test_logistic_matches_sklearn(cells, cw):
    Xtr, ytr, Xte, yte, _ = cells
    ours = LogisticRegression(C=1.0, class_weight=cw, tol=1e-6).fit(Xtr, ytr)
    ref = skl.LogisticRegression(C=1.0, max_iter=5000, class_weight=cw, tol=1e-8).fit(Xtr, ytr)
    assert abs(ours.score(Xte, yte) - ref.score(Xte, yte)) <= 0.01 + 1e-9
    scale = np.abs(ref.coef_).max()
    assert np.abs(ours.coef_ - ref.coef_).max() < 0.01 * scale
    assert abs(ours.intercept_[0] - ref.intercept_[0]) < 0.05
    sw = compute_class_weight(cw, np.array([0, 1]), ytr)[ytr]
    f_ours, f_ref = _lr_objective(ours, Xtr, ytr, 1.0, sw), _lr_objective(ref, Xtr, ytr, 1.0, sw)
    assert f_ours <= f_ref * (1 + 1e-6)
    np.testing.assert_allclose(ours.predict_proba(Xte), ref.predict_proba(Xte), atol=0.02)


def test_logistic_multinomial_matches_sklearn():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    ours = LogisticRegression(C=0.5, tol=1e-8).fit(X, y)
    ref = skl.LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape == (3, 4)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-3)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("cw", [None, {0: 1.0, 1: 3.0}])
def test_svc_rbf_matches_sklearn(cells, cw):
    Xtr, ytr, Xte, yte, _ = cells
    ours = SVC(C=1.0, gamma="scale", class_weight=cw).fit(Xtr, ytr)
    ref = sks.SVC(C=1.0, gamma="scale", class_weight=cw).fit(Xtr, ytr)
    assert abs(ours.score(Xte, yte) - ref.score(Xte, yte)) <= 0.01 + 1e-9
    np.testing.assert_array_equal(np.sort(ours.support_), np.sort(ref.support_))
    np.testing.assert_allclose(ours.decision_function(Xte), ref.decision_function(Xte), atol=5e-3)


def test_svc_linear_and_multiclass_match_sklearn():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    for kernel in ("linear", "rbf"):
        ours = SVC(kernel=kernel, C=1.0).fit(X, y)
        ref = sks.SVC(kernel=kernel, C=1.0).fit(X, y)
        assert (ours.predict(X) == ref.predict(X)).mean() >= 0.99
        np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), atol=0.02)


def test_svc_probability_binary_and_multiclass():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    P = SVC(probability=True).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-9)
    assert (P.argmax(1) == y).mean() > 0.9
    m = y < 2
    P2 = SVC(probability=True).fit(X[m], y[m]).predict_proba(X[m])
    assert P2.shape == (m.sum(), 2) and (P2.argmax(1) == y[m]).mean() > 0.95


def test_smo_reference_and_compiled_agree():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(40) > 0, 1.0, -1.0)
    K = np.exp(-0.5 * ((X[:, None] - X[None]) ** 2).sum(-1))
    Cs = np.full(40, 1.0)
    a1, r1, i1, _ = smo_solve(K, y, Cs, 1e-3, 10000, 5)
    a2, r2, i2, _ = smo_solve_fast(K, y, Cs, 1e-3, 10000, 5)
    np.testing.assert_allclose(a1, a2, atol=1e-12)
    assert r1 == pytest.approx(r2) and i1 == i2
    assert abs((a1 * y).sum()) < 1e-9 and (a1 >= 0).all() and (a1 <= 1 + 1e-12).all()


def test_linear_svc_matches_sklearn(cells):
    Xtr, ytr, Xte, yte, _ = cells
    ours = LinearSVC(C=1.0).fit(Xtr, ytr)
    ref = sks.LinearSVC(C=1.0, tol=1e-6, max_iter=20000).fit(Xtr, ytr)
    assert abs(ours.score(Xte, yte) - ref.score(Xte, yte)) <= 0.01 + 1e-9
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max() * 10)


def test_class_weight_rules():
    y = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(compute_class_weight("balanced", np.array([0, 1]), y), [4 / 6, 2.0])
    np.testing.assert_allclose(compute_class_weight({1: 5}, np.array([0, 1]), y), [1, 5])
    with pytest.raises(ValueError):
        compute_class_weight({7: 1}, np.array([0, 1]), y)


def test_sklearn_api_pipeline_cross_val_and_clone(cells):
    *_, ds = cells
    for name in ("lr", "svm", "linear-svm"):
        pipe = make_classifier(name)
        assert isinstance(pipe, Pipeline) and isinstance(pipe[0], ImageFeatures)
        scores = cross_val_score(pipe, ds.images, ds.labels, cv=3)
        assert scores.shape == (3,) and scores.mean() > 0.6
    m = SVC(C=2.0, class_weight="balanced")
    c = clone(m)
    assert c.get_params()["C"] == 2.0 and c.get_params()["class_weight"] == "balanced"
    c.set_params(C=3.0)
    assert c.C == 3.0
    # string labels survive the round trip
    Xtr, ytr, Xte, _, _ = cells
    names = np.array(["healthy", "blast"])[ytr]
    assert set(LogisticRegression().fit(Xtr, names).predict(Xte)) <= {"healthy", "blast"}


def test_cnn_learns_and_keeps_best_weights():
    refgan.set_backend("numpy")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 3, 16, 16)).astype(np.float32) * 0.3
    y = np.arange(96) % 2
    X[y == 1, :, 4:12, 4:12] += 1.5  # a bright square marks class 1
    clf = CNNClassifier(channels=(4, 8, 8), dense=16, lr=1e-2, dropout=0.1, max_epochs=12, patience=3,
                        batch_size=32, class_weight="balanced", random_state=0)
    clf.fit(X[:64], y[:64], validation_data=(X[64:], y[64:]))
    assert clf.score(X[64:], y[64:]) >= 0.9
    h = clf.history_
    assert clf.best_epoch_ == int(np.argmin(h["val_loss"]))
    assert len(h["train_loss"]) == clf.n_iter_ <= 12
    assert clf.predict_proba(X[:5]).shape == (5, 2) and clf.embed(X[:5]).shape == (5, 16)
    assert clone(clf).get_params()["channels"] == (4, 8, 8)
