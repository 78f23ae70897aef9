"""``export RUN_DIR --to torch``: safetensors written with NumPy, and PyTorch modules built
from the manifest that compute what refgan computes (skipped without torch)."""
import importlib.util
import json
import struct

import numpy as np
import pytest

import refgan
from refgan import nn
from refgan.commands import main
from refgan import torch_export
from refgan.training.load import load_models
from refgan.safetensors import read_safetensors, write_safetensors
from refgan.torch_export import architecture

WHOLE = ["wgan-gp", "dcgan"]           # G: z -> image and D: image -> score, both exported
# Models whose chain networks export one by one (trunk and heads, CGAN's G and D without
# the label embeddings, ALI's G without its encoder and joint critic).
PARTS = {"infogan": ["blast.D", "blast.G", "blast.Q", "blast.trunk", "healthy.D", "healthy.G",
                     "healthy.Q", "healthy.trunk"],
         "cgan": ["all.D", "all.G"], "acgan": ["all.G", "all.heads", "all.trunk"],
         "ali": ["blast.G", "healthy.G"]}
MODELS = WHOLE + list(PARTS)


def test_safetensors_layout_and_round_trip(tmp_path):
    tensors = {"w": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "step": np.array(7),
               "empty": np.zeros((0, 3), np.float64), "mask": np.array([True, False])}
    write_safetensors(tmp_path / "t.safetensors", tensors, metadata={"format": "pt"})
    raw = (tmp_path / "t.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"format": "pt"}
    assert header["w"] == {"dtype": "F32", "shape": [2, 3, 4], "data_offsets": [0, 96]}
    spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert spans[-1][1] == len(raw) - 8 - n                       # no holes, nothing after
    back, meta = read_safetensors(tmp_path / "t.safetensors")
    assert meta == {"format": "pt"} and list(back) == list(tensors)
    for k in tensors:
        assert back[k].dtype == tensors[k].dtype and np.array_equal(back[k], tensors[k])


def test_the_safetensors_package_reads_our_files(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors = {"a": np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32),
               "b": np.arange(4, dtype=np.int64)}
    write_safetensors(tmp_path / "t.safetensors", tensors)
    loaded = st.load_file(str(tmp_path / "t.safetensors"))
    assert all(np.array_equal(loaded[k], tensors[k]) for k in tensors)


def test_architecture_names_children_as_the_state_dict_does():
    net = nn.Sequential(nn.Conv2d(3, 4, 5, 2, "same"), nn.LeakyReLU(0.2), nn.Flatten(),
                        nn.Linear(64, 1))
    arch = architecture(net)
    assert [name for name, _ in arch["children"]] == ["0", "1", "2", "3"]
    assert arch["children"][0][1] == {"layer": "Conv2d", "args": {
        "in_channels": 3, "out_channels": 4, "kernel_size": [5, 5], "stride": 2,
        "padding": "same", "dilation": 1, "bias": True}}
    with pytest.raises(TypeError, match="Embedding"):
        architecture(nn.Sequential(nn.Embedding(2, 3)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A briefly trained per-class run of each model (batch-norm statistics moved)."""
    root = tmp_path_factory.mktemp("torch_runs")
    out = {}
    for model in MODELS:
        run = root / model
        assert main(["-q", "train", "--model", model, "--preset", "smoke", "--steps", "2",
                     "--no-quality", "--run-dir", str(run)]) == 0
        out[model] = run
    return out


def _load_template(folder):
    spec = importlib.util.spec_from_file_location(f"refgan_torch_{folder.name}",
                                                  folder / "refgan_torch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _max_relative_difference(models, folder, refgan_torch):
    """max over exported networks of max |torch - refgan| / max |refgan|, eval mode."""
    import torch

    manifest = json.loads((folder / "manifest.json").read_text())
    worst = {}
    for name in refgan_torch.names(folder):
        key, net = name.split(".")
        module = models[key].nets[net]
        module.eval()
        shape = [6] + manifest["networks"][name]["input_shape"][1:]
        x = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
        with refgan.no_grad():
            expected = module(refgan.tensor(x)).data
        with torch.no_grad():
            got = refgan_torch.load(name, folder)(torch.from_numpy(x)).numpy()
        assert got.shape == expected.shape, name
        worst[name] = float(np.abs(got - expected).max() / np.abs(expected).max())
    return worst


@pytest.mark.parametrize("model", MODELS)
def test_torch_modules_match_refgan(model, runs, tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "torch"
    assert main(["export", str(runs[model]), "--to", "torch", "--out", str(out)]) == 0
    assert "refgan_torch.load" in capsys.readouterr().out
    expected = PARTS.get(model, ["blast.D", "blast.G", "healthy.D", "healthy.G"])
    assert sorted(p.suffix for p in out.iterdir()) == [".json", ".py"] + [".safetensors"] * len(expected)
    models, _ = load_models(runs[model])
    refgan_torch = _load_template(out)
    assert refgan_torch.names(out) == expected
    worst = _max_relative_difference(models, out, refgan_torch)
    assert max(worst.values()) < 1e-5, worst


@pytest.mark.parametrize("option,net,layer", [
    (["--minibatch-std", "4"], "healthy.D", '"MinibatchStd"'),
    (["--upsample", "bilinear"], "healthy.G", '"mode": "bilinear"'),
])
def test_layers_with_torch_twins_match_refgan(option, net, layer, tmp_path):
    """The critic's MinibatchStd (checked at batch 6: groups of 3) and the bilinear
    Upsample of ``--upsample bilinear`` (torch's align_corners=False) export as torch
    layers that compute what refgan's do."""
    pytest.importorskip("torch")
    run, out = tmp_path / "run", tmp_path / "torch"
    assert main(["-q", "train", "--model", "wgan-gp", "--preset", "smoke", "--steps", "2",
                 *option, "--no-quality", "--run-dir", str(run)]) == 0
    assert main(["export", str(run), "--to", "torch", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert layer in json.dumps(manifest["networks"][net]["architecture"])
    models, _ = load_models(run)
    worst = _max_relative_difference(models, out, _load_template(out))
    assert max(worst.values()) < 1e-5, worst


def test_a_latent_runs_networks_export_and_match_refgan(tmp_path):
    """A ``--latent-ae`` run: G (G_lat then the decoder) and the autoencoder are chains;
    the critic reads codes, and the manifest says so."""
    pytest.importorskip("torch")
    run, out = tmp_path / "run", tmp_path / "torch"
    assert main(["-q", "train", "--model", "wgan-gp", "--preset", "smoke", "--steps", "4",
                 "--size", "64", "--latent-ae", "2", "--no-quality", "--run-dir", str(run)]) == 0
    assert json.loads((run / "summary.json").read_text())["latent_ae_steps"] == 2
    assert main(["export", str(run), "--to", "torch", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["networks"]["healthy.D"]["input_shape"] == [1, 8, 8, 8]
    assert manifest["networks"]["healthy.AE"]["input_shape"] == [1, 3, 64, 64]
    models, _ = load_models(run)
    refgan_torch = _load_template(out)
    assert refgan_torch.names(out) == [f"{k}.{n}" for k in ("blast", "healthy") for n in ("AE", "D", "G")]
    worst = _max_relative_difference(models, out, refgan_torch)
    assert max(worst.values()) < 1e-5, worst


def test_symmetric_padding_would_be_caught(runs, tmp_path, monkeypatch):
    """torch's padding=2 for the critic's 5x5 stride-2 'same' convolutions is wrong."""
    pytest.importorskip("torch")
    models, meta = load_models(runs["wgan-gp"])
    torch_export.export_models(models, meta["config"], tmp_path)
    refgan_torch = _load_template(tmp_path)
    conv = refgan_torch.Conv2d(3, 4, 5, 2, "same", 1, True)
    assert conv.pads(16, 16) == (1, 2, 1, 2) and conv.pads(15, 15) == (2, 2, 2, 2)
    same_pads = refgan_torch.Conv2d.pads
    monkeypatch.setattr(refgan_torch.Conv2d, "pads", lambda self, h, w: (
        (2, 2, 2, 2) if self.stride == (2, 2) else same_pads(self, h, w)))
    worst = _max_relative_difference(models, tmp_path, refgan_torch)
    assert min(v for k, v in worst.items() if k.endswith(".D")) > 1e-3


def test_a_model_with_no_exportable_network_is_a_clear_error(tmp_path):
    class Fake:
        nets = {"D": nn.Sequential(nn.Embedding(2, 3))}
        conditional, aux = True, {}

    with pytest.raises(refgan.UserError, match="no network of this cgan run"):
        torch_export.export_models({"all": Fake()}, {"model": "cgan", "size": 8,
                                                      "latent_dim": 4}, tmp_path / "o")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["stain", "white", "stain-noise"])
def test_an_appearance_runs_generator_draws_what_refgan_draws(kind, tmp_path):
    """A run of --appearance: the torch generator puts on each image the appearance
    refgan draws for its z (what ``refgan generate`` writes), and gradients pass the
    appearance's map into G."""
    torch = pytest.importorskip("torch")
    run, out = tmp_path / "run", tmp_path / "o"
    assert main(["-q", "train", "--preset", "smoke", "--steps", "2", "--appearance", kind,
                 "--no-quality", "--run-dir", str(run)]) == 0
    assert main(["export", str(run), "--to", "torch", "--out", str(out)]) == 0
    assert (out / "appearance.py").exists() and (out / "healthy.appearance.npz").exists()
    model = load_models(run)[0]["healthy"]
    z = np.random.default_rng(0).standard_normal((6, model.latent_dim)).astype(np.float32)
    expected = model.sample(6, z=z)
    with refgan.no_grad():
        without = model.generator().eval()(refgan.tensor(z)).numpy()
    assert np.abs(expected - without).max() > 0.05        # the appearance changes the images
    G = _load_template(out).load("healthy.G", out)
    got = G(torch.from_numpy(z))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    got.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    # the appearance's map, in float64, against finite differences in G's output
    y = torch.from_numpy(without[:2].astype(np.float64) * 0.9).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: type(G)(lambda _: v, G.appearance)(
        torch.from_numpy(z[:2])), (y,))


def test_a_conditional_appearance_runs_generator_is_named_not_exported(tmp_path, capsys):
    """CGAN with --appearance draws each image's appearance for its class, which the
    exported chain (z joined to the label embedding) does not see: its generator is
    skipped by name, not exported without it; the critic is exported."""
    run, out = tmp_path / "run", tmp_path / "o"
    assert main(["-q", "train", "--model", "cgan", "--preset", "smoke", "--steps", "1",
                 "--appearance", "stain", "--no-quality", "--run-dir", str(run)]) == 0
    assert main(["export", str(run), "--to", "torch", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["networks"]) == {"all.D"}
    assert "drawn per class" in manifest["skipped"]["all.G"]
    assert "not exported: all.G" in capsys.readouterr().out
    assert not (out / "appearance.py").exists()
