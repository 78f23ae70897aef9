"""Run folders are never shared or overwritten: a default run folder is created in one
step with a unique name, and ``--resume`` never restarts over saved work nor creates a
folder for a mistyped path."""
import json
import threading

import pytest

import cli
from refgan.training import trainer as trainer_module
from refgan.training.trainer import new_run_dir

SMOKE = ["--backend", "numpy", "train", "--preset", "smoke", "--steps", "2"]


def _one_line(capsys, *parts):
    err = capsys.readouterr().err
    assert all(p in err for p in parts), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


class _FrozenClock:
    """datetime.now() that always returns the same second."""

    @staticmethod
    def now():
        import datetime

        return datetime.datetime(2026, 1, 2, 3, 4, 5)


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(trainer_module, "datetime", _FrozenClock)
    assert cli.main([*SMOKE, "--out", str(tmp_path), "--seed", "1"]) == 0
    assert cli.main([*SMOKE, "--out", str(tmp_path), "--seed", "2"]) == 0
    runs = sorted(p.name for p in tmp_path.iterdir())
    assert runs == ["20260102-030405-wgan-gp", "20260102-030405-wgan-gp-2"]
    seeds = [json.loads((tmp_path / r / "config.json").read_text())["seed"] for r in runs]
    assert seeds == [1, 2]  # the first run's config was not replaced by the second's


def test_new_run_dir_is_atomic_under_concurrency(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "datetime", _FrozenClock)
    made, start = [], threading.Barrier(8)

    def make():
        start.wait()
        made.append(new_run_dir(tmp_path, "dcgan"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and all(p.is_dir() and not any(p.iterdir()) for p in made)


def test_a_refused_train_leaves_no_run_folder(tmp_path, capsys):
    assert cli.main([*SMOKE, "--out", str(tmp_path), "--batch", "500"]) == 2
    assert list(tmp_path.iterdir()) == []


def test_resume_with_latest_json_missing_refuses_to_restart_over_checkpoints(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main([*SMOKE, "--run-dir", str(run)]) == 0
    (run / "checkpoints" / "latest.json").unlink()
    metrics = (run / "metrics.jsonl").read_text()
    best = (run / "checkpoints" / "best.npz").read_bytes()
    capsys.readouterr()
    assert cli.main(["--backend", "numpy", "train", "--resume", str(run), "--steps", "4"]) == 2
    _one_line(capsys, "latest.json is missing", "ckpt-0000002.npz", "will not restart")
    assert (run / "metrics.jsonl").read_text() == metrics
    assert (run / "checkpoints" / "best.npz").read_bytes() == best


def test_resume_of_a_mistyped_path_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "runs" / "typo"
    assert cli.main(["train", "--resume", str(missing)]) == 2
    _one_line(capsys, "no run folder there")
    assert not (tmp_path / "runs").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["train", "--resume", str(empty)]) == 2
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "holds a JSON list"),
    ('"text"', "holds a JSON str"),
])
def test_resume_of_an_unsaved_run_with_a_damaged_config_is_one_line(tmp_path, capsys, content,
                                                                    message):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(content)
    assert cli.main(["train", "--resume", str(run)]) == 2
    _one_line(capsys, message)
