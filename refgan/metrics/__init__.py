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
* :mod:`~refgan.metrics.fid` - the Frechet distance, FID and KID on a backbone's
  features (pytorch-fid's InceptionV3 for FID proper), each beside its real-vs-real floor.
* :mod:`~refgan.metrics.ssim` - SSIM (Wang et al. 2004) of image pairs and of each
  generated image with its nearest real image.
* :mod:`~refgan.metrics.generator` - :func:`generator_metrics`: SSIM, and FID/KID when
  the Inception weights are at hand, each with its floor, for a run's summary.
"""
from refgan.metrics.classification import (binary_metrics, classification_summary,
                                           confusion_matrix, f1_score, multiclass_metrics,
                                           roc_auc,
                                           roc_curve, specificity, threshold_sweep,
                                           top_k_accuracy)
from refgan.metrics.generative import (diversity, kid_cnn_features, kid_pixels, memorisation,
                                       mmd2_cubic, prdc, trts, tstr)
# the modules fid and ssim keep their names (their functions fid() and ssim() are not
# lifted here, where they would hide the modules)
from refgan.metrics.fid import FidKid, fid_kid, frechet_distance
from refgan.metrics.generator import GeneratorMetrics, generator_metrics
from refgan.metrics.ssim import ssim_to_nearest
from refgan.metrics.intervals import (bonferroni, bootstrap_interval, corrected_paired_ttest,
                                      corrected_resampled_t, corrected_t_interval, holm,
                                      mcnemar, paired_bootstrap, t_interval, wilson_interval)

__all__ = ["FidKid", "GeneratorMetrics", "fid_kid", "frechet_distance", "generator_metrics",
           "ssim_to_nearest",
           "binary_metrics", "bonferroni", "bootstrap_interval", "classification_summary",
           "confusion_matrix", "corrected_paired_ttest", "corrected_resampled_t",
           "corrected_t_interval", "diversity", "f1_score", "holm", "kid_cnn_features",
           "kid_pixels", "mcnemar", "memorisation", "mmd2_cubic", "multiclass_metrics",
           "paired_bootstrap", "prdc", "roc_auc", "roc_curve", "specificity", "t_interval",
           "threshold_sweep", "top_k_accuracy", "trts", "tstr", "wilson_interval"]
