"""Shared pieces of the study's tests: a stub GAN, small settings, fake records, and
checks of a study's files (not a test module: the test_study_*.py files import it)."""
import json
import math
from pathlib import Path

import numpy as np

from refgan.data import Dataset
from refgan.study import GanOutput, StudyResults
from refgan.study.results import Comparison, DatasetInfo, JobResult, Policy, Record


def stub_gan(train, n_per_class, seed, workdir):
    """Class-conditional 'generator' for tests: noisy copies of real training images
    of the class (what a perfect, slightly memorising GAN would give)."""
    rng = np.random.default_rng(seed)
    imgs, labels = [], []
    for i, name in enumerate(train.class_names):
        n = n_per_class.get(name, 0)
        pool = train.images[train.labels == i]
        pick = rng.integers(0, len(pool), n)
        imgs.append(np.clip(pool[pick] + 0.1 * rng.standard_normal(pool[pick].shape), -1, 1))
        labels.append(np.full(n, i))
    gen = Dataset.generated(np.concatenate(imgs).astype(np.float32), np.concatenate(labels),
                            train.class_names, trained_on=train)
    steps = np.arange(10)
    return GanOutput(gen, {name: {"d_loss": list(1.0 / (1 + steps)), "g_loss": list(-0.1 * steps)}
                           for name in train.class_names}, dict(model="stub"))


stub_gan.description = "stub (noisy real images)"


def _walk_numbers(o, path=""):
    if isinstance(o, dict):
        for k, v in o.items():
            yield from _walk_numbers(v, f"{path}.{k}")
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from _walk_numbers(v, f"{path}[{i}]")
    elif isinstance(o, float):
        yield path, o


SMALL = dict(n_per_class=24, folds=2, repeats=2, gan_seeds=2, n_generated=12, n_boot=50,
             ratios=(1.0,), classifiers=("lr", "cnn"), n_jobs=1, progress=False,
             cnn=dict(channels=(4, 4, 8), dense=8, max_epochs=2, patience=1, image_size=16))


class RecordingGan:
    """The stub GAN, remembering the origins of every training set it was handed, by
    its work folder (gan-r<repeat>f<fold>s<seed>)."""

    description = "stub (noisy real images)"

    def __init__(self):
        self.seen = {}

    def __call__(self, train, n_per_class, seed, workdir):
        self.seen[Path(workdir).name] = np.asarray(train.origin)
        return stub_gan(train, n_per_class, seed, workdir)


BALANCE_CONDITIONS = {"imbalanced", "class-weights", "oversample", "undersample", "gan-balance"}


def check_results_json(out, cfg, conditions=None):
    """Every condition present, every number finite, every interval ordered, and the
    decision rule consistent: significant exactly when the interval excludes 0."""
    res = json.loads((out / "results.json").read_text())
    for clf in cfg.classifiers:
        rows = res["table"][clf]
        expected = (set(conditions or cfg.conditions) | {f"real+gen x{r:g}" for r in cfg.ratios}
                    | BALANCE_CONDITIONS)
        if clf != "cnn":
            expected.discard("real+rotate-on-the-fly")
        assert set(rows) == expected
        for cond, row in rows.items():
            for m in res["metrics"]:
                e = row[m]
                assert e["mean"] is not None, (clf, cond, m)
                assert e["low"] <= e["mean"] + 1e-12 and e["mean"] <= e["high"] + 1e-12
                assert 0 <= e["low"] and e["high"] <= 1
                if "pooled" in e:
                    assert e["pooled_low"] <= e["pooled"] <= e["pooled_high"]
    for path, v in _walk_numbers(res):
        assert v is None or math.isfinite(v) or ".comparisons." in path
    comps = res["comparisons"]["lr"]
    assert {c["baseline"] for c in comps} == {"real", "real+classic", "imbalanced"}
    for c in comps:
        if c["interpretable"]:
            assert c["low"] <= c["diff"] <= c["high"] and 0 <= c["p_value"] <= c["p_adjusted"] <= 1
            assert c["significant"] == (c["low"] > 0 or c["high"] < 0)
    q = res["folds"][0]["gan"]["quality"]
    for key in ("trts", "tstr", "kid", "kid_floor", "prdc", "diversity", "memorisation"):
        assert key in q
    assert q["kid"]["name"] == "kid_cnn_features"
    return res


def check_report(out):
    html = (out / "report.html").read_text()
    for section in ("Verdict", "Setup", "Results", "Paired comparisons", "How much generated data",
                    "Real and generated images", "GAN training", "Generator quality",
                    "Classifier training loss", "ROC curves", "Accuracy against the decision threshold",
                    "Confusion matrices", "Balancing mode", "Pipeline check", "kid_cnn_features",
                    "real vs real (floor)", "forest plot", "Decision rule"):
        assert section in html, section
    assert html.count("data:image/png;base64,") >= 8
    assert "src=\"http" not in html  # stands alone
    assert "by 0.0 points" not in html
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("section,classifier") and len(csv) > 100
    assert not any(",nan," in line.lower() for line in csv)


def fake_jobs(acc_by_cond, n_folds=5, n_test=40, rng=None, per_fold=None):
    """jobs_out with one 'real' job per fold; accuracies drawn per condition (or given per fold)."""
    rng = rng or np.random.default_rng(0)
    y = rng.integers(0, 2, n_folds * n_test)
    jobs = []
    for k in range(n_folds):
        sl = slice(n_test * k, n_test * (k + 1))
        recs = []
        for cond, acc in acc_by_cond.items():
            a = per_fold[cond][k] if per_fold and cond in per_fold else acc
            p = np.where(rng.random(n_test) < a, y[sl], 1 - y[sl])
            recs.append(Record(classifier="lr", condition=cond, repeat=0, fold=k, gan_seed=-1,
                               y_true=y[sl].tolist(), y_pred=p.tolist(),
                               score=(p + 0.1 * rng.random(n_test)).tolist(), scores=None,
                               origin=list(range(n_test * k, n_test * (k + 1))), n_train=160))
        jobs.append(JobResult(kind="real", repeat=0, fold=k, gan_seed=-1, n_train=4 * n_test,
                              n_test=n_test, records=recs))
    return jobs


def results_of(summary, jobs, **fields):
    """A StudyResults around ``summary`` (what the verdict and the report read)."""
    base = dict(config={}, policy=Policy("none", "none", "", ""),
                dataset=DatasetInfo("fake", 0, {}, [8, 8]), gan_description="stub",
                gan_parents=[], class_names=["healthy", "blast"], folds=jobs)
    return StudyResults.build(summary, **{**base, **fields})


def comparison(condition, baseline, diff, significant, interpretable=True):
    return Comparison(condition=condition, baseline=baseline, diff=diff, low=diff - 0.05,
                      high=diff + 0.05, interpretable=interpretable, significant=significant,
                      family="gan" if "gen" in condition else "other", family_size=3,
                      per_fold=[diff] * 5)
