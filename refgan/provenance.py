"""Which refgan, commit, command line and libraries produced a result.

``provenance()`` is the record that run folders (``config.json``), studies
(``results.json``) and reports (their footer, via ``summary_line``) carry, so a number
can always be traced to the code that made it::

    {"refgan": "0.1.0", "git_commit": "5fd1184...", "git_dirty": false,
     "command": "refgan train --preset smoke", "python": "3.11.9",
     "platform": "Linux-6.1-x86_64", "backend": "numba",
     "libraries": {"numpy": "2.4.6", "scipy": "1.17.1", ...},
     "created_utc": "2026-11-23T12:40:00Z"}

``git_commit`` is None when refgan is not imported from a git checkout (an installed
wheel), and ``git_dirty`` then too.
"""
from __future__ import annotations

import datetime
import platform
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import refgan

#: Distributions whose versions change results; optional ones are listed when installed.
LIBRARIES = ("numpy", "scipy", "numba", "scikit-learn", "imageio", "matplotlib",
             "cupy-cuda12x", "jax", "jaxlib", "torch")

_SOURCE_ROOT = Path(refgan.__file__).resolve().parents[1]
_command: list[str] | None = None    # the command line being run (set by refgan.commands.main)


def set_command(argv: list[str]) -> None:
    """Record the command line this process runs (``provenance()`` reports it)."""
    global _command
    _command = [str(a) for a in argv]


def refgan_command() -> str:
    """How to call this refgan from any shell: ``refgan`` when that is this
    installation's console script on PATH, else this Python with ``-m refgan``."""
    found = shutil.which("refgan")
    if found and Path(found).parent == Path(sys.executable).parent:
        return "refgan"
    return f"{shlex.quote(sys.executable)} -m refgan"


def git_state(root: Path = _SOURCE_ROOT) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout refgan is imported from, ``(None, None)`` if none.

    ``dirty`` means tracked files differ from the commit (untracked files are ignored:
    run folders and virtualenvs live in the checkout).
    """
    if not (root / ".git").exists():   # a file in a worktree, a folder in a clone
        return None, None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def library_versions() -> dict[str, str]:
    """``{distribution: version}`` for each installed entry of ``LIBRARIES``."""
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def provenance(command: list[str] | None = None) -> dict:
    """The provenance record (see the module docstring) of this process.

    ``command``: the command line as a list (default: the one ``set_command`` recorded,
    else ``sys.argv``); stored shell-quoted.
    """
    commit, dirty = git_state()
    argv = command if command is not None else _command if _command is not None else sys.argv
    return {
        "refgan": refgan.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "command": shlex.join(str(a) for a in argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "backend": refgan.get_backend().name,
        "libraries": library_versions(),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def summary_line(record: dict) -> str:
    """One line for a report footer: version, commit, Python, backend, libraries, time, command."""
    commit = record.get("git_commit")
    code = f"refgan {record['refgan']}"
    if commit:
        code += f" (git {commit[:10]}{', modified' if record.get('git_dirty') else ''})"
    libs = ", ".join(f"{k} {v}" for k, v in record.get("libraries", {}).items())
    return (f"{code}; Python {record['python']}, backend {record['backend']}; {libs}; "
            f"{record['created_utc']}; command: {record['command']}")


def version_line() -> str:
    """What ``refgan --version`` prints: version, where it is imported from, commit, Python."""
    commit, dirty = git_state()
    where = f"from {Path(refgan.__file__).resolve().parent}"
    git = f", git {commit[:10]}{' modified' if dirty else ''}" if commit else ""
    return f"refgan {refgan.__version__} {where} (Python {platform.python_version()}{git})"
