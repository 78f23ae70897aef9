"""The shared training loop: resume equality, checkpoints, failure detection and the
train / generate commands (refgan/training/trainer.py, checkpoint.py, commands/)."""
import json

import numpy as np
import pytest

import cli
import refgan
from refgan.training.data import GanData, run_data
from refgan.training import checkpoint, presets, quality
from refgan.training.monitor import TrainingDiverged
from refgan.training.trainer import Trainer

from test_gans import cached_prepare, trainer


def config(model="wgan-gp", **kw):
    kw.setdefault("steps", 4)
    kw.setdefault("n_disc", 2)
    return presets.resolve(model, "smoke", **kw)


def all_state(t):
    arrays, meta = t.state()
    return arrays, meta["refgan_rng"], meta["batch_rng"]


@pytest.mark.parametrize("model,kw", [
    ("wgan-gp", dict(ema=0.9, schedule="cosine")),   # dropout, BN, GP, EMA, schedule
    ("wgan-gp", dict(gp_every=3)),                   # lazy penalty: on some critic updates
    ("acgan", dict(real_fraction="v3")),            # conditional, epoch-dependent batches
])
def test_interrupted_and_resumed_run_equals_uninterrupted(model, kw, tmp_path, numpy_backend):
    full = trainer(config(model, **kw), tmp_path / "full", log=lambda m: None).setup()
    assert full.run() == 0
    part = trainer(config(model, **kw), tmp_path / "part", log=lambda m: None).setup()
    assert part.run(max_steps=1) == 130          # as if Ctrl-C after step 1
    resumed = Trainer.resume(tmp_path / "part", part.data, log=lambda m: None)
    assert resumed.step == 1
    assert resumed.run() == 0
    a, b = all_state(full), all_state(resumed)
    assert a[0].keys() == b[0].keys()
    for k in a[0]:
        assert np.array_equal(a[0][k], b[0][k]), k    # bitwise
    assert a[1:] == b[1:]


def test_step_logs_average_each_key_over_the_critic_updates_that_have_it(tmp_path,
                                                                          numpy_backend):
    """With 2 critic updates per step and the penalty on updates 0, 3, 6, ... a step's
    'gp' is the one update's value that has it (update 0 in step 0, update 3, the
    second, in step 1) and is absent when neither has it (step 2)."""
    t = trainer(config(steps=3, gp_every=3), tmp_path / "run", log=lambda m: None).setup()
    seen = []
    step = t.models["healthy"].discriminator_step

    def logged_step(batch):
        logs = step(batch)
        seen.append(logs)
        return logs

    t.models["healthy"].discriminator_step = logged_step
    metrics = [t.train_step() for _ in range(3)]
    assert [("healthy/gp" in m) for m in metrics] == [True, True, False]
    assert metrics[0]["healthy/gp"] == pytest.approx(seen[0]["gp"])
    assert metrics[1]["healthy/gp"] == pytest.approx(seen[3]["gp"])
    assert metrics[1]["healthy/d_loss"] == pytest.approx((seen[2]["d_loss"] + seen[3]["d_loss"]) / 2)


def test_resume_on_numba_is_exact(tmp_path):
    with refgan.using_backend("numba"):
        full = trainer(config(steps=3), tmp_path / "full", log=lambda m: None).setup()
        full.run()
        part = trainer(config(steps=3), tmp_path / "part", log=lambda m: None).setup()
        part.run(max_steps=2)
        resumed = Trainer.resume(tmp_path / "part", part.data, log=lambda m: None)
        resumed.run()
        a, b = all_state(full)[0], all_state(resumed)[0]
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_refuses_different_data(tmp_path, numpy_backend):
    t = trainer(config(steps=2), tmp_path / "r", log=lambda m: None).setup()
    t.run()
    data = cached_prepare(t.config)
    other = GanData(data.train, data.test, data.gan_set.with_images(data.gan_set.images * 0.5))
    with pytest.raises(refgan.UserError, match="hash"):
        Trainer.resume(tmp_path / "r", other)
    assert Trainer.resume(tmp_path / "r", run_data(tmp_path / "r")).step == 2


# ------------------------------------------------------------------- checkpoints
def test_checkpoint_is_atomic_and_pickle_free(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    checkpoint.save(folder, 1, {"a::w": np.arange(3.0)}, {"note": "first"})
    checkpoint.save(folder, 2, {"a::w": np.arange(4.0)}, {"note": "second"})
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt-0000002.npz", "latest.json"]

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(refgan.UserError, match="disk full"):
        checkpoint.save(folder, 3, {"a::w": np.arange(5.0)}, {})
    monkeypatch.undo()
    arrays, meta = checkpoint.load(folder)         # the last complete one survives
    assert meta["step"] == 2 and meta["note"] == "second"
    assert np.array_equal(arrays["a::w"], np.arange(4.0))

    # an npz that needs pickle is refused even when its hash matches
    np.savez(folder / "ckpt-0000002.npz", **{"a::w": np.array([{"code": 1}], dtype=object)})
    rec = json.loads((folder / "latest.json").read_text())
    rec["sha256"] = checkpoint.sha256_file(folder / "ckpt-0000002.npz")
    (folder / "latest.json").write_text(json.dumps(rec))
    with pytest.raises(refgan.UserError, match="pickle"):
        checkpoint.load(folder)


def test_damaged_checkpoint_is_detected(tmp_path):
    checkpoint.save(tmp_path, 1, {"a::w": np.ones(3)}, {})
    with open(tmp_path / "ckpt-0000001.npz", "ab") as f:
        f.write(b"x")
    with pytest.raises(refgan.UserError, match="damaged"):
        checkpoint.load(tmp_path)
    with pytest.raises(refgan.UserError, match="no checkpoint"):
        checkpoint.load(tmp_path / "nothing")


# ------------------------------------------------------------- failure detection
def test_nan_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path, numpy_backend):
    t = trainer(config(steps=6, ckpt_every=2), tmp_path / "r", log=lambda m: None).setup()
    t.run(max_steps=2)
    t._stop = False
    w = t.models["healthy"].nets["G"].parameters()[0]
    w.data = w.data * np.float32(np.nan)
    with pytest.raises(TrainingDiverged, match=r"step 3.*last good checkpoint \(step 2\)"):
        t.run()
    arrays, meta = checkpoint.load(tmp_path / "r" / "checkpoints")
    assert meta["step"] == 2
    assert all(np.isfinite(v).all() for v in arrays.values() if v.dtype.kind == "f")
    events = [json.loads(l) for l in open(tmp_path / "r" / "metrics.jsonl")]
    assert events[-1]["event"] == "diverged"


def test_exploding_loss_stops(tmp_path, numpy_backend):
    t = trainer(config(steps=2, explode_threshold=1e-6), tmp_path / "r",
                log=lambda m: None).setup()
    with pytest.raises(TrainingDiverged, match="exceeds"):
        t.run()


def test_mode_collapse_is_flagged(tmp_path, numpy_backend):
    msgs = []
    t = trainer(config(steps=2, collapse_threshold=10.0), tmp_path / "r", log=msgs.append)
    t.setup().run()
    assert any("mode collapse" in m for m in msgs)
    assert ("mode_collapse", "healthy") in t.monitor.flagged
    assert "mode_collapse" in (tmp_path / "r" / "metrics.jsonl").read_text()


def test_ctrl_c_handler_stops_at_step_end(tmp_path, numpy_backend):
    t = trainer(config(steps=3), tmp_path / "r", log=lambda m: None).setup()
    step = t.train_step

    def step_then_ctrl_c():  # Ctrl-C arrives in the middle of step 1
        t._on_sigint(2, None)
        return step()

    t.train_step = step_then_ctrl_c
    assert t.run() == 130 and t.step == 1
    assert checkpoint.load(tmp_path / "r" / "checkpoints")[1]["step"] == 1
    with pytest.raises(KeyboardInterrupt):
        t._on_sigint(2, None)


# ----------------------------------------------------------------------- quality
def test_quality_figures(numpy_backend):
    data = cached_prepare(config())
    train, test = data.train, data.test
    gen = {"healthy": test.images[test.labels == 0], "blast": train.images[train.labels == 1]}
    q = quality.evaluate(train, test, gen)
    assert q["gen_acc"]["healthy"] == q["real_acc"]["healthy"]   # same images
    assert q["kid_simple"]["healthy"] < 0.05                      # real vs itself: tiny
    noise = {"healthy": np.random.default_rng(0).uniform(-1, 1, (8, 3, 16, 16))}
    assert quality.evaluate(train, test, noise)["kid_simple"]["healthy"] > 10 * abs(q["kid_simple"]["healthy"])
    assert "LR acc gen" in quality.table(q)


# ---------------------------------------------------------------------- commands
def test_train_and_generate_commands(tmp_path, capsys):
    run = tmp_path / "run"
    rc = cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "2",
                   "--quality", "--quality-n", "6", "--run-dir", str(run)])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"run folder: {run}" in out and "LR acc gen" in out
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["quality"]["gen_acc"]) == {"healthy", "blast"}
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"] == "wgan-gp" and cfg["per_class"] is True

    # refuses to overwrite a run folder
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke",
                     "--run-dir", str(run)]) == 2
    assert "never overwrites" in capsys.readouterr().err

    gen = tmp_path / "gen"
    assert cli.main(["--backend", "numpy", "generate", str(run), "--n", "3", "--class",
                     "blast", "--out", str(gen)]) == 0
    files = sorted(p.name for p in (gen / "blast").iterdir())
    assert files == ["blast_00000.png", "blast_00001.png", "blast_00002.png"]
    man = json.loads((gen / "manifest.json").read_text())
    assert man["step"] == 2 and man["checkpoint"] == "ckpt-0000002.npz"
    assert man["classes"] == {"blast": {"n": 3, "latent_seed": 1}} and man["seed"] == 0
    # refuses to overwrite output files
    assert cli.main(["--backend", "numpy", "generate", str(run), "--n", "3",
                     "--out", str(gen)]) == 2
    assert cli.main(["--backend", "numpy", "generate", str(run), "--class", "nope",
                     "--out", str(tmp_path / "g2")]) == 2


def test_resume_command_rejects_changed_options(tmp_path, capsys):
    run = tmp_path / "run"
    cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "1",
              "--run-dir", str(run)])
    assert cli.main(["--backend", "numpy", "train", "--resume", str(run), "--lr-g", "1"]) == 2
    assert cli.main(["--backend", "numpy", "train", "--resume", str(run),
                     "--steps", "2"]) == 0
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 2


def test_presets_resolve():
    c = presets.resolve("wgan-gp", "paper")
    assert (c.size, c.batch, c.n_disc, c.gp_lambda, c.lr_g, c.lr_d,
            c.beta1, c.beta2, c.width_d, c.latent_dim) == \
        (64, 64, 5, 10.0, 2e-4, 2e-4, 0.5, 0.9, 64, 128)
    d = presets.resolve("dcgan", "paper", lr_g=4e-4, lr_d=3e-4, schedule="cosine")
    assert (d.n_disc, d.beta2, d.lr_g, d.lr_d) == (1, 0.999, 4e-4, 3e-4)
    assert presets.resolve("infogan").per_class is True
    assert presets.resolve("acgan").per_class is False
    with pytest.raises(refgan.UserError):
        presets.resolve("acgan", per_class=True)
    with pytest.raises(refgan.UserError):
        presets.resolve("wgan-gp", size=24)


# ------------------------------------------------------------------ TrainConfig
def test_config_is_the_one_source_of_options_presets_and_config_json():
    import argparse
    from dataclasses import fields

    from refgan.training.config import TrainConfig, add_arguments, given_options

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--lr-g", "1e-3", "--n-disc", "3", "--no-per-class",
                              "--finetune", "--no-progress"])
    assert given_options(args) == dict(lr_g=1e-3, n_disc=3, per_class=False, finetune=True,
                                       progress=False)
    assert given_options(parser.parse_args([])) == {}
    for name in ("lr_g", "gp_lambda", "n_disc", "quality", "per_class", "ali"):
        assert f"--{name.replace('_', '-')}" in parser.format_help()
    # presets name only fields; config.json round-trips, runtime arrays excluded
    names = {f.name for f in fields(TrainConfig)}
    for values in list(presets.PRESETS.values()) + list(presets.MODEL_DEFAULTS.values()):
        assert set(values) <= names
    c = presets.resolve("wgan-gp", "paper", steps=7)
    c.ali_state = {"w": np.ones(2)}
    record = c.to_json()
    assert "ali_state" not in record and record["steps"] == 7
    assert TrainConfig.from_json(json.loads(json.dumps(record))) == c
    # the older names of an idea are read on resume
    old = dict(record)
    old["n_critic"], old["gp_weight"] = old.pop("n_disc"), old.pop("gp_lambda")
    back = TrainConfig.from_json(old)
    assert (back.n_disc, back.gp_lambda) == (c.n_disc, c.gp_lambda)
    with pytest.raises(refgan.UserError, match="unknown"):
        TrainConfig.from_json(dict(record, nonsense=1))
    with pytest.raises(refgan.UserError, match="unknown"):
        presets.resolve("wgan-gp", nonsense=1)
    assert c.size == 64
    with pytest.raises(TypeError):  # attributes only: one way to read the config
        c["size"]


@pytest.mark.parametrize("bad,message", [
    (dict(batch=1), "--batch must be >= 2"), (dict(steps=0), "--steps must be >= 1"),
    (dict(optimizer="sgd"), "--optimizer must be adam or rmsprop"),
    (dict(schedule="linear"), "--schedule must be constant, cosine or step"),
    (dict(ema=1.0), r"--ema must be a decay in \[0, 1\)"),
    (dict(grow="twice"), "--grow must be auto, none, dihedral, rot45flip or affine"),
    (dict(size=24), "--size image size must be a power of two"),
    (dict(gp_every=0), "--gp-every must be >= 1"),
])
def test_config_validation_names_the_option(bad, message):
    with pytest.raises(refgan.UserError, match=message):
        presets.resolve("wgan-gp", "smoke", **bad)
