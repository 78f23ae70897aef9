"""Evaluation: classification metrics, intervals and paired tests, generator quality.

* :mod:`~refgan.metrics.classification` - accuracy, precision, recall (sensitivity),
  specificity, F1, ROC/AUC, confusion matrix, accuracy over a threshold sweep (seed
  001), top-k (Guruswamy et al.); scikit-learn's functions underneath where they exist.
* :mod:`~refgan.metrics.intervals` - Wilson intervals for proportions, percentile
  bootstrap for AUC/F1, t and corrected-resampled-t intervals over repeats, McNemar's
  exact test and the paired bootstrap between two conditions on the same images,
  Holm's correction.
* :mod:`~refgan.metrics.generative` - TRTS, TSTR, KID, precision/recall/density/
  coverage, diversity and a memorisation check, all offline, each with an interval.
"""
from refgan.metrics.classification import (binary_metrics, classification_summary,
                                           confusion_matrix, roc_auc, roc_curve, specificity,
                                           threshold_sweep, top_k_accuracy)
from refgan.metrics.generative import (diversity, kid, memorisation, prdc, trts, tstr)
from refgan.metrics.intervals import (bootstrap_interval, corrected_paired_ttest,
                                      corrected_t_interval, holm, mcnemar, paired_bootstrap,
                                      t_interval, wilson_interval)

__all__ = ["binary_metrics", "bootstrap_interval", "classification_summary", "confusion_matrix",
           "corrected_paired_ttest", "corrected_t_interval", "diversity", "holm", "kid",
           "mcnemar", "memorisation", "paired_bootstrap", "prdc", "roc_auc", "roc_curve",
           "specificity", "t_interval", "threshold_sweep", "top_k_accuracy", "trts", "tstr",
           "wilson_interval"]
