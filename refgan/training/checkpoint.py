"""Checkpoints: ``.npz`` arrays + JSON metadata, written atomically.

Layout inside a run folder::

    checkpoints/ckpt-0000300.npz   every array: weights, optimiser moments, EMA copy,
                                   keyed '<model>::net.G.project.0.weight', ...
    checkpoints/latest.json        the commit record: which npz, its sha256, the step,
                                   the config, RNG states, schedule states, data hash

Each file is written to a temporary name in the same folder and then renamed
(``os.replace`` is atomic on POSIX and Windows), the npz before the JSON that names
it, and only then is the previous npz deleted. An interruption at any moment
leaves ``latest.json`` pointing at a complete npz whose hash it records. Loading
uses ``np.load(allow_pickle=False)``: a checkpoint holds no code.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from refgan import random
from refgan.errors import UserError
from refgan.training import quality

LATEST = "latest.json"
_CKPT_NAME = re.compile(r"ckpt-\d+\.npz")


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path, write) -> None:
    """``write(f)`` into ``path.tmp``, fsync, then rename onto ``path``.

    Whatever stops the write (a full disk, an error, Ctrl-C) removes ``path.tmp``
    and leaves ``path`` as it was; an ``OSError`` becomes one ``UserError`` line."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if not isinstance(err, OSError):
            raise
        why = ("the disk is full" if err.errno in (errno.ENOSPC, errno.EDQUOT)
               else err.strerror or str(err))
        kept = "its previous version is kept" if path.exists() else "nothing was written"
        raise UserError(f"cannot write {path}: {why} ({kept}); free some space or fix the folder, "
                        "then run the command again") from None


def atomic_write_json(path, obj) -> None:
    data = json.dumps(obj, indent=1, sort_keys=True).encode()
    atomic_write_bytes(path, lambda f: f.write(data))


def read_json_record(path, missing: str, what: str):
    """The JSON value in ``path``. A missing file is the UserError ``missing``; an
    unreadable or invalid one is a one-line UserError saying ``what`` is damaged."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(missing) from None
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path} ({err}); {what} is damaged") from None


def save(folder, step: int, arrays: dict, meta: dict, keep_every: int = 0) -> Path:
    """Write checkpoint ``step`` into ``folder`` and make it the latest.

    The previous latest is deleted, unless ``keep_every`` > 0 and its step is a
    multiple of it (the snapshots a user asked to keep)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    old = _latest_npz(folder)
    npz = folder / checkpoint_name(step)
    atomic_write_bytes(npz, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))
    record = dict(meta, step=int(step), file=npz.name, sha256=sha256_file(npz))
    try:
        atomic_write_json(folder / LATEST, record)
    except BaseException:
        if npz != old:  # not committed: the previous checkpoint stays the latest
            npz.unlink(missing_ok=True)
        raise
    if old is not None and old != npz and old.exists() and not _kept(old, keep_every):
        old.unlink()
    return npz


def _kept(npz: Path, keep_every: int) -> bool:
    step = int(npz.stem.split("-")[1])
    return keep_every > 0 and step % keep_every == 0


def checkpoint_name(step: int) -> str:
    return f"ckpt-{int(step):07d}.npz"


def _latest_npz(folder: Path):
    """The npz the current record names, or None when there is no valid record
    (then nothing is deleted at the next save)."""
    try:
        return folder / read_record(folder)["file"]
    except UserError:
        return None


def read_record(folder) -> dict:
    """``latest.json`` of ``folder``, checked: a JSON object whose ``file`` is a
    checkpoint name inside ``folder`` (never a path elsewhere), with its ``sha256``
    and integer ``step``.  Raises ``UserError`` with one line."""
    folder = Path(folder)
    path = folder / LATEST
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"no checkpoint in {folder} (missing {LATEST}); is it a run folder "
                        "that saved at least one checkpoint?") from None
    except OSError as err:
        raise UserError(f"cannot read {path} ({err.strerror or err})") from None
    except ValueError as err:
        raise UserError(f"{path} is not valid JSON ({err}); the checkpoint is damaged") from None
    if not isinstance(meta, dict):
        raise UserError(f"{path} holds a JSON {type(meta).__name__}, not the checkpoint record (an object); "
                        "the checkpoint is damaged")
    missing = [k for k in ("file", "sha256", "step") if k not in meta]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; the checkpoint record is damaged")
    name = meta["file"]
    if not isinstance(name, str) or not _CKPT_NAME.fullmatch(name):
        raise UserError(f"{path} names {name!r}, not a checkpoint file of this folder (ckpt-NNNNNNN.npz); "
                        "refusing to read or delete anything outside it")
    if not isinstance(meta["step"], int) or isinstance(meta["step"], bool) or meta["step"] < 0:
        raise UserError(f"{path}: step {meta['step']!r} is not a whole number >= 0; the record is damaged")
    if not isinstance(meta["sha256"], str):
        raise UserError(f"{path}: sha256 {meta['sha256']!r} is not a hash string; the record is damaged")
    return meta


def load(folder) -> tuple[dict, dict]:
    """(arrays, meta) of the latest checkpoint in ``folder``; verifies the record
    (:func:`read_record`), the hash and the arrays.  A resume also checks the
    training state in ``meta`` (:func:`check_meta`) and restores the models with
    :func:`restore_models`."""
    folder = Path(folder)
    meta = read_record(folder)
    return load_file(folder / meta["file"], meta["sha256"], LATEST), meta


def load_file(npz, sha256: str | None = None, record: str = "its record") -> dict:
    """The arrays of one checkpoint file, checked against ``sha256`` (None: a kept
    snapshot, whose hash no record holds any more) and for refgan's array names."""
    npz = Path(npz)
    if not npz.is_file():
        raise UserError(f"{npz} named by {record} is missing; the checkpoint is incomplete")
    if sha256 is not None and sha256_file(npz) != sha256:
        raise UserError(f"{npz} does not match the hash in {record}; the checkpoint is "
                        "damaged")
    matches = f"although its hash matches {record}" if sha256 is not None else "although it exists"
    damaged = (f"{matches}: it was written damaged; start a new run or restore "
               "the folder from a backup")
    if not zipfile.is_zipfile(npz):  # else np.load would try it as a pickle and blame pickling
        raise UserError(f"{npz} cannot be read (not an .npz archive) {damaged}")
    try:
        with np.load(npz, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as err:
        if "pickle" in str(err):  # object arrays: a checkpoint never holds pickled code
            raise UserError(f"{npz} holds data that would need pickle ({err}); refusing to "
                            "load it") from None
        raise UserError(f"{npz} cannot be read ({err}) {damaged}") from None
    except Exception as err:  # zip, zlib, EOF and format errors of a damaged file
        raise UserError(f"{npz} cannot be read ({type(err).__name__}: {err}) {damaged}") from None
    bad = [k for k in arrays if "::" not in k]
    if bad:
        raise UserError(f"{npz} holds arrays not named '<model>::<key>' ({bad[:3]}); it is not a refgan "
                        "checkpoint")
    return arrays


# what a training checkpoint's record holds beyond file/sha256/step, and its JSON type
TRAINING_META = {"config": dict, "data_hash": str, "backend": str, "refgan_rng": dict, "batch_rng": dict,
                 "schedules": dict}


def check_meta(meta: dict, where) -> None:
    """The training state in a checkpoint record is complete and usable: the
    entries of ``TRAINING_META`` with their types, RNG states numpy accepts and
    schedule states that are objects.  Raises ``UserError`` naming the entry."""
    for key, typ in TRAINING_META.items():
        if key not in meta:
            raise UserError(f"{where} lacks {key!r}; the checkpoint record is damaged")
        if not isinstance(meta[key], typ):
            raise UserError(f"{where}: {key!r} is a {type(meta[key]).__name__}, not a JSON "
                            f"{'object' if typ is dict else 'string'}; the checkpoint record is damaged")
    for key in ("refgan_rng", "batch_rng"):
        check_rng_state(meta[key], f"{where}: {key}")
    for model, states in meta["schedules"].items():
        if not isinstance(states, dict) or not all(isinstance(v, dict) for v in states.values()):
            raise UserError(f"{where}: the schedule state of {model!r} is not an object of objects; "
                            "the checkpoint record is damaged")


def check_rng_state(state, what) -> None:
    """``state`` is a numpy bit-generator state (tried on a scratch generator)."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    try:
        getattr(np.random, str(name))().state = state
    except Exception as err:  # AttributeError (unknown generator), TypeError, ValueError
        raise UserError(f"{what} is not a valid random-generator state ({type(err).__name__}: {err}); "
                        "the checkpoint record is damaged") from None


def restore_models(models: dict, arrays: dict, where) -> None:
    """Load ``'<model>::<key>'`` arrays into ``models`` ({key: GAN}); a model
    missing or unexpected, or a state dict with missing/extra keys or other
    shapes, is one ``UserError`` naming it (a checkpoint of another config)."""
    states = split_models(arrays)
    if set(states) != set(models):
        raise UserError(f"{where} holds models {sorted(states)}, the config builds {sorted(models)}; "
                        "the checkpoint belongs to another config")
    for key, model in models.items():
        own, saved = model.state_dict(), states[key]
        # optimiser moments appear at the first step, so a fresh model lacks them
        extra = sorted(k for k in set(saved) - set(own) if not k.startswith("opt."))
        problems = [f"missing {sorted(set(own) - set(saved))[:3]}" if set(own) - set(saved) else "",
                    f"unexpected {extra[:3]}" if extra else ""]
        # state whose shape follows the data (the appearance table), any length
        sized_by_data = model.sized_by_data() if hasattr(model, "sized_by_data") else set()
        problems += [f"{k}: shape {np.shape(saved[k])} saved, {np.shape(v)} in the model"
                     for k, v in own.items() if k in saved and k not in sized_by_data
                     and np.shape(saved[k]) != np.shape(v)][:3]
        problems = [p for p in problems if p]
        try:
            if not problems:
                model.load_state_dict(saved)
        except (KeyError, ValueError, IndexError, TypeError) as err:
            problems = [str(err.args[0] if err.args else err)]
        if problems:
            raise UserError(f"{where}: model {key!r} does not fit its checkpoint ({'; '.join(problems)}); "
                            "the checkpoint belongs to another config or is damaged")


def split_models(arrays: dict) -> dict[str, dict]:
    """'<model>::<key>' arrays -> {model: {key: array}}."""
    out: dict[str, dict] = {}
    for k, v in arrays.items():
        model, key = k.split("::", 1)
        out.setdefault(model, {})[key] = v
    return out


def join_models(states: dict[str, dict]) -> dict:
    return {f"{m}::{k}": v for m, s in states.items() for k, v in s.items()}


# ------------------------------------------------- the best checkpoint
BEST_NPZ, BEST_JSON = "best.npz", "best.json"


#: best.json's ``metric`` names the ``--best-metric`` option that chose it; older runs
#: recorded these names instead, read back as the option's.
OLD_METRIC_NAMES = {"kid_simple_vs_train": "kid_simple", "c2st_vs_fresh": "c2st"}


def sample_quality(generated: dict, reals: dict) -> float:
    """Mean over classes of KID between generated and real *training* images of the
    class, on :func:`quality.simple_features` (thumbnail, colour histograms, sharpness)
    as they are (not normalised as the closing figures' ``kid_simple`` is).

    Cheap enough for every checkpoint (a fraction of a second; the two-sample test
    takes seconds); about 0 for real-vs-real and 2 for noise on the embedded cells.
    Lower is better.
    """
    from refgan.metrics import mmd2_cubic

    return float(np.mean([mmd2_cubic(quality.simple_features(images),
                                     quality.simple_features(reals[name]))
                          for name, images in generated.items()]))


def choose(run_dir, which: str | None, use_best: bool, latest: dict) -> dict:
    """The checkpoint of a run that ``generate``, ``export`` and ``study --gan RUN``
    read: ``{"kind", "step", "file", "sha256", "why"}``.

    which : None (the checkpoint the run reported: its best when it ended with
        ``use_best`` and has one, else its latest), ``"best"``, ``"latest"`` or a step
        number as text (the latest, the best or a snapshot kept by ``--keep-every``).
    latest : the run's ``latest.json`` record.
    """
    folder = Path(run_dir) / "checkpoints"
    best = read_best(run_dir)
    latest_pick = dict(kind="latest", step=int(latest["step"]), file=latest["file"],
                       sha256=latest["sha256"])
    best_pick = best and dict(kind="best", step=int(best["step"]), file=best["file"],
                              sha256=best["sha256"])
    if which is None:
        if use_best and best_pick:
            return dict(best_pick, why=f"the run reported its best checkpoint ({best['metric']} "
                                       f"{best['value']:.4g})")
        return dict(latest_pick, why="the run reported its last checkpoint"
                    + (" (it has no best checkpoint)" if use_best else ""))
    if which == "latest":
        return dict(latest_pick, why="--checkpoint latest")
    if which == "best":
        if not best_pick:
            raise UserError(f"{run_dir} has no best checkpoint (checkpoints/{BEST_JSON}); "
                            "use --checkpoint latest or a step")
        return dict(best_pick, why="--checkpoint best")
    try:
        step = int(which)
    except (TypeError, ValueError):
        raise UserError(f"--checkpoint must be best, latest or a step number, got {which!r}") from None
    for pick in (latest_pick, best_pick):
        if pick and pick["step"] == step:
            return dict(pick, kind="step", why=f"--checkpoint {step}")
    if (folder / checkpoint_name(step)).is_file():
        return dict(kind="step", step=step, file=checkpoint_name(step), sha256=None,
                    why=f"--checkpoint {step} (a kept snapshot)")
    kept = sorted(int(p.stem.split("-")[1]) for p in folder.glob("ckpt-*.npz"))
    have = sorted({*kept, latest_pick["step"], *([best_pick["step"]] if best_pick else [])})
    raise UserError(f"{run_dir} has no checkpoint of step {step}; it has step(s) "
                    f"{', '.join(map(str, have))} (train with --keep-every N to keep more)")


def read_best(run_dir) -> dict | None:
    """``checkpoints/best.json`` of a run, or None; its ``metric`` is the
    ``--best-metric`` option's name (an older run's recorded name translated), so a
    resumed run keeps comparing against its best."""
    path = Path(run_dir) / "checkpoints" / BEST_JSON
    if not path.exists():
        return None
    best = json.loads(path.read_text())
    best["metric"] = OLD_METRIC_NAMES.get(best.get("metric"), best.get("metric"))
    return best


def update_best(trainer, npz: Path, best: dict | None) -> dict | None:
    """Score the generators just saved in ``npz`` (:func:`sample_quality`, up to 64
    images per class); if better than ``best``, copy the checkpoint to
    ``checkpoints/best.npz`` and describe it in ``best.json``. Returns the best record;
    every checkpoint's score goes to log.txt.

    The scoring draws its latents from its own seed and leaves refgan's random
    stream as it was, so a run trains the same with or without it.
    """
    reals = {k: v for k, v in trainer.data.train.images_by_class().items() if len(v) >= 2}
    metric = trainer.config.best_metric
    if metric == "c2st":  # against fresh cells (quality.reference_images), 100 per class
        if getattr(trainer, "best_reference", None) is None:
            trainer.best_reference = quality.reference_images(trainer.config, trainer.data.train)
        reals = {k: trainer.best_reference[k] for k in reals}
    saved = random.get_state()
    try:
        generated = {name: trainer.sample_class(name, 100 if metric == "c2st" else min(64, len(imgs)),
                                                seed=trainer.config.seed + 5000 + i)
                     for i, (name, imgs) in enumerate(reals.items())}
    finally:
        random.set_state(saved)
    if metric == "c2st":
        value = quality.c2st_score(reals, generated, seed=trainer.config.seed)[0]
    else:
        value = sample_quality(generated, reals)
    kept = best is not None and best.get("metric") == metric and value >= best["value"]
    trainer.log(f"checkpoint {trainer.step}: {metric} {value:.4f}"
                + (f" (best: step {best['step']}, {best['value']:.4f})" if kept else " (new best)"),
                console=False)
    if kept:
        return best
    folder = npz.parent
    atomic_write_bytes(folder / BEST_NPZ, lambda f: f.write(npz.read_bytes()))
    record = {"step": int(trainer.step), "metric": metric, "value": value,
              "file": BEST_NPZ, "sha256": sha256_file(folder / BEST_NPZ)}
    atomic_write_json(folder / BEST_JSON, record)
    return record
