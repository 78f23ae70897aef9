"""The run folder: every file a run writes, what it holds, and how it stays whole.

The run-folder files GAN users look for (stylegan2-ada-pytorch, StudioGAN) and
what made them; ``runs/<YYYYmmdd-HHMMSS>-<model>/`` by default. This is the one
description of them; other modules point here.

* ``metrics.jsonl`` (written by :mod:`refgan.training.monitor` from the trainer's
  records): one JSON object per logged step: ``step``, ``elapsed_s``,
  ``sec_per_step``, each optimiser's learning rate as ``lr_<name>`` (``lr_G``,
  ``lr_D``; ALI's generator and encoder share ``lr_GE``) and the
  ``'<class>/<metric>'`` values; events (flags, interrupt, divergence) as
  ``{"event": ..., "message": ...}``;
* ``samples/step_*.png`` (the monitor): fixed-z samples, one row per class (model);
  ``samples.png``: the final labelled grid;
* ``checkpoints/``: ``ckpt-<step>.npz`` with ``latest.json``
  (:mod:`refgan.training.checkpoint`), and ``best.npz`` with ``best.json``
  (``step``, ``metric``: the ``--best-metric`` option, ``value``, ``sha256``);
* ``summary.json``: the closing figures (:func:`refgan.training.quality.evaluate`),
  written by ``train`` (:mod:`refgan.commands.train`);
* ``config.json``: the resolved options plus ``provenance`` (refgan version, git
  commit, command line, library versions: :mod:`refgan.provenance`) of the first
  start, and ``history``: one entry per start or resume (time, command, step range,
  refgan and commit), so a resumed run keeps the record of every session;
* ``log.txt``: the console's status lines, with time stamps (``RunLog``);
* ``reals.png``: a grid of the real training images, one labelled row per class;
* ``progress.gif``: the fixed-z sample grids with their step number on every frame;
* the best checkpoint's score (``--best-metric``): :func:`sample_quality`, KID on simple
  features between generated and real *training* images, or ``c2st``, the classifier
  two-sample test against fresh cells (:func:`quality.c2st_score`,
  :func:`quality.reference_images`); the test split plays no part in choosing a
  checkpoint.

Run folders stay whole: one process at a time, a metrics log that agrees with
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
import datetime
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from refgan.data import save_grid
from refgan.errors import UserError
from refgan.provenance import provenance
from refgan.training.checkpoint import atomic_write_bytes, atomic_write_json

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

CONFIG, LOG, REALS, GIF = "config.json", "log.txt", "reals.png", "progress.gif"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_config(run_dir, config: dict, step: int, command: list[str] | None = None) -> dict:
    """Write ``config.json``: ``config`` + ``provenance`` + ``history`` (one entry added).

    On a resume (``config.json`` exists) the first session's ``provenance`` and every
    earlier ``history`` entry are kept; ``step`` is where this session starts.
    """
    path = Path(run_dir) / CONFIG
    old = read_config_record(path) if path.exists() else {}
    record = provenance(command)
    session = {"started_utc": _now(), "from_step": int(step), "to_step": int(config["steps"]),
               "command": record["command"], "refgan": record["refgan"],
               "engine": config.get("engine"),
               "git_commit": record["git_commit"]}
    out = dict(config, provenance=old.get("provenance", record),
               history=old.get("history", []) + [session])
    atomic_write_json(path, out)
    return out


def read_config_record(path) -> dict:
    """A run's ``config.json`` as a dict; damage (not JSON, not an object, unreadable)
    is a one-line UserError naming the file."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except ValueError as err:
        raise UserError(f"{path} is not valid JSON ({err}): the run's record is damaged; restore it "
                        "from a backup, or delete it (the checkpoint keeps the run's options)") from None
    except OSError as err:
        raise UserError(f"cannot read {path} ({err.strerror or err})") from None
    if not isinstance(record, dict):
        raise UserError(f"{path} holds a JSON {type(record).__name__}, not a run's config (an object): "
                        "the run's record is damaged; restore it from a backup, or delete it")
    return record


def config_options(record: dict) -> dict:
    """The options of a ``config.json`` record, without its provenance and history."""
    return {k: v for k, v in record.items() if k not in ("provenance", "history")}


class RunLog:
    """``log.txt``: each status line (time-stamped) appended to the run folder's log,
    and also handed to ``echo`` (the console), unless ``echo`` is None."""

    def __init__(self, run_dir, echo=None):
        self.path, self.echo = Path(run_dir) / LOG, echo

    def __call__(self, message: str, console: bool = True) -> None:
        if console and self.echo is not None:
            self.echo(message)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            for line in str(message).strip("\n").splitlines() or [""]:
                f.write(f"{_now()} {line}\n")


def write_reals(run_dir, images_by_class: dict, n: int = 8, seed: int = 0) -> Path:
    """``reals.png``: up to ``n`` real images per class (N, 3, S, S), a labelled row each."""
    rng = np.random.default_rng(seed)
    rows = [imgs[rng.choice(len(imgs), min(n, len(imgs)), replace=False)]
            for imgs in images_by_class.values()]
    width = max(len(r) for r in rows)
    rows = [np.concatenate([r, np.ones((width - len(r),) + r.shape[1:], r.dtype)]) for r in rows]
    path = Path(run_dir) / REALS
    save_grid(np.concatenate(rows), path, nrow=width, row_labels=list(images_by_class),
              title="real training images")
    return path


def stamp_step(frame: np.ndarray, step: int) -> np.ndarray:
    """A uint8 (H, W, 3) frame with a white band on top reading ``step N``."""
    h, w, _ = frame.shape
    size = max(10, min(24, w // 12))
    band = np.full((size + 6, w, 3), 255, np.uint8)
    image = Image.fromarray(np.concatenate([band, frame]))
    ImageDraw.Draw(image).text((4, 2), f"step {step}", fill=(0, 0, 0),
                               font=ImageFont.load_default(size=size))
    return np.asarray(image)


def write_progress_gif(run_dir, frames: list[tuple[int, np.ndarray]], ms_per_frame: int = 300) -> Path:
    """``progress.gif`` from ``[(step, uint8 (H, W, 3) grid), ...]``, each frame stamped."""
    import imageio.v3 as iio

    path = Path(run_dir) / GIF
    iio.imwrite(path, np.stack([stamp_step(f, s) for s, f in frames]), duration=ms_per_frame,
                loop=0)
    return path


# ------------------------------------------------------------ the Trainer's hooks
def start_session(trainer) -> None:
    """At every start or resume of ``trainer.run``: the console also goes to log.txt,
    config.json gains this session, and a fresh run gets reals.png."""
    if not isinstance(trainer.log, RunLog):
        trainer.log = RunLog(trainer.run_dir, echo=trainer.log)
    c = trainer.config
    record = write_config(trainer.run_dir, c.to_json(), trainer.step)
    trainer.log(f"{'resume' if trainer.step else 'start'} {c.model} at step {trainer.step}/"
                f"{c.steps}: {record['history'][-1]['command']}", console=False)
    if trainer.step == 0:
        write_reals(trainer.run_dir, trainer.data.train.images_by_class(), n=c.n_fixed, seed=c.seed)


def status_line(record: dict, steps: int) -> str:
    """One log.txt line from a metrics record: step, losses per model, speed, time."""
    losses = "  ".join(f"{k} {v:.4g}" for k, v in record.items()
                       if k.split("/")[-1] in ("d_loss", "g_loss", "wasserstein"))
    return (f"step {record['step']}/{steps}  {losses}  {record['sec_per_step']:.3f} s/step  "
            f"{record['elapsed_s']:.0f} s")


def write_progress_gif_of(run_dir) -> Path | None:
    """progress.gif from the run's ``samples/step_NNNNNNN.png`` grids, steps stamped."""
    import imageio.v3 as iio

    files = sorted((Path(run_dir) / "samples").glob("step_*.png"))
    if not files:
        return None
    return write_progress_gif(run_dir, [(int(f.stem.split("_")[1]), iio.imread(f)[..., :3])
                                        for f in files])


LOCK = ".lock"
METRICS = "metrics.jsonl"


_held: set = set()  # run folders this process has locked (the lock is re-entrant per process)


@contextlib.contextmanager
def locked(run_dir):
    """Hold the run folder's lock for the ``with`` block (creates the folder).
    Re-entrant within a process: the command locks before it reads the run, the
    trainer again while it trains."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        key = run_dir.resolve()
        f = None if key in _held else open(run_dir / LOCK, "a+")
    except OSError as err:
        raise UserError(f"cannot use the run folder {run_dir} ({err.strerror or err}); a run folder "
                        "must be writable: fix its permissions or choose another") from None
    if f is None:
        yield run_dir
        return
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
    try:
        partial.mkdir(parents=True)
    except OSError as err:
        raise UserError(f"cannot create {partial} for {out} ({err.strerror or err}); choose an output "
                        "folder you can write to") from None
    try:
        yield partial
        os.replace(partial, out)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise UserError(f"cannot write {out} ({err.strerror or err}): nothing was kept; free some "
                        "space or choose another folder, then run the command again") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
