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

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from refgan.errors import UserError

LATEST = "latest.json"


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path, write) -> None:
    """``write(f)`` into ``path.tmp``, fsync, then rename onto ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path, obj) -> None:
    data = json.dumps(obj, indent=1, sort_keys=True).encode()
    atomic_write_bytes(path, lambda f: f.write(data))


def save(folder, step: int, arrays: dict, meta: dict) -> Path:
    """Write checkpoint ``step`` into ``folder`` and make it the latest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    old = _latest_npz(folder)
    npz = folder / f"ckpt-{step:07d}.npz"
    atomic_write_bytes(npz, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))
    record = dict(meta, step=int(step), file=npz.name, sha256=sha256_file(npz))
    atomic_write_json(folder / LATEST, record)
    if old is not None and old != npz and old.exists():
        old.unlink()
    return npz


def _latest_npz(folder: Path):
    try:
        return folder / json.loads((folder / LATEST).read_text())["file"]
    except (OSError, ValueError, KeyError):
        return None


def load(folder) -> tuple[dict, dict]:
    """(arrays, meta) of the latest checkpoint in ``folder``; verifies the hash."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / LATEST).read_text())
    except OSError:
        raise UserError(f"no checkpoint in {folder} (missing {LATEST}); is it a run folder "
                        "that saved at least one checkpoint?") from None
    except ValueError as err:
        raise UserError(f"{folder / LATEST} is not valid JSON ({err}); the checkpoint is "
                        "damaged") from None
    npz = folder / meta["file"]
    if not npz.exists():
        raise UserError(f"{npz} named by {LATEST} is missing; the checkpoint is incomplete")
    if sha256_file(npz) != meta["sha256"]:
        raise UserError(f"{npz} does not match the hash in {LATEST}; the checkpoint is "
                        "damaged")
    try:
        with np.load(npz, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as err:  # object arrays: a checkpoint never holds pickled code
        raise UserError(f"{npz} holds data that would need pickle ({err}); refusing to "
                        "load it") from None
    return arrays, meta


def split_models(arrays: dict) -> dict[str, dict]:
    """'<model>::<key>' arrays -> {model: {key: array}}."""
    out: dict[str, dict] = {}
    for k, v in arrays.items():
        model, key = k.split("::", 1)
        out.setdefault(model, {})[key] = v
    return out


def join_models(states: dict[str, dict]) -> dict:
    return {f"{m}::{k}": v for m, s in states.items() for k, v in s.items()}
