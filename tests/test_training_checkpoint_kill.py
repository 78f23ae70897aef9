"""Crash safety of checkpoints (refgan/training/checkpoint.py) end to end: a smoke
training run killed with SIGKILL at random moments (between steps, inside a checkpoint
write, between its two renames) and resumed each time ends with the same weights,
bit for bit, as a run never interrupted.

Only the command line is used, so the test holds whatever the trainer's insides are.
A checkpoint after every step makes most kills land in or near a write."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STEPS = 16
KILLS = 3
TRAIN = ["--backend", "numpy", "train", "--preset", "smoke", "--steps", str(STEPS), "--ckpt-every", "1",
         "--log-every", "1", "--sample-every", "1000", "--no-progress", "--no-quality"]


def _cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _step(run: Path) -> int:
    """The step of the committed checkpoint, -1 before the first one."""
    try:
        return json.loads((run / "checkpoints" / "latest.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return -1


def _final(run: Path):
    rec = json.loads((run / "checkpoints" / "latest.json").read_text())
    with np.load(run / "checkpoints" / rec["file"]) as f:
        return rec, {k: f[k] for k in f.files}


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    reference = _cli(*TRAIN, "--run-dir", str(tmp_path / "reference"))   # runs alongside
    run = tmp_path / "killed"
    rng = random.Random(0)
    proc, kills = _cli(*TRAIN, "--run-dir", str(run)), []
    while True:
        before = _step(run)
        while proc.poll() is None and _step(run) <= before:   # wait for the next checkpoint
            time.sleep(0.02)
        if proc.poll() is not None or len(kills) == KILLS:
            break
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(_step(run))
        proc = _cli("--backend", "numpy", "train", "--resume", str(run), "--no-progress")
    assert proc.wait() == 0, proc.stderr.read().decode()
    assert reference.wait() == 0, reference.stderr.read().decode()
    assert len(kills) == KILLS and kills[0] < STEPS, f"the kills came too late to test anything: {kills}"
    (rec_a, a), (rec_b, b) = _final(tmp_path / "reference"), _final(run)
    assert rec_a["step"] == rec_b["step"] == STEPS
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k                                  # bitwise
    assert rec_a["refgan_rng"] == rec_b["refgan_rng"] and rec_a["batch_rng"] == rec_b["batch_rng"]
    assert not list((run / "checkpoints").glob("*.tmp"))
