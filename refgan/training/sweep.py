"""Searches over training settings: short runs, ranked by how well a generator's
samples pass for real images. The learning-rate searches as the papers ran them:

* Gaur et al.: (lr_G, lr_D) drawn log-uniformly, G in [1e-5, 1e-3] and D in
  [1e-4, 1e-2] (:func:`log_uniform`);
* Nizam and Md Ali: a (G, D) grid, by default theirs: (2e-4, 2e-4), (4e-4, 3e-4),
  (4e-4, 4e-4), (4e-4, 2e-4) (:func:`grid`).

and a comparison of designs (:func:`designs`: each a set of options, e.g.
``generator=fastgan recon=1``, or the preset as it is), each run at several seeds
(:func:`plan`), since one run's two-sample figures move by about +-0.04 between seeds.

Each trial is an ordinary training run (``Trainer``, its own run folder under the
sweep folder) with the sweep's options plus the trial's own (its rates, or its
design and seed). Its score is the
classifier two-sample test of :mod:`refgan.training.quality`: the mean over classes of
the two classifiers' 5-fold accuracies at telling ``quality_n`` samples from real
images (0.5 = indistinguishable; lower is better). The real images are fresh ones
on the embedded dataset (newly rendered cells) and the *training* images otherwise,
so that the held-out test images play no part in choosing a configuration.
Trials of one setting at several seeds are summarised per setting
(:func:`summarise`: mean and worst over seeds, the range of each class's figures);
the settings are ranked by their mean score over seeds, then the worst seed's.

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
from refgan.training.config import parse_value

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


def designs(specs) -> list[dict]:
    """Each spec 'KEY=VALUE KEY=VALUE ...' (train options, dashes or underscores) as a dict
    of typed values; '' or 'preset' is the preset as it is ({}). A one-line UserError
    names a malformed spec."""
    out = []
    for spec in specs:
        words = spec.split()
        if words in ([], ["preset"]):
            out.append({})
            continue
        bad = [w for w in words if "=" not in w or w.startswith("=")]
        if bad:
            raise UserError(f"--design {spec!r}: expected KEY=VALUE words separated by spaces "
                            f"(e.g. 'generator=fastgan recon=1'), or 'preset'; got {bad[0]!r}")
        pairs = [w.split("=", 1) for w in words]
        out.append({k.replace("-", "_"): parse_value(k.replace("-", "_"), v) for k, v in pairs})
    return out


def plan(settings, seeds=None) -> list[dict]:
    """The trials: every setting (a dict of options; an (lr_g, lr_d) pair stands for
    {'lr_g', 'lr_d'}) at every seed of ``seeds`` (None: once, at the options' seed)."""
    settings = [dict(lr_g=float(s[0]), lr_d=float(s[1])) if isinstance(s, (tuple, list)) else dict(s)
                for s in settings]
    if seeds is None:
        return settings
    return [dict(s, seed=int(seed)) for s in settings for seed in seeds]


def label(trial_options: dict) -> str:
    """A setting's name: its options other than the seed, 'KEY=VALUE ...'; 'preset' when none."""
    words = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
             for k, v in trial_options.items() if k != "seed"]
    return " ".join(words) or "preset"


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


def run_trial(model: str, preset: str, options: dict, own: dict,
              run_dir: str, backend_name: str | None = None) -> dict:
    """One short run with ``options`` and the trial's ``own`` options (its rates, or its
    design and seed) and its score (runs in a joblib worker: arguments are plain data).
    The record names the setting (:func:`label` of ``own``) and the seed, rates and
    steps the run had.

    ``status``: ``complete``, ``diverged`` (``error`` says why), ``interrupted`` (Ctrl-C
    or SIGTERM: its checkpoint is kept for a resume) or ``not run`` (an earlier trial in
    this process was interrupted). A finished trial is recorded in ``run_dir/trial.json``;
    a trial folder with a checkpoint and no ``trial.json`` is continued, not restarted."""
    t0 = time.perf_counter()
    unscored = {"c2st": float("inf"), "kid": float("inf"), "per_class": {}}
    c = presets.resolve(model, preset, **dict(options, **own))
    record = dict(setting=label(own), seed=int(c.seed), lr_g=float(c.lr_g), lr_d=float(c.lr_d),
                  steps=0, run_dir=run_dir, flags=[], error=None)
    if str(Path(run_dir).parent) in _stopped:
        return dict(record, wall_s=0.0, status="not run", **unscored)
    ctx = backend.using_backend(backend_name) if backend_name else contextlib.nullcontext()
    with ctx:
        if (Path(run_dir) / "checkpoints" / "latest.json").is_file():  # interrupted earlier
            trainer = Trainer.resume(run_dir, gan_data.run_data(run_dir), log=lambda msg: None)
            c = trainer.config
        else:
            shutil.rmtree(run_dir, ignore_errors=True)  # stopped before its first checkpoint
            c = presets.resolve(model, preset, **dict(options, **own, progress=False,
                                                      quality=False))
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
    record = dict(record, steps=int(trainer.step), wall_s=round(time.perf_counter() - t0, 1),
                  status=status,
                  flags=sorted(f"{kind}:{key}" for kind, key in trainer.monitor.flagged), **result)
    if status in FINISHED:
        atomic_write_json(Path(run_dir) / TRIAL, record)
    return record


def read_plan(out_dir) -> dict:
    """``sweep.json`` of an earlier sweep: model, preset, options and the trials' own
    options (``trials``; a sweep written before designs has (lr_g, lr_d) ``pairs``);
    a one-line UserError when there is none or it is damaged."""
    path = Path(out_dir) / PLAN
    record = read_json_record(path, f"{out_dir} holds no sweep to resume (no {PLAN}); give the "
                              "folder an earlier 'refgan sweep' wrote", "the sweep's plan")
    if not isinstance(record, dict) or not {"model", "preset", "options"} <= set(record) \
            or not {"trials", "pairs"} & set(record):
        raise UserError(f"{path} is not a sweep plan (model, preset, options, trials); it is damaged")
    if "trials" not in record:
        record["trials"] = plan(record["pairs"])
    return record


def sweep(model: str, preset: str, options: dict, trials, out_dir, n_jobs: int = -1,
          joblib_backend: str = "loky", scheduler: str | None = None, log=print,
          resume: bool = False) -> list[dict]:
    """Run one trial per entry of ``trials`` (an (lr_g, lr_d) pair or a dict of the
    trial's own options, :func:`plan`); write ``trials.csv``, ``trials.json``,
    ``settings.csv`` (:func:`summarise`) and ``best.json`` (the best setting's full
    config) under ``out_dir``; return the trials, best first. ``resume``: continue the
    sweep recorded in ``out_dir`` (its ``sweep.json`` gives model, preset, options and
    trials; the arguments are ignored)."""
    import joblib

    out = Path(out_dir)
    if resume:
        recorded = read_plan(out)
        model, preset, options = recorded["model"], recorded["preset"], recorded["options"]
        own = recorded["trials"]
    elif out.exists() and any(out.iterdir()):
        raise UserError(f"sweep folder {out} exists and is not empty; choose a new --out, or "
                        f"continue an interrupted sweep with --resume {out}")
    else:
        own = plan(trials)
    for extra in own or [{}]:    # refuse bad options before starting workers
        presets.resolve(model, preset, strict=True, **dict(options, **extra)).validate()
    if not resume:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / PLAN, dict(model=model, preset=preset, options=options, trials=own))
    name = backend.get_backend().name
    folders = [out / f"trial-{i:03d}" for i in range(len(own))]
    kept = {i: json.loads((f / TRIAL).read_text()) for i, f in enumerate(folders)
            if (f / TRIAL).is_file()}
    jobs = [joblib.delayed(run_trial)(model, preset, options, extra, str(folders[i]), name)
            for i, extra in enumerate(own) if i not in kept]
    log(f"sweep: {len(own)} trials of {model} ({preset} preset) on joblib backend "
        f"'{joblib_backend}', n_jobs={n_jobs}; folder {out}"
        + (f"; resuming: {len(kept)} finished trial(s) kept, {len(jobs)} to run" if resume else ""))
    _stopped.discard(str(out))
    with parallel_config(joblib_backend, n_jobs, scheduler):
        trials = list(kept.values()) + joblib.Parallel(verbose=0)(jobs)
    trials.sort(key=rank_key)
    atomic_write_json(out / "trials.json", trials)
    write_csv(out / "trials.csv", trials)
    settings = summarise(trials)
    write_csv(out / "settings.csv", settings, _setting_rows)
    best = settings[0]
    if best["finished"] == len(best["seeds"]) and math.isfinite(best["c2st"]):
        cfg = json.loads((Path(best["best_run_dir"]) / "config.json").read_text())
        (out / "best.json").write_text(json.dumps(dict(score=best["c2st"], setting=best["setting"],
                                                       seeds=best["seeds"], config=cfg), indent=1))
    unfinished = [t for t in trials if t.get("status", "complete") not in FINISHED]
    if unfinished:
        log(f"sweep interrupted: {len(unfinished)} of {len(trials)} trial(s) unfinished (marked in "
            f"trials.csv, ranked last); finish them with: refgan sweep --resume {out}")
    return trials


MEASURES = ("lr_pixels", "svm_colour")   # the two-sample figures of each class (quality.py)


def summarise(trials: list[dict]) -> list[dict]:
    """One entry per setting (trials with the same :func:`label`): its seeds, how many
    finished, the mean and worst (largest) score over its finished seeds, the range of
    each class's two-sample figures, of the steps and the worst figure of all (the
    largest of any class, test and seed: the main job's goal holds when it is <= 0.75).
    Ranked by mean score, then worst score; a setting with an unfinished seed scores
    inf and ranks after every finished one."""
    groups: dict[str, list[dict]] = {}
    for t in trials:
        groups.setdefault(t.get("setting", label(dict(lr_g=t["lr_g"], lr_d=t["lr_d"]))), []).append(t)
    out = []
    for name, ts in groups.items():
        done = [t for t in ts if t.get("status", "complete") in FINISHED]
        scores = [t["c2st"] for t in ts]
        per = {k: {m: (min(t["per_class"][k][m] for t in done), max(t["per_class"][k][m] for t in done))
                   for m in MEASURES}
               for k in sorted({k for t in done for k in t["per_class"]})
               if all(k in t["per_class"] for t in done)}
        best = min(ts, key=rank_key)
        seeds = sorted((t.get("seed") for t in ts), key=lambda v: (v is None, v or 0))
        out.append(dict(setting=name, seeds=seeds, finished=len(done),
                        c2st=float(np.mean(scores)) if len(done) == len(ts) else float("inf"),
                        c2st_worst=max(scores), steps=[min(t.get("steps", 0) for t in ts),
                                                       max(t.get("steps", 0) for t in ts)],
                        worst_figure=max((hi for f in per.values() for _, hi in f.values()),
                                         default=float("inf")),
                        per_class=per, best_run_dir=best["run_dir"]))
    out.sort(key=lambda s: (s["finished"] < len(s["seeds"]), s["c2st"], s["c2st_worst"]))
    return out


def _range(lo: float, hi: float) -> str:
    return f"{lo:.3f}" if lo == hi else f"{lo:.3f}-{hi:.3f}"


def _setting_rows(settings: list[dict]) -> list[list[str]]:
    """The settings table's header and one row per setting, as strings."""
    classes = sorted({k for s in settings for k in s["per_class"]})
    head = (["rank", "setting", "seeds", "c2st_mean", "c2st_worst", "worst_figure"]
            + [f"{k}_{m}" for k in classes for m in MEASURES] + ["steps"])
    rows = [head]
    for i, s in enumerate(settings, 1):
        per = [_range(*s["per_class"][k][m]) if k in s["per_class"] else "-"
               for k in classes for m in MEASURES]
        seeds = ",".join("-" if v is None else str(v) for v in s["seeds"])
        rows.append([str(i), s["setting"], seeds, f"{s['c2st']:.3f}", f"{s['c2st_worst']:.3f}",
                     f"{s['worst_figure']:.3f}"] + per + [f"{s['steps'][0]}-{s['steps'][1]}"])
    return rows


def _rows(trials: list[dict]) -> list[list[str]]:
    """The trials table's header and one row per trial, as strings."""
    classes = sorted({k for t in trials for k in t["per_class"]})
    head = ["rank", "lr_g", "lr_d", "c2st", "kid"] + [f"{k}_{m}" for k in classes for m in MEASURES]
    rows = [head + ["setting", "seed", "steps", "wall_s", "status", "flags", "run_dir"]]
    for i, t in enumerate(trials, 1):
        per = [f"{t['per_class'][k][m]:.3f}" if k in t["per_class"] else "-"
               for k in classes for m in MEASURES]
        rows.append([str(i), f"{t['lr_g']:.2e}", f"{t['lr_d']:.2e}", f"{t['c2st']:.3f}",
                     f"{t.get('kid', float('nan')):.3f}"] + per
                    + [t.get("setting", "-"), str(t.get("seed", "-")), str(t.get("steps", "-")),
                       str(t["wall_s"]), t.get("status", "complete"),
                       ";".join(t["flags"]) or (t["error"] and "diverged") or "-", t["run_dir"]])
    return rows


def write_csv(path, records: list[dict], rows=_rows) -> None:
    """``trials.csv`` (or, with ``rows=_setting_rows``, ``settings.csv``): the table's
    columns through the csv module (a class name or folder with a comma or quote stays
    in its column)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows(records))
    Path(path).write_text(buf.getvalue())


def table(records: list[dict], sep: str = "  ", rows=_rows) -> str:
    """The trials (rank, lr_g, lr_d, c2st and kid, lower is better, per-class figures,
    setting, seed, steps, wall, status, flags, run folder) or, with
    ``rows=_setting_rows``, the settings, as aligned text."""
    rows = rows(records)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(sep.join(v.rjust(w) for v, w in zip(r, widths)) for r in rows)


def settings_table(trials: list[dict]) -> str:
    """:func:`summarise` of ``trials`` as aligned text."""
    return table(summarise(trials), rows=_setting_rows)
