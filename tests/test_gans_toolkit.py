"""The limited-data toolkit wired into a model (refgan/gans/base.py make_toolkit,
wgan_gp.py): options, their state in checkpoints, and bit-identical resume."""
import json

import numpy as np
import pytest

import cli

from refgan import nn
from refgan.errors import UserError
from refgan.gans.colour_critic import WithColourBranch
from refgan.gans.styled import StyledGenerator
from refgan.nn.spectral_norm import SpectralNorm
from refgan.training import presets
from refgan.training.trainer import Trainer

from test_gans import trainer

EVERYTHING = dict(generator="styled", loss="hinge", gp_lambda=0.0, r1=1.0, gp_every=2,
                  lecam=0.1, ada_target=0.6, spectral_norm=True, mode_seeking=0.1,
                  appearance="stain", colour_critic=4)


def config(**kw):
    kw.setdefault("steps", 4)
    kw.setdefault("n_disc", 2)
    return presets.resolve("wgan-gp", "smoke", **kw)


def start(c, run_dir):
    t = trainer(c, run_dir, log=lambda m: None).setup()
    for m in t.models.values():
        m.aux["ada"].p = np.asarray(0.5)     # so the augmentation is on from the start
    return t


def test_options_build_what_they_name(tmp_path, numpy_backend):
    t = start(config(**EVERYTHING), tmp_path / "run")
    m = t.models["healthy"]
    assert isinstance(m.nets["G"], StyledGenerator)
    layers = [x for x in m.nets["D"].modules() if isinstance(x, (nn.Conv2d, nn.Linear))]
    wrapped = [x.module for x in m.nets["D"].modules() if isinstance(x, SpectralNorm)]
    assert isinstance(m.nets["D"], WithColourBranch)
    assert len(layers) == 3 + 3 and all(any(x is w for w in wrapped) for x in layers)
    state = m.state_dict()
    assert {"aux.ada.p", "aux.lecam.ema_real", "aux.lecam.ema_fake"} <= set(state)
    assert any(k.endswith(".u") and k.startswith("net.D.") for k in state)
    logs = m.discriminator_step(t.batch("healthy"))
    assert {"ada_p", "lecam", "r1"} <= set(logs) and "gp" not in logs


def test_resume_with_styled_sn_ada_lecam_r1_is_bit_identical(tmp_path, numpy_backend):
    c = config(**EVERYTHING)
    full = start(c, tmp_path / "full")
    assert full.run() == 0
    part = start(c, tmp_path / "part")
    assert part.run(max_steps=1) == 130
    resumed = Trainer.resume(tmp_path / "part", part.data, log=lambda m: None)
    assert resumed.run() == 0
    (a, ma), (b, mb) = full.state(), resumed.state()
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert ma["refgan_rng"] == mb["refgan_rng"]
    for state in ("aux.ada.p", "aux.ada.sign_sum", "aux.lecam.ema_real", ".u", ".v",
                  "aux.appearance.table"):
        assert any(k.endswith(state) for k in a), state     # compared above


@pytest.mark.parametrize("kw,message", [
    (dict(model="infogan", loss="hinge"), "infogan does not use --loss"),
    (dict(critic="projection"), "wgan-gp does not use --critic"),
    (dict(model="dcgan", generator="styled"), "dcgan does not use --generator"),
    (dict(ada_target=1.0), "--ada-target must lie in"),
    (dict(generator="big"), "--generator must be upsample, styled, stain, fastgan or discs"),
    (dict(r1=-1.0), "--r1 must be a finite number"),
    (dict(mode_seeking=1.0, batch=7),
     r"--mode-seeking 1 pairs the batch's halves: give an even --batch \(got 7\) or --mode-seeking 0"),
    (dict(model="acgan", mode_seeking=1.0), "acgan does not use --mode-seeking"),
    (dict(model="infogan", appearance="stain"), "infogan does not use --appearance"),
    (dict(model="cgan", colour_critic=8), "cgan does not use --colour-critic"),
    (dict(colour_critic=-1), "--colour-critic must be >= 0"),
    (dict(appearance="measured"), "--appearance must be generator, white, stain, stain-noise, stain-peak or stain-peak-noise"),
])
def test_bad_toolkit_options_are_refused_by_name(kw, message):
    model = kw.pop("model", "wgan-gp")
    with pytest.raises(UserError, match=message):
        presets.resolve(model, "smoke", strict=True, **kw)   # as the command line does


def test_jax_engine_refuses_the_toolkit_options_its_step_lacks(tmp_path, capsys):
    code = cli.main(["train", "--preset", "smoke", "--engine", "jax", "--spectral-norm",
                     "--run-dir", str(tmp_path / "run")])
    assert code == 2
    assert "--engine jax does not implement --spectral-norm" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options,message", [
    (["--model", "dcgan"], "--engine jax trains wgan-gp only, not dcgan"),
    (["--optimizer", "rmsprop"], "--engine jax implements Adam only; drop --optimizer rmsprop"),
    (["--gp-every", "2"], "drop --gp-every 2 or use --engine refgan"),
])
def test_jax_engine_refuses_a_new_run_before_making_its_folder(options, message, tmp_path, capsys):
    code = cli.main(["train", "--preset", "smoke", "--engine", "jax", *options,
                     "--run-dir", str(tmp_path / "run")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_jax_engine_refuses_to_resume_a_run_whose_loss_it_lacks(tmp_path, capsys):
    """A refgan-engine run of the hinge loss is not resumed on the JAX engine, whose step
    would go on with the Wasserstein loss and penalty."""
    run = tmp_path / "run"
    assert cli.main(["-q", "train", "--preset", "smoke", "--loss", "hinge", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), "--engine", "jax", "--steps", "5"]) == 2
    assert "--engine jax does not implement --loss" in capsys.readouterr().err
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 3


def test_jax_engine_trains_on_images_with_their_appearance_removed(tmp_path):
    """--appearance is read by the JAX engine: its models learn from the normalised
    images that the refgan engine's learn from (the step itself is the plain one)."""
    pytest.importorskip("jax")
    from refgan.jax_engine import JaxWganGpTrainer
    from refgan.training.data import prepare

    c = presets.resolve("wgan-gp", "smoke", appearance="stain", engine="jax", backend="jax")
    jax_trainer = JaxWganGpTrainer(c, prepare(c), tmp_path / "jax").setup()
    refgan_trainer = trainer(c, tmp_path / "refgan", log=lambda m: None).setup()
    for key in ("healthy", "blast"):
        np.testing.assert_array_equal(jax_trainer.images[key], refgan_trainer.images[key])
        assert "appearance" in jax_trainer.models[key].aux
