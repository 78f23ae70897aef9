"""Faults and misuses of the commands end in one line (exit 2), never a traceback:
damaged config.json, folders that cannot be written, odd --out paths; and the smaller
promises: Ctrl-C in generate says what it kept, data preview says what it wrote."""
import builtins
import io
import json
import os
from pathlib import Path

import pytest

import cli
import refgan.commands.generate as generate_command

SMOKE = ["--backend", "numpy", "train", "--preset", "smoke", "--steps", "2"]


def _one_line(capsys, *parts, status_lines=False):
    """One error line naming ``parts``; no traceback (``status_lines``: the command's
    progress lines before it are allowed)."""
    err = capsys.readouterr().err
    assert all(p in err for p in parts), err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")] if status_lines else lines
    assert len(errors) == 1 and "Traceback" not in err, err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("r") / "run"
    assert cli.main([*SMOKE, "--run-dir", str(path)]) == 0
    return path


@pytest.fixture
def copy_of_run(run, tmp_path):
    import shutil

    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture
def read_only(monkeypatch):
    """Make folders read-only as the kernel would for a user (tests run as root too):
    creating or opening for writing anything under them raises PermissionError."""
    roots = []
    real_mkdir, real_open, real_os_open = os.mkdir, builtins.open, os.open

    def denied(path):
        p = os.path.abspath(os.fspath(path))
        return any(p == r or p.startswith(r + os.sep) for r in roots)

    def mkdir(path, *a, **k):
        if denied(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_mkdir(path, *a, **k)

    def opener(real):
        def open_(file, mode="r", *a, **k):
            if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") \
                    and denied(file):
                raise PermissionError(13, "Permission denied", os.fspath(file))
            return real(file, mode, *a, **k)
        return open_

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(builtins, "open", opener(real_open))
    monkeypatch.setattr(io, "open", opener(real_open))

    def add(path):
        Path(path).mkdir(parents=True, exist_ok=True)
        roots.append(os.path.abspath(path))
        return Path(path)
    return add


@pytest.mark.parametrize("content, message", [("{oops", "is not valid JSON"),
                                              ("[1, 2]", "holds a JSON list")])
def test_a_damaged_config_json_is_one_line(copy_of_run, tmp_path, capsys, content, message):
    (copy_of_run / "config.json").write_text(content)
    assert cli.main(["--backend", "numpy", "train", "--resume", str(copy_of_run), "--steps", "3"]) == 2
    _one_line(capsys, "config.json", message, status_lines=True)
    assert cli.main(["study", "--quick", "--gan", str(copy_of_run), "--out", str(tmp_path / "s")]) == 2
    _one_line(capsys, "config.json", message)


def test_folders_that_cannot_be_written_are_one_line(run, tmp_path, capsys, read_only):
    ro = read_only(tmp_path / "ro")
    assert cli.main([*SMOKE, "--out", str(ro / "runs")]) == 2
    _one_line(capsys, "cannot create the run folder", "Permission denied")
    assert cli.main([*SMOKE, "--run-dir", str(ro / "run")]) == 2
    _one_line(capsys, "cannot use the run folder", "Permission denied", status_lines=True)
    assert cli.main(["--backend", "numpy", "generate", str(run), "--n", "2", "--out",
                     str(ro / "g")]) == 2
    _one_line(capsys, "Permission denied", "choose an output folder you can write to")
    capsys.readouterr()
    assert cli.main(["data", "info", str(_folder(tmp_path / "d")), "--size", "16",
                     "--grid", str(ro / "g.png")]) == 2
    _one_line(capsys, "--grid", "Permission denied")


def _folder(root):
    import imageio.v3 as iio
    import numpy as np

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            iio.imwrite(root / c / f"{i}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    return root


def test_generate_into_a_link_to_an_empty_folder_and_into_new_dotdot(run, tmp_path, capsys,
                                                                     monkeypatch):
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    assert cli.main(["--backend", "numpy", "generate", str(run), "--n", "2",
                     "--out", str(tmp_path / "link")]) == 0
    assert (tmp_path / "link").is_symlink() and (target / "manifest.json").is_file()
    monkeypatch.chdir(tmp_path)  # not empty: 'new/..' names it
    assert cli.main(["--backend", "numpy", "generate", str(run), "--n", "2", "--out", "new/.."]) == 2
    _one_line(capsys, f"{tmp_path} exists and is not an empty folder")


def test_ctrl_c_in_generate_says_nothing_was_kept(run, tmp_path, capsys, monkeypatch):
    calls = []
    real = generate_command.iio.imwrite

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(generate_command.iio, "imwrite", interrupted)
    out = tmp_path / "g"
    assert cli.main(["--backend", "numpy", "generate", str(run), "--n", "4", "--out", str(out)]) == 130
    _one_line(capsys, "interrupted (Ctrl-C): no images were kept")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_picture_paths_of_data_preview_and_info(tmp_path, capsys):
    assert cli.main(["data", "preview", "--size", "16", "--per-class", "2",
                     "--out", str(tmp_path / "DIR")]) == 0
    assert f"wrote {tmp_path / 'DIR.png'}" in capsys.readouterr().out
    assert (tmp_path / "DIR.png").is_file()
    data = _folder(tmp_path / "d")
    assert cli.main(["data", "info", str(data), "--size", "16", "--grid", str(tmp_path / "g.txt")]) == 2
    _one_line(capsys, "--grid", "g.txt", ".png")
    assert cli.main(["data", "info", str(data), "--size", "16", "--grid", str(tmp_path)]) == 0
    assert (tmp_path / "grid.png").is_file()


@pytest.mark.parametrize("n", ["0", "1", "-5"])
def test_data_speed_refuses_too_few_images(capsys, n):
    assert cli.main(["data", "speed", "--n", n]) == 2
    _one_line(capsys, f"--n {n}")
