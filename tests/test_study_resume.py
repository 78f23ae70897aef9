"""An interrupted study resumes: finished jobs (a fold's GAN and its classifiers, or a
fold's real conditions) are kept, the others run, and the numbers are those of an
uninterrupted study. A killed study's folder is refused as a new --out, and resumed."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cli
import refgan
from refgan.study import quick_config, run_study

from study_helpers import SMALL, stub_gan

ROOT = Path(__file__).resolve().parents[1]
CFG = dict(SMALL, classifiers=("lr",), ratios=(), balance=False, repeats=1, gan_seeds=2,
           conditions=("real", "real+gen"))


class _Failing:
    """The stub GAN, interrupted (Ctrl-C) at its ``at``-th call."""

    description = "stub (noisy real images)"

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, *args):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return stub_gan(*args)


def _per_fold(res):
    table = res.to_dict()["table"]
    return {cond: table["lr"][cond]["accuracy"]["per_fold"] for cond in ("real", "real+gen")}


def test_interrupted_study_resumes_with_the_numbers_of_an_uninterrupted_one(tmp_path):
    with refgan.using_backend("numpy"):
        whole = run_study(quick_config(**CFG), tmp_path / "whole", gan_step=stub_gan,
                          log=lambda m: None)
        out = tmp_path / "cut"
        with pytest.raises(KeyboardInterrupt):
            run_study(quick_config(**CFG), out, gan_step=_Failing(at=3), log=lambda m: None)
        finished = sorted(p.name for p in (out / "jobs").glob("*.json"))
        assert 2 <= len(finished) < 6 and not (out / "results.json").exists()
        stamps = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.json")}
        gan = _Failing(at=0)
        logged = []
        res = run_study(quick_config(**CFG), out, gan_step=gan, log=logged.append,
                        resume_jobs=True)
    assert any(f"{len(finished)} of 6 jobs finished earlier are kept" in m for m in logged), logged
    assert gan.calls == 4 - sum(n.startswith("gan-") for n in finished)  # only the missing GANs
    assert {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.json")
            if p.name in stamps} == stamps
    assert _per_fold(res) == _per_fold(whole)
    assert (out / "report.html").exists()


def _cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_killed_study_is_refused_as_new_out_and_resumes(tmp_path):
    out = tmp_path / "study"
    study = ["--backend", "numpy", "study", "--quick", "--classifiers", "lr", "--folds", "2",
             "--repeats", "1", "--gan-seeds", "1", "--gan-steps", "4", "--n-per-class", "16",
             "--size", "16", "--ratios", "1", "--conditions", "real,real+gen", "--jobs", "1",
             "--no-progress"]
    proc = _cli(*study, "--out", str(out))
    deadline = time.time() + 300
    while not list((out / "jobs").glob("gan-*.json")) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    kept = {p.name: p.read_text() for p in (out / "jobs").glob("*.json")}
    assert kept and not (out / "results.json").exists()
    again = _cli(*study, "--out", str(out))
    _, err = again.communicate(timeout=120)
    assert again.returncode == 2 and f"refgan study --resume {out}" in err
    bad = _cli("study", "--resume", str(out), "--folds", "3")
    _, err = bad.communicate(timeout=120)
    assert bad.returncode == 2 and "leave out --folds" in err
    resumed = _cli("--backend", "numpy", "study", "--resume", str(out), "--no-progress")
    stdout, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    jobs = 6  # 2 folds x (real, GAN, balancing GAN): --quick turns the balancing mode on
    assert f"{len(kept)} of {jobs} jobs finished earlier are kept" in stdout
    assert {n: (out / "jobs" / n).read_text() for n in kept} == kept
    res = json.loads((out / "results.json").read_text())
    assert len(res["folds"]) == jobs and (out / "report.html").exists()
