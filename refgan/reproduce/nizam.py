"""Nizam and Md Ali: DCGAN on one cell type (neutrophils of the Barcelona PBC dataset).

A DCGAN (binary cross-entropy, Adam) on one class only, for each of their four
learning-rate pairs (lr_G, lr_D) = (2e-4, 2e-4), (4e-4, 3e-4), (4e-4, 4e-4),
(4e-4, 2e-4), read at 100, 200 and 300 epochs (one run per pair, read at a third,
two thirds and the end), and the (4e-4, 4e-4) pair again with a cosine decay spanning
the run. Each reading says what refgan's monitor saw: mode collapse (the fixed-z
samples' diversity below a quarter of the real images'), failure to converge (its
non-convergence rules), or neither; with the diversity and KID on simple features
against the training images.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from refgan.data import make_blood_cells
from refgan.reproduce import report as R
from refgan.reproduce.published import NIZAM_OUTCOMES, SOURCES
from refgan.reproduce.runner import Plan, claim, load
from refgan.training import checkpoint, presets
from refgan.training.data import from_split
from refgan.training.sweep import NIZAM_GRID
from refgan.training.trainer import Trainer

NAME = "nizam"
TITLE = "Nizam and Md Ali: DCGAN on one cell type, rerun by refgan"
SOURCE = SOURCES[NAME]
CLASSIFIES = False
MARKS = (1 / 3, 2 / 3, 1.0)


def plan(scale: str, data: str = "synthetic", weights=None) -> Plan:
    common = dict(paper=NAME, scale=scale, data=data, weights=weights, classifiers=(), conditions=())
    cell = "blast" if data == "synthetic" else "neutrophil"
    if scale == "quick":
        return Plan(**common, n_per_class=16, size=16,
                    options=dict(cell=cell, preset="smoke", epochs=(1, 2, 3), gan=dict(batch=8),
                                 grow="none"),
                    scaled=("a pipeline check: 16 images of 16 x 16, 1/2/3 epochs of a tiny DCGAN; "
                            "the outcomes mean nothing",))
    if scale == "full":
        return Plan(**common, n_per_class=130, size=64,
                    options=dict(cell=cell, preset="paper", epochs=(100, 200, 300), gan=dict(),
                                 grow="auto"),
                    scaled=("none in the protocol (the paper preset's DCGAN, width 64, 64 x 64)",))
    return Plan(**common, n_per_class=130, size=32,
                options=dict(cell=cell, preset="cpu", epochs=(5, 10, 15), gan=dict(), grow="auto"),
                scaled=("130 embedded cells of one type (blast) instead of 3,329 neutrophils",
                        "32 x 32 images, width 16 (the cpu preset's DCGAN)",
                        "5 / 10 / 15 epochs over the grown set (8 x 104 images) instead of 100 / 200 / 300 "
                        "epochs over 3,329"))


def _cells(plan: Plan):
    """The one cell type's images."""
    cell = plan.options["cell"]
    if plan.data == "synthetic":
        return make_blood_cells(n_per_class=plan.n_per_class, classes=(cell,), size=plan.size, seed=plan.seed)
    ds = load(plan)
    if cell not in ds.class_names:
        cell = ds.class_names[0]
    out = ds.subset(np.flatnonzero(ds.labels == ds.class_names.index(cell)))
    return out


def _train(plan: Plan, lrs, schedule: str, out: Path) -> dict:
    o = plan.options
    ds = _cells(plan)
    ds.role = "train"
    c = presets.resolve("dcgan", o["preset"], **dict(o["gan"], lr_g=lrs[0], lr_d=lrs[1], schedule=schedule,
                                                     epochs=o["epochs"][-1], size=plan.size,
                                                     seed=plan.seed, quality=False, progress=False,
                                                     classes=list(ds.class_names), sample_every=10,
                                                     ckpt_every=10 ** 6, log_every=1))
    data = from_split(ds, how=o["grow"], seed=plan.seed)
    t = Trainer(c, data, out, log=lambda m: None).setup()
    t.run()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = t.config.steps
    key = t.keys[0]
    div = [(r["step"], r[f"{key}/diversity"]) for r in rows if f"{key}/diversity" in r]
    flags = [r for r in rows if r.get("event") in ("mode_collapse", "non_convergence")]
    readings = []
    for e, frac in zip(o["epochs"], MARKS):
        step = max(1, round(frac * steps))
        # the sample grid nearest the reading (grids every 10 steps and at the last)
        ratio = min(div, key=lambda sv: abs(sv[0] - step))[1] if div else float("nan")
        seen = sorted({f["event"] for f in flags if f.get("step", 0) <= step})
        window = [r for r in rows if "step" in r and f"{key}/d_loss" in r and step - 20 < r["step"] <= step]
        outcome = ("mode collapse" if ratio < t.config.collapse_threshold else
                   "failure to converge" if "non_convergence" in seen else "trained")
        readings.append(dict(epochs=e, step=step, diversity=ratio, flags=seen, outcome=outcome,
                             d_loss=float(np.mean([r[f"{key}/d_loss"] for r in window])) if window else None,
                             g_loss=float(np.mean([r[f"{key}/g_loss"] for r in window])) if window else None))
    gen = {key: t.sample_class(key, min(64, len(ds)), seed=plan.seed + 7)}
    kid = checkpoint.sample_quality(gen, {key: ds.images})
    late = [v for s, v in div if s >= steps // 5]
    collapsed_at = next((i for i, v in enumerate(late) if v < t.config.collapse_threshold), None)
    return dict(lr_g=lrs[0], lr_d=lrs[1], schedule=schedule, steps=steps, readings=readings, kid=kid,
                diversity=[v for _, v in div], recovered=None if collapsed_at is None else bool(
                    any(v >= t.config.collapse_threshold for v in late[collapsed_at + 1:])),
                losses={m: [r[f"{key}/{m}"] for r in rows if f"{key}/{m}" in r] for m in ("d_loss", "g_loss")})


def training_sets(plan, train, val, seed, workdir):  # no classifiers in this paper
    return {}, {}, {}


def extra(plan: Plan, results: dict, out_dir, log) -> dict:
    runs = []
    for i, lrs in enumerate(NIZAM_GRID):
        runs.append(_train(plan, lrs, "constant", Path(out_dir) / f"dcgan-{i}"))
    runs.append(_train(plan, (4e-4, 4e-4), "cosine", Path(out_dir) / "dcgan-cosine"))
    return {"runs": runs, "cell": plan.options["cell"]}


def claims(plan: Plan, results: dict) -> list[dict]:
    runs = results["runs"]
    final = [r["readings"][-1] for r in runs[:4]]
    kinds = {f["outcome"] for f in final}
    spread = max(f["diversity"] for f in final) - min(f["diversity"] for f in final)
    out = [claim("DCGAN is very sensitive: small changes of the two learning rates change the training",
                 "supported" if len(kinds) > 1 or spread > 0.2 else "not supported",
                 f"outcomes at the last reading: {', '.join(f['outcome'] for f in final)}; diversity spread "
                 f"{spread:.2f} (rule: different outcomes, or a spread above 0.2)")]
    kid4 = [r["kid"] for r in runs[:4] if r["lr_g"] == 4e-4]
    kid2 = [r["kid"] for r in runs[:4] if r["lr_g"] == 2e-4]
    out.append(claim("A generator learning rate of 4e-4 converges better",
                     "supported" if np.mean(kid4) < np.mean(kid2) else "not supported",
                     f"KID against the training cells: lr_G 4e-4 {np.mean(kid4):.3f} (mean of 3), "
                     f"lr_G 2e-4 {np.mean(kid2):.3f} (lower is better)"))
    collapsed = [r for r in runs if r["recovered"] is not None]
    out.append(claim("Once the GAN has collapsed it never gets out of the trap",
                     "not tested" if not collapsed else
                     "supported" if not any(r["recovered"] for r in collapsed) else "not supported",
                     "no run collapsed" if not collapsed else
                     f"{sum(not r['recovered'] for r in collapsed)} of {len(collapsed)} collapsed runs stayed "
                     "collapsed at every later sample"))
    paired = [(r, NIZAM_OUTCOMES[(r["lr_g"], r["lr_d"], r["schedule"])]) for r in runs
              if (r["lr_g"], r["lr_d"], r["schedule"]) in NIZAM_OUTCOMES]
    same = [r for r, want in paired if r["readings"][-1]["outcome"] == want]
    out.append(claim("Each setting ends as in the paper: failure to converge for (2e-4, 2e-4) and (4e-4, 3e-4), "
                     "mode collapse for (4e-4, 2e-4) and for (4e-4, 4e-4) with cosine decay",
                     "supported" if len(same) == len(paired) else "not supported",
                     f"{len(same)} of {len(paired)} settings end as the paper's: "
                     + ", ".join(f"({r['lr_g']:.0e}, {r['lr_d']:.0e}{', cosine' if r['schedule'] == 'cosine' else ''})"
                                 f" {r['readings'][-1]['outcome']}" for r, _ in paired)))
    observed = {r["readings"][-1]["outcome"] for r in runs}
    out.append(claim("The two failure modes appear: mode collapse and failure to converge",
                     "supported" if {"mode collapse", "failure to converge"} <= observed else "not supported",
                     f"observed at the last reading: {', '.join(sorted(observed))}"))
    return out


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def sections(results: dict, records: list[dict]):
    rows = []
    for r in results["runs"]:
        pub = NIZAM_OUTCOMES.get((r["lr_g"], r["lr_d"], r["schedule"]), "")
        for x in r["readings"]:
            rows.append(f"<tr><td>{r['lr_g']:.0e}</td><td>{r['lr_d']:.0e}</td><td>{r['schedule']}</td>"
                        f"<td>{x['epochs']}</td><td>{x['step']}</td><td>{_num(x['diversity'])}</td>"
                        f"<td>{x['outcome']}</td><td class=pub>{pub if x is r['readings'][-1] else ''}</td></tr>")
    yield ("The four learning-rate pairs and the cosine decay",
           f"DCGAN on one cell type ({results['cell']}); diversity of the fixed-z samples relative to the "
           "real images' (below 0.25: mode collapse); in purple the paper's outcome at 300 epochs.",
           "<table><tr><th>lr_G</th><th>lr_D</th><th>schedule</th><th>epochs</th><th>step</th>"
           "<th>diversity</th><th>refgan</th><th class=pub>paper</th></tr>" + "".join(rows) + "</table>")
    for r in results["runs"]:
        yield (f"Losses: lr_G {r['lr_g']:.0e}, lr_D {r['lr_d']:.0e}, {r['schedule']}",
               f"KID against the training cells {r['kid']:.3f}.",
               R.fig_losses(r["losses"], f"DCGAN ({r['lr_g']:.0e}, {r['lr_d']:.0e}), {r['schedule']}"))
