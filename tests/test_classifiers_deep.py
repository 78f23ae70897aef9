"""BackboneClassifier (refgan.classifiers.deep), the weight-file lookup
(refgan.classifiers.backbone_files), make_classifier's pretrained names and the study
with them. Mostly on a stand-in backbone (tests/backbone_standin.py; where a network is
named, refgan.backbones.load is replaced by one that returns it); a few tests use
refgan.backbones' networks with random weights, and a slow one a Keras weight file."""
import os
import pickle

import numpy as np
import pytest
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils import get_tags

import refgan
from backbone_standin import StandIn, two_class_images
from refgan import backbones
from refgan.classifiers import CLASSIFIERS, backbone_files, deep, make_classifier
from refgan.classifiers.backbone_files import BACKBONES, find_weights
from refgan.classifiers.deep import FEATURE_CACHE, BackboneClassifier, FeatureCache, weighted_loss
from refgan.data import Dataset
from refgan.errors import UserError
from refgan.study import GanOutput, quick_config, run_study


@pytest.fixture(autouse=True)
def empty_cache():
    FEATURE_CACHE.clear()
    yield
    FEATURE_CACHE.clear()


def test_frozen_linear_and_fc320_heads_learn_and_give_consistent_outputs():
    X, y = two_class_images()
    net = StandIn()
    for head, lr in (("linear", 1e-1), ("fc320", 3e-2)):
        clf = BackboneClassifier(net, head=head, lr=lr, epochs=20).fit(X, y)
        assert clf.score(X, y) > 0.95
        d, p = clf.decision_function(X), clf.predict_proba(X)
        assert d.shape == (60,) and p.shape == (60, 2)
        np.testing.assert_allclose(p.sum(1), 1, rtol=1e-12)
        np.testing.assert_array_equal(clf.predict(X), clf.classes_[(d > 0).astype(int)])
        np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-12)
        assert clf.loss_curve_[-1] < clf.loss_curve_[0] and clf.n_iter_ == 20
    assert [type(m).__name__ for m in clf.head_._modules.values()] == ["Linear", "ReLU", "Linear"]
    assert clf.head_[0].out_features == 320 and clf.head_[2].out_features == 1


def test_multiclass_head_has_one_output_per_class():
    X, y = two_class_images(90)
    y = np.arange(90) % 3
    labels = np.array(["a", "b", "c"])[y]
    clf = BackboneClassifier(StandIn(), lr=1e-1, epochs=3).fit(X, labels)
    d, p = clf.decision_function(X), clf.predict_proba(X)
    assert d.shape == (90, 3) and p.shape == (90, 3)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[d.argmax(1)])
    assert set(clf.predict(X)) <= {"a", "b", "c"}


def test_backbone_runs_once_per_image_across_fits():
    X, y = two_class_images(40)
    net = StandIn()
    BackboneClassifier(net, epochs=2).fit(X[:30], y[:30])
    assert net.calls == 30
    clf = BackboneClassifier(net, epochs=2, head="fc320").fit(X[10:], y[10:])  # 20 seen, 10 new
    assert net.calls == 40
    clf.predict(X)
    clf.predict_proba(X[:5])
    assert net.calls == 40 and FEATURE_CACHE.hits == 20 + 40 + 5
    # rotated views: each image once per angle; linspace(-10, 10, 3) holds 0, already cached
    BackboneClassifier(net, epochs=2, rotation=10, rotation_views=3).fit(X, y)
    assert net.calls == 40 + 2 * 40
    # another network, or another crop, is another key
    other = StandIn(seed=1)
    BackboneClassifier(other, epochs=1).fit(X, y)
    BackboneClassifier(net, epochs=1, crop=0.5).fit(X, y)
    assert other.calls == 40 and net.calls == 40 + 2 * 40 + 40


def test_cached_features_equal_fresh_ones():
    X, y = two_class_images(20)
    net = StandIn()
    clf = BackboneClassifier(net, epochs=1, crop=0.75).fit(X, y)
    cached = clf.features(X)
    x01 = (deep.centre_crop(X, 0.75) + 1) / 2
    with refgan.no_grad():
        fresh = net.features(refgan.tensor(net.preprocess(x01))).numpy()
    np.testing.assert_array_equal(cached, fresh)
    assert deep.centre_crop(X, 0.75).shape == (20, 3, 12, 12)
    np.testing.assert_array_equal(deep.centre_crop(X, 0.75), X[:, :, 2:14, 2:14])


def test_feature_cache_is_bounded_least_recently_used_first():
    c = FeatureCache(max_bytes=3 * 16)                           # three (4,) float32 rows
    for k in "abc":
        c.put(k, np.full(4, ord(k), np.float32))
    assert c.get("a") is not None                                # a is now the most recent
    c.put("d", np.zeros(4, np.float32))
    assert c.get("b") is None and len(c) == 3 and c.nbytes == 48
    assert c.get("a") is not None and c.get("c") is not None and c.get("d") is not None
    row = np.ones(4, np.float32)
    c.put("e", row)
    row[0] = 5                                                   # the cache holds its own copy
    assert c.get("e")[0] == 1


def test_weighted_loss_is_the_weighted_mean_of_per_sample_losses():
    rng = np.random.default_rng(0)
    s = np.array([1.0, 3.0, 0.5, 2.0])
    y = np.array([0, 1, 1, 0])
    z = rng.standard_normal(4)
    bce = np.logaddexp(0, z) - y * z
    got = weighted_loss(refgan.tensor(z[:, None]), y, s).item()
    assert got == pytest.approx((s * bce).sum() / s.sum(), rel=1e-6)
    Z = rng.standard_normal((4, 3))
    y3 = np.array([0, 2, 1, 2])
    ce = np.log(np.exp(Z).sum(1)) - Z[np.arange(4), y3]
    assert weighted_loss(refgan.tensor(Z), y3, s).item() == pytest.approx((s * ce).sum() / s.sum(), rel=1e-6)


def test_class_weights_change_the_loss():
    X, y = two_class_images(40)
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    net = StandIn()
    kw = dict(lr=1e-2, epochs=3)
    plain = BackboneClassifier(net, **kw).fit(X, y)
    heavy = BackboneClassifier(net, class_weight={1: 10.0}, **kw).fit(X, y)
    assert heavy.loss_curve_[0] != pytest.approx(plain.loss_curve_[0], rel=1e-3)
    assert heavy.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()
    # 'balanced' is the dict n / (K n_k): 40 / (2 * 30) and 40 / (2 * 10)
    bal = BackboneClassifier(net, class_weight="balanced", **kw).fit(X, y)
    same = BackboneClassifier(net, class_weight={0: 40 / 60, 1: 2.0}, **kw).fit(X, y)
    np.testing.assert_allclose(bal.loss_curve_, same.loss_curve_, rtol=1e-6)


def _blocks_state(blocks):
    return [{k: v.copy() for k, v in b.state_dict().items()} for b in blocks]


@pytest.mark.parametrize("n", [1, 2])
def test_fine_tuning_trains_only_the_last_n_blocks(n):
    X, y = two_class_images(24)
    net = StandIn()
    before = _blocks_state(net.blocks)
    clf = BackboneClassifier(net, fine_tune_blocks=n, lr=1e-2, epochs=2, batch_size=8, rotation=30).fit(X, y)
    tuned = clf.network_
    assert tuned is not net and clf.trained_blocks_ == tuned.blocks[3 - n:]
    after = _blocks_state(tuned.blocks)
    for i in range(3):
        same = all(np.array_equal(before[i][k], after[i][k]) for k in before[i])
        assert same == (i < 3 - n), f"block {i}"
    # the shared network is untouched, bit for bit
    for b0, b1 in zip(before, _blocks_state(net.blocks)):
        assert all(np.array_equal(b0[k], b1[k]) for k in b0)
    # predictions go through the tuned copy, not the cache of the shared network
    fresh = BackboneClassifier(net, epochs=1).fit(X, y).features(X)
    assert not np.allclose(clf.features(X), fresh)
    assert clf.predict_proba(X).shape == (24, 2)


def test_fine_tuning_more_blocks_than_the_network_has_is_refused():
    X, y = two_class_images(8)
    with pytest.raises(ValueError, match="has 3 blocks"):
        BackboneClassifier(StandIn(), fine_tune_blocks=4).fit(X, y)


def test_blocks_after_the_features_do_not_count_for_fine_tuning():
    """A pretrained network's own classifier is a block (Keras' 'predictions') that the
    features do not pass through: 'the last block' is the last one before it."""
    X, y = two_class_images(8)
    net = StandIn()
    net.blocks = [net.stem, net.stage, net.pool, net.fc]
    assert deep.feature_blocks(net, (X[:1] + 1) / 2) == [net.stem, net.stage, net.pool]
    assert all(not p.requires_grad for p in net.parameters())
    clf = BackboneClassifier(net, fine_tune_blocks=1, epochs=1).fit(X, y)
    assert clf.trained_blocks_ == [clf.network_.pool]
    with pytest.raises(ValueError, match="has 3 blocks on the path of its features"):
        BackboneClassifier(net, fine_tune_blocks=4).fit(X, y)


@pytest.mark.parametrize("name", ["efficientnet_b0", pytest.param("resnet50", marks=pytest.mark.slow)])
def test_fine_tuning_a_real_architecture_trains_its_last_feature_block_only(name):
    """refgan.backbones' networks (random weights): every block but the last one before
    the features stays the same bit for bit."""
    X, y = two_class_images(4, size=32)
    net = backbones.build(name, seed=0)
    before = [b.state_dict() for b in net.blocks]
    clf = BackboneClassifier(net, fine_tune_blocks=1, lr=1e-2, epochs=1, batch_size=4).fit(X, y)
    after = [b.state_dict() for b in clf.network_.blocks]
    unchanged = [all(np.array_equal(b0[k], b1[k]) for k in b0) for b0, b1 in zip(before, after)]
    names = [b.name for b in net.blocks]
    assert names[-1] == "predictions" and unchanged[-1]            # the 1000-way classifier: unused
    assert unchanged[:-2] == [True] * (len(names) - 2) and not unchanged[-2]


@pytest.mark.parametrize("params, match", [
    (dict(head="mlp"), "head must be one of linear, fc320"),
    (dict(epochs=0), "epochs must be"),
    (dict(lr=0), "lr must be positive"),
    (dict(crop=1.5), "crop is a fraction"),
    (dict(rotation=-5), "rotation is a number of degrees"),
    (dict(rotation=10, rotation_views=1), "needs rotation_views >= 2"),
    (dict(fine_tune_blocks=-1), "fine_tune_blocks must be"),
    (dict(value_range=(1, -1)), "value_range"),
])
def test_bad_parameters_are_refused(params, match):
    X, y = two_class_images(8)
    with pytest.raises(ValueError, match=match):
        BackboneClassifier(StandIn(), **params).fit(X, y)


def test_bad_input_is_refused_with_sklearns_messages():
    X, y = two_class_images(8)
    clf = BackboneClassifier(StandIn(), epochs=1)
    bad = X.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="continuous"):
        clf.fit(X, np.linspace(0, 1, 8))
    with pytest.raises(ValueError, match=r"expects images \(N, C, H, W\)"):
        clf.fit(X.reshape(8, -1), y)
    with pytest.raises(ValueError, match=r"fitted on \(3, 16, 16\)"):
        clf.fit(X, y).predict(X[:, :, :8])


def test_sklearn_api_clone_tags_and_cross_validation():
    X, y = two_class_images(30)
    clf = BackboneClassifier(StandIn(), lr=1e-1, epochs=5)
    tags = get_tags(clf)
    assert tags.input_tags.two_d_array is False and tags.input_tags.three_d_array is True
    c = clone(clf)
    assert c.get_params()["epochs"] == 5 and not hasattr(c, "head_")
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    with pytest.raises(Exception, match="not fitted"):
        BackboneClassifier(StandIn()).predict(X)


def test_same_seed_same_model():
    X, y = two_class_images(20)
    a = BackboneClassifier(StandIn(), epochs=3, rotation=20, rotation_views=5, random_state=4).fit(X, y)
    b = BackboneClassifier(StandIn(), epochs=3, rotation=20, rotation_views=5, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    assert a.loss_curve_ == b.loss_curve_


# ------------------------------------------------------------------- weight files
def test_find_weights_by_documented_names(tmp_path):
    (tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5").write_bytes(b"x")
    (tmp_path / "resnet50-0676ba61.safetensors").write_bytes(b"x")
    (tmp_path / "inception_v3.safetensors").write_bytes(b"x")
    (tmp_path / "inception_v3_fid.safetensors").write_bytes(b"x")
    assert find_weights("vgg16", tmp_path).name == "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    assert find_weights("resnet50", tmp_path).name == "resnet50-0676ba61.safetensors"
    assert find_weights("inception_v3", tmp_path).name == "inception_v3.safetensors"
    assert find_weights("inception_v3_fid", tmp_path).name == "inception_v3_fid.safetensors"
    assert find_weights("vgg16", tmp_path / "inception_v3.safetensors").name == "inception_v3.safetensors"
    (tmp_path / "vgg16.safetensors").write_bytes(b"x")            # the own name comes first
    assert find_weights("vgg16", tmp_path).name == "vgg16.safetensors"


def test_missing_or_ambiguous_weights_are_refused_in_one_line(tmp_path):
    for name, weights, match in [
        ("efficientnet_b0", tmp_path, "put efficientnet_b0.safetensors .* into " + str(tmp_path)),
        ("vgg16", None, "put vgg16.safetensors .* into a folder passed as --weights DIR"),
        ("vgg16", tmp_path / "nope", "neither a folder nor a file"),
        ("inception_v3_fid", tmp_path, "pt_inception-2015-12-05-6726825d.pth"),
        ("alexnet", tmp_path, "no weight files are known for 'alexnet'"),
    ]:
        with pytest.raises(UserError, match=match) as e:
            find_weights(name, weights)
        assert "\n" not in str(e.value)
    (tmp_path / "resnet50-a.safetensors").write_bytes(b"x")
    (tmp_path / "resnet50-b.safetensors").write_bytes(b"x")
    with pytest.raises(UserError, match="several resnet50 weight files"):
        find_weights("resnet50", tmp_path)


# ----------------------------------------------------------- networks by name, the factory
@pytest.fixture
def fake_loader(monkeypatch):
    """refgan.backbones.load replaced by the stand-in; records what it was asked to load."""
    loads = []

    def load(name, weights):
        loads.append((name, weights.name))
        return StandIn(name=name)

    monkeypatch.setattr(backbone_files.backbones, "load", load)
    backbone_files._LOADED.clear()
    yield loads
    backbone_files._LOADED.clear()


def test_make_classifier_refuses_deep_classifiers_without_their_weights(tmp_path):
    with pytest.raises(UserError, match="vgg16 needs its pretrained weights: put vgg16.safetensors"):
        make_classifier("vgg16")
    with pytest.raises(UserError, match=f"into {tmp_path}"):
        make_classifier("efficientnet_b0", weights=tmp_path)
    assert set(BACKBONES) <= set(CLASSIFIERS)


def test_make_classifier_gives_each_paper_its_settings(tmp_path):
    for name in BACKBONES:
        (tmp_path / f"{name}.safetensors").write_bytes(b"x")
    vgg = make_classifier("vgg16", weights=tmp_path, class_weight="balanced", epochs=3)
    assert isinstance(vgg, BackboneClassifier) and vgg.weights == tmp_path / "vgg16.safetensors"
    got = (vgg.head, vgg.lr, vgg.epochs, vgg.class_weight, vgg.fine_tune_blocks)
    assert got == ("linear", 1e-5, 3, "balanced", 0)
    eff = make_classifier("efficientnet_b0", weights=tmp_path)
    assert (eff.head, eff.rotation, eff.crop) == ("fc320", 45.0, pytest.approx(2 / 3))
    assert make_classifier("resnet50", weights=tmp_path, fine_tune_blocks=1).fine_tune_blocks == 1


def test_a_network_named_is_loaded_once_and_only_when_features_are_missing(tmp_path, fake_loader):
    (tmp_path / "resnet50.safetensors").write_bytes(b"x")
    X, y = two_class_images(20)
    a = make_classifier("resnet50", weights=tmp_path, epochs=2).fit(X, y)
    b = make_classifier("resnet50", weights=tmp_path, epochs=2, head="fc320").fit(X[:10], y[:10])
    assert fake_loader == [("resnet50", "resnet50.safetensors")]
    backbone_files._LOADED.clear()                      # a new process with a warm feature cache:
    a.predict(X)                                        # every feature cached, nothing loaded
    b.predict(X[:10])
    assert len(fake_loader) == 1
    a.predict(X[:3] + 0.5)                              # new images: the network is needed
    assert len(fake_loader) == 2
    assert a.backbone_key_.startswith("resnet50:") and a.backbone_key_ == b.backbone_key_
    (tmp_path / "resnet50.safetensors").write_bytes(b"xy")  # another file: another identity
    c = make_classifier("resnet50", weights=tmp_path, epochs=1).fit(X, y)
    assert c.backbone_key_ != a.backbone_key_


# ------------------------------------------------------------------------- the study
def _noisy_copies_gan(train, n_per_class, seed, workdir):
    """A stand-in GAN: noisy copies of the class's real training images."""
    rng = np.random.default_rng(seed)
    imgs, labels = [], []
    for i, name in enumerate(train.class_names):
        pool = train.images[train.labels == i]
        pick = rng.integers(0, len(pool), n_per_class.get(name, 0))
        imgs.append(np.clip(pool[pick] + 0.1 * rng.standard_normal(pool[pick].shape), -1, 1))
        labels.append(np.full(len(pick), i))
    gen = Dataset.generated(np.concatenate(imgs).astype(np.float32), np.concatenate(labels),
                            train.class_names, trained_on=train)
    return GanOutput(gen, {n: {"d_loss": [1.0, 0.5]} for n in train.class_names}, dict(model="stub"))


def test_study_refuses_a_deep_classifier_without_its_weights_before_any_work(tmp_path, capsys):
    import cli

    out = tmp_path / "study"
    assert cli.main(["study", "--quick", "--classifiers", "lr,vgg16", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "vgg16 needs its pretrained weights: put vgg16.safetensors" in err and "--weights DIR" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    empty = tmp_path / "weights"
    empty.mkdir()
    assert cli.main(["study", "--quick", "--classifiers", "efficientnet_b0", "--weights", str(empty),
                     "--out", str(out)]) == 2
    assert "efficientnet_b0.safetensors" in capsys.readouterr().err and not out.exists()


def test_study_runs_deep_classifiers_like_the_others(tmp_path, fake_loader):
    (tmp_path / "vgg16.safetensors").write_bytes(b"x")
    cfg = quick_config(n_per_class=12, folds=2, repeats=1, gan_seeds=1, n_generated=6, n_boot=20,
                       ratios=(), balance=False, classifiers=("lr", "vgg16"), weights=str(tmp_path),
                       conditions=("real", "real+gen", "real+rotate-on-the-fly"), n_jobs=1,
                       progress=False)
    res = run_study(cfg, tmp_path / "study", gan_step=_noisy_copies_gan, log=lambda m: None).to_dict()
    assert set(res["table"]["vgg16"]) == {"real", "real+gen", "real+rotate-on-the-fly"}
    assert set(res["table"]["lr"]) == {"real", "real+gen"}
    assert {c["condition"] for c in res["comparisons"]["vgg16"]} == {"real+gen", "real+rotate-on-the-fly"}
    recs = [r for f in res["folds"] for r in f["records"] if r["classifier"] == "vgg16"]
    assert all(len(r["curves"]["loss"]) == 40 for r in recs)         # Gaur et al.'s 40 epochs
    assert res["config"]["weights"] == str(tmp_path) and fake_loader == [("vgg16", "vgg16.safetensors")]
    report = (tmp_path / "study" / "report.html").read_text()
    assert "VGG16 (pretrained, frozen)" in report


@pytest.mark.slow
def test_a_keras_weight_file_end_to_end(tmp_path):
    """Keras 3's EfficientNetB0 (random weights) saved as DIR/efficientnet_b0.weights.h5:
    found by name, loaded by refgan.backbones, its frozen features cached and equal to
    the loaded network's own."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    keras.utils.set_random_seed(0)
    keras.applications.EfficientNetB0(weights=None).save_weights(tmp_path / "efficientnet_b0.weights.h5")
    X, y = two_class_images(4, size=32)
    clf = make_classifier("efficientnet_b0", weights=tmp_path, epochs=2, rotation=0.0, crop=None).fit(X, y)
    net = backbones.load("efficientnet_b0", weights=tmp_path / "efficientnet_b0.weights.h5")
    with refgan.no_grad():
        want = net.features(net.preprocess((X + 1) / 2)).numpy()
    np.testing.assert_allclose(clf.features(X), want, rtol=1e-5, atol=1e-6)
    assert clf.predict_proba(X).shape == (4, 2)


def test_a_fitted_classifier_pickles_and_predicts_the_same(tmp_path, fake_loader):
    (tmp_path / "vgg16.safetensors").write_bytes(b"x")
    X, y = two_class_images(12)
    frozen = make_classifier("vgg16", weights=tmp_path, epochs=2).fit(X, y)
    tuned = BackboneClassifier(StandIn(), fine_tune_blocks=1, epochs=1).fit(X, y)
    for clf in (frozen, tuned):
        again = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(again.decision_function(X), clf.decision_function(X))


def test_fits_in_threads_load_the_network_once_and_agree(tmp_path, fake_loader):
    (tmp_path / "resnet50.safetensors").write_bytes(b"x")
    X, y = two_class_images(20)
    fits = Parallel(n_jobs=4, backend="threading")(
        delayed(lambda: make_classifier("resnet50", weights=tmp_path, epochs=2).fit(X, y))() for _ in range(4))
    assert len(fake_loader) == 1 and len(FEATURE_CACHE) == 20
    for clf in fits[1:]:
        np.testing.assert_array_equal(clf.decision_function(X), fits[0].decision_function(X))
