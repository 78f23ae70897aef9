"""The ImageNet backbones against Keras 3 (JAX backend) as the independent oracle.

For each network, Keras builds keras.applications.X(weights=None), its batch-norm
statistics and scales are randomised to realistic values (random init leaves them at
0 / 1, which would hide a wrong eps or a swapped mean/variance), the weights are saved
to .h5 (Keras 3 layout, and the legacy layout of the published files) and loaded by
refgan; features and logits must agree within 1e-4 relative (float32), and refgan
counts the same number of weights as ``model.count_params()``. The fast versions are
headless at a small input; the full-size ones with the classifier are ``slow``.
Skipped when keras or h5py is not installed.
"""
import os
import sys

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "jax"  # before keras is imported: JAX is the oracle
keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")

from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

import refgan  # noqa: E402
from refgan import backbones  # noqa: E402
from refgan.backbones.graph import snake_case  # noqa: E402
from refgan.errors import UserError  # noqa: E402

KERAS_APPS = {"vgg16": "VGG16", "resnet50": "ResNet50", "inception_v3": "InceptionV3",
              "efficientnet_b0": "EfficientNetB0"}
SMALL = {"vgg16": 64, "resnet50": 64, "inception_v3": 75, "efficientnet_b0": 64}
RTOL = 1e-4


def keras_model(name, include_top, size, seed=0, calibrate=True):
    """keras.applications network ``name`` with random weights whose batch norms are
    calibrated: random gamma and beta, and moving statistics set to the batch
    statistics of a random batch of 8 (so activations keep their scale through the
    depth and the output depends on the input), then perturbed a little."""
    keras.backend.clear_session()  # automatic layer names restart at conv2d, conv2d_1, ...
    keras.utils.set_random_seed(seed)
    kw = dict(weights=None, input_shape=(size, size, 3), include_top=include_top)
    if not include_top:
        kw["pooling"] = "avg"
    model = getattr(keras.applications, KERAS_APPS[name])(**kw)
    if not calibrate:
        return model
    rng = np.random.default_rng(seed)
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    for layer in model.layers:
        if type(layer).__name__ == "Normalization":
            layer.set_weights([np.array([0.485, 0.456, 0.406], np.float32),
                               np.array([0.05, 0.06, 0.07], np.float32), np.array(100)])
            layer.finalize_state()  # Keras reads mean/variance into the layer here
        elif type(layer).__name__ == "Dropout":
            layer.rate = 0.0  # the calibration pass runs in training mode
    for layer in bns:
        layer.momentum = 0.0
        for w in layer.weights:
            kind = w.path.split("/")[-1]
            if kind == "gamma":
                w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
            elif kind == "beta":
                w.assign(rng.normal(0, 0.2, w.shape).astype(np.float32))
    model(keras_input(name, size, n=8, seed=seed + 7), training=True)
    for layer in bns:  # statistics of the batch, perturbed a little
        for w in layer.weights:
            a = np.asarray(w)
            kind = w.path.split("/")[-1]
            if kind == "moving_mean":
                w.assign((a + rng.normal(0, 0.05, a.shape) * np.sqrt(np.abs(a) + 1e-2))
                         .astype(np.float32))
            elif kind == "moving_variance":
                w.assign((a * rng.uniform(0.8, 1.25, a.shape)).astype(np.float32))
    return model


def keras_features_model(model):
    """The penultimate vector: fc2 for VGG16 with its head, else the global pool."""
    names = [layer.name for layer in model.layers]
    feat = "fc2" if "fc2" in names else next(
        layer.name for layer in reversed(model.layers)
        if type(layer).__name__ == "GlobalAveragePooling2D")
    return keras.Model(model.inputs, model.get_layer(feat).output)


def rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def keras_input(name, size, n=2, seed=1):
    """A preprocessed-looking input: NHWC for Keras, NCHW for refgan."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, size, size, 3)).astype(np.float32)
    scale = {"vgg16": (255.0, -120.0), "resnet50": (255.0, -120.0),
             "inception_v3": (2.0, -1.0), "efficientnet_b0": (255.0, 0.0)}[name]
    return x * scale[0] + scale[1]


def agree(name, include_top, size, tmp_path, layout="keras3"):
    model = keras_model(name, include_top, size)
    path = tmp_path / f"{name}.weights.h5" if layout == "keras3" else tmp_path / f"{name}.h5"
    if layout == "keras3":
        model.save_weights(path)
    else:
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    ours = backbones.load(name, weights=path)
    assert ours.family == "keras" and ours.include_top == include_top
    assert ours.num_weights() == model.count_params()
    x = keras_input(name, size)
    xt = refgan.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    want_f = np.asarray(keras_features_model(model)(x))
    got_f = ours.features(xt).numpy()
    assert got_f.shape == want_f.shape == (2, ours.feature_dim)
    # not a degenerate comparison: the two images' features differ clearly
    assert np.abs(want_f[0] - want_f[1]).mean() > 0.05 * np.abs(want_f).mean()
    assert rel_err(got_f, want_f) < RTOL
    report = f"{name} {layout} {size}x{size}: features {rel_err(got_f, want_f):.1e}"
    if include_top:
        logits = np.asarray(keras.Model(model.inputs, model.get_layer("predictions").output)(x))
        # Keras' predictions layer applies softmax: its logits are the Dense layer on
        # the penultimate vector, checked against Keras' own softmax output
        dense = model.get_layer("predictions")
        want_logits = want_f @ np.asarray(dense.kernel) + np.asarray(dense.bias)
        e = np.exp(want_logits - want_logits.max(1, keepdims=True))
        np.testing.assert_allclose(e / e.sum(1, keepdims=True), logits, rtol=1e-3, atol=1e-6)
        got = ours(xt).numpy()
        assert rel_err(got, want_logits) < RTOL
        report += f", logits {rel_err(got, want_logits):.1e}"
    print(f"\nagreement with Keras: {report} (max abs difference / max abs value)")
    return ours, model


# Building a Keras model and its first JAX calls take 30-40 s for all but VGG16.
SLOW_BUILD = {"resnet50", "inception_v3", "efficientnet_b0"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_BUILD
                                  else n for n in sorted(KERAS_APPS)])
def test_headless_features_match_keras(name, tmp_path):
    agree(name, False, SMALL[name], tmp_path)


@pytest.mark.parametrize("name", ["vgg16"] + [pytest.param(n, marks=pytest.mark.slow)
                                             for n in ("resnet50", "efficientnet_b0")])
def test_legacy_h5_layout_matches_keras(name, tmp_path):
    agree(name, False, SMALL[name], tmp_path, layout="legacy")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KERAS_APPS))
def test_full_size_logits_match_keras(name, tmp_path):
    size = 299 if name == "inception_v3" else 224
    agree(name, True, size, tmp_path)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_BUILD
                                  else n for n in sorted(KERAS_APPS)])
def test_layer_order_and_names_follow_keras(name):
    """The Keras 3 file keys come from the order of model.layers: refgan computes that
    order from its graph; it must be Keras' own, names and classes included."""
    model = keras_model(name, False, SMALL[name], calibrate=False)
    ours = backbones.build(name, include_top=False)
    want = [(layer.name, snake_case(type(layer).__name__)) for layer in model.layers]
    got = [(n, snake_case(ours.node(n).keras_class)) for n in ours.keras_order()]
    assert got == want


def test_model_api(tmp_path):
    m = backbones.build("resnet50", seed=0)
    assert (m.name, m.family, m.input_size, m.feature_dim) == ("resnet50", "keras", 224, 2048)
    assert [b.name for b in m.blocks] == ["conv1", "conv2", "conv3", "conv4", "conv5",
                                         "predictions"]
    assert sum(b.num_parameters() for b in m.blocks) == m.num_parameters()
    x = m.preprocess(np.random.default_rng(0).uniform(0, 1, (1, 3, 40, 50)))
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    # caffe mode: BGR, 0-255, minus the means: a white image is 255 - mean per channel
    white = m.preprocess(np.ones((1, 3, 8, 8))).numpy()
    np.testing.assert_allclose(white[0, :, 0, 0], [255 - 103.939, 255 - 116.779, 255 - 123.68],
                               rtol=1e-5)
    red = m.preprocess(np.stack([np.ones((8, 8)), np.zeros((8, 8)), np.zeros((8, 8))])[None])
    assert red.numpy()[0, 2, 0, 0] == pytest.approx(255 - 123.68)  # red is the last (BGR)
    inc = backbones.build("inception_v3", include_top=False)
    assert inc.preprocess(np.zeros((1, 3, 5, 5))).shape == (1, 3, 299, 299)
    assert inc.preprocess(np.zeros((1, 3, 5, 5))).numpy().min() == -1.0
    eff = backbones.build("efficientnet_b0", include_top=False)
    assert eff.preprocess(np.ones((1, 3, 4, 4))).numpy().max() == pytest.approx(255.0)


def test_blocks_freeze_all_but_the_last(tmp_path):
    m = backbones.build("vgg16", include_top=False, seed=1)
    for b in m.blocks[:-1]:
        b.requires_grad_(False)
    x = refgan.tensor(np.random.default_rng(0).standard_normal((1, 3, 32, 32)))
    refgan.ops.sum(m.features(x)).backward()
    trained = [p for p in m.parameters() if p.grad is not None]
    assert trained and all(any(p is q for q in m.blocks[-1].parameters()) for p in trained)


# ------------------------------------------------------------------ wrong files
@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "v.weights.h5"
    keras_model("vgg16", False, 32, calibrate=False).save_weights(path)
    return path


def _rewrite(src, dst, edit):
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for k in f:
            f.copy(k, g)
        edit(g)


def test_wrong_architecture_is_a_one_line_error(vgg_file):
    with pytest.raises(UserError, match="shape|missing|unexpected") as err:
        backbones.load("resnet50", weights=vgg_file)
    assert "\n" not in str(err.value)


def test_missing_layer_is_named(vgg_file, tmp_path):
    dst = tmp_path / "m.weights.h5"
    _rewrite(vgg_file, dst, lambda g: g["layers"].__delitem__("conv2d_7"))
    with pytest.raises(UserError, match="'conv2d_7'.*missing"):
        backbones.load("vgg16", weights=dst)


def test_extra_layer_is_named(vgg_file, tmp_path):
    def edit(g):
        g.create_group("layers/conv2d_99/vars").create_dataset("0", data=np.zeros((1, 1, 3, 3)))
    dst = tmp_path / "e.weights.h5"
    _rewrite(vgg_file, dst, edit)
    with pytest.raises(UserError, match="unexpected layer 'conv2d_99'"):
        backbones.load("vgg16", weights=dst)


def test_wrong_shape_is_named(vgg_file, tmp_path):
    def edit(g):
        del g["layers/conv2d_3/vars/1"]
        g["layers/conv2d_3/vars"].create_dataset("1", data=np.zeros(7))
    dst = tmp_path / "s.weights.h5"
    _rewrite(vgg_file, dst, edit)
    with pytest.raises(UserError, match=r"conv2d_3.*bias has shape \(7,\), the model expects "
                                        r"\(128,\)"):
        backbones.load("vgg16", weights=dst)


def test_missing_h5py_is_one_line(monkeypatch, vgg_file):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(UserError, match="needs h5py: pip install h5py"):
        backbones.load("vgg16", weights=vgg_file)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(UserError, match="not found"):
        backbones.load("vgg16", weights=tmp_path / "nope.h5")
    with pytest.raises(UserError, match="unknown backbone"):
        backbones.build("alexnet")
    (tmp_path / "x.bin").write_bytes(b"0")
    with pytest.raises(UserError, match="unknown weight format"):
        backbones.load("vgg16", weights=tmp_path / "x.bin")


def test_legacy_file_with_other_layer_names_matches_by_order(tmp_path):
    """Keras versions name unnamed layers differently (InceptionV3's conv2d_1 ... in the
    published file): a legacy file whose names are not the model's is matched by the
    order of its layers with weights, shapes checked."""
    model = keras_model("vgg16", False, 32, calibrate=False)
    path = tmp_path / "renamed.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        for i, n in enumerate(names):
            f.move(n, f"layer_{i}")
        f.attrs["layer_names"] = [f"layer_{i}".encode() for i in range(len(names))]
    ours = backbones.load("vgg16", weights=path)
    x = keras_input("vgg16", 32)
    want = np.asarray(keras_features_model(model)(x))
    got = ours.features(refgan.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    assert rel_err(got, want) < RTOL
