"""results.json (everything, JSON-ready) and results.csv (one number per row)."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np


def _clean(o):
    """JSON-ready copy: arrays -> lists, NaN/inf -> None (JSON has no NaN)."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, (np.floating, float)):
        v = float(o)
        return v if math.isfinite(v) else None
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return o


def rows(results: dict):
    """Flat rows ``(section, classifier, condition, baseline, metric, fold, value, low, high)``."""
    for clf, conds in results["table"].items():
        for cond, row in conds.items():
            for m in results["metrics"]:
                e = row[m]
                yield ("table", clf, cond, "", m, "mean", e["mean"], e["low"], e["high"])
                if "pooled" in e:
                    yield ("table", clf, cond, "", m, "pooled", e["pooled"], e["pooled_low"],
                           e["pooled_high"])
                for k, v in enumerate(e["per_fold"]):
                    yield ("table", clf, cond, "", m, k, v, "", "")
    for clf, comps in results["comparisons"].items():
        for c in comps:
            yield ("comparison", clf, c["condition"], c["baseline"], "accuracy_diff", "mean",
                   c["diff"], c["low"], c["high"])
            for k, v in enumerate(c["per_fold"]):
                yield ("comparison", clf, c["condition"], c["baseline"], "accuracy_diff", k, v, "", "")
            for key in ("p_value", "p_adjusted", "p_mcnemar", "mcnemar_b", "mcnemar_c"):
                yield ("comparison", clf, c["condition"], c["baseline"], key, "mean", c[key], "", "")
    for f in results["folds"]:
        q = f["gan"].get("quality", {})
        fold = f"r{f['repeat']}f{f['fold']}s{f['gan_seed']}"
        for name in ("trts", "tstr"):
            if name in q:
                yield ("generator", "lr", "", "", f"{name}_accuracy", fold, q[name]["accuracy"],
                       q[name]["low"], q[name]["high"])
        for key in ("kid", "kid_floor"):
            if key in q:
                yield ("generator", "", "", "", q[key]["name"], fold, q[key]["kid"], q[key]["low"],
                       q[key]["high"])
        for name in ("precision", "recall", "density", "coverage"):
            if "prdc" in q:
                e = q["prdc"][name]
                yield ("generator", "", "", "", name, fold, e["value"], e["low"], e["high"])
        if "diversity" in q:
            e = q["diversity"]
            yield ("generator", "", "", "", "diversity_ratio", fold, e["ratio"], e["low"], e["high"])
        if "memorisation" in q:
            e = q["memorisation"]["copy_rate"]
            yield ("generator", "", "", "", "copy_rate", fold, e["value"], e["low"], e["high"])


def write_results(results: dict, out_dir) -> None:
    out_dir = Path(out_dir)
    slim = dict(results)
    slim["folds"] = [{k: v for k, v in f.items() if k != "samples"} for f in results["folds"]]
    (out_dir / "results.json").write_text(json.dumps(_clean(slim), indent=1))
    with open(out_dir / "results.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "classifier", "condition", "baseline", "metric", "fold", "value",
                    "low", "high"])
        for r in rows(results):
            # empty cells for what does not exist (NaN: a comparison that is not interpretable)
            w.writerow([("" if v is None or (isinstance(v, float) and not math.isfinite(v))
                         else (f"{v:.6g}" if isinstance(v, float) else v)) for v in r])
