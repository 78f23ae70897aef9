"""Georgiev: a deep classifier for ALL (C-NMC 2019).

Balanced data (the training split under-sampled to its smallest class), a centre crop
of 300 of the 450 pixels (``--crop``; the embedded cells have no black border to
remove) then the network's input size, a random rotation in [-45, 45] degrees drawn
per image and batch; EfficientNet-B0 features, frozen, + FC(320) + 1 output. Learning
curves: training loss, validation loss and accuracy per epoch. refgan's small CNN
trained from scratch stands beside the EfficientNet row (which needs its weights).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from refgan.data import Dataset
from refgan.reproduce import report as R
from refgan.reproduce.published import SOURCES, published
from refgan.reproduce.runner import Plan, claim, comparison
from refgan.study.conditions import on_the_fly_rotation

NAME = "georgiev"
TITLE = "Georgiev: deep classifier for ALL with cropping and rotations, rerun by refgan"
SOURCE = SOURCES[NAME]
CONDITIONS = ("real", "real+rotate-on-the-fly")
LABELS = {"real": "balanced, no augmentation", "real+rotate-on-the-fly": "balanced + rotation in [-45, 45]"}
METRICS = ("accuracy", "precision", "recall", "specificity", "auc")


def plan(scale: str, data: str = "synthetic", weights=None) -> Plan:
    common = dict(paper=NAME, scale=scale, data=data, weights=weights, classifiers=("cnn",),
                  deep=("efficientnet_b0",), conditions=CONDITIONS, baseline="real",
                  crop=0.0 if data == "synthetic" else 300 / 450)
    if scale == "quick":
        return Plan(**common, n_per_class=16, size=16, folds=2, repeats=1,
                    cnn=dict(channels=(4, 4, 8), dense=8, max_epochs=3, patience=3, image_size=16),
                    scaled=("a pipeline check: 32 images of 16 x 16, 2 folds, 3 epochs",))
    if scale == "full":
        return Plan(**common, n_per_class=130, size=224, folds=5, repeats=2,
                    cnn=dict(channels=(16, 32, 64), dense=320, max_epochs=500, patience=50, image_size=224),
                    scaled=("500 epochs at most (the paper trained 500 to 2,000)",))
    return Plan(**common, n_per_class=130, size=32, folds=5, repeats=2,
                cnn=dict(channels=(8, 16, 32), dense=32, max_epochs=40, patience=40, image_size=32),
                scaled=("32 x 32 images instead of 224 x 224 (after the 300-pixel crop on C-NMC)",
                        "40 epochs instead of 500-2,000; no early stop, so the curves show the whole run",
                        "refgan's small CNN from scratch beside the frozen EfficientNet-B0 row",
                        "5-fold cross-validation repeated twice instead of one 300-image validation set"))


def balanced(train: Dataset, seed: int) -> Dataset:
    """``train`` under-sampled at random to its smallest class (Georgiev's 4,794)."""
    rng = np.random.default_rng([seed, 13])
    counts = np.bincount(train.labels, minlength=train.n_classes)
    lo = counts[counts > 0].min()
    idx = np.concatenate([rng.choice(np.flatnonzero(train.labels == c), lo, replace=False)
                          for c in range(train.n_classes) if counts[c]])
    out = train.subset(np.sort(idx))
    out.role = train.role
    return out


def training_sets(plan: Plan, train: Dataset, val: Dataset, seed: int, workdir):
    b = balanced(train, seed)
    return {"real": (b, None, None), "real+rotate-on-the-fly": (b, None, on_the_fly_rotation())}, {}, {}


def extra(plan: Plan, results: dict, out_dir, log) -> dict:
    """The first fold's learning curves, for the claims (from predictions.json)."""
    records = json.loads((Path(out_dir) / "predictions.json").read_text())["records"]
    return {"first_fold_curves": [dict(classifier=r["classifier"], condition=r["condition"], curves=r["curves"])
                                  for r in records if r["repeat"] == 0 and r["fold"] == 0
                                  and r["test"] == "real"]}


def claims(plan: Plan, results: dict) -> list[dict]:
    out = []
    c = comparison(results, "cnn", "real+rotate-on-the-fly", "real")
    out.append(claim("Rotation augmentation brings no significant improvement (section 4)",
                     "supported" if c and not (c["significant"] and c["diff"] > 0) else "not supported",
                     f"CNN: {100 * c['diff']:+.1f} points, p = {c['p_value']:.3f}" if c else "not run"))
    first = {c: r["curves"]["loss"] for r in _records(results) for c in [r["condition"]]
             if r["classifier"] == "cnn" and r["curves"].get("loss")}
    falls = {c: v[-1] < v[0] for c, v in first.items()}
    out.append(claim("The model learns the task: its training loss falls over the epochs",
                     "supported" if falls and all(falls.values()) else "not supported",
                     "; ".join(f"{c}: loss {first[c][0]:.3f} at the first epoch, {first[c][-1]:.3f} at the last "
                               "(first fold)" for c in first) or "no curves"))
    d = results["deep"]["efficientnet_b0"]
    out.append(claim("Frozen EfficientNet-B0 features + FC(320) reach 72% accuracy", "not tested"
                     if not d["available"] else "supported", d["why"]))
    return out


def _records(results: dict) -> list[dict]:
    """The first fold's records with their curves (saved in reproduce.json by :func:`extra`)."""
    return results.get("first_fold_curves", [])


def sections(results: dict, records: list[dict]):
    pub = lambda clf, cond, m: published("results", clf, cond, m)  # noqa: E731
    yield ("Results: balanced data, with and without rotation",
           "The paper reports its best validation accuracy only (72%).",
           R.metric_table(results, "real", ["efficientnet_b0", "cnn"], CONDITIONS, METRICS, pub, LABELS))
    yield ("Decisions (corrected repeated k-fold t, 5%)", "", R.decisions_table(results))
    yield ("Learning curves", "Training and validation loss per epoch, first fold (the paper's Figures "
           "1-12).", R.fig_curves(records, "cnn", list(CONDITIONS), "loss per epoch"))
