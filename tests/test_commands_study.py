"""``refgan study`` (refgan/commands/study.py): bad options refused, the quick study
end to end, a study of an existing run folder."""
import json

from refgan.study import quick_config

from study_helpers import check_report, check_results_json


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
