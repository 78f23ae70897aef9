"""The augmentation study: Gaur et al.'s Table 2 protocol under repeated k-fold
cross-validation, with several GANs per fold.

For each repeat r and fold f of a stratified k-fold split of the real images (groups
kept on one side, every real image tested once per repeat), a validation set for the
CNN's early stopping is carved out of the training split first; then, as independent
jobs (run in parallel through joblib):

* one *real job*: every classifier fitted on each training set that needs no GAN
  (real, classic, in-place, on-the-fly; the balancing remedies), tested on the fold;
* ``gan_seeds`` *GAN jobs*: a GAN trained (seed s) on the training split minus the
  validation images, the generated conditions fitted and tested, the generator scored
  (TRTS, TSTR, KID on the domain CNN's features with its real-vs-real floor, PRDC,
  diversity, memorisation);
* with ``balance``, ``gan_seeds`` *GAN-balance jobs*: a GAN trained on the imbalanced
  split only, filling its sparse classes.

The unit of evidence is the fold: :func:`summarise` averages each condition's metric
over the GAN seeds of a fold, and compares two conditions by their per-fold
differences with the corrected repeated k-fold t (Nadeau & Bengio; Bouckaert & Frank):
``t = mean(d) / sqrt(var(d) (1/(k r) + n_test/n_train))``, ``k r - 1`` degrees of
freedom. Within each classifier, the comparisons involving generated images form one
family and the others a second; each family is Bonferroni-adjusted, and its intervals
are the matching simultaneous ``1 - 0.05/m`` intervals of the same t, so a comparison
is significant exactly when its interval excludes 0. McNemar's test on the pooled
predictions is kept as a description (it treats each fitted model as fixed, ignoring
the GAN and fold variance the question is about).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit, softmax
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedGroupKFold

from refgan import backend
from refgan import metrics as M
from refgan.classifiers import make_classifier
from refgan.classifiers.features import downsize_flatten
from refgan.data import Dataset, LeakError, check_no_leak, duplicate_groups
from refgan.data.cells import is_cell_data
from refgan.errors import UserError
from refgan.training.config import crop_arg
from refgan.training.data import auto_growth
from refgan.parallel import parallel_config  # refgan sweep's engine (registers dask/ray)
from refgan.provenance import provenance
from refgan.study import conditions as C
from refgan.study import gan as G
from refgan.study.config import BALANCE, CONDITIONS, StudyConfig, positive_index, uses_gan
from refgan.study.datasets import load_study_data, origins_seen_by, parent_runs, run_config
from refgan.study.report import write_report
from refgan.study.results import write_results

BINARY_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "auc")
PROPORTIONS = {"accuracy": ("tp+tn", "n"), "precision": ("tp", "tp+fp"),
               "recall": ("tp", "tp+fn"), "specificity": ("tn", "tn+fp")}
ALPHA = 0.05


def condition_order(cond: str) -> tuple:
    """Sort key: Table 2, in-place, on-the-fly, the ratio sweep by ratio, balancing."""
    if cond in CONDITIONS:
        return (0, CONDITIONS.index(cond), 0.0)
    if cond.startswith("real+gen x"):
        return (1, 0, float(cond.split("x")[-1]))
    return (2, BALANCE.index(cond) if cond in BALANCE else 99, 0.0)


def metric_names(n_classes: int, top_k=(2, 5)) -> tuple:
    """The table's metrics: Gaur et al.'s five and AUC for two classes; accuracy, macro
    precision / recall / F1 and top-k (Guruswamy et al.) for more."""
    if n_classes == 2:
        return BINARY_METRICS
    return ("accuracy", "macro_precision", "macro_recall", "macro_f1") + tuple(
        f"top{k}" for k in top_k if n_classes > k)


# ---------------------------------------------------------------------------- data
def load_data(cfg: StudyConfig, log=print) -> Dataset:
    return load_study_data(cfg.data, cfg.n_per_class, cfg.size, cfg.data_seed, log=log,
                           skip_bad=cfg.skip_bad, crop=crop_arg(cfg.crop))


def resolve_policies(cfg: StudyConfig, ds: Dataset) -> dict:
    """The augmentation policy and GAN-set growth actually used ('auto' resolved), each
    with why: cells have no orientation (rotations; GAN set grown by the square's
    symmetries); other images may carry their class in their orientation (affine
    without flips, for the classic policy and the GAN set). The growth's rule is
    :func:`refgan.training.data.auto_growth`, the one ``train`` uses."""
    cells = is_cell_data(ds.class_names)
    augment = cfg.augment if cfg.augment != "auto" else ("rotations" if cells else "affine")
    if augment not in C.POLICIES:
        raise UserError(f"unknown --augment {augment!r}; choose from auto, {', '.join(C.POLICIES)}")
    grow, grow_why = auto_growth(ds) if cfg.gan_grow == "auto" else (cfg.gan_grow, "chosen by the user")
    return dict(augment=augment, gan_grow=grow, gan_grow_why=grow_why,
                why=("cell images (no orientation): rotations" if cells else
                     "not cell images (orientation may be the class): affine, no flips")
                if cfg.augment == "auto" else "chosen by the user")


def folds(ds: Dataset, k: int, seed: int):
    """Stratified k folds; groups (patients, else near-duplicate clusters) never split.
    Yields ``(train, test)`` Datasets with roles set."""
    if k < 2:
        raise UserError(f"--folds must be >= 2, got {k}")
    if np.bincount(ds.labels).min() < k:
        raise UserError(f"the smallest class has fewer images than --folds {k}; use fewer folds")
    groups = ds.groups if ds.groups is not None else duplicate_groups(ds)[0]
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for tr, te in cv.split(np.zeros(len(ds)), ds.labels, groups):
        train, test = ds.subset(tr), ds.subset(te)
        train.role, test.role = "train", "test"
        yield train, test


def val_split(train: Dataset, seed: int, frac: float = 0.15) -> Dataset:
    """The CNN's early-stopping images: ``frac`` of each class of ``train``."""
    rng = np.random.default_rng([seed, 3])
    idx = np.concatenate([rng.permutation(np.flatnonzero(train.labels == c))[
        :max(1, int(round(frac * (train.labels == c).sum())))] for c in range(train.n_classes)])
    val = train.subset(np.sort(idx))
    val.role = "train"  # carved from training images: it may shape training (early stopping)
    return val


def without(ds: Dataset, other: Dataset | None) -> Dataset:
    """``ds`` without the images (and derived copies) of ``other``."""
    if other is None:
        return ds
    out = ds.subset(~np.isin(ds.origin, other.origin))
    out.role = ds.role
    return out


# ------------------------------------------------------------------------- jobs
@dataclass
class Job:
    """One independent unit of work: a fold's real conditions, or one GAN of a fold."""

    kind: str  # 'real' | 'gan' | 'gan-balance'
    repeat: int
    fold: int
    gan_seed: int  # -1 for 'real'
    train: Dataset
    test: Dataset
    val: Dataset | None
    parent_origins: np.ndarray


def _fit_predict(name, cfg, train: Dataset, cw, tf, test: Dataset, val: Dataset | None, seed):
    if name == "cnn":
        params = dict(cfg.cnn)
        if val is None:  # a run folder's GAN saw every training image: no held-out epoch choice
            params["val_fraction"] = 0.0
        clf = make_classifier("cnn", class_weight=cw, random_state=seed, augment=tf, **params)
        if val is not None:
            keep = ~np.isin(train.origin, val.origin)  # validation images (and copies) out
            clf.fit(train.images[keep], train.labels[keep], validation_data=(val.images, val.labels))
        else:
            clf.fit(train.images, train.labels)
        model = clf
    else:
        clf = make_classifier(name, class_weight=cw, feature_size=cfg.feature_size)
        clf.fit(train.images, train.labels)
        model = clf[-1]
    pred = clf.predict(test.images)
    d = np.asarray(clf.decision_function(test.images), float)
    return clf, pred, d, dict(loss=[float(v) for v in getattr(model, "loss_curve_", [])],
                              val_loss=[float(v) for v in getattr(model, "validation_loss_curve_", [])])


def planned_fits(cfg: StudyConfig, names) -> list:
    """``(classifier, condition)`` pairs fitted for training sets ``names`` (the
    on-the-fly condition exists only for the CNN, which sees batches)."""
    return [(c, n) for c in cfg.classifiers for n in names
            if c == "cnn" or n not in ("real+rotate-on-the-fly",)]


def positive_score(d: np.ndarray, pos: int) -> np.ndarray:
    """The score of class ``pos`` from a classifier's ``decision_function`` output:
    column ``pos`` of a K-class (n, K) array; a two-class classifier's one score is
    that of its class 1 (scikit-learn's ``classes_[1]``), so class 0's score is its
    negative (e.g. folders 'blast/' and 'healthy/' load as classes 0 and 1)."""
    if d.ndim == 2:
        return d[:, pos]
    return d if pos == 1 else -d


def _fit_all(cfg, job: Job, sets: dict, seed: int) -> list:
    pos = positive_index(job.test.class_names)
    recs = []
    for name, cond in planned_fits(cfg, sets):
        ds, cw, tf = sets[cond]
        t1 = time.perf_counter()
        _, pred, d, curves = _fit_predict(name, cfg, ds, cw, tf, job.test, job.val, seed)
        recs.append(dict(
            classifier=name, condition=cond, repeat=job.repeat, fold=job.fold,
            gan_seed=job.gan_seed, n_train=int(len(ds)),
            class_counts=np.bincount(ds.labels, minlength=ds.n_classes).tolist(),
            y_true=job.test.labels.tolist(), y_pred=np.asarray(pred).tolist(),
            score=positive_score(d, pos).tolist(),
            scores=None if d.ndim == 1 else d.tolist(), origin=job.test.origin.tolist(),
            curves=curves, seconds=round(time.perf_counter() - t1, 2)))
    return recs


def _gan_quality(cfg, train, test, gen, seed):
    """TRTS, TSTR, KID (with its real-vs-real floor), PRDC, diversity, memorisation."""
    lr_factory = lambda: make_classifier("lr", feature_size=cfg.feature_size)  # noqa: E731
    q = {}
    q["trts"] = M.trts(lr_factory().fit(train.images, train.labels), gen.images, gen.labels)
    q["tstr"] = M.tstr(lr_factory, gen.images, gen.labels, test.images, test.labels)["tstr"]
    if cfg.features == "cnn":
        cnn = make_classifier("cnn", random_state=seed, **cfg.cnn).fit(train.images, train.labels)
        feat, kid, key = cnn.embed, M.kid_cnn_features, "kid_cnn_features"
        q["features"] = "the study's CNN trained on the real training split (penultimate layer)"
    else:
        feat = lambda x: downsize_flatten(x, cfg.feature_size)  # noqa: E731
        kid, key = M.kid_pixels, "kid_pixels"
        q["features"] = f"pixels ({cfg.feature_size}x{cfg.feature_size}x3)"
    fr, ff, ft = feat(train.images), feat(gen.images), feat(test.images)
    nb = min(cfg.n_boot, 200)
    q["kid"] = dict(kid(fr, ff, n_boot=nb, seed=seed), name=key)
    # what a perfect generator would score: real training vs real unseen images
    q["kid_floor"] = dict(kid(fr, ft, n_boot=nb, seed=seed), name=key + " real-vs-real")
    q["prdc"] = M.prdc(fr, ff, k=5)
    q["diversity"] = M.diversity(fr, ff, n_boot=200, seed=seed)
    mem = M.memorisation(gen.images, train.images, held_out=test.images)
    q["memorisation"] = {k: v for k, v in mem.items() if k not in ("nn_index",)}
    return q


def _checked_generation(gan_step, gan_train, n_per_class, seed, workdir, job: Job) -> G.GanOutput:
    """Run a GAN step and check the lineage of what it made: the parent runs' training
    data join it, and neither the test images nor the CNN's validation images may be
    in it."""
    g = gan_step(gan_train, n_per_class, seed, workdir)
    gen = g.generated
    gen.lineage = np.union1d(gen.lineage, job.parent_origins)
    check_no_leak(gen, job.test)
    if job.val is not None and np.intersect1d(gen.sources(), job.val.origin).size:
        raise LeakError("the GAN trained on the CNN's early-stopping validation images")
    return g


def run_job(cfg: StudyConfig, job: Job, gan_step, workdir: Path, policy: dict,
            backend_name: str) -> dict:
    """Everything one job contributes (see the module docstring). Runs in a worker."""
    backend.set_backend(backend_name)
    backend.set_num_threads(1)
    seed = 10_000 * cfg.seed + 100 * job.repeat + job.fold  # shared by a fold's jobs
    out = dict(kind=job.kind, repeat=job.repeat, fold=job.fold, gan_seed=job.gan_seed,
               n_train=len(job.train), n_test=len(job.test),
               val_origin=[] if job.val is None else job.val.origin.tolist(), gan={}, timings={})
    t0 = time.perf_counter()
    aug = policy["augment"]
    imb = (C.make_imbalanced(job.train, cfg.imbalance, seed)
           if cfg.balance and job.kind != "gan" else None)
    if job.kind == "real":
        sets = C.real_sets(job.train, cfg.conditions, aug, seed)
        if imb is not None:
            sets.update(C.balance_sets(imb, seed))
    elif job.kind == "gan":
        counts = np.bincount(job.train.labels, minlength=job.train.n_classes)
        need = max([cfg.n_generated] + [int(round(float(r) * counts.max())) for r in cfg.ratios])
        gan_seed = seed * 10 + job.gan_seed
        g = _checked_generation(gan_step, without(job.train, job.val),
                                {c: need for c in job.train.class_names}, gan_seed,
                                workdir / f"gan-r{job.repeat}f{job.fold}s{job.gan_seed}", job)
        out["timings"]["gan_s"] = round(time.perf_counter() - t0, 1)
        out["gan"].update(losses=g.losses, info=g.info)
        gen = g.generated
        sets = C.gen_sets(job.train, gen, cfg.conditions, cfg.n_generated, aug,
                          cfg.augment_generated, cfg.ratios, seed)
        sub = C.take_per_class(gen, {c: cfg.n_generated for c in job.train.class_names})
        out["gan"]["quality"] = _gan_quality(cfg, without(job.train, job.val), job.test, sub, seed)
        if job.repeat == 0 and job.fold == 0 and job.gan_seed == 0:
            idx = np.concatenate([np.flatnonzero(sub.labels == c)[:8] for c in range(sub.n_classes)])
            tr = job.train
            out["samples"] = dict(
                generated=sub.images[idx], generated_labels=sub.labels[idx],
                real=np.concatenate([tr.images[tr.labels == c][:8] for c in range(tr.n_classes)]),
                real_labels=np.concatenate([tr.labels[tr.labels == c][:8]
                                            for c in range(tr.n_classes)]))
    else:  # gan-balance: a GAN that saw only the imbalanced split fills its sparse classes
        g = _checked_generation(gan_step, without(imb, job.val), C.deficits(imb),
                                seed * 10 + job.gan_seed + 5,
                                workdir / f"gan-balance-r{job.repeat}f{job.fold}s{job.gan_seed}", job)
        dropped = np.setdiff1d(g.generated.sources(), imb.sources())
        if dropped.size:
            raise LeakError(f"the balancing GAN's lineage holds {dropped.size} real training "
                            "images that the imbalanced split dropped, so gan-balance would see "
                            "data the other remedies never see; train the GAN on the imbalanced "
                            "split (pass a model name to --gan, not a run folder)")
        out["timings"]["gan_s"] = round(time.perf_counter() - t0, 1)
        out["gan"]["balance_losses"] = g.losses
        sets = C.gan_balance_set(imb, g.generated)
    t1 = time.perf_counter()
    out["records"] = _fit_all(cfg, job, sets, seed)
    out["timings"]["fit_s"] = round(time.perf_counter() - t1, 1)
    return out


def job_fits(cfg: StudyConfig, job: Job, policy: dict) -> int:
    """How many classifier fits a job makes (for the progress bar)."""
    if job.kind == "real":
        names = [n for n in cfg.conditions if not uses_gan(n)
                 and not (policy["augment"] == "none" and "classic" in n)]
        names += list(BALANCE[:4]) if cfg.balance else []
    elif job.kind == "gan":
        names = [n for n in cfg.conditions if uses_gan(n)
                 and not (policy["augment"] == "none" and "classic" in n)]
        names += [f"x{r}" for r in cfg.ratios]
    else:
        names = ["gan-balance"]
    return len(planned_fits(cfg, names))


def run_jobs(cfg: StudyConfig, jobs: list, gan_step, workdir: Path, policy: dict, log) -> list:
    """Run the independent jobs through joblib, the engine of ``refgan sweep``
    (``cfg.joblib_backend``, ``cfg.n_jobs`` workers: 'loky' processes on one machine,
    'dask' or 'ray' on a cluster), with one progress bar over fits (folds x conditions x
    classifiers) and its ETA."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    total = sum(job_fits(cfg, j, policy) for j in jobs)
    name = backend.get_backend().name
    bar = tqdm(total=total, unit="fit", desc="study", disable=not cfg.progress, smoothing=0.05,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} fits "
                          "[{elapsed} elapsed, ETA {remaining}]")
    out = []
    try:
        with parallel_config(cfg.joblib_backend, cfg.n_jobs):
            results = Parallel(return_as="generator_unordered")(
                delayed(run_job)(cfg, j, gan_step, workdir, policy, name) for j in jobs)
            for r in results:
                out.append(r)
                bar.update(len(r["records"]))
                if r["kind"] != "real":
                    log(f"  repeat {r['repeat'] + 1} fold {r['fold'] + 1} GAN seed "
                        f"{r['gan_seed'] + 1}: GAN {r['timings']['gan_s']} s, fits "
                        f"{r['timings']['fit_s']} s")
    except ValueError as e:
        if "backend" in str(e).lower():
            raise UserError(f"--joblib-backend {cfg.joblib_backend!r}: {e}") from None
        raise
    finally:
        bar.close()
    return sorted(out, key=lambda r: (r["repeat"], r["fold"], r["kind"], r["gan_seed"]))


# -------------------------------------------------------------------- summaries
def _f1(y, p, pos) -> float:
    """F1 of class ``pos`` (2TP / (2TP + FP + FN)); plain NumPy for the bootstrap loops."""
    tp = np.sum((y == pos) & (p == pos))
    den = 2 * tp + np.sum((y != pos) & (p == pos)) + np.sum((y == pos) & (p != pos))
    return float(2 * tp / den) if den else 0.0


def _auc(y, s, pos) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count 1/2); NaN with one class."""
    t = y == pos
    n1, n0 = t.sum(), (~t).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[t].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _counts(y, p, pos):
    t, q = y == pos, p == pos
    return dict(tp=int((t & q).sum()), tn=int((~t & ~q).sum()), fp=int((~t & q).sum()),
                fn=int((t & ~q).sum()), n=len(y))


def record_metrics(r: dict, n_classes: int, pos: int, top_k=(2, 5)) -> dict:
    """Every table metric of one fitted classifier on its fold's test images."""
    y, p = np.asarray(r["y_true"]), np.asarray(r["y_pred"])
    if n_classes == 2:
        m = M.binary_metrics(y, p, positive=pos)
        m["auc"] = M.roc_auc(y, np.asarray(r["score"]), positive=pos)
        return {k: m[k] for k in BINARY_METRICS}
    m = M.multiclass_metrics(y, p, n_classes)
    out = {k: m[k] for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")}
    for k in top_k:
        if n_classes > k:
            out[f"top{k}"] = M.top_k_accuracy(y, np.asarray(r["scores"]), k=k)
    return out


def degenerate(y, p, s, n_classes: int, pos: int, per_fold_single: float) -> list:
    """Why a classifier's predictions carry no usable signal (empty: they do): one
    predicted class in most folds, balanced accuracy within 5 points of chance (1/K),
    or, for two classes, sensitivity or specificity 0 or AUC within 0.05 of 0.5."""
    why = []
    if per_fold_single > 0.5:
        why.append("predicts a single class in most folds")
    bal = M.multiclass_metrics(y, p, n_classes)["balanced_accuracy"]
    if bal <= 1 / n_classes + 0.05:
        why.append(f"balanced accuracy {100 * bal:.0f}% (chance {100 / n_classes:.0f}%)")
    if n_classes == 2:
        b = M.binary_metrics(y, p, positive=pos)
        if b["recall"] == 0 or b["specificity"] == 0:
            why.append("sensitivity 0" if b["recall"] == 0 else "specificity 0")
        auc = M.roc_auc(y, s, positive=pos)
        if np.isfinite(auc) and abs(auc - 0.5) <= 0.05:
            why.append(f"AUC {auc:.2f}")
    return why


def _cells(records) -> dict:
    """``{(repeat, fold): [records]}``: a fold's records over its GAN seeds."""
    out: dict = {}
    for r in records:
        out.setdefault((r["repeat"], r["fold"]), []).append(r)
    return out


def _row(records, class_names, pos, names, n_train, n_test, n_boot, seed, top_k) -> dict:
    K = len(class_names)
    cells = _cells(records)
    keys = sorted(cells)
    per_rec = {id(r): record_metrics(r, K, pos, top_k) for r in records}
    y = np.concatenate([r["y_true"] for r in records])
    p = np.concatenate([r["y_pred"] for r in records])
    s = np.concatenate([r["score"] for r in records])
    strata = np.concatenate([np.full(len(r["y_true"]), i) for i, r in enumerate(records)])
    row = {}
    for m in names:
        vals = [float(np.mean([per_rec[id(r)][m] for r in cells[c]])) for c in keys]
        t = M.corrected_resampled_t(vals, n_train, n_test, 1 - ALPHA)
        e = dict(mean=t["mean"], low=float(np.clip(t["low"], 0, 1)),
                 high=float(np.clip(t["high"], 0, 1)), per_fold=vals)
        if m in PROPORTIONS and K == 2:
            cnt = _counts(y, p, pos)
            num = sum(cnt[k] for k in PROPORTIONS[m][0].split("+"))
            den = sum(cnt[k] for k in PROPORTIONS[m][1].split("+"))
            e["pooled"] = num / den if den else 0.0
            e["pooled_low"], e["pooled_high"] = M.wilson_interval(num, den) if den else (0.0, 0.0)
        elif m == "f1":
            e["pooled"], e["pooled_low"], e["pooled_high"] = M.bootstrap_interval(
                lambda a, b: _f1(a, b, pos), y, p, n_boot=n_boot, seed=seed, strata=strata)
        elif m == "auc":
            e["pooled"], e["pooled_low"], e["pooled_high"] = M.bootstrap_interval(
                lambda a, b: _auc(a, b, pos), y, s, n_boot=n_boot, seed=seed, strata=strata)
        if not np.isfinite(e["low"]):  # one split (a run folder): the pooled interval stands in
            e["low"], e["high"] = e.get("pooled_low", e["mean"]), e.get("pooled_high", e["mean"])
        row[m] = e
    mc = M.multiclass_metrics(y, p, K)
    row["per_class"] = mc["per_class"]
    row["confusion"] = M.confusion_matrix(y, p, labels=list(range(K))).tolist()
    row["n_train"] = float(np.mean([r["n_train"] for r in records]))
    single = np.mean([len(set(r["y_pred"])) == 1 for r in records])
    row["degenerate"] = degenerate(y, p, s, K, pos, single)
    # Saquib and Rodriguez: accuracy as the threshold on P(positive) sweeps 0..1; with
    # more classes, of the one-vs-rest call 'positive or not' (positive_probability)
    th, acc = M.threshold_sweep(y == pos, positive_probability(records, pos),
                                np.linspace(0, 1, 41), True)
    row["threshold_sweep"] = dict(threshold=th.tolist(), accuracy=acc.tolist())
    return row


def positive_probability(records, pos: int) -> np.ndarray:
    """P(positive | x_i) of the pooled test images of ``records``, from the
    classifiers' scores, for the threshold sweep

        acc(t) = mean_i [ (P(pos | x_i) >= t) == (y_i == pos) ]:

    the logistic 1 / (1 + exp(-s_i)) of a two-class classifier's one score s_i, the
    softmax exp(d_i,pos) / sum_k exp(d_i,k) of a K-class classifier's scores d_i (the
    same number when d_i = (0, s_i)), so with K > 2 acc(t) is the accuracy of calling
    an image positive or not, one vs rest. For the LR and the CNN (logits) these are
    their predicted probabilities; for the SVM, its margins mapped into [0, 1]."""
    if records[0].get("scores") is None:
        return expit(np.concatenate([r["score"] for r in records]))
    return softmax(np.concatenate([r["scores"] for r in records]), axis=1)[:, pos]


def _pairs(rows) -> list:
    """``(condition, baseline)`` comparisons: everything against ``real``; the generated
    conditions also against ``real+classic``; the balancing remedies against
    ``imbalanced``."""
    out = []
    for cond in rows:
        if cond in BALANCE or cond == "real":
            continue
        if "real" in rows:
            out.append((cond, "real"))
        if uses_gan(cond) and "real+classic" in rows:
            out.append((cond, "real+classic"))
    if "imbalanced" in rows:
        out += [(c, "imbalanced") for c in BALANCE[1:] if c in rows]
    return out


def _mcnemar(a_recs, b_recs) -> dict:
    """Exact McNemar on the pooled predictions, pairing each record of A with B's record
    of the same fold (and GAN seed, when B has one): a description only."""
    b_by = {(r["repeat"], r["fold"], r["gan_seed"]): r for r in b_recs}
    ca, cb = [], []
    for r in a_recs:
        q = b_by.get((r["repeat"], r["fold"], r["gan_seed"])) or b_by.get((r["repeat"], r["fold"], -1))
        if q is None:
            continue
        oa, ob = np.asarray(r["origin"]), np.asarray(q["origin"])
        ia, ib = np.argsort(oa), np.argsort(ob)
        assert np.array_equal(oa[ia], ob[ib]), "conditions must share test images"
        ca.append((np.asarray(r["y_pred"]) == np.asarray(r["y_true"]))[ia])
        cb.append((np.asarray(q["y_pred"]) == np.asarray(q["y_true"]))[ib])
    return M.mcnemar(np.concatenate(ca), np.concatenate(cb))


def compare(rows, groups, clf, n_train, n_test) -> list:
    """Paired comparisons of one classifier (see the module docstring for the rule)."""
    comps = []
    for cond, base in _pairs(rows):
        ca, cb = _cells(groups[(clf, cond)]), _cells(groups[(clf, base)])
        keys = sorted(set(ca) & set(cb))
        d = [float(np.mean([np.mean(np.asarray(r["y_pred"]) == np.asarray(r["y_true"]))
                            for r in ca[k]])
                   - np.mean([np.mean(np.asarray(r["y_pred"]) == np.asarray(r["y_true"]))
                              for r in cb[k]])) for k in keys]
        bad = rows[cond]["degenerate"] or rows[base]["degenerate"]
        mc = _mcnemar(groups[(clf, cond)], groups[(clf, base)])
        comps.append(dict(condition=cond, baseline=base, family="gan" if uses_gan(cond) else "other",
                          per_fold=d, interpretable=not bad,
                          why_not=[f"{n}: {', '.join(rows[n]['degenerate'])}" for n in (cond, base)
                                   if rows[n]["degenerate"]],
                          mcnemar_b=mc["b"], mcnemar_c=mc["c"], p_mcnemar=mc["p_value"]))
    for fam in ("gan", "other"):
        members = [c for c in comps if c["family"] == fam and c["interpretable"]]
        for c in comps:
            if c["family"] == fam:
                c["family_size"] = len(members)
        for c in members:
            level = 1 - ALPHA / len(members)  # Bonferroni: simultaneous intervals
            t = M.corrected_resampled_t(c["per_fold"], n_train, n_test, level)
            c.update(diff=t["mean"], low=t["low"], high=t["high"], t=t["t"], df=t["df"],
                     p_value=t["p_value"], p_adjusted=float(min(1.0, t["p_value"] * len(members))),
                     confidence=level)
            c["significant"] = bool(c["p_adjusted"] < ALPHA)
    for c in comps:
        if not c["interpretable"]:
            t = M.corrected_resampled_t(c["per_fold"], n_train, n_test)
            c.update(diff=t["mean"], low=float("nan"), high=float("nan"), t=float("nan"),
                     df=t["df"], p_value=float("nan"), p_adjusted=float("nan"), confidence=None,
                     significant=False)
    return comps


def summarise(jobs_out: list[dict], class_names, n_boot: int = 1000, seed: int = 0,
              top_k=(2, 5)) -> dict:
    """Tables with intervals, degenerate-classifier flags and the paired comparisons."""
    class_names = list(class_names)
    pos = positive_index(class_names)
    names = metric_names(len(class_names), top_k)
    groups: dict = {}
    for j in jobs_out:
        for r in j["records"]:
            groups.setdefault((r["classifier"], r["condition"]), []).append(r)
    real_jobs = [j for j in jobs_out if j["kind"] == "real"] or jobs_out
    n_train = float(np.mean([j["n_train"] for j in real_jobs]))
    n_test = float(np.mean([j["n_test"] for j in real_jobs]))
    table = {}
    clf_order = list(dict.fromkeys(clf for clf, _ in groups))  # as the study listed them
    for (clf, cond), recs in sorted(groups.items(), key=lambda kv: (clf_order.index(kv[0][0]),
                                                                    condition_order(kv[0][1]))):
        table.setdefault(clf, {})[cond] = _row(recs, class_names, pos, names, n_train, n_test,
                                               n_boot, seed, top_k)
    comparisons = {clf: compare(rows, groups, clf, n_train, n_test) for clf, rows in table.items()}
    n_cells = len({(j["repeat"], j["fold"]) for j in jobs_out})
    return dict(table=table, comparisons=comparisons, positive=class_names[pos], metrics=list(names),
                n_train_mean=n_train, n_test_mean=n_test, n_folds_total=n_cells,
                decision_rule=dict(
                    test="corrected repeated k-fold t (Nadeau & Bengio 2003; Bouckaert & Frank 2004)",
                    unit="fold (accuracy averaged over the fold's GAN seeds)",
                    correction=f"variance x (1/{n_cells} + {n_test:.0f}/{n_train:.0f}), df {n_cells - 1}",
                    multiplicity="Bonferroni within each classifier and family (generated images / "
                                 "other), with the matching simultaneous intervals",
                    alpha=ALPHA, description_only="exact McNemar on the pooled predictions"))


# -------------------------------------------------------------------------- run
def _run_folder_setup(cfg: StudyConfig):
    """The one split of an existing run folder (its generator saw its training split)."""
    train, test = G.run_folder_split(cfg.gan)
    if cfg.balance:
        raise LeakError(f"--balance with the run folder {cfg.gan}: its generator was trained on "
                        "the whole training split, including the images the imbalanced split drops, "
                        "so gan-balance would see real data the other remedies never see; pass a "
                        "model name to --gan to train one on the imbalanced split")
    return train, test


def run_study(cfg: StudyConfig, out_dir, gan_step=None, dataset: Dataset | None = None,
              log=print) -> dict:
    """Run the study and write ``results.json``, ``results.csv`` and ``report.html``
    into ``out_dir``. ``gan_step`` defaults to training ``cfg.gan`` (or sampling a run
    folder); ``dataset`` defaults to :func:`load_data`. Returns the results dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from_run = gan_step is None and Path(cfg.gan).exists()
    parents = []
    if from_run:
        # A trained run saw its own training split: the study uses that split (one
        # train/test split, the run's), not k folds whose test images it trained on.
        train, test = _run_folder_setup(cfg)
        ds = Dataset.concat([train, test]) if dataset is None else dataset
        parents = parent_runs(cfg.gan)
        gan_step = G.run_folder_step(cfg.gan, cfg.gan_checkpoint)
    else:
        ds = dataset if dataset is not None else load_data(cfg, log)
    if cfg.balance and not cfg.imbalance:
        cfg.imbalance = {ds.class_names[positive_index(ds.class_names)]: 0.5}
    bad = [c for c in cfg.imbalance if c not in ds.class_names]
    if bad:
        raise UserError(f"--imbalance names unknown class(es) {', '.join(bad)}; classes: "
                        f"{', '.join(ds.class_names)}")
    policy = resolve_policies(cfg, ds)
    if not from_run and gan_step is None:
        gan_step = G.refgan_gan_step(cfg.gan, cfg.gan_preset,
                                     **{"grow": policy["gan_grow"], **cfg.gan_options})
    if not from_run and cfg.gan_options.get("ali"):  # acgan-ali starts from an ALI run
        parents = [cfg.gan_options["ali"], *parent_runs(cfg.gan_options["ali"])]
    parent_origins = origins_seen_by(parents, ds)
    splits = []
    if from_run:
        splits.append((0, 0, train, test, None))
    else:
        for rep in range(cfg.repeats):
            for f, (train, test) in enumerate(folds(ds, cfg.folds, cfg.seed + rep)):
                splits.append((rep, f, train, test, val_split(train, cfg.seed * 100 + 10 * rep + f)))
    jobs = []
    for rep, f, train, test, val in splits:
        for s in range(cfg.gan_seeds if not from_run else 1):
            jobs.append(Job("gan", rep, f, s, train, test, val, parent_origins))
            if cfg.balance:
                jobs.append(Job("gan-balance", rep, f, s, train, test, val, parent_origins))
        jobs.append(Job("real", rep, f, -1, train, test, val, parent_origins))
    log(f"study: {len(ds)} images {ds.class_counts()}, "
        + ("the run's own split" if from_run else
           f"{cfg.folds} folds x {cfg.repeats} repeats x {cfg.gan_seeds} GAN seeds")
        + f", GAN {getattr(gan_step, 'description', cfg.gan)}, classifiers "
        f"{', '.join(cfg.classifiers)}, augmentation {policy['augment']}, {len(jobs)} jobs on "
        f"{cfg.joblib_backend} (n_jobs {cfg.n_jobs})")
    jobs_out = run_jobs(cfg, jobs, gan_step, out_dir, policy, log)
    summary = summarise(jobs_out, ds.class_names, n_boot=cfg.n_boot, seed=cfg.seed, top_k=cfg.top_k)
    used = cfg.to_dict()
    used.update(augment=policy["augment"], gan_grow=policy["gan_grow"])
    if from_run:
        rc = run_config(cfg.gan)
        used.update(data=rc["data"], size=rc["size"], n_per_class=rc.get("n_per_class"),
                    data_seed=rc["data_seed"], folds=1, repeats=1, gan_seeds=1,
                    split=f"the run's own train/test split (test fraction {rc['test_frac']})")
    results = dict(config=used, policy=policy, dataset=dict(name=ds.name, n=len(ds),
                                                            class_counts=ds.class_counts(),
                                                            image_size=list(ds.image_size)),
                   gan_description=getattr(gan_step, "description", str(cfg.gan)),
                   gan_parents=[str(p) for p in parents],
                   class_names=list(ds.class_names), folds=jobs_out, **summary)
    results["provenance"] = provenance()
    results["seconds"] = round(time.perf_counter() - t0, 1)
    write_results(results, out_dir)
    write_report(results, out_dir)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    write_results(results, out_dir)  # the final time, including the report
    log(f"study done in {results['seconds']} s: {out_dir / 'report.html'}")
    return results
