"""The study's results as typed objects, and their two files: ``results.json``
(everything, JSON-ready) and ``results.csv`` (one number per row).

One :class:`StudyResults` passes from the protocol to the report, to ``results.json``
and back (:meth:`StudyResults.from_dict` reads a ``results.json``; ``refgan
reproduce`` and any other reader start there). The JSON keys are the field names:

===================  ===================================================================
:class:`Record`      one fitted classifier on one fold's test images (predictions, scores)
:class:`JobResult`   one job: a fold's real conditions, or one GAN of a fold with its
                     :class:`GanResult` (losses, :class:`GeneratorQuality`) and records
:class:`Estimate`    one metric of one (classifier, training set): the mean over folds
                     with its corrected-t interval, the per-fold values, and the pooled
                     value with its Wilson / bootstrap interval where one exists
:class:`Row`         one (classifier, training set): its :class:`Estimate` per metric,
                     per-class figures, confusion matrix, degenerate flags, threshold sweep
:class:`Comparison`  one paired comparison (condition vs baseline) under the decision rule
:class:`Summary`     the tables and comparisons :func:`refgan.study.summary.summarise` makes
===================  ===================================================================
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np


# ------------------------------------------------------------------ records and jobs
@dataclass
class Record:
    """One fitted classifier on its fold's test images.

    y_true, y_pred : (n_test,) class indices; score : (n_test,) the positive class's
    score (:func:`refgan.study.jobs.positive_score`); scores : (n_test, K) every
    class's score for K > 2 classifiers, else None; origin : (n_test,) the test
    images' origins (pairs records of two conditions image by image); class_counts :
    (K,) training images per class; curves : ``{'loss': [...], 'val_loss': [...]}``.
    """

    classifier: str
    condition: str
    repeat: int
    fold: int
    gan_seed: int  # -1: a job without a GAN
    n_train: int
    y_true: list
    y_pred: list
    score: list
    scores: list | None = None
    origin: list = field(default_factory=list)
    class_counts: list = field(default_factory=list)
    curves: dict = field(default_factory=lambda: dict(loss=[], val_loss=[]))
    seconds: float = 0.0

    def to_dict(self) -> dict:
        keys = ("classifier", "condition", "repeat", "fold", "gan_seed", "n_train", "class_counts",
                "y_true", "y_pred", "score", "scores", "origin", "curves", "seconds")
        return {k: getattr(self, k) for k in keys}

    @property
    def correct(self) -> np.ndarray:
        """(n_test,) bool: predicted the true class."""
        return np.asarray(self.y_pred) == np.asarray(self.y_true)

    @classmethod
    def from_dict(cls, d: dict) -> "Record":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass
class GeneratorQuality:
    """One generator's scores, each the dict its :mod:`refgan.metrics.generative`
    function returns: ``trts``, ``tstr`` (``accuracy, low, high, n``), ``kid`` and
    ``kid_floor`` (``kid, low, high, n_real, n_fake`` and ``name``: the estimator and
    feature space), ``prdc`` (``{precision|recall|density|coverage: {value, low,
    high}}``), ``diversity`` (``ratio, low, high``), ``memorisation`` (``copy_rate:
    {value, low, high}``, ...); ``features`` says what KID and PRDC were computed on."""

    trts: dict
    tstr: dict
    features: str
    kid: dict
    kid_floor: dict
    prdc: dict
    diversity: dict
    memorisation: dict

    def figures(self) -> list:
        """``[(name, value, low, high, is_fraction)]``: every number the report's
        generator table and results.csv show, in that order (the one place that reads
        the metric dicts' keys)."""
        out = [("trts_accuracy", self.trts["accuracy"], self.trts["low"], self.trts["high"], True),
               ("tstr_accuracy", self.tstr["accuracy"], self.tstr["low"], self.tstr["high"], True),
               (self.kid["name"], self.kid["kid"], self.kid["low"], self.kid["high"], False),
               (self.kid_floor["name"], self.kid_floor["kid"], self.kid_floor["low"],
                self.kid_floor["high"], False)]
        for name in ("precision", "recall", "density", "coverage"):
            e = self.prdc[name]
            out.append((name, e["value"], e["low"], e["high"], name != "density"))
        d, c = self.diversity, self.memorisation["copy_rate"]
        out.append(("diversity_ratio", d["ratio"], d["low"], d["high"], False))
        out.append(("copy_rate", c["value"], c["low"], c["high"], True))
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorQuality":
        return cls(**{f.name: d[f.name] for f in fields(cls)})


@dataclass
class GanResult:
    """What a job's GAN left: ``losses`` ``{model_key: {loss_name: [per step]}}`` and
    ``info`` (a 'gan' job), ``quality`` (a 'gan' job), ``balance_losses`` (a
    'gan-balance' job); a 'real' job has none."""

    losses: dict | None = None
    info: dict | None = None
    quality: GeneratorQuality | None = None
    balance_losses: dict | None = None

    def to_dict(self) -> dict:
        out = {k: v for k, v in (("losses", self.losses), ("info", self.info),
                                 ("balance_losses", self.balance_losses)) if v is not None}
        if self.quality is not None:
            out["quality"] = asdict(self.quality)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "GanResult":
        q = d.get("quality")
        return cls(d.get("losses"), d.get("info"), None if q is None else GeneratorQuality.from_dict(q),
                   d.get("balance_losses"))


@dataclass
class JobResult:
    """Everything one job contributes (see :mod:`refgan.study.jobs`).

    kind : 'real' | 'gan' | 'gan-balance'; n_train, n_test : the fold's split sizes;
    val_origin : the CNN's early-stopping images; timings : seconds (``gan_s`` for jobs
    with a GAN, ``fit_s``); samples : real and generated images for the report's
    figure (first fold, first GAN only; never written to results.json).
    """

    kind: str
    repeat: int
    fold: int
    gan_seed: int
    n_train: int
    n_test: int
    records: list = field(default_factory=list)
    val_origin: list = field(default_factory=list)
    gan: GanResult = field(default_factory=GanResult)
    timings: dict = field(default_factory=dict)
    samples: dict | None = None

    def to_dict(self, samples: bool = False) -> dict:
        out = dict(kind=self.kind, repeat=self.repeat, fold=self.fold, gan_seed=self.gan_seed,
                   n_train=self.n_train, n_test=self.n_test, val_origin=self.val_origin,
                   gan=self.gan.to_dict(), timings=self.timings,
                   records=[r.to_dict() for r in self.records])
        if samples and self.samples is not None:
            out["samples"] = self.samples
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "JobResult":
        return cls(d["kind"], d["repeat"], d["fold"], d["gan_seed"], d["n_train"], d["n_test"],
                   [Record.from_dict(r) for r in d.get("records", [])], d.get("val_origin", []),
                   GanResult.from_dict(d.get("gan", {})), d.get("timings", {}), d.get("samples"))


# ----------------------------------------------------------------------- summaries
@dataclass
class Estimate:
    """One metric of one (classifier, training set), as fractions in [0, 1].

    mean, low, high : the mean over folds (each fold averaged over its GAN seeds) and
    its 95% corrected repeated k-fold t interval (clipped to [0, 1]; with one split,
    the pooled interval); per_fold : the per-fold values; pooled, pooled_low,
    pooled_high : all test predictions pooled, with the Wilson interval (proportions)
    or a stratified bootstrap (F1, AUC); None where the metric has no pooled form.
    """

    mean: float
    low: float
    high: float
    per_fold: list
    pooled: float | None = None
    pooled_low: float | None = None
    pooled_high: float | None = None

    def to_dict(self) -> dict:
        out = dict(mean=self.mean, low=self.low, high=self.high, per_fold=self.per_fold)
        if self.pooled is not None:
            out.update(pooled=self.pooled, pooled_low=self.pooled_low, pooled_high=self.pooled_high)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Estimate":
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


@dataclass
class ThresholdSweep:
    """Accuracy (all folds pooled) as the threshold on P(positive) sweeps 0..1."""

    threshold: list
    accuracy: list


@dataclass
class Row:
    """One (classifier, training set) of the table.

    metrics : ``{metric name: Estimate}`` in the study's metric order; per_class :
    ``{'precision'|'recall'|'f1'|'support': [K]}`` pooled; confusion : (K, K) pooled
    counts, rows true; n_train : mean training-set size; degenerate : why the
    predictions carry no usable signal (empty: they do).
    """

    metrics: dict
    per_class: dict
    confusion: list
    n_train: float
    degenerate: list
    threshold_sweep: ThresholdSweep

    def __post_init__(self):
        clash = set(self.metrics) & {f.name for f in fields(self)}
        if clash:  # results.json keeps the metrics beside the other fields
            raise ValueError(f"metric names clash with Row fields: {sorted(clash)}")

    def to_dict(self) -> dict:
        return {**{m: e.to_dict() for m, e in self.metrics.items()}, "per_class": self.per_class,
                "confusion": self.confusion, "n_train": self.n_train, "degenerate": self.degenerate,
                "threshold_sweep": asdict(self.threshold_sweep)}

    @classmethod
    def from_dict(cls, d: dict) -> "Row":
        own = {f.name for f in fields(cls)}
        return cls({m: Estimate.from_dict(e) for m, e in d.items() if m not in own},
                   d["per_class"], d["confusion"], d["n_train"], d["degenerate"],
                   ThresholdSweep(**d["threshold_sweep"]))


@dataclass
class Comparison:
    """One paired comparison of a classifier: ``condition`` against ``baseline``.

    per_fold : accuracy differences (condition - baseline) per fold; family : 'gan'
    (the condition holds generated images) or 'other', family_size : its interpretable
    members (the Bonferroni m); diff, low, high : mean difference and its simultaneous
    ``confidence`` = 1 - 0.05/m interval (NaN when not interpretable); t, df, p_value :
    the corrected t; p_adjusted : Bonferroni; significant : p_adjusted < 0.05, exactly
    when the interval excludes 0; mcnemar_b / mcnemar_c / p_mcnemar : McNemar on the
    pooled predictions (a description); why_not : the degenerate rows that make it not
    interpretable.
    """

    condition: str
    baseline: str
    family: str
    per_fold: list
    interpretable: bool
    why_not: list = field(default_factory=list)
    mcnemar_b: int = 0
    mcnemar_c: int = 0
    p_mcnemar: float = float("nan")
    family_size: int = 0
    diff: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    t: float = float("nan")
    df: float = float("nan")
    p_value: float = float("nan")
    p_adjusted: float = float("nan")
    confidence: float | None = None
    significant: bool = False

    @property
    def label(self) -> str:
        return f"{self.condition} vs {self.baseline}"

    @classmethod
    def from_dict(cls, d: dict) -> "Comparison":
        """From results.json, where NaN was written as null."""
        nan_fields = {f.name for f in fields(cls) if isinstance(f.default, float)}
        return cls(**{k: float("nan") if v is None and k in nan_fields else v
                      for k, v in d.items() if k in {f.name for f in fields(cls)}})


@dataclass
class DecisionRule:
    """How comparisons are decided, in words (for the report and results.json)."""

    test: str
    unit: str
    correction: str
    multiplicity: str
    alpha: float
    description_only: str


@dataclass
class Summary:
    """The tables and comparisons: ``table[classifier][training set]`` a :class:`Row`,
    ``comparisons[classifier]`` a list of :class:`Comparison`; ``positive`` the
    positive class's name, ``metrics`` the table's metric names, ``n_train_mean`` /
    ``n_test_mean`` the mean split sizes the corrected t uses, ``n_folds_total`` its
    folds (repeats x folds)."""

    table: dict
    comparisons: dict
    positive: str
    metrics: list
    n_train_mean: float
    n_test_mean: float
    n_folds_total: int
    decision_rule: DecisionRule


@dataclass
class Policy:
    """The augmentation policy and GAN-set growth actually used ('auto' resolved), each
    with why (:func:`refgan.study.protocol.resolve_policies`)."""

    augment: str
    gan_grow: str
    gan_grow_why: str
    why: str


@dataclass
class DatasetInfo:
    name: str
    n: int
    class_counts: dict
    image_size: list


@dataclass
class StudyResults:
    """Everything a study found. ``config`` is the :class:`refgan.study.StudyConfig`
    as used ('auto' resolved, a run folder's data and split), as a dict;
    ``folds`` the :class:`JobResult` of every job; the rest as in :class:`Summary`."""

    config: dict
    policy: Policy
    dataset: DatasetInfo
    gan_description: str
    gan_parents: list
    class_names: list
    folds: list
    table: dict
    comparisons: dict
    positive: str
    metrics: list
    n_train_mean: float
    n_test_mean: float
    n_folds_total: int
    decision_rule: DecisionRule
    provenance: dict | None = None
    seconds: float = 0.0

    @classmethod
    def build(cls, summary: Summary, **rest) -> "StudyResults":
        return cls(**rest, **{f.name: getattr(summary, f.name) for f in fields(Summary)})

    def to_dict(self, samples: bool = False) -> dict:
        """The results.json layout (``samples``: keep the sample images of the report)."""
        return dict(config=self.config, policy=asdict(self.policy), dataset=asdict(self.dataset),
                    gan_description=self.gan_description, gan_parents=self.gan_parents,
                    class_names=self.class_names,
                    folds=[f.to_dict(samples) for f in self.folds],
                    table={clf: {cond: r.to_dict() for cond, r in rows.items()}
                           for clf, rows in self.table.items()},
                    comparisons={clf: [asdict(c) for c in cs] for clf, cs in self.comparisons.items()},
                    positive=self.positive, metrics=self.metrics, n_train_mean=self.n_train_mean,
                    n_test_mean=self.n_test_mean, n_folds_total=self.n_folds_total,
                    decision_rule=asdict(self.decision_rule), provenance=self.provenance,
                    seconds=self.seconds)

    @classmethod
    def from_dict(cls, d: dict) -> "StudyResults":
        """Read a results.json (as :func:`json.load` gives it) back."""
        return cls(config=d["config"], policy=Policy(**d["policy"]), dataset=DatasetInfo(**d["dataset"]),
                   gan_description=d["gan_description"], gan_parents=d["gan_parents"],
                   class_names=d["class_names"], folds=[JobResult.from_dict(f) for f in d["folds"]],
                   table={clf: {cond: Row.from_dict(r) for cond, r in rows.items()}
                          for clf, rows in d["table"].items()},
                   comparisons={clf: [Comparison.from_dict(c) for c in cs]
                                for clf, cs in d["comparisons"].items()},
                   positive=d["positive"], metrics=d["metrics"], n_train_mean=d["n_train_mean"],
                   n_test_mean=d["n_test_mean"], n_folds_total=d["n_folds_total"],
                   decision_rule=DecisionRule(**d["decision_rule"]), provenance=d.get("provenance"),
                   seconds=d.get("seconds", 0.0))

    @classmethod
    def read(cls, path) -> "StudyResults":
        """A study's results from its folder or its ``results.json``."""
        path = Path(path)
        return cls.from_dict(json.loads((path / "results.json" if path.is_dir() else path).read_text()))

    def records(self, classifier: str, condition: str) -> list:
        """Every :class:`Record` of one (classifier, training set), over all folds."""
        return [r for f in self.folds for r in f.records
                if r.classifier == classifier and r.condition == condition]

    def gan_quality(self) -> list:
        """The :class:`GeneratorQuality` of every GAN job that was scored."""
        return [f.gan.quality for f in self.folds if f.gan.quality is not None]


# ------------------------------------------------------------------------- files
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


def rows(results: StudyResults):
    """Flat rows ``(section, classifier, condition, baseline, metric, fold, value, low, high)``."""
    for clf, conds in results.table.items():
        for cond, row in conds.items():
            for m in results.metrics:
                e = row.metrics[m]
                yield ("table", clf, cond, "", m, "mean", e.mean, e.low, e.high)
                if e.pooled is not None:
                    yield ("table", clf, cond, "", m, "pooled", e.pooled, e.pooled_low, e.pooled_high)
                for k, v in enumerate(e.per_fold):
                    yield ("table", clf, cond, "", m, k, v, "", "")
    for clf, comps in results.comparisons.items():
        for c in comps:
            yield ("comparison", clf, c.condition, c.baseline, "accuracy_diff", "mean",
                   c.diff, c.low, c.high)
            for k, v in enumerate(c.per_fold):
                yield ("comparison", clf, c.condition, c.baseline, "accuracy_diff", k, v, "", "")
            for key in ("p_value", "p_adjusted", "p_mcnemar", "mcnemar_b", "mcnemar_c"):
                yield ("comparison", clf, c.condition, c.baseline, key, "mean", getattr(c, key), "", "")
    for f in results.folds:
        if f.gan.quality is None:
            continue
        fold = f"r{f.repeat}f{f.fold}s{f.gan_seed}"
        for name, value, low, high, _ in f.gan.quality.figures():
            yield ("generator", "lr" if name.startswith(("trts", "tstr")) else "", "", "", name,
                   fold, value, low, high)


def write_results(results: StudyResults, out_dir) -> None:
    out_dir = Path(out_dir)
    (out_dir / "results.json").write_text(json.dumps(_clean(results.to_dict()), indent=1))
    with open(out_dir / "results.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "classifier", "condition", "baseline", "metric", "fold", "value",
                    "low", "high"])
        for r in rows(results):
            # empty cells for what does not exist (NaN: a comparison that is not interpretable)
            w.writerow([("" if v is None or (isinstance(v, float) and not math.isfinite(v))
                         else (f"{v:.6g}" if isinstance(v, float) else v)) for v in r])
