"""``refgan reproduce PAPER --quick`` for each paper (refgan/reproduce/): the tables'
shapes, the published column, every number recomputable from predictions.json, the
missing deep classifiers named, the claims."""
import json

import pytest

from refgan.commands import main
from refgan.reproduce import PAPERS, guruswamy, recompute, run_paper


def _run(paper, tmp_path, capsys):
    out = tmp_path / paper
    assert main(["--backend", "numpy", "-q", "reproduce", paper, "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "report:" in printed and "[" in printed
    return out, json.loads((out / "reproduce.json").read_text())


def _check_recomputable(out, results):
    again = recompute(out)
    assert again["table"] == results["table"]
    assert again["comparisons"] == results["comparisons"]


def _check_shapes(paper, out, r):
    module, plan = PAPERS[paper], PAPERS[paper].plan("quick")
    _check_recomputable(out, r)
    table = r["table"]["real"]
    assert set(table) == set(plan.classifiers)  # no weights: the deep rows do not run
    for clf in plan.classifiers:
        assert list(table[clf]) == list(plan.conditions)
        for row in table[clf].values():
            assert {"accuracy", "precision", "recall", "specificity"} <= set(row)
            assert all(len(e["per_fold"]) == plan.folds * plan.repeats for e in row.values())
    for name in plan.deep:
        assert r["deep"][name]["available"] is False and name in r["deep"][name]["why"]
    page = (out / "report.html").read_text()
    assert "not run:" in page and "class=pub" in page and "data differ" in page
    assert all(c["verdict"] in ("supported", "not supported", "not tested") for c in r["claims"])
    assert r["plan"]["scaled"] and r["published_source"] == module.SOURCE


@pytest.mark.parametrize("paper", ["saquib", "georgiev"])
def test_quick_tables_are_recomputable_and_shaped(paper, tmp_path, capsys):
    _check_shapes(paper, *_run(paper, tmp_path, capsys))


def test_gaur_tables_1_and_2_and_the_lr_search(tmp_path, capsys):
    out, r = _run("gaur", tmp_path, capsys)
    _check_shapes("gaur", out, r)
    gen = r["table"]["generated"]
    assert {c: list(v) for c, v in gen.items()} == {"lr": ["real", "real+classic"],
                                                   "svm": ["real", "real+classic"]}
    preds = json.loads((out / "predictions.json").read_text())["records"]
    n_gen = {len(p["y_true"]) for p in preds if p["test"] == "generated"}
    assert n_gen == {2 * 8}  # 8 generated images per class, per fold
    assert len(r["lr_search"]) == 2 and {"lr_g", "lr_d", "c2st"} <= set(r["lr_search"][0])


def test_nizam_reads_the_four_pairs_and_the_cosine_run(tmp_path, capsys):
    out, r = _run("nizam", tmp_path, capsys)
    pairs = [(x["lr_g"], x["lr_d"], x["schedule"]) for x in r["runs"]]
    assert pairs == [(2e-4, 2e-4, "constant"), (4e-4, 3e-4, "constant"), (4e-4, 4e-4, "constant"),
                     (4e-4, 2e-4, "constant"), (4e-4, 4e-4, "cosine")]
    for x in r["runs"]:
        assert [y["epochs"] for y in x["readings"]] == [1, 2, 3]
        assert all(y["outcome"] in ("mode collapse", "failure to converge", "trained") for y in x["readings"])
        config = json.loads(next((out).glob("dcgan-*/config.json")).read_text())
        assert config["classes"] == ["blast"] and config["model"] == "dcgan"
    assert len(r["claims"]) == 5


def test_guruswamy_table_i_tiny(tmp_path, monkeypatch):
    """Table I's rows with one GAN row (the full --quick is in the slow suite)."""
    monkeypatch.setattr(guruswamy, "GANS", {"acgan": ("acgan", {"real_fraction": "plain"})})
    monkeypatch.setattr(guruswamy, "CONDITIONS", ("none", "affine", "acgan", "ali-recon"))
    import refgan
    with refgan.using_backend("numpy"):
        plan = guruswamy.plan("quick")
        plan.conditions = guruswamy.CONDITIONS
        r = run_paper(guruswamy, plan, tmp_path / "g", log=lambda m: None)
    assert list(r["table"]["real"]["cnn"]) == ["none", "affine", "acgan", "ali-recon"]
    assert {c["condition"] for c in r["comparisons"]["real"]["cnn"]} == {"affine", "acgan", "ali-recon"}
    _check_recomputable(tmp_path / "g", r)


@pytest.mark.slow
def test_guruswamy_quick(tmp_path, capsys):
    out, r = _run("guruswamy", tmp_path, capsys)
    assert list(r["table"]["real"]["cnn"]) == list(guruswamy.CONDITIONS)
    _check_recomputable(out, r)


def test_reproduce_refuses_bad_input(tmp_path, capsys):
    assert main(["reproduce", "gaur", "--quick", "--data", str(tmp_path / "nope")]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["reproduce", "gaur", "--quick", "--out", str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "not an empty folder" in err


class _Stop(Exception):
    """Raised by a stand-in once it has seen what it was asked to train."""


def test_gaur_keeps_the_papers_generator_under_the_cpu_preset(monkeypatch, tmp_path):
    """The cpu preset measures each image's appearance (--appearance stain, refgan's main
    job); Gaur et al.'s WGAN-GP draws it with G, and so do reproduce gaur's GANs and its
    learning-rate trials at the default scale, without the main job's mode-seeking term."""
    from refgan.data import make_blood_cells
    from refgan.reproduce import gaur
    from refgan.training import presets

    assert presets.resolve("wgan-gp", "cpu").appearance != "generator"
    seen = {}

    def gan_step(model, preset, **overrides):
        seen["gan"] = presets.resolve(model, preset, **overrides)
        raise _Stop

    def sweep(model, preset, options, pairs, out_dir, **kw):
        seen["lr search"] = presets.resolve(model, preset, **options)
        raise _Stop

    monkeypatch.setattr(gaur, "refgan_gan_step", gan_step)
    monkeypatch.setattr(gaur.lr_sweep, "sweep", sweep)
    plan = gaur.plan("default")
    assert plan.options["preset"] == "cpu"
    cells = make_blood_cells(n_per_class=4, size=16, seed=0)
    with pytest.raises(_Stop):
        gaur.training_sets(plan, cells, cells, 0, tmp_path)
    with pytest.raises(_Stop):
        gaur.extra(plan, {}, tmp_path, print)
    assert {k: c.appearance for k, c in seen.items()} == {"gan": "generator", "lr search": "generator"}
    assert {k: c.mode_seeking for k, c in seen.items()} == {"gan": 0, "lr search": 0}
