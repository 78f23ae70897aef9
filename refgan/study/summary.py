"""The study's tables and paired comparisons, from the jobs' records.

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

import numpy as np
from scipy.special import expit, softmax

from refgan import metrics as M
from refgan.study.config import BALANCE, CONDITIONS, positive_index, uses_gan
from refgan.study.results import (Comparison, DecisionRule, Estimate, JobResult, Record, Row,
                                  Summary, ThresholdSweep)

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


def _counts(y, p, pos):
    t, q = y == pos, p == pos
    return dict(tp=int((t & q).sum()), tn=int((~t & ~q).sum()), fp=int((~t & q).sum()),
                fn=int((t & ~q).sum()), n=len(y))


def record_metrics(r: Record, n_classes: int, pos: int, top_k=(2, 5)) -> dict:
    """Every table metric of one fitted classifier on its fold's test images."""
    y, p = np.asarray(r.y_true), np.asarray(r.y_pred)
    if n_classes == 2:
        m = M.binary_metrics(y, p, positive=pos)
        m["auc"] = M.roc_auc(y, np.asarray(r.score), positive=pos)
        return {k: m[k] for k in BINARY_METRICS}
    m = M.multiclass_metrics(y, p, n_classes)
    out = {k: m[k] for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")}
    for k in top_k:
        if n_classes > k:
            out[f"top{k}"] = M.top_k_accuracy(y, np.asarray(r.scores), k=k)
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
        out.setdefault((r.repeat, r.fold), []).append(r)
    return out


def _row(records, class_names, pos, names, n_train, n_test, n_boot, seed, top_k) -> Row:
    """One (classifier, training set) of the table from its records (every fold and GAN
    seed): each metric's :class:`Estimate`, the pooled per-class figures, confusion
    matrix, degenerate flags and threshold sweep."""
    K = len(class_names)
    cells = _cells(records)
    keys = sorted(cells)
    per_rec = {id(r): record_metrics(r, K, pos, top_k) for r in records}
    y = np.concatenate([r.y_true for r in records])
    p = np.concatenate([r.y_pred for r in records])
    s = np.concatenate([r.score for r in records])
    strata = np.concatenate([np.full(len(r.y_true), i) for i, r in enumerate(records)])
    estimates = {}
    for m in names:
        vals = [float(np.mean([per_rec[id(r)][m] for r in cells[c]])) for c in keys]
        t = M.corrected_resampled_t(vals, n_train, n_test, 1 - ALPHA)
        e = Estimate(t["mean"], float(np.clip(t["low"], 0, 1)), float(np.clip(t["high"], 0, 1)),
                     vals)
        if m in PROPORTIONS and K == 2:
            cnt = _counts(y, p, pos)
            num = sum(cnt[k] for k in PROPORTIONS[m][0].split("+"))
            den = sum(cnt[k] for k in PROPORTIONS[m][1].split("+"))
            e.pooled = num / den if den else 0.0
            e.pooled_low, e.pooled_high = M.wilson_interval(num, den) if den else (0.0, 0.0)
        elif m == "f1":
            e.pooled, e.pooled_low, e.pooled_high = M.bootstrap_interval(
                lambda a, b: M.f1_score(a, b, pos), y, p, n_boot=n_boot, seed=seed, strata=strata)
        elif m == "auc":
            e.pooled, e.pooled_low, e.pooled_high = M.bootstrap_interval(
                lambda a, b: M.roc_auc(a, b, pos), y, s, n_boot=n_boot, seed=seed, strata=strata)
        if not np.isfinite(e.low):  # one split (a run folder): the pooled interval stands in
            e.low, e.high = ((e.pooled_low, e.pooled_high) if e.pooled is not None
                             else (e.mean, e.mean))
        estimates[m] = e
    single = np.mean([len(set(r.y_pred)) == 1 for r in records])
    # Saquib and Rodriguez: accuracy as the threshold on P(positive) sweeps 0..1; with
    # more classes, of the one-vs-rest call 'positive or not' (positive_probability)
    th, acc = M.threshold_sweep(y == pos, positive_probability(records, pos),
                                np.linspace(0, 1, 41), True)
    return Row(estimates, M.multiclass_metrics(y, p, K)["per_class"],
               M.confusion_matrix(y, p, labels=list(range(K))).tolist(),
               float(np.mean([r.n_train for r in records])), degenerate(y, p, s, K, pos, single),
               ThresholdSweep(th.tolist(), acc.tolist()))


def positive_probability(records, pos: int) -> np.ndarray:
    """P(positive | x_i) of the pooled test images of ``records``, from the
    classifiers' scores, for the threshold sweep

        acc(t) = mean_i [ (P(pos | x_i) >= t) == (y_i == pos) ]:

    the logistic 1 / (1 + exp(-s_i)) of a two-class classifier's one score s_i, the
    softmax exp(d_i,pos) / sum_k exp(d_i,k) of a K-class classifier's scores d_i (the
    same number when d_i = (0, s_i)), so with K > 2 acc(t) is the accuracy of calling
    an image positive or not, one vs rest. For the LR and the CNN (logits) these are
    their predicted probabilities; for the SVM, its margins mapped into [0, 1]."""
    if records[0].scores is None:
        return expit(np.concatenate([r.score for r in records]))
    return softmax(np.concatenate([r.scores for r in records]), axis=1)[:, pos]


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
    b_by = {(r.repeat, r.fold, r.gan_seed): r for r in b_recs}
    ca, cb = [], []
    for r in a_recs:
        q = b_by.get((r.repeat, r.fold, r.gan_seed)) or b_by.get((r.repeat, r.fold, -1))
        if q is None:
            continue
        oa, ob = np.asarray(r.origin), np.asarray(q.origin)
        ia, ib = np.argsort(oa), np.argsort(ob)
        assert np.array_equal(oa[ia], ob[ib]), "conditions must share test images"
        ca.append(r.correct[ia])
        cb.append(q.correct[ib])
    return M.mcnemar(np.concatenate(ca), np.concatenate(cb))


def compare(rows, groups, clf, n_train, n_test) -> list:
    """Paired comparisons of one classifier (see the module docstring for the rule)."""
    comps = []
    for cond, base in _pairs(rows):
        ca, cb = _cells(groups[(clf, cond)]), _cells(groups[(clf, base)])
        keys = sorted(set(ca) & set(cb))
        d = [float(np.mean([np.mean(r.correct) for r in ca[k]])
                   - np.mean([np.mean(r.correct) for r in cb[k]])) for k in keys]
        bad = rows[cond].degenerate or rows[base].degenerate
        mc = _mcnemar(groups[(clf, cond)], groups[(clf, base)])
        comps.append(Comparison(cond, base, "gan" if uses_gan(cond) else "other", d, not bad,
                                why_not=[f"{n}: {', '.join(rows[n].degenerate)}"
                                         for n in (cond, base) if rows[n].degenerate],
                                mcnemar_b=mc["b"], mcnemar_c=mc["c"], p_mcnemar=mc["p_value"]))
    for fam in ("gan", "other"):
        members = [c for c in comps if c.family == fam and c.interpretable]
        for c in comps:
            if c.family == fam:
                c.family_size = len(members)
        for c in members:
            level = 1 - ALPHA / len(members)  # Bonferroni: simultaneous intervals
            t = M.corrected_resampled_t(c.per_fold, n_train, n_test, level)
            c.diff, c.low, c.high, c.t, c.df = t["mean"], t["low"], t["high"], t["t"], t["df"]
            c.p_value, c.confidence = t["p_value"], level
            c.p_adjusted = float(min(1.0, t["p_value"] * len(members)))
            c.significant = bool(c.p_adjusted < ALPHA)
    for c in comps:
        if not c.interpretable:
            t = M.corrected_resampled_t(c.per_fold, n_train, n_test)
            c.diff, c.df = t["mean"], t["df"]  # the rest stays NaN: no test, no interval
    return comps


def summarise(jobs_out: list[JobResult], class_names, n_boot: int = 1000, seed: int = 0,
              top_k=(2, 5)) -> Summary:
    """Tables with intervals, degenerate-classifier flags and the paired comparisons."""
    class_names = list(class_names)
    pos = positive_index(class_names)
    names = metric_names(len(class_names), top_k)
    groups: dict = {}
    for j in jobs_out:
        for r in j.records:
            groups.setdefault((r.classifier, r.condition), []).append(r)
    real_jobs = [j for j in jobs_out if j.kind == "real"] or jobs_out
    n_train = float(np.mean([j.n_train for j in real_jobs]))
    n_test = float(np.mean([j.n_test for j in real_jobs]))
    table = {}
    clf_order = list(dict.fromkeys(clf for clf, _ in groups))  # as the study listed them
    for (clf, cond), recs in sorted(groups.items(), key=lambda kv: (clf_order.index(kv[0][0]),
                                                                    condition_order(kv[0][1]))):
        table.setdefault(clf, {})[cond] = _row(recs, class_names, pos, names, n_train, n_test,
                                               n_boot, seed, top_k)
    comparisons = {clf: compare(rows, groups, clf, n_train, n_test) for clf, rows in table.items()}
    n_cells = len({(j.repeat, j.fold) for j in jobs_out})
    rule = DecisionRule(
        test="corrected repeated k-fold t (Nadeau & Bengio 2003; Bouckaert & Frank 2004)",
        unit="fold (accuracy averaged over the fold's GAN seeds)",
        correction=f"variance x (1/{n_cells} + {n_test:.0f}/{n_train:.0f}), df {n_cells - 1}",
        multiplicity="Bonferroni within each classifier and family (generated images / other), "
                     "with the matching simultaneous intervals",
        alpha=ALPHA, description_only="exact McNemar on the pooled predictions")
    return Summary(table=table, comparisons=comparisons, positive=class_names[pos],
                   metrics=list(names), n_train_mean=n_train, n_test_mean=n_test,
                   n_folds_total=n_cells, decision_rule=rule)
