"""An interrupted sweep is marked, never ranked as complete, and resumes: finished
trials are kept, an interrupted trial continues from its checkpoint, the rest run.
trials.csv is written by the csv module."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from refgan.training import sweep
from refgan.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [(1e-4, 1e-3), (2e-4, 2e-4), (3e-4, 1e-3)]
OPTIONS = {"steps": 3, "quality_n": 8}


def _interrupt(monkeypatch, trial: str, at_step: int):
    """Trial ``trial``'s training stops at ``at_step`` as Ctrl-C would stop it."""
    run = Trainer.run

    def stopping(self, max_steps=None):
        return run(self, max_steps=at_step if self.run_dir.name == trial else max_steps)

    monkeypatch.setattr(Trainer, "run", stopping)


def test_an_interrupted_trial_is_marked_and_the_sweep_resumes(tmp_path, numpy_backend, monkeypatch):
    out = tmp_path / "s"
    _interrupt(monkeypatch, "trial-001", at_step=1)
    logged = []
    trials = sweep.sweep("wgan-gp", "smoke", OPTIONS, PAIRS, out, n_jobs=1,
                         joblib_backend="threading", log=logged.append)
    status = {Path(t["run_dir"]).name: t["status"] for t in trials}
    assert status == {"trial-000": "complete", "trial-001": "interrupted", "trial-002": "not run"}
    assert trials[0]["status"] == "complete"  # the unfinished ones rank last
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["status"] for r in rows] == ["complete", "interrupted", "not run"]
    assert "sweep --resume" in logged[-1] and "2 of 3 trial(s) unfinished" in logged[-1]
    assert json.loads((out / "best.json").read_text())["config"]["lr_g"] == PAIRS[0][0]
    first = (out / "trial-000" / "trial.json").stat().st_mtime_ns
    assert not (out / "trial-001" / "trial.json").exists()

    monkeypatch.undo()
    logged.clear()
    trials = sweep.sweep(None, None, {}, [], out, n_jobs=1, joblib_backend="threading",
                         log=logged.append, resume=True)
    assert "resuming: 1 finished trial(s) kept, 2 to run" in logged[0]
    assert sorted(t["status"] for t in trials) == ["complete"] * 3
    assert (out / "trial-000" / "trial.json").stat().st_mtime_ns == first  # kept, not rerun
    history = json.loads((out / "trial-001" / "config.json").read_text())["history"]
    assert [h["from_step"] for h in history] == [0, 1]  # continued from its checkpoint
    assert {(t["lr_g"], t["lr_d"]) for t in trials} == set(PAIRS)


def test_trials_csv_keeps_a_class_name_with_a_comma_in_its_column(tmp_path):
    per = {"lr_pixels": 0.5, "svm_colour": 0.75}
    trials = [dict(lr_g=1e-4, lr_d=1e-3, c2st=0.6, kid=0.1, wall_s=1.0, status="complete",
                   flags=[], error=None, run_dir=str(tmp_path / 'a "quoted", run'),
                   per_class={"normal, benign": per, "malignant": per})]
    sweep.write_csv(tmp_path / "t.csv", trials)
    rows = list(csv.reader((tmp_path / "t.csv").open()))
    assert len(rows[0]) == len(rows[1])
    row = dict(zip(rows[0], rows[1]))
    assert row["normal, benign_lr_pixels"] == "0.500" and row["run_dir"].endswith('a "quoted", run')


def _cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_sweep_resumes_from_the_command_line(tmp_path):
    out = tmp_path / "s"
    proc = _cli("--backend", "numpy", "sweep", "--preset", "smoke", "--search", "grid",
                "--lr-g", "1e-4,2e-4", "--lr-d", "1e-3", "--steps", "3", "--set", "quality_n=8",
                "--jobs", "1", "--joblib-backend", "threading", "--out", str(out))
    deadline = time.time() + 120
    while not (out / "trial-000" / "trial.json").exists() and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    kept = (out / "trial-000" / "trial.json").read_text()
    again = _cli("--backend", "numpy", "sweep", "--out", str(out), "--jobs", "1")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 2 and "--resume" in err  # refused, and told how to go on
    resumed = _cli("--backend", "numpy", "sweep", "--resume", str(out), "--jobs", "1",
                   "--joblib-backend", "threading")
    stdout, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming: 1 finished trial(s) kept, 1 to run" in err
    assert (out / "trial-000" / "trial.json").read_text() == kept
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["status"] for r in rows] == ["complete", "complete"]
