"""An interrupted study resumes: ``refgan study --resume OUT``.

A study is many independent jobs (one GAN of one fold, or a fold's real conditions:
:class:`refgan.study.protocol.Job`). The study folder records

* ``study.json``: the study's settings as given (:class:`StudyConfig`), written first;
* ``jobs/<kind>-r<repeat>f<fold>s<seed>.json``: each finished job's whole output,
  written atomically when the job ends (its sample images, arrays, in a ``.npz``
  beside it, written before the JSON that completes the job).

A resume reads the settings back, keeps every finished job and runs the others; a
GAN interrupted inside its training continues from its checkpoint
(:func:`refgan.study.gan.refgan_gan_step`). The numbers are those of an uninterrupted
study: every job's seeds follow from its place in the protocol alone.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from refgan.errors import UserError
from refgan.study.config import StudyConfig
from refgan.study.results import JobResult
from refgan.training.checkpoint import atomic_write_bytes, atomic_write_json, read_json_record

RECORD, JOBS = "study.json", "jobs"
# may differ on a resume: how the jobs run, not what they compute
HOW = ("n_jobs", "joblib_backend", "progress")


def job_key(job) -> str:
    """``<kind>-r<repeat>f<fold>s<gan seed>`` of a Job or of a job's output dict."""
    get = job.get if isinstance(job, dict) else lambda k: getattr(job, k)
    return f"{get('kind')}-r{get('repeat')}f{get('fold')}s{get('gan_seed')}"


def record_config(cfg: StudyConfig, out_dir) -> None:
    atomic_write_json(Path(out_dir) / RECORD, cfg.to_dict())


def read_config(out_dir) -> StudyConfig:
    """The StudyConfig recorded in ``out_dir/study.json`` (lists back to tuples)."""
    path = Path(out_dir) / RECORD
    record = read_json_record(path, f"{out_dir} holds no study to resume (no {RECORD}); give the "
                              "folder an interrupted 'refgan study' was writing",
                              "the study's settings")
    names = {f.name: f for f in dataclasses.fields(StudyConfig)}
    if not isinstance(record, dict) or set(record) - set(names):
        raise UserError(f"{path} is not a study's settings; it is damaged or from another refgan")
    defaults = StudyConfig()
    values = {k: tuple(v) if isinstance(getattr(defaults, k), tuple) and isinstance(v, list) else v
              for k, v in record.items()}
    return StudyConfig(**values)


def save_job(out_dir, job: JobResult) -> None:
    """Record one finished job: its sample arrays (if any), then its JSON."""
    folder = Path(out_dir) / JOBS
    folder.mkdir(exist_ok=True)
    key = job_key(job)
    result = job.to_dict(samples=True)
    samples = result.get("samples")
    if samples is not None:
        atomic_write_bytes(folder / f"{key}.samples.npz",
                           lambda f: np.savez(f, **{k: np.asarray(v) for k, v in samples.items()}))
    rest = {k: v for k, v in result.items() if k != "samples"}
    data = json.dumps(_plain(rest)).encode()  # NaN kept (Python's JSON reads it back)
    atomic_write_bytes(folder / f"{key}.json", lambda f: f.write(data))


def load_jobs(out_dir) -> dict:
    """``{job key: JobResult}`` of the finished jobs recorded in ``out_dir``."""
    folder = Path(out_dir) / JOBS
    done = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            result = json.loads(path.read_text())
        except ValueError:
            continue  # cannot happen with atomic writes; a damaged record reruns its job
        npz = path.with_name(path.stem + ".samples.npz")
        if npz.is_file():
            with np.load(npz, allow_pickle=False) as z:
                result["samples"] = {k: z[k] for k in z.files}
        done[job_key(result)] = JobResult.from_dict(result)
    return done


def _plain(o):
    """JSON-ready copy: arrays and NumPy scalars as Python values (NaN kept)."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, np.generic):
        return o.item()
    return o
