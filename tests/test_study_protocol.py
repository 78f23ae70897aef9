"""The study's protocol (refgan/study/protocol.py) end to end with a stub GAN: every
condition and number in results.json, the folds, the leaks refused, the parallel
engine."""
import re

import numpy as np
import pytest

from refgan.data import LeakError
from refgan.study import quick_config, run_study

from study_helpers import SMALL, check_results_json, stub_gan


def test_results_json_complete_and_ordered(study):
    cfg, out, _, _ = study
    res = check_results_json(out, cfg)
    # the stub copies training images: the memorisation check must see it
    gan_jobs = [f for f in res["folds"] if f["kind"] == "gan"]
    assert len(gan_jobs) == cfg.folds * cfg.repeats * cfg.gan_seeds
    assert gan_jobs[0]["gan"]["quality"]["memorisation"]["copy_rate"]["value"] > 0.5
    assert res["config"]["augment"] == "rotations" and res["policy"]["gan_grow"] == "none"


def test_every_test_image_once_per_repeat(study):
    _, _, res, _ = study
    for rep in range(2):
        origins = np.concatenate([r.origin for r in res.records("lr", "real")
                                  if r.repeat == rep])
        assert sorted(origins) == list(range(48))


def test_gan_never_trains_on_the_cnns_validation_images(study):
    """Leak: the CNN stops early on validation images carved from the training split;
    a GAN trained on them makes generated images that flatter that choice."""
    _, _, res, gan = study
    val = {(f.repeat, f.fold): f.val_origin for f in res.folds}
    assert len(gan.seen) == 2 * 2 * 2 * 2  # folds x repeats x seeds x (gan, gan-balance)
    for name, origins in gan.seen.items():
        rep, fold = (int(x) for x in re.match(r".*r(\d+)f(\d+)s\d+$", name).groups())
        assert len(val[(rep, fold)]) and not np.intersect1d(origins, val[(rep, fold)]).size


def test_acgan_ali_counts_its_ali_parents_training_images(tmp_path):
    """Leak: ACGAN-ALI starts from an ALI run; when that run trained on another split, its
    training images include the study's test images. They belong to the lineage."""
    import cli

    ali = tmp_path / "ali"
    assert cli.main(["train", "--model", "ali", "--no-per-class", "--preset", "smoke",
                     "--n-per-class", "24", "--size", "32", "--steps", "2",
                     "--run-dir", str(ali)]) == 0
    cfg = quick_config(**dict(SMALL, classifiers=("lr",), ratios=(), balance=False,
                              conditions=("real", "real+gen")), gan="acgan-ali",
                       gan_options=dict(ali=str(ali)))
    with pytest.raises(LeakError):
        run_study(cfg, tmp_path / "study", gan_step=stub_gan, log=lambda m: None)


def test_study_on_digits_reports_macro_and_top_k(tmp_path):
    """A labelled set that is not cells (scikit-learn's digits, shipped with it): ten
    classes, macro and per-class metrics, top-2/top-5, the affine policy."""
    from refgan.study.datasets import sklearn_digits

    ds = sklearn_digits(size=16, n_per_class=10)
    cfg = quick_config(**dict(SMALL, data="digits", size=16, classifiers=("lr",), ratios=(),
                              balance=True, imbalance={"1": 0.5, "3": 0.65, "7": 0.8},
                              repeats=1, gan_seeds=1, n_generated=4,
                              conditions=("real", "real+classic", "real+gen")))
    res = run_study(cfg, tmp_path, gan_step=stub_gan, dataset=ds, log=lambda m: None)
    assert res.metrics == ["accuracy", "macro_precision", "macro_recall", "macro_f1", "top2", "top5"]
    row = res.table["lr"]["real"]
    m = row.metrics
    assert len(row.per_class["f1"]) == 10 and m["top5"].mean >= m["top2"].mean >= m["accuracy"].mean
    assert res.config["augment"] == "affine" and res.config["gan_grow"] == "none"
    html = (tmp_path / "report.html").read_text()
    assert "Top-5 accuracy" in html and "Macro F1" in html and "Per class" in html


def test_parallel_engine_gives_the_same_numbers(tmp_path):
    """The fold x seed jobs through joblib's loky workers = the same jobs in process."""
    cfg = dict(SMALL, classifiers=("lr",), ratios=(), balance=False, repeats=1, gan_seeds=1,
               conditions=("real", "real+gen"))
    a = run_study(quick_config(**cfg), tmp_path / "a", gan_step=stub_gan, log=lambda m: None)
    b = run_study(quick_config(**dict(cfg, n_jobs=2, joblib_backend="loky")), tmp_path / "b",
                  gan_step=stub_gan, log=lambda m: None)
    for cond in ("real", "real+gen"):
        assert (a.table["lr"][cond].metrics["accuracy"].per_fold
                == b.table["lr"][cond].metrics["accuracy"].per_fold)
