"""Generator-quality metrics on feature sets with known answers."""
import numpy as np
import pytest

from refgan import metrics as M


def test_kid_zero_for_same_distribution_positive_for_shift():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 8)), rng.standard_normal((300, 8))
    same = M.kid_cnn_features(a, b, n_boot=50)
    shifted = M.kid_cnn_features(a, b + 1.0, n_boot=50)
    assert same["low"] <= 0 <= same["high"] and abs(same["kid"]) < 0.02
    assert shifted["low"] > 0.05 and shifted["low"] <= shifted["kid"] <= shifted["high"]


def test_kid_matches_hand_formula():
    rng = np.random.default_rng(1)
    r, f = rng.standard_normal((6, 3)), rng.standard_normal((5, 3))
    k = lambda a, b: (a @ b.T / 3 + 1) ** 3  # noqa: E731
    krr, kff = k(r, r), k(f, f)
    want = ((krr.sum() - np.trace(krr)) / 30 + (kff.sum() - np.trace(kff)) / 20
            - 2 * k(r, f).mean())
    assert M.kid_cnn_features(r, f, n_boot=5)["kid"] == pytest.approx(want)


def test_prdc_identical_and_disjoint():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((200, 4))
    same = M.prdc(a, a.copy(), k=5)
    assert same["precision"]["value"] == 1 and same["recall"]["value"] == 1
    assert same["coverage"]["value"] == 1 and same["density"]["value"] >= 1
    far = M.prdc(a, a + 100, k=5)
    assert far["precision"]["value"] == 0 and far["coverage"]["value"] == 0
    for key in ("precision", "recall", "coverage", "density"):
        assert far[key]["low"] <= far[key]["value"] <= far[key]["high"]


def test_diversity_detects_collapse():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((100, 5))
    assert M.diversity(real, rng.standard_normal((100, 5)))["ratio"] == pytest.approx(1, abs=0.1)
    collapsed = M.diversity(real, 0.05 * rng.standard_normal((100, 5)))
    assert collapsed["ratio"] < 0.1 and collapsed["low"] <= collapsed["ratio"] <= collapsed["high"]


def test_memorisation_flags_copies_only():
    from refgan.data import make_blood_cells

    ds = make_blood_cells(12, size=32, seed=0)
    train, test = ds.images[:16], ds.images[16:]
    gen = np.concatenate([train[:3] + 0.001, np.rot90(train[3:4], 1, axes=(2, 3)),
                          make_blood_cells(3, size=32, seed=9).images])
    r = M.memorisation(gen, train, held_out=test)
    assert set(r["copies"]) == {0, 1, 2, 3}
    assert r["copy_rate"]["low"] <= r["copy_rate"]["value"] <= r["copy_rate"]["high"]


class _Fixed:
    def __init__(self, pred):
        self.pred = pred

    def predict(self, X):
        return self.pred[:len(X)]


def test_trts_and_tstr():
    y = np.array([0, 0, 1, 1])
    r = M.trts(_Fixed(np.array([0, 1, 1, 1])), np.zeros((4, 2)), y)
    assert r["accuracy"] == 0.75 and r["per_class"][0]["accuracy"] == 0.5
    from refgan.classifiers import LogisticRegression

    rng = np.random.default_rng(4)
    Xg = np.r_[rng.normal(-2, 1, (40, 2)), rng.normal(2, 1, (40, 2))]
    yg = np.r_[np.zeros(40), np.ones(40)].astype(int)
    t = M.tstr(LogisticRegression, Xg, yg, Xg[::2], yg[::2], Xg, yg)
    assert t["tstr"]["accuracy"] > 0.9 and "trtr" in t


def test_kid_names_say_their_feature_space():
    assert not hasattr(M, "kid")  # one name per metric: the feature space is in the name
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((50, 4)), rng.standard_normal((60, 4))
    assert M.kid_pixels(a, b, n_boot=5)["kid"] == M.kid_cnn_features(a, b, n_boot=5)["kid"]


def test_one_kid_for_the_study_and_training():
    """refgan.metrics.mmd2_cubic is the one KID estimator: the study's KID (kid_pixels' value) and a
    run's kid_simple / best-checkpoint score (training.checkpoint.sample_quality) are it,
    and it equals the formula training used before, sum over i != j written out, to
    rounding."""
    from refgan.training import checkpoint, quality

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(9, 5)), rng.normal(0.3, 1.2, size=(7, 5))
    k = lambda u, v: (u @ v / 5 + 1) ** 3  # noqa: E731
    naive = (sum(k(a[i], a[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
             + sum(k(b[i], b[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
             - 2 * sum(k(x, y) for x in a for y in b) / (9 * 7))
    assert M.mmd2_cubic(a, b) == pytest.approx(naive, rel=1e-12)
    kaa, kbb, kab = (a @ a.T / 5 + 1) ** 3, (b @ b.T / 5 + 1) ** 3, (a @ b.T / 5 + 1) ** 3
    before = ((kaa.sum() - np.trace(kaa)) / 72 + (kbb.sum() - np.trace(kbb)) / 42 - 2 * kab.mean())
    assert M.mmd2_cubic(a, b) == pytest.approx(before, rel=1e-12)
    assert M.kid_pixels(a, b, n_boot=5)["kid"] == M.mmd2_cubic(a, b)
    images = {c: rng.uniform(-1, 1, (6, 3, 16, 16)) for c in ("x", "y")}
    reals = {c: rng.uniform(-1, 1, (5, 3, 16, 16)) for c in ("x", "y")}
    assert checkpoint.sample_quality(images, reals) == pytest.approx(np.mean(
        [M.mmd2_cubic(quality.simple_features(images[c]), quality.simple_features(reals[c]))
         for c in ("x", "y")]), rel=1e-15)
