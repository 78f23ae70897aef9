"""Classification metrics (scikit-learn's functions where they do the job).

Binary conventions: ``positive`` is the label of the disease class (blast); recall is
sensitivity ``TP / (TP + FN)``, specificity ``TN / (TN + FP)``. Scores are any
monotone confidence for the positive class (probability, logit or SVM decision).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm


def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted (scikit-learn's layout)."""
    return skm.confusion_matrix(y_true, y_pred, labels=labels)


def specificity(y_true, y_pred, positive=1) -> float:
    """TN / (TN + FP): the fraction of negatives (healthy) called negative."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    neg = y_true != positive
    return float((y_pred[neg] != positive).mean()) if neg.any() else float("nan")


def binary_metrics(y_true, y_pred, positive=1) -> dict:
    """Counts and the five metrics of Gaur et al.'s Table 2, for one positive class.

    Returns ``dict(n, tp, fp, tn, fn, accuracy, precision, recall, sensitivity,
    specificity, f1)``; a metric whose denominator is zero is 0 (scikit-learn's
    ``zero_division=0``), never NaN.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    t, p = y_true == positive, y_pred == positive
    tp, fp = int((t & p).sum()), int((~t & p).sum())
    tn, fn = int((~t & ~p).sum()), int((t & ~p).sum())
    kw = dict(pos_label=positive, zero_division=0)
    lab = np.union1d(np.unique(y_true), [positive])
    if len(lab) > 2:  # multi-class data: one-vs-rest for this class
        y_true_b, y_pred_b = t.astype(int), p.astype(int)
        kw["pos_label"] = 1
    else:
        y_true_b, y_pred_b = y_true, y_pred
    out = dict(n=len(y_true), tp=tp, fp=fp, tn=tn, fn=fn,
               accuracy=float(skm.accuracy_score(y_true, y_pred)),
               precision=float(skm.precision_score(y_true_b, y_pred_b, **kw)),
               recall=float(skm.recall_score(y_true_b, y_pred_b, **kw)),
               specificity=tn / (tn + fp) if tn + fp else 0.0,
               f1=f1_score(y_true, y_pred, positive))
    out["sensitivity"] = out["recall"]
    return out


def multiclass_metrics(y_true, y_pred, n_classes: int) -> dict:
    """Accuracy, balanced accuracy, macro and per-class precision / recall / F1.

    Macro = the unweighted mean over the ``n_classes`` classes (a rare class counts as
    much as a common one); balanced accuracy = macro recall (chance level ``1/K``).
    ``per_class`` = ``{'precision': [K], 'recall': [K], 'f1': [K], 'support': [K]}``;
    zero denominators give 0 (``zero_division=0``).
    """
    labels = list(range(n_classes))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                     zero_division=0)
    return dict(accuracy=float(skm.accuracy_score(y_true, y_pred)),
                balanced_accuracy=float(np.mean(r)), macro_precision=float(np.mean(p)),
                macro_recall=float(np.mean(r)), macro_f1=float(np.mean(f)),
                per_class=dict(precision=p.tolist(), recall=r.tolist(), f1=f.tolist(),
                               support=s.tolist()))


def roc_curve(y_true, scores, positive=1):
    """``(fpr, tpr, thresholds)`` of scikit-learn's ``roc_curve``."""
    return skm.roc_curve(np.asarray(y_true) == positive, scores)


def f1_score(y_true, y_pred, positive=1) -> float:
    """F1 of class ``positive``: 2 TP / (2 TP + FP + FN), the harmonic mean of precision
    and recall; 0 when the class is neither present nor predicted (scikit-learn's
    ``zero_division=0``). Plain NumPy: the study's bootstrap calls it thousands of times."""
    t, p = np.asarray(y_true) == positive, np.asarray(y_pred) == positive
    tp = np.sum(t & p)
    den = 2 * tp + np.sum(~t & p) + np.sum(t & ~p)
    return float(2 * tp / den) if den else 0.0


def roc_auc(y_true, scores, positive=1) -> float:
    """Area under the ROC curve of class ``positive``, as the Mann-Whitney statistic

        AUC = (sum of the positives' ranks - n1 (n1 + 1) / 2) / (n1 n0)

    (ranks of ``scores`` among all samples, ties sharing their mean rank, so a tied
    positive-negative pair counts 1/2: the trapezoidal area under the ROC curve);
    NaN when only one class is present. Plain NumPy: the study's bootstrap calls it
    thousands of times."""
    t = np.asarray(y_true) == positive
    n1, n0 = int(t.sum()), int((~t).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(np.asarray(scores, float))
    return float((r[t].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def threshold_sweep(y_true, prob, thresholds=None, positive=1):
    """Accuracy as the decision threshold on ``prob`` (P(positive)) sweeps 0..1 (seed
    001's plot). Returns ``(thresholds, accuracy)``; predicted positive iff
    ``prob >= threshold``."""
    if thresholds is None:
        thresholds = np.linspace(0, 1, 101)
    t = np.asarray(y_true) == positive
    prob = np.asarray(prob, float)
    acc = np.array([((prob >= th) == t).mean() for th in thresholds])
    return np.asarray(thresholds, float), acc


def top_k_accuracy(y_true, scores, k: int = 2, labels=None) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores (Guruswamy et al.)."""
    scores = np.asarray(scores)
    if scores.ndim == 1 or scores.shape[1] <= k:
        return 1.0 if scores.ndim == 2 else float("nan")
    if labels is None:
        labels = np.arange(scores.shape[1])  # columns are classes 0..K-1, seen or not
    return float(skm.top_k_accuracy_score(y_true, scores, k=k, labels=labels))


def classification_summary(y_true, y_pred, scores=None, positive=1) -> dict:
    """Everything for one condition: :func:`binary_metrics` plus AUC (if scores) and
    the confusion matrix (as nested lists, JSON-ready)."""
    out = binary_metrics(y_true, y_pred, positive)
    labels = np.union1d(np.unique(y_true), np.unique(y_pred))
    out["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    if scores is not None and np.ndim(scores) == 1:
        out["auc"] = roc_auc(y_true, scores, positive)
    return out
