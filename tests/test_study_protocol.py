"""The study end to end: protocol with a stub GAN, the report, the JSON and the CLI."""
import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import refgan
from refgan.data import Dataset, LeakError, make_blood_cells
from refgan.study import CONDITIONS, GanOutput, StudyResults, quick_config, run_study, summarise
from refgan.study import conditions as C
from refgan.study.results import Comparison, JobResult, Record, _clean


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


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cfg = quick_config(**SMALL)
    gan = RecordingGan()
    with refgan.using_backend("numpy"):
        res = run_study(cfg, out, gan_step=gan, log=lambda m: None)
    return cfg, out, res, gan


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


def test_report_has_every_section(study):
    _, out, res, _ = study
    check_report(out)
    # the GAN-set growth is reported with the reason it was chosen
    why = res.policy.gan_grow_why
    assert why and html.escape(why) in (out / "report.html").read_text()


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


def test_conditions_shapes():
    ds = make_blood_cells(10, size=16, seed=0)
    ds.role = "train"
    gen = stub_gan(ds, {"healthy": 40, "blast": 40}, 0, None).generated
    real = C.real_sets(ds, CONDITIONS, "rotations", 0)
    assert {k: len(v[0]) for k, v in real.items()} == {
        "real": 20, "real+classic": 160, "real+inplace-flip": 20, "real+inplace-rotate": 20,
        "real+inplace-blur": 20, "real+inplace-noise": 20, "real+rotate-on-the-fly": 20}
    assert real["real+rotate-on-the-fly"][2] is not None  # a batch transform for the CNN
    changed = (real["real+inplace-noise"][0].images != ds.images).any(axis=(1, 2, 3)).mean()
    assert 0 < changed < 0.7  # each image replaced with probability 0.33
    gen_sets = C.gen_sets(ds, gen, CONDITIONS, 5, "rotations", True, [0.5, 2], 0)
    assert {k: len(v[0]) for k, v in gen_sets.items()} == {
        "real+gen": 20 + 80, "real+classic+gen": 160 + 80, "real+gen x0.5": 30, "real+gen x2": 60}
    assert C.real_sets(ds, CONDITIONS, "none", 0).keys() == real.keys() - {"real+classic"}
    assert len(C.real_sets(ds, ("real+classic",), "affine", 0)["real+classic"][0]) == 160
    imb = C.make_imbalanced(ds, {"blast": 0.5}, 0)
    assert imb.class_counts() == {"healthy": 10, "blast": 5}
    b = C.balance_sets(imb, 0)
    assert b["oversample"][0].class_counts() == {"healthy": 10, "blast": 10}
    assert b["undersample"][0].class_counts() == {"healthy": 5, "blast": 5}
    assert b["class-weights"][1] == "balanced"
    assert C.gan_balance_set(imb, gen)["gan-balance"][0].class_counts() == {"healthy": 10, "blast": 10}


def test_imbalance_cuts_several_classes():
    """Guruswamy et al.: Fashion-MNIST classes 1, 3, 7 cut to 50%, 65%, 80%."""
    from refgan.study.datasets import sklearn_digits

    ds = sklearn_digits(size=8, n_per_class=20)
    ds.role = "train"
    imb = C.make_imbalanced(ds, {"1": 0.5, "3": 0.65, "7": 0.8}, 0)
    counts = imb.class_counts()
    assert (counts["1"], counts["3"], counts["7"]) == (10, 13, 16)
    assert all(counts[c] == 20 for c in "0245689")
    assert C.deficits(imb)["1"] == 10


def _fake_jobs(acc_by_cond, n_folds=5, n_test=40, rng=None, per_fold=None):
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


def test_summarise_flags_a_real_difference():
    """Two conditions on the same 200 images, one far better in every fold: significant,
    and its simultaneous interval excludes 0."""
    s = summarise(_fake_jobs({"real": 0.6, "real+classic": 0.62, "real+gen": 0.95}),
                  ["healthy", "blast"], n_boot=100)
    by = {(c.condition, c.baseline): c for c in s.comparisons["lr"]}
    c = by[("real+gen", "real")]
    assert c.significant and c.diff > 0.2 and c.low > 0
    assert not by[("real+classic", "real")].significant


def test_one_lucky_fold_is_not_significant_though_mcnemar_says_so():
    """One lucky fold: per-fold differences [0, +42, 0] pooled into McNemar look
    significant; the fold-level corrected t does not (and decides)."""
    jobs = _fake_jobs({"real": 0.5, "real+gen": 0.5}, n_folds=3, n_test=60,
                      per_fold={"real": [1.0, 0.5, 1.0], "real+gen": [1.0, 0.95, 1.0]})
    s = summarise(jobs, ["healthy", "blast"], n_boot=50)
    c = next(c for c in s.comparisons["lr"] if c.condition == "real+gen")
    assert c.p_mcnemar < 0.01 and c.diff > 0.1
    assert not c.significant and c.low < 0 < c.high and c.p_value > 0.05


def test_degenerate_classifier_flagged_and_its_comparisons_not_interpretable():
    from refgan.study.report import verdict

    jobs = _fake_jobs({"real": 0.8, "real+gen": 0.8})
    for j in jobs:  # real+gen: always 'healthy'
        for r in j.records:
            if r.condition == "real+gen":
                r.y_pred = [0] * len(r.y_true)
    s = summarise(jobs, ["healthy", "blast"], n_boot=50)
    assert "predicts a single class in most folds" in s.table["lr"]["real+gen"].degenerate
    assert not s.table["lr"]["real"].degenerate
    c = next(c for c in s.comparisons["lr"] if c.condition == "real+gen")
    assert not c.interpretable and not c.significant
    res = results_of(s, jobs, config=dict(quick=False, folds=5, repeats=1, gan_seeds=1))
    assert "Not interpretable" in " ".join(verdict(res))


def results_of(summary, jobs, **fields):
    """A StudyResults around ``summary`` (what the verdict and the report read)."""
    from refgan.study.results import DatasetInfo, Policy

    base = dict(config={}, policy=Policy("none", "none", "", ""),
                dataset=DatasetInfo("fake", 0, {}, [8, 8]), gan_description="stub",
                gan_parents=[], class_names=["healthy", "blast"], folds=jobs)
    return StudyResults.build(summary, **{**base, **fields})


def _comparison(condition, baseline, diff, significant, interpretable=True):
    return Comparison(condition=condition, baseline=baseline, diff=diff, low=diff - 0.05,
                      high=diff + 0.05, interpretable=interpretable, significant=significant,
                      family="gan" if "gen" in condition else "other", family_size=3,
                      per_fold=[diff] * 5)


def test_verdict_names_every_comparison_and_credits_the_gan_only_for_its_own_gains():
    from refgan.study.report import verdict

    from dataclasses import replace

    s = summarise(_fake_jobs({"real": 0.6, "real+gen": 0.7}), ["healthy", "blast"], n_boot=10)
    base = results_of(s, [], config=dict(folds=5, repeats=2, gan_seeds=2, quick=False))
    comps = [_comparison("real+classic+gen", "real", 0.07, True),
             _comparison("real+classic+gen", "real+classic", -0.004, False),
             _comparison("real+gen", "real", -0.02, False),
             _comparison("real+gen x2", "real", 0.01, False),
             _comparison("real+inplace-blur", "real", 0.0, False),
             _comparison("real+classic", "real", 0.06, True)]
    lines = verdict(replace(base, comparisons={"lr": comps}))
    assert lines[0].startswith("Adding GAN-generated images to an otherwise unchanged training set "
                               "made no classifier significantly more accurate")
    text = " ".join(lines)
    for c in comps:  # each comparison is named in the verdict
        assert c.condition in text
    assert "by 0.0 points" not in text
    gain = verdict(replace(base, comparisons={"lr": [_comparison("real+gen", "real", 0.08, True)]}))
    assert "significantly more accurate: LR" in gain[0]
    quick = verdict(replace(base, config=dict(base.config, quick=True), comparisons={"lr": comps}))
    assert "Pipeline check" in quick[0] and "not evidence" in quick[0]


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


def test_cli_rejects_bad_options(capsys):
    import cli

    assert cli.main(["study", "--classifiers", "lr,resnet", "--quick"]) == 2
    assert "unknown classifier" in capsys.readouterr().err
    assert cli.main(["study", "--folds", "1", "--quick"]) == 2
    assert cli.main(["study", "--imbalance", "1:1.5", "--quick"]) == 2
    assert cli.main(["study", "--joblib-backend", "nonsense", "--quick", "--out",
                     "/nonexistent/x"]) == 2


def test_study_quick_end_to_end_from_the_cli(tmp_path):
    """``python cli.py study --quick``: real GANs from the zoo, every classifier, the
    report and the JSON (what a first-time user runs)."""
    import cli

    out = tmp_path / "study"
    assert cli.main(["study", "--quick", "--out", str(out)]) == 0
    check_results_json(out, quick_config())
    check_report(out)


def test_study_on_an_existing_run_folder_uses_the_runs_own_split(tmp_path):
    """A trained run saw its training split; the study must test on that run's held-out
    images only (one split), never on k folds the generator trained on."""
    import cli

    run = tmp_path / "run"
    assert cli.main(["train", "--preset", "smoke", "--n-per-class", "30", "--size", "32",
                     "--steps", "3", "--run-dir", str(run)]) == 0
    out = tmp_path / "study"
    assert cli.main(["study", "--quick", "--gan", str(run), "--classifiers", "lr",
                     "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_folds_total"] == 1
    tested = res["folds"][0]["records"][0]["origin"]
    assert len(tested) == 12  # 20% of 60 images: the run's own test split
    assert "held-out split of the trained run" in (out / "report.html").read_text()
    # what was actually used is recorded: the run's data, size and one split
    used = res["config"]
    assert (used["size"], used["n_per_class"], used["folds"], used["gan_seeds"]) == (32, 30, 1, 1)
    assert "own train/test split" in used["split"]


def test_study_refuses_options_a_run_folder_overrides(tmp_path, capsys):
    """With --gan RUN the data, size and split are the run's: conflicting --data /
    --size / --folds used to be ignored silently (and recorded); now refused, and
    --balance is refused (the run's GAN saw the images the imbalanced split drops)."""
    import cli

    run = tmp_path / "run"
    assert cli.main(["train", "--preset", "smoke", "--n-per-class", "30", "--size", "32",
                     "--steps", "2", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    for extra in (["--size", "64"], ["--data", "digits"], ["--folds", "5"], ["--n-per-class", "10"]):
        assert cli.main(["study", "--quick", "--gan", str(run), "--out", str(tmp_path / "s")] + extra) == 2
        assert "cannot apply" in capsys.readouterr().err
    assert cli.main(["study", "--quick", "--gan", str(run), "--balance", "--out",
                     str(tmp_path / "s")]) == 2
    assert "--balance" in capsys.readouterr().err


def test_the_studys_gan_chooses_its_checkpoint_from_its_own_training_images(tmp_path):
    """The cpu preset picks its best checkpoint by a two-sample test against freshly
    rendered cells; inside the study that would compare a digit GAN with cells (it
    crashed: "unknown cell class '0'") and a real-cell GAN with synthetic ones. The
    study's GAN is scored against the images it trained on, whatever the data."""
    from refgan.study.gan import refgan_gan_step

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (24, 3, 16, 16)).astype(np.float32)
    train = Dataset(images, np.repeat([0, 1], 12), class_names=("0", "1"), name="digits-like")
    step = refgan_gan_step("wgan-gp", "cpu", steps=2, ckpt_every=1, sample_every=1,
                           width_g=4, width_d=4, latent_dim=8, batch=4)
    out = step(train, {"0": 3, "1": 3}, seed=0, workdir=tmp_path / "gan")
    assert len(out.generated) == 6
    best = json.loads((tmp_path / "gan" / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "kid_simple"


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


def _strip(cell):
    return re.sub(r"<[^>]+>", "", cell).replace("\u2212", "-").strip()


def test_report_numbers_are_results_json_numbers(study):
    """Every table cell and every comparison of report.html, parsed from the page,
    equals results.json's number (in %, to the page's one decimal)."""
    from refgan.study.figures import NAMES

    _, out, _, _ = study
    res = json.loads((out / "results.json").read_text())
    page = (out / "report.html").read_text()
    results = page[page.index("<h2>Results</h2>"):page.index("<h2>Paired comparisons</h2>")]
    paired = page[page.index("<h2>Paired comparisons</h2>"):page.index("<h2>How much")]
    by_name = {v: k for k, v in NAMES.items()}

    def pct(text):
        return None if text == "n/a" else float(text)

    seen = 0
    for chunk in results.split("<h3>")[1:]:
        clf = by_name[chunk[:chunk.index("</h3>")]]
        for cond, n, cells in re.findall(r"<tr[^>]*><td>(.*?)</td><td>(\d+)</td>(.*?)</tr>", chunk):
            cond = html.unescape(_strip(cond.split(" <span")[0]))
            if cond not in res["table"][clf]:
                continue  # the per-class table
            row = res["table"][clf][cond]
            assert int(n) == round(row["n_train"])
            values = re.findall(r"<td>([\d.]+|n/a) <span class=ci>\[([\d.]+|n/a), ([\d.]+|n/a)\]",
                                cells)
            assert len(values) == len(res["metrics"])
            for m, (mean, low, high) in zip(res["metrics"], values):
                for got, key in ((mean, "mean"), (low, "low"), (high, "high")):
                    want = row[m][key]
                    assert pct(got) == pytest.approx(100 * want, abs=0.051), (clf, cond, m, key)
                seen += 1
    assert seen == sum(len(rows) * len(res["metrics"]) for rows in res["table"].values())
    seen = 0
    for chunk in paired.split("<h3>")[1:]:
        clf = by_name[chunk[:chunk.index("</h3>")]]
        rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>.*?</td><td>(.*?)</td>", chunk)
        comps = {(c["condition"], c["baseline"]): c for c in res["comparisons"][clf]}
        for cond, base, diff in rows:
            c = comps[(html.unescape(cond), html.unescape(base))]
            got = _strip(diff).split(" [")[0]
            assert (got == "n/a") == (c["diff"] is None)
            if c["diff"] is not None:
                assert float(got) == pytest.approx(100 * c["diff"], abs=0.051)
            seen += 1
    assert seen == sum(len(v) for v in res["comparisons"].values())


def test_results_json_reads_back_into_the_same_results(study):
    """StudyResults.read(results.json) gives the objects run_study returned (NaN -> None
    -> NaN), so readers of the file get the types the report uses."""
    _, out, res, _ = study
    back = StudyResults.read(out)
    assert _clean(back.to_dict()) == json.loads((out / "results.json").read_text())
    assert back.table["lr"]["real"] == res.table["lr"]["real"]
    assert [c.label for c in back.comparisons["lr"]] == [c.label for c in res.comparisons["lr"]]
    assert back.gan_quality()[0].figures() == res.gan_quality()[0].figures()
