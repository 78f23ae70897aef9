"""SIGTERM (what ``timeout``, SLURM and ``docker stop`` send) stops ``train`` as Ctrl-C
does: the step finishes, a checkpoint is written, the exit status is 143, and the run
resumes from there."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _logged_steps(run: Path) -> int:
    try:
        return sum(1 for line in (run / "metrics.jsonl").read_text().splitlines() if '"step"' in line)
    except OSError:
        return 0


def test_sigterm_checkpoints_and_exits_143_then_resume_continues(tmp_path):
    run = tmp_path / "run"
    proc = _cli("--backend", "numpy", "train", "--preset", "smoke", "--steps", "100000",
                "--ckpt-every", "100000", "--log-every", "1", "--sample-every", "100000",
                "--run-dir", str(run))
    deadline = time.time() + 120
    while _logged_steps(run) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminate (SIGTERM)" in err and "checkpoint saved" in err and "Traceback" not in err
    meta = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert meta["step"] >= 3  # the work done is saved, though no checkpoint was due
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert events[-1] == {"event": "interrupted", "step": meta["step"]}
    resumed = _cli("--backend", "numpy", "train", "--resume", str(run), "--steps",
                   str(meta["step"] + 1), "--no-quality")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert f"resuming {run} at step {meta['step']}/" in err
