"""scikit-learn's own estimator checks on refgan's classifiers.

The flat-feature estimators run every check of ``parametrize_with_checks``; the
image estimators (CNNClassifier, ImageFeatures, BackboneClassifier) declare image
input through their tags, which is what scikit-learn's checks read."""
import numpy as np
import pytest
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (check_sample_weight_equivalence_on_dense_data,
                                            parametrize_with_checks)

from refgan.classifiers import SVC, BackboneClassifier, CNNClassifier, ImageFeatures, LinearSVC, LogisticRegression

# SMO stops at libsvm's default tol=1e-3, so a weighted fit and a fit on repeated rows agree
# to ~1e-5, not scikit-learn's 1e-7 (scikit-learn marks its own SVC so); the exact
# equivalence is checked below with a tight tol.
SVC_TOLERANCE = {"check_sample_weight_equivalence_on_dense_data": "SMO stops at tol=1e-3 (libsvm's default)"}


@parametrize_with_checks([LogisticRegression(), SVC(), SVC(probability=True), LinearSVC()],
                         expected_failed_checks=lambda est: SVC_TOLERANCE if isinstance(est, SVC) else {})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_svc_sample_weight_equals_repeating_rows_at_tight_tol():
    check_sample_weight_equivalence_on_dense_data("SVC", SVC(tol=1e-9))


@pytest.mark.parametrize("estimator", [CNNClassifier(), ImageFeatures(), BackboneClassifier()])
def test_image_estimators_declare_image_input(estimator):
    tags = get_tags(estimator)
    assert tags.input_tags.two_d_array is False and tags.input_tags.three_d_array is True


def test_svc_predict_proba_only_with_probability():
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 2
    assert not hasattr(SVC().fit(X, y), "predict_proba")
    with pytest.raises(AttributeError, match="has no attribute 'predict_proba'") as err:
        SVC().fit(X, y).predict_proba(X)
    assert "SVC(probability=True)" in str(err.value.__cause__)          # why, one level down
    assert SVC(probability=True).fit(X, y).predict_proba(X).shape == (20, 2)


@pytest.mark.parametrize("make", [LogisticRegression, SVC, LinearSVC])
def test_flat_estimators_refuse_bad_input_with_sklearns_messages(make):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), np.arange(20) % 2
    with pytest.raises(ValueError, match="NaN"):
        make().fit(np.where(np.eye(20, 3) > 0, np.nan, X), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        make().fit(X, y[:-1])
    with pytest.raises(ValueError, match="continuous"):
        make().fit(X, rng.standard_normal(20))
    with pytest.raises(ValueError, match="3 features"):
        make().fit(X, y).predict(X[:, :2])
    images = rng.standard_normal((20, 3, 4, 4))                  # (N, ...) is flattened as before
    assert make().fit(images, y).predict(images).shape == (20,)


def test_cnn_refuses_bad_input():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3, 8, 8)).astype(np.float32), np.arange(8) % 2
    bad = X.copy()
    bad[0, 0, 0, 0] = np.inf
    cnn = CNNClassifier(channels=(2, 2, 2), dense=4, max_epochs=1)
    with pytest.raises(ValueError, match="infinity"):
        cnn.fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        cnn.fit(X, y[:-1])
    with pytest.raises(ValueError, match="continuous"):
        cnn.fit(X, rng.standard_normal(8))
    with pytest.raises(ValueError, match=r"fitted on \(3, 8, 8\)"):
        cnn.fit(X, y).predict(X[:, :1])
