"""The torchvision family (and pytorch-fid's FID Inception): torchvision-named
safetensors, ``refgan weights convert``, and agreement with PyTorch.

torchvision does not install here (its wheel needs a CUDA torch), so the oracle is
``bench/torch_backbones.py``: the networks written in PyTorch from torchvision's and
pytorch-fid's sources with their module names. refgan's state dict must load into it
with ``strict=True`` (the key sets are torchvision's) and both must compute the same
features and logits. Those tests skip without torch; the file-handling ones do not.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import refgan
from refgan import backbones
from refgan.commands import main
from refgan.errors import UserError
from refgan.safetensors import write_safetensors

#: Parameter counts torchvision documents for its models (torchvision.models docs), and
#: pytorch-fid's Inception (torchvision's without the auxiliary head, 1008 classes).
TORCHVISION_PARAMS = {"vgg16": 138_357_544, "resnet50": 25_557_032,
                      "inception_v3": 27_161_264, "efficientnet_b0": 5_288_548,
                      "inception_v3_fid": 23_850_960}
SMALL = {"vgg16": 32, "resnet50": 64, "inception_v3": 75, "efficientnet_b0": 64,
         "inception_v3_fid": 75}
RTOL = 1e-4


def realistic(model, seed=0, x=None):
    """Random weights with calibrated batch norms: random scales and shifts, then each
    batch norm's statistics are those of its input on batch ``x`` (by default a random
    one; the comparisons pass the batch they compare on) in refgan's training mode with
    momentum 1, perturbed a little. Random initialisation alone
    leaves the statistics at 0 / 1, the activations drift off scale with depth and
    the output hardly depends on the input; a wrong eps or a swapped mean and variance
    must show. Returns the state dict."""
    rng = np.random.default_rng(seed)
    bns = [m for m in model.modules() if isinstance(m, refgan.nn.BatchNorm2d)]
    if not bns:  # VGG16: He-normal weights keep the scale through the ReLU stack
        for m in model.modules():
            if isinstance(m, (refgan.nn.Conv2d, refgan.nn.Linear)):
                fan_in = int(np.prod(m.weight.shape[1:]))
                m.weight.data = (rng.standard_normal(m.weight.shape) * np.sqrt(2 / fan_in)
                                 ).astype(np.float32)
    for bn in bns:
        bn.weight.data = rng.uniform(0.5, 1.5, bn.num_features).astype(np.float32)
        bn.bias.data = rng.normal(0, 0.2, bn.num_features).astype(np.float32)
        bn.momentum = 1.0
    size = 75 if "inception" in model.name else 64
    if x is None:
        x = rng.uniform(-1, 1, (4, 3, size, size)).astype(np.float32)
    with refgan.no_grad():
        model.train()
        model.features(refgan.tensor(x))
        model.eval()
    for bn in bns:
        bn.running_mean = (bn.running_mean + rng.normal(0, 0.05, bn.num_features)
                           * np.sqrt(np.abs(bn.running_mean) + 1e-2)).astype(np.float32)
        bn.running_var = (bn.running_var * rng.uniform(0.8, 1.25, bn.num_features)
                          ).astype(np.float32)
    return model.state_dict()


class Payload:
    """Not a tensor: torch.load(weights_only=True) must refuse to unpickle it."""


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_parameter_counts_are_torchvisions(name):
    m = backbones.build(name, family="torchvision")
    assert m.num_parameters() == TORCHVISION_PARAMS[name]
    assert m.family == "torchvision"


# VGG16's 25088 x 4096 fc1 takes 20-30 s to initialise, write and read
FAST = [pytest.param(n, marks=pytest.mark.slow) if n == "vgg16" else n
        for n in sorted(TORCHVISION_PARAMS)]


@pytest.mark.parametrize("name", FAST)
def test_safetensors_round_trip(name, tmp_path):
    m = backbones.build(name, family="torchvision", seed=3)
    state = realistic(m)
    write_safetensors(tmp_path / "w.safetensors", state)
    loaded = backbones.load(name, weights=tmp_path / "w.safetensors")
    for k, v in loaded.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


# --------------------------------------------------------------------- vs PyTorch
@pytest.fixture(scope="module")
def twins():
    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import torch_backbones  # noqa: E402  (bench/, found on the path just set)
    return torch_backbones


def _agree(name, twins, size, tmp_path):
    import torch

    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, size, size)).astype(np.float32)
    ours = backbones.build(name, family="torchvision", seed=0)
    state = realistic(ours, x=x)
    write_safetensors(tmp_path / "w.safetensors", state)
    ours = backbones.load(name, weights=tmp_path / "w.safetensors")
    twin = twins.build(name)
    twin.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()},
                         strict=True)
    with torch.no_grad():
        want_f = twin.penultimate(torch.from_numpy(x)).numpy()
        want = twin(torch.from_numpy(x)).numpy()
    with refgan.no_grad():
        got_f = ours.features(refgan.tensor(x)).numpy()
        got = ours(refgan.tensor(x)).numpy()
    assert got_f.shape == (2, ours.feature_dim)
    assert np.abs(want_f[0] - want_f[1]).mean() > 0.05 * np.abs(want_f).mean()
    errs = [float(np.abs(a - b).max() / np.abs(b).max()) for a, b in ((got_f, want_f),
                                                                        (got, want))]
    print(f"\nagreement with PyTorch: {name} {size}x{size}: features {errs[0]:.1e}, "
          f"logits {errs[1]:.1e} (max abs difference / max abs value)")
    assert max(errs) <= RTOL


@pytest.mark.parametrize("name", FAST)
def test_small_input_matches_pytorch(name, twins, tmp_path):
    _agree(name, twins, SMALL[name], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_full_size_matches_pytorch(name, twins, tmp_path):
    _agree(name, twins, 299 if "inception" in name else 224, tmp_path)


def test_fid_preprocessing_is_pytorch_bilinear(twins):
    """pytorch-fid: F.interpolate(x, (299, 299), mode='bilinear', align_corners=False),
    then 2x - 1."""
    import torch

    m = backbones.build("inception_v3_fid", family="torchvision")
    for size in (32, 400):
        x = np.random.default_rng(size).uniform(0, 1, (2, 3, size, size + 3)).astype(np.float32)
        want = torch.nn.functional.interpolate(torch.from_numpy(x), size=(299, 299),
                                               mode="bilinear", align_corners=False)
        np.testing.assert_allclose(m.preprocess(x).numpy(), 2 * want.numpy() - 1, atol=1e-5)


def test_torchvision_preprocessing():
    m = backbones.build("resnet50", family="torchvision")
    y = m.preprocess(np.full((1, 3, 224, 224), 0.5, np.float32)).numpy()
    np.testing.assert_allclose(y[0, :, 0, 0], (0.5 - np.array([0.485, 0.456, 0.406]))
                               / np.array([0.229, 0.224, 0.225]), rtol=1e-6)
    assert backbones.build("inception_v3", family="torchvision").preprocess(
        np.ones((1, 3, 8, 8))).numpy().max() == pytest.approx(1.0)


# ------------------------------------------------------------------- wrong files
@pytest.fixture(scope="module")
def resnet_state():
    return backbones.build("resnet50", family="torchvision", seed=0).state_dict()


def _write(tmp_path, state):
    path = tmp_path / "w.safetensors"
    write_safetensors(path, state)
    return path


def test_missing_key_is_named(resnet_state, tmp_path):
    state = dict(resnet_state)
    del state["layer2.1.bn2.running_var"]
    with pytest.raises(UserError, match=r"missing key 'layer2.1.bn2.running_var' \(expected "
                                        r"shape \(128,\)\)"):
        backbones.load("resnet50", weights=_write(tmp_path, state))


def test_extra_key_is_named(resnet_state, tmp_path):
    state = dict(resnet_state, **{"layer5.0.conv1.weight": np.zeros((1, 1, 1, 1), np.float32)})
    with pytest.raises(UserError, match="unexpected key 'layer5.0.conv1.weight'"):
        backbones.load("resnet50", weights=_write(tmp_path, state))


def test_wrong_shape_is_named(resnet_state, tmp_path):
    state = dict(resnet_state, **{"layer1.0.conv2.weight": np.zeros((64, 64, 1, 1), np.float32)})
    with pytest.raises(UserError, match=r"'layer1.0.conv2.weight' has shape \(64, 64, 1, 1\), "
                                        r"resnet50 expects \(64, 64, 3, 3\)"):
        backbones.load("resnet50", weights=_write(tmp_path, state))


def test_other_architecture_is_refused(resnet_state, tmp_path):
    with pytest.raises(UserError) as err:
        backbones.load("efficientnet_b0", weights=_write(tmp_path, resnet_state))
    assert "missing key 'features.0.0.weight'" in str(err.value) and "\n" not in str(err.value)


def test_pth_is_never_unpickled(tmp_path):
    (tmp_path / "x.pth").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="refgan weights convert"):
        backbones.load("resnet50", weights=tmp_path / "x.pth")


def test_garbage_safetensors(tmp_path):
    (tmp_path / "g.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    with pytest.raises(UserError, match="not a valid safetensors file"):
        backbones.load("resnet50", weights=tmp_path / "g.safetensors")


# ------------------------------------------------------------- weights convert
def test_convert_command_round_trip(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    m = backbones.build("efficientnet_b0", family="torchvision", seed=2)
    state = realistic(m)
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()},
               tmp_path / "e.pth")
    assert main(["weights", "convert", str(tmp_path / "e.pth"), "--to",
                 str(tmp_path / "e.safetensors")]) == 0
    assert "wrote" in capsys.readouterr().out
    loaded = backbones.load("efficientnet_b0", weights=tmp_path / "e.safetensors")
    for k, v in loaded.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


def test_convert_refuses_pickled_objects(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.save({"w": Payload()}, tmp_path / "bad.pth")
    assert main(["weights", "convert", str(tmp_path / "bad.pth"), "--to",
                 str(tmp_path / "bad.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "weights_only=True" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.safetensors").exists()


def test_convert_argument_errors(tmp_path, capsys):
    assert main(["weights", "convert", str(tmp_path / "none.pth"), "--to",
                 str(tmp_path / "x.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err
