"""What every paper's ``refgan reproduce`` shares: the plan, the cross-validated fits,
the saved predictions, the tables recomputed from them, the decisions, the report.

A paper module (``refgan/reproduce/<paper>.py``) gives a :class:`Plan` per scale
(``quick``, ``default``, ``full``) and the training sets of one fold
(``training_sets``); :func:`run_paper` then, for each repeat r and fold f of a
stratified k-fold split of the real images (:func:`refgan.study.splits.folds`, with
the CNN's early-stopping images set aside first, as in ``refgan study``):

* builds the paper's training sets from the fold's training split (GANs trained on
  that split only),
* fits every classifier on every training set with the same settings and predicts
  the fold's real test images (and, where the paper asks, other test sets such as
  Gaur et al.'s generated images),
* keeps every prediction (``predictions.json``: labels, predicted labels, scores).

Every number of ``reproduce.json`` is a function of ``predictions.json``
(:func:`summarise`, :func:`recompute`): per fold a metric, over the k r folds its mean
and its corrected repeated k-fold t interval (Nadeau & Bengio), and each condition
against the paper's baseline by the corrected t on the per-fold differences, the rule
of ``refgan study``:

    t = mean(d) / sqrt(var(d) (1/(k r) + n_test/n_train)),   df = k r - 1.

Metrics of two-class data are those of the positive class (Gaur et al.'s definitions:
precision, recall = sensitivity and specificity of the positive class, F1 of the two),
not macro averages.
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from refgan import backend
from refgan import metrics as M
from refgan.classifiers.backbone_files import BACKBONES, find_weights
from refgan.data import Dataset, make_blood_cells
from refgan.errors import UserError
from refgan.provenance import provenance
from refgan.reproduce import report
from refgan.study.conditions import make_imbalanced
from refgan.study.config import positive_index
from refgan.study.datasets import load_study_data
from refgan.study.jobs import _fit_predict, positive_score
from refgan.study.splits import folds, val_split, without
from refgan.study.results import _clean
from refgan.training.config import crop_arg

SCALES = ("quick", "default", "full")
ALPHA = 0.05
BINARY = ("accuracy", "precision", "recall", "f1", "specificity", "auc")

# The deep classifiers of the papers (refgan/backbones, `make_classifier(name, weights=DIR)`).
DEEP = BACKBONES


@dataclass
class Plan:
    """What one paper's run does (written to reproduce.json).

    data : 'synthetic' (the embedded cells) or a labelled folder / .npz.
    classifiers : refgan classifiers (``lr``, ``svm``, ``cnn``); deep : the paper's deep
        classifiers (:data:`DEEP`), fitted when :func:`deep_status` finds them.
    conditions : the paper's training sets, in its table's order; baseline : the one
        each other condition is compared with; pairs : further ``(condition, baseline)``
        comparisons the paper's claims need.
    tests : extra test sets of the paper (beyond the real test images) and the
        conditions fitted for them, ``{test: (condition, ...)}``.
    imbalance : ``{class: fraction kept}`` of the training split (Guruswamy et al.'s
        sparsified classes; Saquib and Rodriguez's 2 : 1).
    options : the paper's own settings (GAN models, steps, ...).
    scaled : what this plan scales down against the paper, in words.
    """

    paper: str
    scale: str
    data: str = "synthetic"
    n_per_class: int = 130
    size: int = 32
    crop: float = 0.0
    folds: int = 5
    repeats: int = 2
    classifiers: tuple = ("lr", "svm")
    deep: tuple = ()
    conditions: tuple = ("real",)
    baseline: str = "real"
    pairs: tuple = ()
    tests: dict = field(default_factory=dict)
    imbalance: dict = field(default_factory=dict)
    feature_size: int = 25
    cnn: dict = field(default_factory=lambda: dict(channels=(8, 16, 32), dense=32, max_epochs=20,
                                                   patience=4, image_size=32))
    options: dict = field(default_factory=dict)
    weights: str | None = None
    seed: int = 0
    scaled: tuple = ()

    def to_dict(self) -> dict:
        return _clean(asdict(self))


# ----------------------------------------------------------- deep classifiers
def deep_status(name: str, weights: str | None) -> tuple[bool, str]:
    """Whether the deep classifier ``name`` can be fitted, and if not, why (no
    ``--weights`` folder, or the folder lacks the network's file): the answer of
    :func:`refgan.classifiers.backbone_files.find_weights`, the one place that finds a
    weight file. The report prints the reason in the classifier's rows."""
    try:
        path = find_weights(name, weights)
    except UserError as err:
        return False, str(err)
    return True, f"weights {path}"


# ------------------------------------------------------------------------ data
def load(plan: Plan, log=print) -> Dataset:
    """The plan's real images: the embedded cells or a labelled folder / .npz."""
    if plan.data == "synthetic":
        return make_blood_cells(n_per_class=plan.n_per_class, size=plan.size, seed=plan.seed)
    return load_study_data(plan.data, plan.n_per_class, plan.size, plan.seed, log=log,
                           crop=crop_arg(plan.crop))


def imbalanced(train: Dataset, fractions: dict, seed: int) -> Dataset:
    """``train`` with class c keeping ``fractions[c]`` of its images (at least 2)."""
    return make_imbalanced(train, fractions, seed) if fractions else train


# ------------------------------------------------------------------------ fits
def run_fold(paper, plan: Plan, rep: int, fold: int, train: Dataset, test: Dataset,
             val: Dataset, workdir: Path, backend_name: str) -> dict:
    """One fold: the paper's training sets, every classifier on each, the predictions."""
    backend.set_backend(backend_name)
    backend.set_num_threads(1)
    seed = 10_000 * plan.seed + 100 * rep + fold
    t0 = time.perf_counter()
    fit_train = imbalanced(train, plan.imbalance, seed)
    sets, extra_tests, info = paper.training_sets(plan, fit_train, val, seed, workdir)
    pos = positive_index(list(test.class_names))
    records = []
    available = {n: deep_status(n, plan.weights)[0] for n in plan.deep}
    names = list(plan.classifiers) + [n for n in plan.deep if available[n]]
    for cond, (ds, cw, tf) in sets.items():
        for name in names:
            if tf is not None and name not in ("cnn", *DEEP):
                continue  # batch transforms exist only for classifiers that see batches
            t1 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf, pred, d, curves = _fit_predict(name, plan, ds, cw, tf, test, val, seed)
            tests = {"real": (test, pred, d)}
            for tname, (tset, conds) in extra_tests.items():
                if cond in conds:
                    tests[tname] = (tset, clf.predict(tset.images),
                                    np.asarray(clf.decision_function(tset.images), float))
            for tname, (tset, p, dd) in tests.items():
                records.append(dict(
                    classifier=name, condition=cond, test=tname, repeat=rep, fold=fold,
                    n_train=int(len(ds)), n_test=int(len(tset)),
                    y_true=tset.labels.tolist(), y_pred=np.asarray(p).tolist(),
                    score=positive_score(dd, pos).tolist(),
                    scores=None if dd.ndim == 1 else dd.tolist(), curves=curves,
                    seconds=round(time.perf_counter() - t1, 2)))
    return dict(repeat=rep, fold=fold, records=records, info=info,
                seconds=round(time.perf_counter() - t0, 1))


def fold_metrics(r: dict, n_classes: int, pos: int, top_k=(2, 5)) -> dict:
    """Every table metric of one record (one fitted classifier on one test set)."""
    y, p = np.asarray(r["y_true"]), np.asarray(r["y_pred"])
    if n_classes == 2:
        m = M.binary_metrics(y, p, positive=pos)
        out = {k: m[k] for k in BINARY[:-1]}
        out["auc"] = M.roc_auc(y, np.asarray(r["score"]), positive=pos) if len(set(y)) == 2 \
            else float("nan")
        return out
    m = M.multiclass_metrics(y, p, n_classes)
    out = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
    for k in top_k:
        if n_classes > k and r.get("scores") is not None:
            out[f"top{k}"] = M.top_k_accuracy(y, np.asarray(r["scores"]), k=k)
    return out


def summarise(records: list[dict], class_names, baseline: str, pairs=()) -> dict:
    """The tables and decisions of a paper, from its saved predictions only.

    ``table[test][classifier][condition][metric]`` = ``{mean, low, high, per_fold}``
    (per_fold: one value per (repeat, fold), in order); ``comparisons[test][classifier]``
    = one entry per condition against ``baseline`` on accuracy: ``{condition, diff,
    low, high, p_value, significant, per_fold}``.
    """
    K = len(class_names)
    pos = positive_index(list(class_names))
    groups: dict = {}
    for r in records:
        groups.setdefault((r["test"], r["classifier"], r["condition"]), []).append(r)
    table: dict = {}
    per_fold_acc: dict = {}
    sizes: dict = {}
    for (test, clf, cond), recs in groups.items():
        recs = sorted(recs, key=lambda r: (r["repeat"], r["fold"]))
        ms = [fold_metrics(r, K, pos) for r in recs]
        n_train = float(np.mean([r["n_train"] for r in recs]))
        n_test = float(np.mean([r["n_test"] for r in recs]))
        sizes[(test, clf, cond)] = (n_train, n_test)
        row = {}
        for m in ms[0]:
            vals = [float(x[m]) for x in ms]
            t = M.corrected_resampled_t(vals, n_train, n_test, 1 - ALPHA)
            # a proportion's interval stays within [0, 1], as in the study's tables
            row[m] = dict(mean=t["mean"], low=float(np.clip(t["low"], 0, 1)),
                          high=float(np.clip(t["high"], 0, 1)), per_fold=vals)
        table.setdefault(test, {}).setdefault(clf, {})[cond] = row
        per_fold_acc[(test, clf, cond)] = {(r["repeat"], r["fold"]): x["accuracy"]
                                           for r, x in zip(recs, ms)}
    comparisons: dict = {}
    wanted = [(t, c, cond, baseline) for (t, c, cond) in per_fold_acc if cond != baseline]
    wanted += [(t, c, cond, base) for (t, c) in dict.fromkeys(k[:2] for k in per_fold_acc)
               for cond, base in pairs]
    for test, clf, cond, base_name in dict.fromkeys(wanted):  # a pair may also be a baseline's
        acc, base = per_fold_acc.get((test, clf, cond)), per_fold_acc.get((test, clf, base_name))
        if acc is None or base is None:
            continue
        keys = sorted(set(acc) & set(base))
        d = [acc[k] - base[k] for k in keys]
        n_train, n_test = sizes[(test, clf, base_name)]
        t = M.corrected_resampled_t(d, n_train, n_test, 1 - ALPHA)
        comparisons.setdefault(test, {}).setdefault(clf, []).append(dict(
            condition=cond, baseline=base_name, diff=t["mean"], low=float(np.clip(t["low"], -1, 1)),
            high=float(np.clip(t["high"], -1, 1)),
            p_value=t["p_value"], significant=bool(t["p_value"] < ALPHA), per_fold=d))
    return dict(table=table, comparisons=comparisons, positive=class_names[pos], class_names=list(class_names),
                decision_rule=dict(test="corrected repeated k-fold t (Nadeau & Bengio 2003)",
                                   unit="fold", alpha=ALPHA, metric="accuracy difference"))


def comparison(results: dict, clf: str, cond: str, base: str, test: str = "real") -> dict | None:
    """The decision on ``cond`` against ``base`` for ``clf`` (None: not run)."""
    for c in results.get("comparisons", {}).get(test, {}).get(clf, []):
        if c["condition"] == cond and c["baseline"] == base:
            return c
    return None


def mean(results: dict, clf: str, cond: str, metric: str = "accuracy", test: str = "real"):
    """The mean over folds of one table cell (None: not run)."""
    e = results.get("table", {}).get(test, {}).get(clf, {}).get(cond, {}).get(metric)
    return None if e is None else e["mean"]


def claim(text: str, verdict: str, evidence: str) -> dict:
    """One claim of a paper and refgan's verdict: 'supported', 'not supported' or
    'not tested' (with why)."""
    return dict(claim=text, verdict=verdict, evidence=evidence)


def recompute(out_dir) -> dict:
    """:func:`summarise` of a finished run's ``predictions.json``: equals the tables
    and decisions of its ``reproduce.json``."""
    out_dir = Path(out_dir)
    saved = json.loads((out_dir / "predictions.json").read_text())
    return _clean(summarise(saved["records"], saved["class_names"], saved["baseline"],
                            [tuple(p) for p in saved["pairs"]]))


# ---------------------------------------------------------------------- the run
def run_paper(paper, plan: Plan, out_dir, n_jobs: int = 1, log=print) -> dict:
    """Run ``paper`` (its module) under ``plan``; write ``predictions.json``,
    ``reproduce.json`` and ``report.html`` into ``out_dir`` (which must be new or empty).
    Returns the results dict of reproduce.json."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir} exists and is not an empty folder; choose a new --out "
                        "(reproduce never overwrites a report)")
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = dict(paper=plan.paper, plan=plan.to_dict(), provenance=provenance())
    if getattr(paper, "CLASSIFIES", True):
        ds = load(plan, log)
        splits = []
        for rep in range(plan.repeats):
            for f, (train, test) in enumerate(folds(ds, plan.folds, plan.seed + rep)):
                val = val_split(train, plan.seed * 100 + 10 * rep + f)
                splits.append((rep, f, without(train, val), test, val))
        log(f"reproduce {plan.paper} ({plan.scale}): {len(ds)} images {ds.class_counts()}, "
            f"{plan.folds} folds x {plan.repeats} repeats, classifiers "
            f"{', '.join(plan.classifiers)}; report in {out_dir}")
        name = backend.get_backend().name
        jobs = [delayed(run_fold)(paper, plan, rep, f, tr, te, va, out_dir / f"work-r{rep}f{f}", name)
                for rep, f, tr, te, va in splits]
        outs = Parallel(n_jobs=n_jobs)(jobs)
        records = [r for o in outs for r in o["records"]]
        saved = dict(class_names=list(ds.class_names), baseline=plan.baseline,
                     pairs=[list(p) for p in plan.pairs], records=records)
        (out_dir / "predictions.json").write_text(json.dumps(_clean(saved)))
        results.update(_clean(summarise(records, ds.class_names, plan.baseline, plan.pairs)))
        results["dataset"] = dict(name=ds.name, n=len(ds), class_counts=ds.class_counts(),
                                  image_size=list(ds.image_size))
        results["folds"] = [dict(repeat=o["repeat"], fold=o["fold"], info=o["info"],
                                 seconds=o["seconds"]) for o in outs]
    results["deep"] = {n: dict(zip(("available", "why"), deep_status(n, plan.weights)))
                       for n in plan.deep}
    results.update(_clean(paper.extra(plan, results, out_dir, log)))
    results["published_source"] = paper.SOURCE
    results["claims"] = paper.claims(plan, results)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    (out_dir / "reproduce.json").write_text(json.dumps(_clean(results), indent=1))
    report.write(paper, results, out_dir)
    log(f"reproduce {plan.paper} done in {results['seconds']:.0f} s: {out_dir / 'report.html'}")
    return results
