"""The augmentation study: Gaur et al.'s Table 2 protocol, repeated over k folds.

For each fold of a stratified k-fold split of the real images (duplicates kept on one
side, so every real image is tested exactly once):

1. train the GAN(s) on the fold's training split only, generate images per class;
2. build the training sets of every condition (:mod:`refgan.study.conditions`);
3. fit every classifier on every condition with the same hyper-parameters, predict the
   fold's real test images; keep each prediction, score and loss curve;
4. score the generator: TRTS, TSTR, KID and PRDC on domain-CNN features, diversity,
   memorisation (:mod:`refgan.metrics.generative`).

Then :func:`summarise` turns the out-of-fold predictions into the tables: per metric
the mean over folds with a 95% corrected resampled t interval, the pooled value with
a Wilson (proportions) or bootstrap (AUC, F1) interval, and paired comparisons of
every condition with the ``real`` and ``real+classic`` baselines on the same images
(exact McNemar on the pooled predictions, Holm-adjusted within each classifier; paired
bootstrap of the accuracy difference; corrected paired t-test over folds).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedGroupKFold

from refgan import augment
from refgan import metrics as M
from refgan.classifiers import make_classifier
from refgan.classifiers.features import downsize_flatten
from refgan.data import Dataset, check_no_leak, duplicate_groups, make_blood_cells
from refgan.data.loaders import load_reported
from refgan.errors import UserError
from refgan.study import conditions as C
from refgan.study import gan as G
from refgan.study.config import BALANCE, BASELINES, StudyConfig, positive_index
from refgan.study.report import write_report
from refgan.study.results import write_results

METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "auc")
PROPORTIONS = {"accuracy": ("tp+tn", "n"), "precision": ("tp", "tp+fp"),
               "recall": ("tp", "tp+fn"), "specificity": ("tn", "tn+fp")}


# ---------------------------------------------------------------------------- data
def load_data(cfg: StudyConfig, log=print) -> Dataset:
    if cfg.data == "synthetic":
        return make_blood_cells(n_per_class=cfg.n_per_class, size=cfg.size, seed=cfg.data_seed)
    return load_reported(cfg.data, log, size=cfg.size, skip_bad=cfg.skip_bad)


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


# ----------------------------------------------------------------------- one fold
def _fit_predict(name, cfg, train: Dataset, cw, test: Dataset, val: Dataset | None, seed):
    if name == "cnn":
        clf = make_classifier("cnn", class_weight=cw, random_state=seed, **cfg.cnn)
        keep = ~np.isin(train.origin, val.origin)  # validation images (and their copies) out
        clf.fit(train.images[keep], train.labels[keep], validation_data=(val.images, val.labels))
        model = clf
    else:
        clf = make_classifier(name, class_weight=cw, feature_size=cfg.feature_size)
        clf.fit(train.images, train.labels)
        model = clf[-1]
    pred = clf.predict(test.images)
    d = np.asarray(clf.decision_function(test.images))
    return clf, pred, d, dict(loss=[float(v) for v in getattr(model, "loss_curve_", [])],
                              val_loss=[float(v) for v in getattr(model, "validation_loss_curve_", [])])


def _val_split(train: Dataset, seed: int, frac: float = 0.15) -> Dataset:
    rng = np.random.default_rng([seed, 3])
    idx = np.concatenate([rng.permutation(np.flatnonzero(train.labels == c))[
        :max(1, int(round(frac * (train.labels == c).sum())))] for c in range(train.n_classes)])
    val = train.subset(np.sort(idx))
    val.role = "train"  # carved from training images: it may shape training (early stopping)
    return val


def _gan_quality(cfg, train, test, gen, feat_fn, lr_factory):
    """TRTS, TSTR, KID, PRDC, diversity, memorisation for one fold's generated images."""
    q = {}
    real_lr = lr_factory().fit(train.images, train.labels)
    q["trts"] = M.trts(real_lr, gen.images, gen.labels)
    q["tstr"] = M.tstr(lr_factory, gen.images, gen.labels, test.images, test.labels)["tstr"]
    fr, ff = feat_fn(train.images), feat_fn(gen.images)
    q["kid"] = M.kid(fr, ff, n_boot=min(cfg.n_boot, 200), seed=cfg.seed)
    q["prdc"] = M.prdc(fr, ff, k=5)
    q["diversity"] = M.diversity(fr, ff, n_boot=200, seed=cfg.seed)
    mem = M.memorisation(gen.images, train.images, held_out=test.images)
    q["memorisation"] = {k: v for k, v in mem.items() if k not in ("nn_index",)}
    return q


def run_fold(cfg: StudyConfig, fold: int, train: Dataset, test: Dataset, gan_step, workdir: Path,
             log=print) -> dict:
    """Everything one fold contributes to the study (see the module docstring)."""
    seed = cfg.seed * 100 + fold
    out = dict(fold=fold, n_train=len(train), n_test=len(test), records=[], gan={}, timings={})
    pos = positive_index(train.class_names)
    counts = np.bincount(train.labels, minlength=train.n_classes)
    need = max([cfg.n_generated] + [int(round(float(r) * counts.max())) for r in cfg.ratios])
    t0 = time.perf_counter()
    g = gan_step(train, {c: need for c in train.class_names}, seed, workdir / f"gan-fold{fold}")
    check_no_leak(g.generated, test)
    out["timings"]["gan_s"] = round(time.perf_counter() - t0, 1)
    out["gan"]["losses"] = g.losses
    out["gan"]["info"] = g.info
    gen = g.generated
    log(f"  fold {fold + 1}: GAN done in {out['timings']['gan_s']} s, {len(gen)} images generated")
    classic = augment.rotations45(train)
    sets = C.table2_sets(train, classic, gen, cfg.conditions, cfg.n_generated, cfg.rotate_generated)
    sets.update(C.ratio_sets(train, gen, cfg.ratios))
    if cfg.balance:
        imb = C.make_imbalanced(train, cfg.minority, cfg.minority_fraction, seed)
        t1 = time.perf_counter()
        gb = gan_step(imb, C.deficits(imb), seed + 50, workdir / f"gan-balance-fold{fold}")
        check_no_leak(gb.generated, test)
        out["timings"]["gan_balance_s"] = round(time.perf_counter() - t1, 1)
        out["gan"]["balance_losses"] = gb.losses
        sets.update(C.balance_sets(imb, gb.generated, seed))
    val = _val_split(train, seed)
    fitted = {}
    for name in cfg.classifiers:
        for cond, (ds, cw) in sets.items():
            t1 = time.perf_counter()
            clf, pred, d, curves = _fit_predict(name, cfg, ds, cw, test, val, seed)
            score = d if d.ndim == 1 else d[:, pos]
            out["records"].append(dict(
                classifier=name, condition=cond, n_train=int(len(ds)),
                class_counts=np.bincount(ds.labels, minlength=ds.n_classes).tolist(),
                y_true=test.labels.tolist(), y_pred=np.asarray(pred).tolist(),
                score=np.asarray(score, float).tolist(), origin=test.origin.tolist(),
                curves=curves, seconds=round(time.perf_counter() - t1, 2)))
            if cond == "real":
                fitted[name] = clf
        log(f"  fold {fold + 1}: {name} fitted on {len(sets)} training sets")
    # generator quality on the Table-2 generated images (no rotations)
    sub = C._take_per_class(gen, {c: cfg.n_generated for c in train.class_names})
    if cfg.features == "cnn":
        cnn = fitted.get("cnn")
        if cnn is None:
            cnn = make_classifier("cnn", random_state=seed, **cfg.cnn)
            cnn.fit(train.images, train.labels)
        feat_fn, feat_name = cnn.embed, "CNN trained on the real training split (penultimate layer)"
    else:
        feat_fn = lambda x: downsize_flatten(x, cfg.feature_size)  # noqa: E731
        feat_name = f"pixels ({cfg.feature_size}x{cfg.feature_size}x3)"
    lr_factory = lambda: make_classifier("lr", feature_size=cfg.feature_size)  # noqa: E731
    out["gan"]["quality"] = _gan_quality(cfg, train, test, sub, feat_fn, lr_factory)
    out["gan"]["quality"]["features"] = feat_name
    idx = np.concatenate([np.flatnonzero(sub.labels == c)[:8] for c in range(sub.n_classes)])
    out["samples"] = dict(generated=sub.images[idx], generated_labels=sub.labels[idx],
                          real=np.concatenate([train.images[train.labels == c][:8]
                                               for c in range(train.n_classes)]),
                          real_labels=np.concatenate([train.labels[train.labels == c][:8]
                                                      for c in range(train.n_classes)]))
    return out


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


def _fold_metrics(y, p, s, pos) -> dict:
    m = M.binary_metrics(y, p, positive=pos)
    m["auc"] = M.roc_auc(y, s, positive=pos)
    return {k: m[k] for k in METRICS}


def summarise(folds_out: list[dict], class_names, n_boot: int = 1000, seed: int = 0) -> dict:
    """Tables with intervals and the paired comparisons (see the module docstring)."""
    pos = positive_index(list(class_names))
    groups: dict = {}
    for f in folds_out:
        for r in f["records"]:
            groups.setdefault((r["classifier"], r["condition"]), []).append((f, r))
    n_train = float(np.mean([f["n_train"] for f in folds_out]))
    n_test = float(np.mean([f["n_test"] for f in folds_out]))
    table, pooled = {}, {}
    for (clf, cond), items in groups.items():
        per_fold = [_fold_metrics(np.array(r["y_true"]), np.array(r["y_pred"]),
                                  np.array(r["score"]), pos) for _, r in items]
        y = np.concatenate([r["y_true"] for _, r in items])
        p = np.concatenate([r["y_pred"] for _, r in items])
        s = np.concatenate([r["score"] for _, r in items])
        fold_id = np.concatenate([np.full(len(r["y_true"]), f["fold"]) for f, r in items])
        cnt = _counts(y, p, pos)
        row = {}
        for m in METRICS:
            vals = [pf[m] for pf in per_fold]
            mean, lo, hi = M.corrected_t_interval(vals, n_train, n_test)
            entry = dict(mean=mean, low=float(np.clip(lo, 0, 1)), high=float(np.clip(hi, 0, 1)),
                         per_fold=vals)
            if m in PROPORTIONS:
                num = sum(cnt[k] for k in PROPORTIONS[m][0].split("+"))
                den = sum(cnt[k] for k in PROPORTIONS[m][1].split("+"))
                entry["pooled"] = num / den if den else 0.0
                entry["pooled_low"], entry["pooled_high"] = (M.wilson_interval(num, den) if den
                                                             else (0.0, 0.0))
            elif m == "f1":
                est, lo2, hi2 = M.bootstrap_interval(
                    lambda a, b: _f1(a, b, pos), y, p, n_boot=n_boot,
                    seed=seed, strata=fold_id)
                entry.update(pooled=est, pooled_low=lo2, pooled_high=hi2)
            else:
                est, lo2, hi2 = M.bootstrap_interval(lambda a, b: _auc(a, b, pos), y, s,
                                                     n_boot=n_boot, seed=seed, strata=fold_id)
                entry.update(pooled=est, pooled_low=lo2, pooled_high=hi2)
            if not np.isfinite(entry["low"]):  # one fold: the pooled interval stands in
                entry["low"], entry["high"] = entry["pooled_low"], entry["pooled_high"]
            row[m] = entry
        row["confusion"] = M.confusion_matrix(y, p, labels=list(range(len(class_names)))).tolist()
        row["n_train"] = float(np.mean([r["n_train"] for _, r in items]))
        table.setdefault(clf, {})[cond] = row
        pooled[(clf, cond)] = (y, p, s, fold_id, np.concatenate([r["origin"] for _, r in items]))
    comparisons = {}
    for clf, rows in table.items():
        comps = []
        for base in BASELINES:
            if base not in rows:
                continue
            yb, pb, _, fb, ob = pooled[(clf, base)]
            ord_b = np.lexsort((ob, fb))
            for cond in rows:
                if cond == base or cond in BALANCE or (base == "real+classic" and cond == "real"):
                    continue
                y, p, _, f, o = pooled[(clf, cond)]
                ord_c = np.lexsort((o, f))
                assert np.array_equal(o[ord_c], ob[ord_b]), "conditions must share test images"
                ya, pa, pbb = y[ord_c], p[ord_c], pb[ord_b]
                mc = M.mcnemar(pa == ya, pbb == ya)
                pbs = M.paired_bootstrap(ya, pa, pbb, n_boot=n_boot, seed=seed, strata=f[ord_c])
                diffs = np.array(rows[cond]["accuracy"]["per_fold"]) - np.array(rows[base]["accuracy"]["per_fold"])
                tt = M.corrected_paired_ttest(diffs, n_train, n_test)
                comps.append(dict(condition=cond, baseline=base, diff=pbs["diff"],
                                  low=pbs["low"], high=pbs["high"], mcnemar_b=mc["b"],
                                  mcnemar_c=mc["c"], p_mcnemar=mc["p_value"],
                                  p_bootstrap=pbs["p_value"], p_corrected_t=tt["p_value"]))
        if "imbalanced" in rows:  # balancing mode: each remedy against doing nothing
            yb, pb, _, fb, ob = pooled[(clf, "imbalanced")]
            ord_b = np.lexsort((ob, fb))
            for cond in BALANCE[1:]:
                if cond not in rows:
                    continue
                y, p, _, f, o = pooled[(clf, cond)]
                ord_c = np.lexsort((o, f))
                ya, pa, pbb = y[ord_c], p[ord_c], pb[ord_b]
                mc = M.mcnemar(pa == ya, pbb == ya)
                pbs = M.paired_bootstrap(ya, pa, pbb, n_boot=n_boot, seed=seed, strata=f[ord_c])
                diffs = np.array(rows[cond]["accuracy"]["per_fold"]) - np.array(rows["imbalanced"]["accuracy"]["per_fold"])
                tt = M.corrected_paired_ttest(diffs, n_train, n_test)
                comps.append(dict(condition=cond, baseline="imbalanced", diff=pbs["diff"],
                                  low=pbs["low"], high=pbs["high"], mcnemar_b=mc["b"],
                                  mcnemar_c=mc["c"], p_mcnemar=mc["p_value"],
                                  p_bootstrap=pbs["p_value"], p_corrected_t=tt["p_value"]))
        if comps:
            adj = M.holm([c["p_mcnemar"] for c in comps])
            for c, a in zip(comps, adj):
                c["p_holm"] = float(a)
                c["significant"] = bool(a < 0.05)
        comparisons[clf] = comps
    return dict(table=table, comparisons=comparisons, positive=class_names[pos],
                n_train_mean=n_train, n_test_mean=n_test)


# -------------------------------------------------------------------------- run
def run_study(cfg: StudyConfig, out_dir, gan_step=None, dataset: Dataset | None = None,
              log=print) -> dict:
    """Run the study and write ``results.json``, ``results.csv`` and ``report.html``
    into ``out_dir``. ``gan_step`` defaults to training ``cfg.gan`` (or sampling a run
    folder); ``dataset`` defaults to :func:`load_data`. Returns the results dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from_run = gan_step is None and Path(cfg.gan).exists()
    if from_run:
        # A trained run saw its own training split: the study must use that split
        # (one train/test split, the run's), not k folds whose test images it trained on.
        train, test = G.run_folder_split(cfg.gan)
        ds = Dataset.concat([train, test]) if dataset is None else dataset
        splits = [(train, test)]
        gan_step = G.run_folder_step(cfg.gan)
    else:
        ds = dataset if dataset is not None else load_data(cfg, log)
        splits = folds(ds, cfg.folds, cfg.seed)
        if gan_step is None:
            gan_step = G.refgan_gan_step(cfg.gan, cfg.gan_preset, **cfg.gan_options)
    log(f"study: {len(ds)} images {ds.class_counts()}, "
        f"{'the run' + chr(39) + 's own split' if from_run else f'{cfg.folds} folds'}, GAN "
        f"{getattr(gan_step, 'description', cfg.gan)}, classifiers {', '.join(cfg.classifiers)}")
    folds_out = []
    for k, (train, test) in enumerate(splits):
        folds_out.append(run_fold(cfg, k, train, test, gan_step, out_dir, log))
    summary = summarise(folds_out, ds.class_names, n_boot=cfg.n_boot, seed=cfg.seed)
    results = dict(config=cfg.to_dict(), dataset=dict(name=ds.name, n=len(ds),
                                                      class_counts=ds.class_counts(),
                                                      image_size=list(ds.image_size)),
                   gan_description=getattr(gan_step, "description", str(cfg.gan)),
                   class_names=list(ds.class_names), folds=folds_out, **summary)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    write_results(results, out_dir)
    write_report(results, out_dir)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    write_results(results, out_dir)  # the final time, including the report
    log(f"study done in {results['seconds']} s: {out_dir / 'report.html'}")
    return results
