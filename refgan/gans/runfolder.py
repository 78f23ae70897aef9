"""Run folders stay whole: one process at a time, a metrics log that agrees with
the checkpoint, and outputs that appear complete or not at all.

* :func:`locked`: an exclusive ``flock`` on ``RUN/.lock`` while a process trains or
  resumes the run; a second process gets one clear line instead of interleaving its
  metrics with the first one's. The kernel drops the lock when its holder dies (even
  by ``kill -9``), so a stale ``.lock`` file never blocks anything.
* :func:`read_metrics` / :func:`truncate_metrics`: ``metrics.jsonl`` read with the
  line of any damage named, and cut back on resume to what the checkpoint had seen
  (the steps between the last checkpoint and a kill would otherwise appear twice).
* :func:`staged_output`: a command's output folder is built under a hidden
  ``.NAME.partial`` sibling and renamed into place when complete, so a killed command
  leaves no half folder in the way of its rerun.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from refgan.errors import UserError
from refgan.gans.checkpoint import atomic_write_bytes

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

LOCK = ".lock"
METRICS = "metrics.jsonl"


_held: set = set()  # run folders this process has locked (the lock is re-entrant per process)


@contextlib.contextmanager
def locked(run_dir):
    """Hold the run folder's lock for the ``with`` block (creates the folder).
    Re-entrant within a process: the command locks before it reads the run, the
    trainer again while it trains."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if key in _held:
        yield run_dir
        return
    f = open(run_dir / LOCK, "a+")
    try:
        if fcntl is not None:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip()
                raise UserError(f"run folder {run_dir} is in use by another refgan process"
                                f"{f' (pid {holder})' if holder else ''}; wait for it to finish or stop it, "
                                "then run the command again") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        _held.add(key)
        yield run_dir
    finally:
        _held.discard(key)
        f.close()  # closing releases the flock


def read_metrics(path) -> list[dict]:
    """The records of a ``metrics.jsonl``, in order; a line that is not a JSON
    object is a ``UserError`` naming the file and line."""
    path = Path(path)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise UserError(f"{path} line {number} is not valid JSON ({err}): the log is damaged; "
                            "delete that line to read the rest") from None
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number} is a JSON {type(record).__name__}, not a record; "
                            "delete that line to read the rest")
        records.append(record)
    return records


def truncate_metrics(path, step: int) -> int:
    """Keep the records of steps ``<= step`` (what the checkpoint of ``step`` had
    seen) and drop a torn last line (a kill while it was written); returns the
    number of lines dropped. Damage anywhere else is a ``UserError``."""
    path = Path(path)
    if not path.exists():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    torn = 0
    if lines:
        try:
            json.loads(lines[-1])
        except ValueError:
            torn = 1
    kept = [line for line, rec in zip(lines, _records(path, lines[:len(lines) - torn]))
            if rec.get("step", 0) <= step]
    dropped = len(lines) - len(kept)
    if dropped:
        data = "".join(line if line.endswith("\n") else line + "\n" for line in kept).encode()
        atomic_write_bytes(path, lambda f: f.write(data))
    return dropped


def _records(path, lines):
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError as err:
            raise UserError(f"{path} line {number} is not valid JSON ({err}): the log is damaged; "
                            "delete that line, then resume") from None
        yield record if isinstance(record, dict) else {}


@contextlib.contextmanager
def staged_output(out):
    """Build an output folder that appears complete or not at all.

    Yields a hidden ``.NAME.partial`` sibling to write into (one left by a killed
    command is removed first) and renames it to ``out`` when the block finishes;
    on an error the partial folder is removed. ``out`` must not exist."""
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} already exists; refgan never overwrites it: choose a new --out")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
