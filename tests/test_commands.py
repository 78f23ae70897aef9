"""The commands (refgan/commands/) and their run folders: misuse is one clear line (exit 2), and no
finished work is lost or overwritten."""
import contextlib
import subprocess
import sys

import pytest

import cli


def _one_line(capsys, *parts):
    err = capsys.readouterr().err
    assert all(p in err for p in parts), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


# --------------------------------------------------------------------- study
def test_study_out_never_overwrites_an_earlier_study(tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir()
    (out / "results.json").write_text("{}")
    (out / "report.html").write_text("<html>")
    assert cli.main(["study", "--quick", "--out", str(out)]) == 2
    _one_line(capsys, "holds an earlier study: results.json, report.html", "choose a new --out")
    assert (out / "results.json").read_text() == "{}"
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert cli.main(["study", "--quick", "--out", str(afile)]) == 2
    _one_line(capsys, f"--out {afile} is a file")


@pytest.mark.parametrize("argv, message", [
    (["--n-per-class", "0"], "--n-per-class 0: give at least 1"),
    (["--seed", "-1"], "--seed -1: seeds are whole numbers >= 0"),
])
def test_study_bad_numbers(tmp_path, capsys, argv, message):
    assert cli.main(["study", "--quick", *argv, "--out", str(tmp_path / "s")]) == 2
    _one_line(capsys, message)
    assert not (tmp_path / "s").exists()


# --------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_outside_the_training_loop_is_one_line(tmp_path, capsys, monkeypatch):
    import refgan.commands.data

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(refgan.commands.data, "make_blood_cells", interrupted)
    assert cli.main(["data", "preview", "--out", str(tmp_path / "p.png")]) == 130
    _one_line(capsys, "interrupted (Ctrl-C) during", "data")


# --------------------------------------------------------------------- --skip-bad
@pytest.fixture
def folder_with_a_broken_file(tmp_path):
    import imageio.v3 as iio
    import numpy as np

    rng = np.random.default_rng(0)
    root = tmp_path / "cells"
    for c in ("healthy", "blast"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            iio.imwrite(root / c / f"{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    (root / "blast" / "broken.png").write_bytes(b"\x89PNG broken")
    return root


def test_study_skip_bad_gives_the_data_info_report(folder_with_a_broken_file, tmp_path, capsys):
    from refgan.study.config import StudyConfig
    from refgan.study.protocol import load_data

    root = folder_with_a_broken_file
    assert cli.main(["study", "--quick", "--data", str(root), "--out", str(tmp_path / "s")]) == 2
    _one_line(capsys, "broken.png", "--skip-bad")
    assert cli.main(["data", "info", str(root), "--skip-bad", "--size", "32"]) == 0
    info = capsys.readouterr().out
    logged = []
    ds = load_data(StudyConfig(data=str(root), size=32, skip_bad=True), logged.append)
    assert len(ds) == 12 and "skipped" in info and "broken.png" in info
    assert "\n".join(logged).strip() == info.strip()


# --------------------------------------------------------------------- --size 8
def test_size_8_listed_in_help_is_accepted(tmp_path, capsys):
    import numpy as np

    from refgan.data import make_blood_cells
    from refgan.data.imops import resize

    small, big = make_blood_cells(3, size=8, seed=1), make_blood_cells(3, size=16, seed=1)
    assert small.images.shape == (6, 3, 8, 8)
    np.testing.assert_allclose(small.images, resize((big.images + 1) / 2, 8) * 2 - 1, atol=1e-6)
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--size", "8", "--steps", "1",
                     "--run-dir", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "samples.png").exists()


# --------------------------------------------------------------------- run folders
@contextlib.contextmanager
def _held_by_another_process(run):
    """A second process holding the run folder's lock for the ``with`` block."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; from refgan.training import run_folder\n"
                               f"with run_folder.locked({str(run)!r}):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()      # kill -9: the kernel drops its lock
        holder.wait()


def test_run_folder_lock_refuses_a_second_process_and_dies_with_its_holder(tmp_path):
    from refgan.errors import UserError
    from refgan.training import run_folder

    run = tmp_path / "run"
    with run_folder.locked(run):
        with run_folder.locked(run):  # re-entrant within one process
            pass
    with _held_by_another_process(run) as holder:
        with pytest.raises(UserError, match=rf"run folder {run} is in use by another refgan process \(pid {holder.pid}\)"):
            with run_folder.locked(run):
                pass
    with run_folder.locked(run):      # kill -9 released it
        pass


def test_metrics_truncated_to_the_checkpoint_and_damage_named(tmp_path):
    import json

    from refgan.errors import UserError
    from refgan.training import run_folder

    log = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "healthy/d_loss": 0.1 * s}) for s in range(1, 6)]
    log.write_text("\n".join(lines) + "\n" + '{"step": 6, "healthy/d_lo')   # torn by a kill
    assert run_folder.truncate_metrics(log, 3) == 3
    assert [r["step"] for r in run_folder.read_metrics(log)] == [1, 2, 3]
    log.write_text(lines[0] + "\nnot json\n" + lines[1] + "\n")
    with pytest.raises(UserError, match=r"metrics.jsonl line 2 is not valid JSON"):
        run_folder.read_metrics(log)
    with pytest.raises(UserError, match=r"line 2 is not valid JSON"):
        run_folder.truncate_metrics(log, 1)


def test_staged_output_appears_whole_or_not_at_all(tmp_path):
    from refgan.errors import UserError
    from refgan.training import run_folder

    out = tmp_path / "gen"
    (tmp_path / ".gen.partial").mkdir()                 # left by a killed command
    (tmp_path / ".gen.partial" / "half.png").write_text("x")
    with pytest.raises(RuntimeError):
        with run_folder.staged_output(out) as tmp:
            (tmp / "a.png").write_text("x")
            raise RuntimeError("killed")
    assert not out.exists() and not (tmp_path / ".gen.partial").exists()
    with run_folder.staged_output(out) as tmp:
        (tmp / "a.png").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    with pytest.raises(UserError, match="already exists"):
        with run_folder.staged_output(out):
            pass


# --------------------------------------------------------------------- training options
@pytest.mark.parametrize("argv, message", [
    (["--lr-g", "-1"], "--lr-g must be a positive finite rate such as 2e-4, got -1"),
    (["--lr-d", "0"], "--lr-d must be a positive finite rate"),
    (["--lr-g", "nan"], "--lr-g must be a positive finite rate such as 2e-4, got nan"),
    (["--lr-d", "inf"], "--lr-d must be a positive finite rate such as 2e-4, got inf"),
    (["--beta1", "2"], "--beta1 must lie in [0.0, 1.0), got 2"),
    (["--beta2", "-0.1"], "--beta2 must lie in [0.0, 1.0)"),
    (["--dropout", "1"], "--dropout must lie in [0.0, 1.0) (1 would drop every unit), got 1"),
    (["--dropout", "-0.5"], "--dropout must lie in [0.0, 1.0)"),
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--n-fixed", "0"], "--n-fixed must be >= 1, got 0"),
    (["--quality-n", "0"], "--quality-n must be >= 1, got 0"),
    (["--sample-every", "0"], "--sample-every must be >= 1, got 0"),
    (["--log-every", "0"], "--log-every must be >= 1, got 0"),
    (["--ckpt-every", "0"], "--ckpt-every must be >= 1, got 0"),
    (["--gp-lambda", "nan"], "--gp-lambda must be a finite number >= 0"),
    (["--model", "acgan", "--real-fraction", "1.5"], "--real-fraction must be plain, v1, v2, v3 or a share"),
])
def test_every_training_option_is_checked_up_front(tmp_path, capsys, argv, message):
    run = tmp_path / "run"
    assert cli.main(["train", "--preset", "smoke", *argv, "--run-dir", str(run)]) == 2
    _one_line(capsys, message)
    assert not run.exists()


def test_a_hand_edited_config_is_checked_like_the_command_line():
    from refgan.errors import UserError
    from refgan.training.config import TrainConfig

    good = TrainConfig().to_json()
    for change, message in [(dict(steps="ten"), "--steps must be a whole number, got 'ten'"),
                            (dict(lr_g=None), "--lr-g must be given, got null"),
                            (dict(per_class="yes"), "--per-class must be true or false"),
                            (dict(batch=True), "--batch must be a whole number, got True"),
                            (dict(beta1=-1), "--beta1 must lie in")]:
        with pytest.raises(UserError, match=message):
            TrainConfig.from_json({**good, **change}).validate()


# --------------------------------------------------------------------- train: run folders
SMOKE = ["--backend", "numpy", "train", "--preset", "smoke"]


def _steps_logged(run):
    import json

    return [json.loads(line).get("step") for line in (run / "metrics.jsonl").read_text().splitlines()
            if "event" not in json.loads(line)]


def test_a_file_as_run_dir_out_or_resume(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    for option in ("--run-dir", "--out"):
        assert cli.main([*SMOKE, option, str(f)]) == 2
        _one_line(capsys, f"{option} {f} is a file; give a folder")
    assert cli.main(["train", "--resume", str(f)]) == 2
    _one_line(capsys, f"--resume {f} is a file")


def test_batch_larger_than_the_data(tmp_path, capsys):
    assert cli.main([*SMOKE, "--batch", "64", "--run-dir", str(tmp_path / "r")]) == 2
    _one_line(capsys, "--batch 64 is larger than the", "use --batch")


def test_second_process_on_a_run_is_refused(tmp_path, capsys):
    run = tmp_path / "r"
    assert cli.main([*SMOKE, "--steps", "2", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    with _held_by_another_process(run):
        assert cli.main(["--backend", "numpy", "train", "--resume", str(run), "--steps", "3"]) == 2
        _one_line(capsys, f"run folder {run} is in use by another refgan process")


def test_resume_cuts_metrics_back_to_the_checkpoint_and_records_the_backend(tmp_path, capsys):
    import json

    run = tmp_path / "r"
    assert cli.main(["--backend", "numba", "train", "--preset", "smoke", "--steps", "4", "--ckpt-every", "2",
                     "--log-every", "1", "--run-dir", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["backend"] == "numba"
    with open(run / "metrics.jsonl", "a") as f:             # what a killed --steps 6 resume left
        f.write(json.dumps({"step": 5, "healthy/d_loss": 1.0}) + "\n" + '{"step": 6, "heal')
    assert cli.main(["--backend", "numpy", "train", "--resume", str(run), "--steps", "6"]) == 0
    assert _steps_logged(run) == [1, 2, 3, 4, 5, 6]
    assert "dropped" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["backend"] == "numpy"


def test_run_killed_before_its_first_checkpoint_restarts_from_0(tmp_path, capsys):
    import json

    from refgan.training import presets

    run = tmp_path / "r"
    run.mkdir()
    c = presets.resolve("wgan-gp", "smoke", steps=2)
    c.backend = "numpy"
    (run / "config.json").write_text(json.dumps(c.to_json()))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "healthy/d_loss": 9.0}) + "\n")
    assert cli.main([*SMOKE, "--run-dir", str(run)]) == 2
    _one_line(capsys, "exists and is not empty", "--resume it")
    assert cli.main(["--backend", "numpy", "train", "--resume", str(run)]) == 0
    assert "has no checkpoint (it stopped before its first one): starting it again" in capsys.readouterr().err
    assert _steps_logged(run) == [1, 2]
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 2


def test_resume_checks_the_saved_config_like_the_command_line(tmp_path, capsys):
    import json

    run = tmp_path / "r"
    assert cli.main([*SMOKE, "--steps", "2", "--run-dir", str(run)]) == 0
    rec = json.loads((run / "checkpoints" / "latest.json").read_text())
    rec["config"]["lr_g"] = -1
    (run / "checkpoints" / "latest.json").write_text(json.dumps(rec))
    capsys.readouterr()
    assert cli.main(["--backend", "numpy", "train", "--resume", str(run), "--steps", "3"]) == 2
    _one_line(capsys, "--lr-g must be a positive finite rate")


def test_ctrl_c_during_data_setup_and_closing_figures(tmp_path, capsys, monkeypatch):
    import refgan.commands.train as train_cmd

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(train_cmd.gan_data, "prepare", interrupted)
        assert cli.main([*SMOKE, "--run-dir", str(tmp_path / "a")]) == 130
        _one_line(capsys, "interrupted (Ctrl-C) during", "train")
    with monkeypatch.context() as m:
        m.setattr(train_cmd.quality, "evaluate", interrupted)
        assert cli.main([*SMOKE, "--quality", "--quality-n", "4", "--run-dir", str(tmp_path / "b")]) == 130
        err = capsys.readouterr().err
        assert "during the closing quality figures; the run itself is complete" in err
    assert (tmp_path / "b" / "checkpoints" / "latest.json").exists()


def test_train_skip_bad_and_generate_needs_only_the_run_folder(folder_with_a_broken_file, tmp_path, capsys,
                                                               monkeypatch):
    import os

    import refgan.commands.generate as generate_cmd

    root, run = folder_with_a_broken_file, tmp_path / "r"
    args = [*SMOKE, "--data", str(root), "--size", "16", "--grow", "dihedral", "--steps", "1"]
    assert cli.main([*args, "--run-dir", str(run)]) == 2
    _one_line(capsys, "broken.png", "--skip-bad")
    assert cli.main([*args, "--skip-bad", "--run-dir", str(run)]) == 0
    err = capsys.readouterr().err
    assert "skipped (bad): 1" in err and "broken.png" in err
    os.rename(root, tmp_path / "moved")                  # the data folder is gone
    out = tmp_path / "gen"

    def killed(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:                     # a generate killed half-way
        m.setattr(generate_cmd.iio, "imwrite", killed)
        assert cli.main(["generate", str(run), "--n", "2", "--out", str(out)]) == 130
    assert not out.exists()
    assert cli.main(["generate", str(run), "--n", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["blast", "healthy", "manifest.json"]
