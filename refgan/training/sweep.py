"""Learning-rate searches as the papers ran them: short runs, ranked by how well a
generator's samples pass for real images.

* Gaur et al.: (lr_G, lr_D) drawn log-uniformly, G in [1e-5, 1e-3] and D in
  [1e-4, 1e-2] (:func:`log_uniform`);
* Nizam and Md Ali: a (G, D) grid, by default theirs: (2e-4, 2e-4), (4e-4, 3e-4),
  (4e-4, 4e-4), (4e-4, 2e-4) (:func:`grid`).

Each trial is an ordinary training run (``Trainer``, its own run folder under the
sweep folder) with the sweep's options plus the trial's rates. Its score is the
classifier two-sample test of :mod:`refgan.training.quality`: the mean over classes of
the two classifiers' 5-fold accuracies at telling ``quality_n`` samples from real
images (0.5 = indistinguishable; lower is better). The real images are fresh ones
on the embedded dataset (newly rendered cells) and the *training* images otherwise,
so that the held-out test images play no part in choosing a configuration.

Trials run in parallel through joblib: ``loky`` (default) uses the local cores, one
process per trial, each kept to one BLAS/Numba thread; any other joblib backend can
be named, e.g. ``dask`` (the trials go to a ``dask.distributed`` cluster: start a
``Client`` first, or pass its scheduler address) or ``ray``. The scheduling is
joblib's; refgan only lists the trials.

An interrupted sweep resumes (``refgan sweep --resume OUT``): the plan is recorded in
``sweep.json`` at the start, each finished trial in its folder's ``trial.json``; a
resume keeps the finished trials, continues an interrupted one from its checkpoint
and runs the rest. A trial stopped by Ctrl-C or SIGTERM is marked ``interrupted``
(the trials not started after it ``not run``), ranked after every finished trial
and never chosen as the best.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from refgan import backend
from refgan.errors import UserError
from refgan.parallel import parallel_config
from refgan.training import data as gan_data
from refgan.training import presets, quality
from refgan.training.trainer import Trainer
from refgan.training.checkpoint import atomic_write_json, read_json_record, sample_quality

GAUR_G = (1e-5, 1e-3)
GAUR_D = (1e-4, 1e-2)
NIZAM_GRID = ((2e-4, 2e-4), (4e-4, 3e-4), (4e-4, 4e-4), (4e-4, 2e-4))
PLAN, TRIAL = "sweep.json", "trial.json"
FINISHED = ("complete", "diverged")  # a trial's status when it has its final score
_stopped: set = set()  # sweep folders whose trial this process saw interrupted: no more trials start


def log_uniform(n: int, g_range=GAUR_G, d_range=GAUR_D, seed: int = 0) -> list[tuple[float, float]]:
    """n pairs (lr_g, lr_d), each drawn uniformly in log10 over its range."""
    rng = np.random.default_rng(seed)
    draw = lambda lo, hi: float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))  # noqa: E731
    return [(draw(*g_range), draw(*d_range)) for _ in range(n)]


def grid(lrs_g=None, lrs_d=None) -> list[tuple[float, float]]:
    """Every (lr_g, lr_d) of two lists; no lists: Nizam and Md Ali's four pairs."""
    if lrs_g is None and lrs_d is None:
        return list(NIZAM_GRID)
    lrs_d = lrs_g if lrs_d is None else lrs_d
    lrs_g = lrs_d if lrs_g is None else lrs_g
    return [(float(g), float(d)) for g in lrs_g for d in lrs_d]


def score(trainer, n: int, seed: int = 0) -> dict:
    """Quality of a trained run's samples against the reference images:
    {'c2st': mean two-sample-test accuracy, 'kid': mean KID on simple features
    (checkpoint.sample_quality), 'per_class': the two-sample figures per class}."""
    ref = quality.reference_images(trainer.config, trainer.data.train)
    gen = {name: trainer.sample_class(name, n, seed=seed + 1000 + i)
           for i, name in enumerate(trainer.data.class_names)}
    mean, per_class = quality.c2st_score(ref, gen, seed=seed)
    return {"c2st": mean, "kid": sample_quality(gen, ref), "per_class": per_class}


def rank_key(trial: dict) -> tuple:
    """Finished trials first; then by the two-sample test, ties by KID (both lower is
    better). Short runs often all score 1.000 on the test (every sample told from
    real); KID, a distance rather than an accuracy, still orders them."""
    return (trial.get("status", "complete") not in FINISHED, trial["c2st"], trial["kid"])


def run_trial(model: str, preset: str, options: dict, lr_g: float, lr_d: float,
              run_dir: str, backend_name: str | None = None) -> dict:
    """One short run and its score (runs in a joblib worker: arguments are plain data).

    ``status``: ``complete``, ``diverged`` (``error`` says why), ``interrupted`` (Ctrl-C
    or SIGTERM: its checkpoint is kept for a resume) or ``not run`` (an earlier trial in
    this process was interrupted). A finished trial is recorded in ``run_dir/trial.json``;
    a trial folder with a checkpoint and no ``trial.json`` is continued, not restarted."""
    t0 = time.perf_counter()
    unscored = {"c2st": float("inf"), "kid": float("inf"), "per_class": {}}
    record = dict(lr_g=lr_g, lr_d=lr_d, run_dir=run_dir, flags=[], error=None)
    if str(Path(run_dir).parent) in _stopped:
        return dict(record, wall_s=0.0, status="not run", **unscored)
    ctx = backend.using_backend(backend_name) if backend_name else contextlib.nullcontext()
    with ctx:
        if (Path(run_dir) / "checkpoints" / "latest.json").is_file():  # interrupted earlier
            trainer = Trainer.resume(run_dir, gan_data.run_data(run_dir), log=lambda msg: None)
            c = trainer.config
        else:
            shutil.rmtree(run_dir, ignore_errors=True)  # stopped before its first checkpoint
            c = presets.resolve(model, preset, **dict(options, lr_g=lr_g, lr_d=lr_d,
                                                      progress=False, quality=False))
            data = gan_data.prepare(c)
            c = data.record(c)  # the growth '--grow auto' resolved to, and why, as train records it
            trainer = Trainer(c, data, run_dir, log=lambda msg: None).setup()
        try:
            if trainer.run():
                _stopped.add(str(Path(run_dir).parent))
                result, status = unscored, "interrupted"
            else:
                result, status = score(trainer, int(c.quality_n), seed=int(c.seed)), "complete"
        except UserError as err:  # a diverged trial ranks last, with its reason
            result, status, record["error"] = unscored, "diverged", str(err)
    record = dict(record, wall_s=round(time.perf_counter() - t0, 1), status=status,
                  flags=sorted(f"{kind}:{key}" for kind, key in trainer.monitor.flagged), **result)
    if status in FINISHED:
        atomic_write_json(Path(run_dir) / TRIAL, record)
    return record


def read_plan(out_dir) -> dict:
    """``sweep.json`` of an earlier sweep: model, preset, options and the (lr_g, lr_d)
    pairs; a one-line UserError when there is none or it is damaged."""
    path = Path(out_dir) / PLAN
    plan = read_json_record(path, f"{out_dir} holds no sweep to resume (no {PLAN}); give the "
                            "folder an earlier 'refgan sweep' wrote", "the sweep's plan")
    if not isinstance(plan, dict) or not {"model", "preset", "options", "pairs"} <= set(plan):
        raise UserError(f"{path} is not a sweep plan (model, preset, options, pairs); it is damaged")
    return plan


def sweep(model: str, preset: str, options: dict, pairs, out_dir, n_jobs: int = -1,
          joblib_backend: str = "loky", scheduler: str | None = None, log=print,
          resume: bool = False) -> list[dict]:
    """Run one trial per (lr_g, lr_d) pair; write ``trials.csv``, ``trials.json`` and
    ``best.json`` (the best finished trial's full config) under ``out_dir``; return the
    trials, best first. ``resume``: continue the sweep recorded in ``out_dir`` (its
    ``sweep.json`` gives model, preset, options and pairs; the arguments are ignored)."""
    import joblib

    out = Path(out_dir)
    if resume:
        plan = read_plan(out)
        model, preset, options = plan["model"], plan["preset"], plan["options"]
        pairs = [tuple(p) for p in plan["pairs"]]
    elif out.exists() and any(out.iterdir()):
        raise UserError(f"sweep folder {out} exists and is not empty; choose a new --out, or "
                        f"continue an interrupted sweep with --resume {out}")
    presets.resolve(model, preset, strict=True, **options)  # refuse bad options before starting workers
    if not resume:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / PLAN, dict(model=model, preset=preset, options=options,
                                           pairs=[list(p) for p in pairs]))
    name = backend.get_backend().name
    folders = [out / f"trial-{i:03d}" for i in range(len(pairs))]
    kept = {i: json.loads((f / TRIAL).read_text()) for i, f in enumerate(folders)
            if (f / TRIAL).is_file()}
    jobs = [joblib.delayed(run_trial)(model, preset, options, g, d, str(folders[i]), name)
            for i, (g, d) in enumerate(pairs) if i not in kept]
    log(f"sweep: {len(pairs)} trials of {model} ({preset} preset) on joblib backend "
        f"'{joblib_backend}', n_jobs={n_jobs}; folder {out}"
        + (f"; resuming: {len(kept)} finished trial(s) kept, {len(jobs)} to run" if resume else ""))
    _stopped.discard(str(out))
    with parallel_config(joblib_backend, n_jobs, scheduler):
        trials = list(kept.values()) + joblib.Parallel(verbose=0)(jobs)
    trials.sort(key=rank_key)
    atomic_write_json(out / "trials.json", trials)
    write_csv(out / "trials.csv", trials)
    best = trials[0]
    if best.get("status", "complete") == "complete" and math.isfinite(best["c2st"]):
        cfg = json.loads((Path(best["run_dir"]) / "config.json").read_text())
        (out / "best.json").write_text(json.dumps(dict(score=best["c2st"], config=cfg), indent=1))
    unfinished = [t for t in trials if t.get("status", "complete") not in FINISHED]
    if unfinished:
        log(f"sweep interrupted: {len(unfinished)} of {len(trials)} trial(s) unfinished (marked in "
            f"trials.csv, ranked last); finish them with: refgan sweep --resume {out}")
    return trials


def _rows(trials: list[dict]) -> list[list[str]]:
    """The table's header and one row per trial, as strings."""
    classes = sorted({k for t in trials for k in t["per_class"]})
    head = ["rank", "lr_g", "lr_d", "c2st", "kid"] + [f"{k}_{m}" for k in classes
                                                for m in ("lr_pixels", "svm_colour")]
    rows = [head + ["wall_s", "status", "flags", "run_dir"]]
    for i, t in enumerate(trials, 1):
        per = [f"{t['per_class'][k][m]:.3f}" if k in t["per_class"] else "-"
               for k in classes for m in ("lr_pixels", "svm_colour")]
        rows.append([str(i), f"{t['lr_g']:.2e}", f"{t['lr_d']:.2e}", f"{t['c2st']:.3f}",
                     f"{t.get('kid', float('nan')):.3f}"] + per
                    + [str(t["wall_s"]), t.get("status", "complete"),
                       ";".join(t["flags"]) or (t["error"] and "diverged") or "-", t["run_dir"]])
    return rows


def write_csv(path, trials: list[dict]) -> None:
    """``trials.csv``: the table's columns through the csv module (a class name or
    folder with a comma or quote stays in its column)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(_rows(trials))
    Path(path).write_text(buf.getvalue())


def table(trials: list[dict], sep: str = "  ") -> str:
    """rank, lr_g, lr_d, c2st and kid (lower is better), per-class figures, wall, status,
    flags, run folder, as aligned text."""
    rows = _rows(trials)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(sep.join(v.rjust(w) for v, w in zip(r, widths)) for r in rows)
