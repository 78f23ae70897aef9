"""Evaluation: classification metrics, intervals and paired tests, generator quality.

* :mod:`~refgan.metrics.classification` - accuracy, precision, recall (sensitivity),
  specificity, F1, ROC/AUC, confusion matrix, accuracy over a threshold sweep (Saquib
  and Rodriguez), top-k (Guruswamy et al.), macro and per-class precision/recall/F1;
  scikit-learn's functions underneath where they exist.
* :mod:`~refgan.metrics.intervals` - Wilson intervals for proportions, percentile
  bootstrap for AUC/F1, the corrected repeated k-fold t (the study's decision rule),
  McNemar's exact test and the paired bootstrap (descriptions), Holm's and
  Bonferroni's corrections.
* :mod:`~refgan.metrics.generative` - TRTS, TSTR, KID (one estimator, ``mmd2_cubic``;
  with an interval, named by its feature space: ``kid_cnn_features``, ``kid_pixels``),
  precision/recall/density/coverage, diversity
  and a memorisation check, all offline, each with an interval.
"""
from refgan.metrics.classification import (binary_metrics, classification_summary,
                                           confusion_matrix, f1_score, multiclass_metrics,
                                           roc_auc,
                                           roc_curve, specificity, threshold_sweep,
                                           top_k_accuracy)
from refgan.metrics.generative import (diversity, kid_cnn_features, kid_pixels, memorisation,
                                       mmd2_cubic, prdc, trts, tstr)
from refgan.metrics.intervals import (bonferroni, bootstrap_interval, corrected_paired_ttest,
                                      corrected_resampled_t, corrected_t_interval, holm,
                                      mcnemar, paired_bootstrap, t_interval, wilson_interval)

__all__ = ["binary_metrics", "bonferroni", "bootstrap_interval", "classification_summary",
           "confusion_matrix", "corrected_paired_ttest", "corrected_resampled_t",
           "corrected_t_interval", "diversity", "f1_score", "holm", "kid_cnn_features",
           "kid_pixels", "mcnemar", "memorisation", "mmd2_cubic", "multiclass_metrics",
           "paired_bootstrap", "prdc", "roc_auc", "roc_curve", "specificity", "t_interval",
           "threshold_sweep", "top_k_accuracy", "trts", "tstr", "wilson_interval"]
