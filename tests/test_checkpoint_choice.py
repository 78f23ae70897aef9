"""Which checkpoint generate, export and study --gan RUN read
(refgan/training/checkpoint.py ``choose``, refgan/training/load.py ``load_models``):
the one the run reported (its best with --use-best), or --checkpoint best|latest|STEP."""
import json

import numpy as np
import pytest

from refgan.commands import main
from refgan.errors import UserError
from refgan.study.gan import run_folder_step
from refgan.training import presets, quality
from refgan.training.data import prepare
from refgan.training.load import load_models
from refgan.training.trainer import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A smoke run of 4 steps whose best checkpoint (by a planted score) is step 2,
    every checkpoint kept; returns (run_dir, {step: G's first weight})."""
    with pytest.MonkeyPatch.context() as mp:
        import refgan
        with refgan.using_backend("numpy"):
            scores = iter([0.9, 0.6, 0.8, 0.95])
            mp.setattr(quality, "c2st_score", lambda ref, gen, seed=0: (next(scores), {}))
            c = presets.resolve("wgan-gp", "smoke", steps=4, ckpt_every=1, best_metric="c2st",
                                use_best=True, keep_every=1)
            run_dir = tmp_path_factory.mktemp("choice") / "r"
            t = Trainer(c, prepare(c), run_dir, log=lambda m: None).setup()
            weights = {}
            original = t.save_checkpoint

            def save_and_remember():
                original()
                weights[t.step] = t.models["healthy"].nets["G"].state_dict()["project.0.weight"].copy()

            t.save_checkpoint = save_and_remember
            assert t.run() == 0 and t.best["step"] == 2
    return run_dir, weights


def _g(models):
    return models["healthy"].nets["G"].state_dict()["project.0.weight"]


def test_default_is_the_checkpoint_the_run_reported(run, numpy_backend):
    run_dir, weights = run
    models, meta = load_models(run_dir)
    assert meta["step"] == 2 and meta["checkpoint"] == "best" and "best" in meta["checkpoint_why"]
    np.testing.assert_array_equal(_g(models), weights[2])


@pytest.mark.parametrize("which, step", [("latest", 4), ("best", 2), ("3", 3), ("4", 4), ("1", 1)])
def test_checkpoint_by_name_or_step(run, numpy_backend, which, step):
    run_dir, weights = run
    models, meta = load_models(run_dir, which)
    assert meta["step"] == step
    np.testing.assert_array_equal(_g(models), weights[step])


@pytest.mark.parametrize("which, words", [("7", r"no checkpoint of step 7; it has step\(s\) 1, 2, 3, 4"),
                                          ("newest", "must be best, latest or a step")])
def test_unknown_checkpoint_is_one_line(run, numpy_backend, which, words):
    with pytest.raises(UserError, match=words):
        load_models(run[0], which)


def test_without_use_best_the_latest(tmp_path, numpy_backend):
    c = presets.resolve("wgan-gp", "smoke", steps=3, ckpt_every=1)
    t = Trainer(c, prepare(c), tmp_path / "r", log=lambda m: None).setup()
    assert t.run() == 0
    _, meta = load_models(tmp_path / "r")
    assert meta["step"] == 3 and meta["checkpoint"] == "latest"
    (tmp_path / "r" / "checkpoints" / "best.json").unlink()
    with pytest.raises(UserError, match="no best checkpoint"):
        load_models(tmp_path / "r", "best")


def test_generate_uses_and_says_the_reported_step(run, tmp_path, capsys):
    run_dir, _ = run
    assert main(["--backend", "numpy", "generate", str(run_dir), "--n", "2", "--out",
                 str(tmp_path / "g")]) == 0
    out = capsys.readouterr().out
    assert "step 2" in out and "best checkpoint" in out
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert manifest["step"] == 2 and manifest["checkpoint_kind"] == "best"
    assert main(["--backend", "numpy", "generate", str(run_dir), "--n", "2", "--checkpoint", "latest",
                 "--out", str(tmp_path / "g2")]) == 0
    assert json.loads((tmp_path / "g2" / "manifest.json").read_text())["step"] == 4
    assert main(["--backend", "numpy", "generate", str(run_dir), "--n", "2", "--checkpoint", "9",
                 "--out", str(tmp_path / "g3")]) == 2


def test_torch_export_uses_the_reported_step(run, tmp_path, capsys):
    pytest.importorskip("safetensors")
    run_dir, _ = run
    assert main(["--backend", "numpy", "export", str(run_dir), "--to", "torch", "--out",
                 str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "manifest.json").read_text())["step"] == 2
    assert "step 2" in capsys.readouterr().out


def test_study_run_folder_step_samples_the_chosen_checkpoint(run, numpy_backend, tmp_path):
    run_dir, _ = run
    from refgan.training.data import run_data
    train = run_data(run_dir).train
    n = {name: 2 for name in train.class_names}
    assert run_folder_step(run_dir)(train, n, 0, tmp_path).info["checkpoint_step"] == 2
    assert run_folder_step(run_dir, "latest")(train, n, 0, tmp_path).info["checkpoint_step"] == 4
