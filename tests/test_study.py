"""The study end to end: protocol with a stub GAN, the report, the JSON and the CLI."""
import json
import math

import numpy as np
import pytest

import refgan
from refgan.data import Dataset, make_blood_cells
from refgan.study import GanOutput, quick_config, run_study, summarise
from refgan.study import conditions as C


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


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cfg = quick_config(n_per_class=24, folds=2, n_generated=12, n_boot=50, ratios=(1.0,),
                       classifiers=("lr", "cnn"),
                       cnn=dict(channels=(4, 4, 8), dense=8, max_epochs=2, patience=1, image_size=16))
    with refgan.using_backend("numpy"):
        res = run_study(cfg, out, gan_step=stub_gan, log=lambda m: None)
    return cfg, out, res


BALANCE_CONDITIONS = {"imbalanced", "class-weights", "oversample", "undersample", "gan-balance"}


def check_results_json(out, cfg):
    """Every condition present, every number finite, every interval ordered."""
    res = json.loads((out / "results.json").read_text())
    for clf in cfg.classifiers:
        rows = res["table"][clf]
        expected = (set(cfg.conditions) | {f"real+gen x{r:g}" for r in cfg.ratios}
                    | BALANCE_CONDITIONS)
        assert set(rows) == expected
        for cond, row in rows.items():
            for m in ("accuracy", "precision", "recall", "specificity", "f1", "auc"):
                e = row[m]
                assert e["mean"] is not None, (clf, cond, m)
                assert e["low"] <= e["mean"] + 1e-12 and e["mean"] <= e["high"] + 1e-12
                assert e["pooled_low"] <= e["pooled"] <= e["pooled_high"]
                assert 0 <= e["low"] and e["high"] <= 1
    for _, v in _walk_numbers(res):
        assert math.isfinite(v)
    comps = res["comparisons"]["lr"]
    assert {c["baseline"] for c in comps} == {"real", "real+classic", "imbalanced"}
    for c in comps:
        assert 0 <= c["p_mcnemar"] <= c["p_holm"] <= 1 and c["low"] <= c["diff"] <= c["high"]
    q = res["folds"][0]["gan"]["quality"]
    for key in ("trts", "tstr", "kid", "prdc", "diversity", "memorisation"):
        assert key in q
    return res


def test_results_json_complete_and_ordered(study):
    cfg, out, _ = study
    res = check_results_json(out, cfg)
    # the stub copies training images: the memorisation check must see it
    assert res["folds"][0]["gan"]["quality"]["memorisation"]["copy_rate"]["value"] > 0.5


def test_every_test_image_once_and_no_leak(study):
    _, _, res = study
    origins = np.concatenate([[r["origin"] for r in f["records"]
                               if r["classifier"] == "lr" and r["condition"] == "real"][0]
                              for f in res["folds"]])
    assert sorted(origins) == list(range(48))


def test_report_has_every_section(study):
    _, out, _ = study
    check_report(out)


def check_report(out):
    html = (out / "report.html").read_text()
    for section in ("Verdict", "Setup", "Results", "Paired comparisons", "How much generated data",
                    "Real and generated images", "GAN training", "Generator quality",
                    "Classifier training loss", "ROC curves", "Confusion matrices",
                    "Balancing mode", "statistically significant"):
        assert section in html, section
    assert html.count("data:image/png;base64,") >= 6
    assert "src=\"http" not in html  # stands alone
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("section,classifier") and len(csv) > 100
    assert not any(",nan," in line.lower() for line in csv)


def test_conditions_shapes():
    ds = make_blood_cells(10, size=16, seed=0)
    ds.role = "train"
    gen = stub_gan(ds, {"healthy": 20, "blast": 20}, 0, None).generated
    from refgan.augment import rotations45

    sets = C.table2_sets(ds, rotations45(ds), gen, ("real", "real+classic", "real+gen",
                                                    "real+classic+gen"), 5)
    assert [len(sets[k][0]) for k in sets] == [20, 160, 20 + 80, 160 + 80]
    imb = C.make_imbalanced(ds, "blast", 0.5, 0)
    assert imb.class_counts() == {"healthy": 10, "blast": 5}
    b = C.balance_sets(imb, gen, 0)
    assert b["oversample"][0].class_counts() == {"healthy": 10, "blast": 10}
    assert b["undersample"][0].class_counts() == {"healthy": 5, "blast": 5}
    assert b["gan-balance"][0].class_counts() == {"healthy": 10, "blast": 10}
    assert b["class-weights"][1] == "balanced"
    r = C.ratio_sets(ds, gen, [0.5, 2])
    assert len(r["real+gen x0.5"][0]) == 30 and len(r["real+gen x2"][0]) == 60


def test_summarise_flags_a_real_difference():
    """Two conditions on the same 200 images, one far better: significant after Holm."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    folds = []
    for k in range(5):
        sl = slice(40 * k, 40 * (k + 1))
        recs = []
        for cond, acc in (("real", 0.6), ("real+classic", 0.62), ("real+gen", 0.95)):
            p = np.where(rng.random(40) < acc, y[sl], 1 - y[sl])
            recs.append(dict(classifier="lr", condition=cond, y_true=y[sl].tolist(),
                             y_pred=p.tolist(), score=(p + 0.1 * rng.random(40)).tolist(),
                             origin=list(range(40 * k, 40 * (k + 1))), n_train=160))
        folds.append(dict(fold=k, n_train=160, n_test=40, records=recs))
    s = summarise(folds, ["healthy", "blast"], n_boot=200)
    by = {(c["condition"], c["baseline"]): c for c in s["comparisons"]["lr"]}
    assert by[("real+gen", "real")]["significant"] and by[("real+gen", "real")]["diff"] > 0.2
    assert not by[("real+classic", "real")]["significant"]


def _comparison(condition, baseline, diff, significant):
    return dict(condition=condition, baseline=baseline, diff=diff, low=diff - 0.05,
                high=diff + 0.05, mcnemar_b=10, mcnemar_c=3, p_mcnemar=0.01,
                p_holm=0.02 if significant else 0.5, significant=significant)


def test_verdict_credits_the_gan_only_for_gains_from_generated_images():
    from refgan.study.report import verdict

    base = dict(dataset=dict(class_counts={"healthy": 10, "blast": 10}),
                config=dict(folds=5), folds=[{}] * 5)
    # real+classic+gen beats real (thanks to the rotations) but not real+classic
    mixed = dict(base, comparisons={"lr": [
        _comparison("real+classic+gen", "real", 0.07, True),
        _comparison("real+classic+gen", "real+classic", -0.004, False),
        _comparison("real+gen", "real", -0.02, False)]})
    assert verdict(mixed)[0].startswith("No classifier was significantly more accurate")
    gain = dict(base, comparisons={"lr": [_comparison("real+gen", "real", 0.08, True)]})
    assert verdict(gain)[0].startswith("At least one classifier")


def test_cli_rejects_bad_options(capsys):
    import cli

    assert cli.main(["study", "--classifiers", "lr,resnet", "--quick"]) == 2
    assert "unknown classifier" in capsys.readouterr().err
    assert cli.main(["study", "--folds", "1", "--quick"]) == 2


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
    res = check_results_json(out, quick_config(classifiers=("lr",)))
    assert len(res["folds"]) == 1
    tested = res["folds"][0]["records"][0]["origin"]
    assert len(tested) == 12  # 20% of 60 images: the run's own test split
    assert "held-out split of the trained run" in (out / "report.html").read_text()
