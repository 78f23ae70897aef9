"""``python cli.py`` works from a source checkout that was never installed.

Installed, setup.cfg maps ``kernels/`` to ``refgan.kernels``; in a bare checkout
``refgan/__init__`` makes the same mapping. The subprocess runs with ``-S`` and the
site-packages folder on PYTHONPATH, so numpy & co. import but the editable install's
finder (set up by a .pth file) does not, exactly as in a checkout with no install.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_runs_from_an_uninstalled_checkout(tmp_path):
    for name in ("refgan", "kernels"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "cli.py", tmp_path)
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    out = subprocess.run([sys.executable, "-S", "cli.py", "--version"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert str(tmp_path / "refgan") in out.stdout
