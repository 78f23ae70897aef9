"""Progress to a terminal is tqdm's bar; to a file or a cluster log it is a plain line
now and then, never one carriage-return line per update."""
import io
import os
import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

from refgan import progress

ROOT = Path(__file__).resolve().parents[1]


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_plain_progress_prints_a_line_now_and_then():
    out, clock = io.StringIO(), _Clock()
    bar = progress.PlainProgress(1000, out, every=60.0, desc="wgan-gp x2", clock=clock)
    for i in range(1000):
        clock.t += 0.5  # 500 s in all: a line every 60 s
        bar.update(1)
        bar.set_postfix({"d_loss": f"{i:.3g}"}, refresh=False)
    bar.close()
    lines = out.getvalue().splitlines()
    assert 8 <= len(lines) <= 10 and "\r" not in out.getvalue()
    assert lines[-1].startswith("wgan-gp x2: 1000/1000 it (100%), 2 it/s, 500 s elapsed")
    assert "d_loss=999" in lines[-1]


def test_bar_is_tqdm_on_a_terminal_and_plain_elsewhere(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(progress.bar(10, file=Terminal()), tqdm)
    assert isinstance(progress.bar(10, file=io.StringIO()), progress.PlainProgress)
    assert isinstance(progress.bar(10, file=io.StringIO(), disable=True), tqdm)
    with open(tmp_path / "log", "w") as f:
        assert isinstance(progress.bar(10, file=f), progress.PlainProgress)


def test_train_logging_to_a_file_writes_no_carriage_returns(tmp_path):
    log = tmp_path / "job.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    with open(log, "w") as f:
        rc = subprocess.call([sys.executable, str(ROOT / "cli.py"), "--backend", "numpy", "train",
                              "--preset", "cpu", "--steps", "40", "--size", "16", "--width-g", "4",
                              "--width-d", "4", "--latent-dim", "8", "--batch", "8", "--n-disc", "1",
                              "--n-per-class", "12", "--grow", "none", "--no-quality",
                              "--best-metric", "kid_simple",
                              "--run-dir", str(tmp_path / "run")], cwd=ROOT, env=env,
                             stdout=f, stderr=subprocess.STDOUT)
    raw = log.read_bytes()
    assert rc == 0, raw
    assert b"\r" not in raw and raw.count(b"\n") < 20, raw
