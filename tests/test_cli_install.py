"""Installation and the command line: the ``refgan`` command, ``python -m refgan``,
``--version``, ``-q``/``-v``, help texts, and what a wheel installs."""
import configparser
import logging
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

import refgan
from refgan import commands
from refgan.commands import generate, main

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_setup_cfg_lists_every_package_and_maps_kernels_under_refgan():
    cfg = _setup_cfg()
    listed = set(cfg["options"]["packages"].split())
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "refgan").rglob("__init__.py")}
    assert listed == on_disk | {"refgan.kernels"}
    assert cfg["options"]["package_dir"].split() == ["refgan.kernels", "=", "kernels"]
    assert "kernels" not in listed
    assert "refgan = refgan.commands:main" in cfg["options.entry_points"]["console_scripts"]


def test_every_imported_third_party_library_is_declared():
    declared = _setup_cfg()["options"]["install_requires"]
    for name in ("numpy", "numba", "scipy", "scikit-learn", "imageio", "tqdm", "matplotlib"):
        assert f"{name}>=" in declared, name


def test_refgan_kernels_is_the_kernels_folder():
    from refgan import kernels
    assert Path(kernels.__file__).resolve() == ROOT / "kernels" / "__init__.py"
    assert kernels.load("numpy").im2col is kernels.reference.im2col


@pytest.mark.parametrize("launcher", [
    [str(Path(sys.executable).parent / "refgan")],
    [sys.executable, "-m", "refgan"],
    [sys.executable, str(ROOT / "cli.py")],
])
def test_the_three_ways_to_start_refgan(launcher, tmp_path):
    if not Path(launcher[0]).exists():
        pytest.skip("refgan is not installed into this interpreter's environment")
    out = subprocess.run(launcher + ["--version"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"refgan {refgan.__version__} from ")
    assert str(Path(refgan.__file__).parent) in out.stdout


def test_every_command_works_without_the_optional_extras(tmp_path):
    """A plain `pip install .` has no JAX, torch or CuPy: help, a small command, training
    and the (NumPy-only) torch export still run."""
    code = ("import sys\n"
            "class NotInstalled:\n"      # as if absent (sys.modules[name] = None confuses SciPy)
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('jax', 'jaxlib', 'torch', 'cupy', 'flatbuffers'):\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, NotInstalled())\n"
            "from refgan.commands import COMMANDS, main\n"
            "for name in COMMANDS:\n"
            "    try:\n"
            "        main([name, '--help'])\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, name\n"
            "assert main(['data', 'preview', '--per-class', '2', '--size', '16', '--out', 'p.png']) == 0\n"
            "assert main(['-q', 'train', '--preset', 'smoke', '--steps', '2', '--no-quality',\n"
            "             '--run-dir', 'run']) == 0\n"
            "assert main(['export', 'run', '--to', 'torch', '--out', 'torch']) == 0\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]


def test_version_names_the_commit_of_a_checkout(capsys):
    from refgan.provenance import git_state

    commit, _ = git_state()
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    line = capsys.readouterr().out
    if commit:                       # a clean clone in CI is a checkout too
        assert f"git {commit[:10]}" in line


def _chatty_run(args):
    """A command that uses every stream the way refgan's commands do."""
    print("status line", file=sys.stderr)
    logging.getLogger("refgan.test").info("info line")
    logging.getLogger("refgan.test").debug("debug line")
    warnings.warn("a warning the user must see")
    print("the result")
    return 0


@pytest.mark.parametrize("flag, stderr_has, stderr_lacks", [
    ([], ["status line", "info line", "a warning"], ["debug line"]),
    (["-q"], ["a warning"], ["status line", "info line", "debug line"]),
    (["-v"], ["status line", "info line", "debug line", "a warning"], []),
])
def test_quiet_and_verbose(flag, stderr_has, stderr_lacks, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(generate, "run", _chatty_run)
    # Python's own display (pytest records warnings instead): to `file`, else sys.stderr.
    monkeypatch.setattr(warnings, "showwarning", lambda message, *a, file=None, **k:
                        print(f"warning: {message}", file=file or sys.stderr))
    assert main(flag + ["generate", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr()
    assert out.out == "the result\n"
    for text in stderr_has:
        assert text in out.err
    for text in stderr_lacks:
        assert text not in out.err


def test_quiet_still_shows_errors_and_verbose_adds_the_traceback(capsys, tmp_path):
    args = ["generate", str(tmp_path), "--n", "0", "--out", str(tmp_path / "o")]
    assert main(["-q"] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --n must be >= 1") and "Traceback" not in err
    assert main(["-v"] + args) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "UserError" in err and "error: --n must be >= 1" in err


def test_help_texts_are_plain_text(capsys):
    for name in commands.COMMANDS + ["data preview", "data info"]:
        with pytest.raises(SystemExit):
            main(name.split() + ["--help"], prog="refgan")
        text = capsys.readouterr().out
        assert "``" not in text and ":mod:" not in text and "%%" not in text, name
        assert "python cli.py" not in text, name
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    assert "95% intervals" in " ".join(capsys.readouterr().out.split())


@pytest.mark.slow
def test_wheel_installs_refgan_kernels_and_no_top_level_kernels(tmp_path):
    """What ``pip install .`` puts into site-packages (the wheel it builds)."""
    # A copy: setuptools builds in the source tree, and a stale build/ would leak into the wheel.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "runs", "*.egg-info", "__pycache__", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(src)], check=True, timeout=600, cwd=tmp_path)
    wheel, = tmp_path.glob("refgan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"refgan"}
    for module in ("__init__", "reference", "numba_cpu", "cupy_gpu", "naive"):
        assert f"refgan/kernels/{module}.py" in names
    assert "refgan/__main__.py" in names
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "refgan = refgan.commands:main" in entry_points
