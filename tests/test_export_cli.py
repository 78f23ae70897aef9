"""The JAX engine writes refgan's run-folder format (a refgan trainer resumes its
checkpoint, and it resumes refgan's), and ``cli.py export RUN_DIR --to jax`` writes
weights, StableHLO (when jax.export can serialise) and a loader whose outputs match
refgan's generator."""
import importlib.util
import json

import numpy as np
import pytest

pytest.importorskip("jax")

import refgan  # noqa: E402
from refgan.export.oracle import FAST_COMPILE  # noqa: E402
from refgan.training import presets  # noqa: E402
from refgan.training.data import prepare, run_data  # noqa: E402
from refgan.training.trainer import Trainer  # noqa: E402
from refgan.jax_engine import JaxWganGpTrainer  # noqa: E402


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """A 2-step smoke-preset WGAN-GP run trained by the JAX engine."""
    run_dir = tmp_path_factory.mktemp("runs") / "jax-wgan-gp"
    config = presets.resolve("wgan-gp", "smoke", steps=2, engine="jax", backend="jax")
    trainer = JaxWganGpTrainer(config, prepare(config), run_dir)
    trainer.compiler_options = FAST_COMPILE
    assert trainer.setup().run() == 0
    return run_dir


def test_jax_engine_writes_the_run_folder_format(jax_run):
    assert json.loads((jax_run / "config.json").read_text())["engine"] == "jax"
    logs = [json.loads(line) for line in (jax_run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in logs if "step" in r and "event" not in r]
    assert [r["step"] for r in steps] == [1, 2]
    for key in ("healthy/d_loss", "healthy/g_loss", "blast/gp", "blast/wasserstein"):
        assert np.isfinite(steps[-1][key]), key
    latest = json.loads((jax_run / "checkpoints" / "latest.json").read_text())
    assert latest["step"] == 2 and latest["backend"] == "jax"
    assert (jax_run / "samples.png").exists()


def test_refgan_resumes_a_jax_checkpoint_and_jax_resumes_refgan(jax_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(jax_run, run)
    t = Trainer.resume(run, run_data(run), steps=3)  # refgan continues the JAX run ...
    assert t.step == 2 and t.models["healthy"].opts["G"].step_count == 2
    assert t.run() == 0 and t.step == 3
    j = JaxWganGpTrainer.resume(run, run_data(run), steps=4)  # ... and JAX takes refgan's
    assert j.step == 3
    m = j.models["healthy"]
    before = m.state_dict()
    j.jax_states["healthy"] = j._to_jax_state(m)
    j._to_refgan("healthy")  # refgan -> JAX -> refgan is exact
    after = m.state_dict()
    assert set(after) == set(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def _import_loader(folder):
    spec = importlib.util.spec_from_file_location(f"loader_{folder.name}", folder / "loader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_command_writes_weights_and_a_loader(jax_run, tmp_path):
    import cli

    out = tmp_path / "exported"
    assert cli.main(["export", str(jax_run), "--to", "jax", "--out", str(out),
                     "--batch", "4"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["models"]) == {"healthy.G", "healthy.D", "blast.G", "blast.D"}
    loader = _import_loader(out)
    reference = Trainer.resume(jax_run, run_data(jax_run))
    z = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)  # 5: pads
    expected = reference.models["blast"].sample(5, z=z)
    with np.load(out / "blast.G.npz") as f:
        assert set(f.files) == set(reference.models["blast"].nets["G"].state_dict())
    hlo = out / "blast.G.stablehlo"
    if hlo.exists():  # jax.export's serialiser present: the refgan-free path
        np.testing.assert_allclose(loader.load("blast.G")(z), expected, rtol=1e-5, atol=1e-5)
        hlo.unlink()
    got = loader.load("blast.G")(z)  # the refgan-rebuild path
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    scores = loader.load("healthy.D")(expected)
    assert scores.shape == (5, 1)


def _exported(tmp_path, options):
    """A 2-step smoke run trained with ``options``, its JAX export and its loader:
    (run folder, export folder, loader module)."""
    import cli

    run, out = tmp_path / "run", tmp_path / "exported"
    assert cli.main(["-q", "train", "--preset", "smoke", "--steps", "2", *options,
                     "--run-dir", str(run)]) == 0
    assert cli.main(["export", str(run), "--to", "jax", "--out", str(out), "--batch", "4"]) == 0
    return run, out, _import_loader(out)


@pytest.mark.parametrize("options", [["--generator", "styled"], ["--generator", "fastgan", "--recon", "1"],
                                     ["--upsample", "bilinear"],
                                     ["--size", "32", "--generator", "discs", "--patch-critic", "--vae", "1"]])
def test_export_of_the_toolkit_generators_matches_refgan(options, tmp_path):
    """The styled and fastgan generators (noise inputs: their fixed eval-mode planes are
    buffers, JAX values in the export), bilinear upsampling, the disc generator, the
    self-supervised critic (its D(x) without the decoders' loss) and the patch head export
    and compute what refgan does; the VAE's encoder is named as not exported."""
    run, out, loader = _exported(tmp_path, options)
    skipped = json.loads((out / "manifest.json").read_text())["skipped"]
    assert sorted(skipped) == (["blast.E", "healthy.E"] if "--vae" in options else [])
    reference = Trainer.resume(run, run_data(run))
    z = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    expected = reference.models["healthy"].sample(4, z=z)
    hlo = out / "healthy.G.stablehlo"
    if hlo.exists():  # the refgan-free path, then the refgan-rebuild one
        np.testing.assert_allclose(loader.load("healthy.G")(z), expected, rtol=1e-5, atol=1e-5)
        hlo.unlink()
    np.testing.assert_allclose(loader.load("healthy.G")(z), expected, rtol=1e-5, atol=1e-5)
    assert loader.load("healthy.D")(expected).shape == (4, 1)


def test_export_of_a_latent_run_matches_refgan(tmp_path):
    """``--latent-ae``: G exports as G_lat then the decoder and draws what refgan draws;
    the critic reads codes (C x S/8 x S/8), the autoencoder images."""
    run, out, loader = _exported(tmp_path, ["--size", "64", "--steps", "4", "--latent-ae", "2"])
    assert json.loads((out / "manifest.json").read_text())["skipped"] == {}
    reference = Trainer.resume(run, run_data(run))
    z = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    expected = reference.models["healthy"].sample(4, z=z)
    np.testing.assert_allclose(loader.load("healthy.G")(z), expected, rtol=1e-5, atol=1e-5)
    assert loader.load("healthy.D")(np.zeros((4, 8, 8, 8), np.float32)).shape == (4, 1)
    assert loader.load("healthy.AE")(expected).shape == (4, 3, 64, 64)


def test_export_of_an_ali_run_names_the_networks_it_leaves_out(tmp_path, capsys):
    """ALI's encoder (two outputs) and joint critic (two inputs) do not fit the loader's
    call: the export writes its generators and names the others, with why."""
    import cli

    run, out = tmp_path / "run", tmp_path / "exported"
    assert cli.main(["-q", "train", "--model", "ali", "--preset", "smoke", "--steps", "2",
                     "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert cli.main(["export", str(run), "--to", "jax", "--out", str(out), "--batch", "4"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["models"]) == ["blast.G", "healthy.G"]
    assert "reads two inputs" in manifest["skipped"]["healthy.D"]
    assert "returns two arrays" in manifest["skipped"]["healthy.E"]
    assert "not exported: healthy.E (an encoder returns two arrays" in capsys.readouterr().out
    assert not list(out.glob("*.E.*")) and not list(out.glob("*.D.*"))


def test_export_of_the_low_res_critic_matches_refgan(tmp_path):
    """A critic with the low-resolution critic beside it (an average pool and a second
    trunk) exports and scores images as refgan's does."""
    run, _, loader = _exported(tmp_path, ["--low-res-critic", "2"])
    D = Trainer.resume(run, run_data(run)).models["healthy"].nets["D"].eval()
    x = np.random.default_rng(0).uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
    with refgan.no_grad():
        expected = D(refgan.tensor(x)).numpy()
    np.testing.assert_allclose(loader.load("healthy.D")(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["stain", "white", "stain-noise"])
def test_export_of_an_appearance_run_draws_what_refgan_draws(kind, tmp_path):
    """A run of --appearance: the export carries the measured appearances, and the
    loader's generator puts on each image the appearance refgan draws for its z."""
    run, out, loader = _exported(tmp_path, ["--appearance", kind])
    assert (out / "appearance.py").exists() and (out / "healthy.appearance.npz").exists()
    model = Trainer.resume(run, run_data(run)).models["healthy"]
    z = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    expected = model.sample(6, z=z)
    with refgan.no_grad():
        without = model.generator().eval()(refgan.tensor(z)).numpy()
    assert np.abs(expected - without).max() > 0.05        # the appearance changes the images
    # the refgan-free path (where StableHLO was written), then the refgan-rebuild one
    np.testing.assert_allclose(loader.load("healthy.G")(z), expected, rtol=1e-5, atol=1e-5)
    for f in out.glob("*.stablehlo"):
        f.unlink()
    np.testing.assert_allclose(loader.load("healthy.G")(z), expected, rtol=1e-5, atol=1e-5)
    assert loader.load("healthy.D")(expected).shape == (6, 1)


def test_export_refuses_a_folder_without_checkpoints(tmp_path, capsys):
    import cli

    assert cli.main(["export", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a run folder" in capsys.readouterr().err


class StopBeforeTraining(Exception):
    """Not KeyboardInterrupt: the command line turns Ctrl-C into exit code 130."""


def test_train_command_dispatches_engine_jax(tmp_path, monkeypatch):
    """``cli.py train --engine jax`` hands the resolved config to the JAX trainer."""
    import cli
    import refgan.jax_engine as engine

    seen = {}

    class Probe:
        def __init__(self, config, data, run_dir):
            seen.update(config=config, run_dir=run_dir)
            raise StopBeforeTraining

    monkeypatch.setattr(engine, "JaxWganGpTrainer", Probe)
    with pytest.raises(StopBeforeTraining):
        cli.main(["train", "--preset", "smoke", "--engine", "jax",
                  "--run-dir", str(tmp_path / "run")])
    assert seen["config"].engine == "jax" and seen["config"].backend == "jax"


def test_jax_engine_refuses_a_lazy_penalty(tmp_path):
    """The jitted step applies the penalty on every critic update: --gp-every > 1 is
    refused with the fix, not silently ignored."""
    from refgan.errors import UserError

    config = presets.resolve("wgan-gp", "smoke", steps=2, engine="jax", backend="jax", gp_every=2)
    with pytest.raises(UserError, match="--gp-every 2 or use --engine refgan"):
        JaxWganGpTrainer(config, prepare(config), tmp_path / "run").setup()
