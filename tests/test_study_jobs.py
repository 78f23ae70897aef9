"""The study's jobs (refgan/study/jobs.py): generated images checked for leaks, the
balancing GAN's lineage, the positive class's score."""
from pathlib import Path

import numpy as np
import pytest

from refgan.data import LeakError, make_blood_cells
from refgan.study import quick_config, run_study

from study_helpers import SMALL, stub_gan


def test_generated_images_depending_on_validation_images_are_refused():
    from refgan.study.jobs import Job, _checked_generation
    from refgan.study.splits import folds, val_split

    ds = make_blood_cells(24, size=32, seed=0)
    train, test = next(folds(ds, 2, 0))
    val = val_split(train, 0)

    def sees_everything_but_test(tr, n, seed, workdir):  # e.g. a run trained before the carve-out
        return stub_gan(train, n, seed, workdir)

    job = Job("gan", 0, 0, 0, train, test, val, np.zeros(0, np.int64))
    with pytest.raises(LeakError, match="validation"):
        _checked_generation(sees_everything_but_test, train, {"healthy": 2, "blast": 2}, 0, None, job)


class PretrainedGan:
    """A GAN 'pretrained' on each fold's whole training split (as a run folder is): whatever
    it is handed, its lineage is the full split it saw first."""

    description = "pretrained stub"

    def __call__(self, train, n_per_class, seed, workdir):
        if "balance" not in Path(workdir).name:
            self.full = train  # the gan job of this fold comes first (n_jobs=1)
        return stub_gan(self.full, n_per_class, seed, workdir)


def test_balance_refuses_a_gan_that_saw_the_dropped_images(tmp_path):
    """Leak: a generator trained on the whole training split holds the minority images the
    imbalanced split dropped, so gan-balance would see real data the other remedies never
    see: refused (a run folder with --balance is refused up front, see the CLI test)."""
    cfg = quick_config(**dict(SMALL, classifiers=("lr",), ratios=(), conditions=("real", "real+gen")))
    with pytest.raises(LeakError, match="dropped"):
        run_study(cfg, tmp_path, gan_step=PretrainedGan(), log=lambda m: None)


def test_the_positive_class_score_is_right_when_the_positive_class_comes_first():
    """Two-class classifiers give one score, that of class 1; a dataset whose folders
    load as ('blast', 'healthy') makes blast class 0, and reading that score as the
    blast score inverted its AUC and threshold sweep."""
    from sklearn.linear_model import LogisticRegression

    from refgan.metrics.classification import roc_auc
    from refgan.study.jobs import positive_score

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    x = rng.normal(size=(100, 2)) + np.where(y == 0, 2.0, -2.0)[:, None]
    d = LogisticRegression().fit(x, y).decision_function(x)
    assert roc_auc(y, positive_score(d, 0), positive=0) > 0.95
    assert roc_auc(y, positive_score(d, 1), positive=1) > 0.95
    three = rng.normal(size=(5, 3))
    assert np.array_equal(positive_score(three, 2), three[:, 2])
