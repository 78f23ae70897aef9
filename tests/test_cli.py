"""The command line: help, backend selection, one-line errors."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=120)


def test_help_lists_commands_and_backend():
    out = run_cli("--help")
    assert out.returncode == 0
    for word in ("train", "generate", "data", "study", "export", "--backend"):
        assert word in out.stdout


def test_unavailable_backend_is_a_one_line_error(tmp_path, monkeypatch):
    out = run_cli("--backend", "cupy", "data", "preview", "--out", str(tmp_path / "p.png"))
    try:
        import cupy  # noqa: F401
        return  # a CUDA machine: nothing to check here
    except ImportError:
        pass
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "backend 'cupy' is not available" in out.stderr
