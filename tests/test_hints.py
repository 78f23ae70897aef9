"""Hints that point the right way: an object array of labels is about labels, a
resumed run whose data folder moved says so, and a recorded option that is no
command-line option is named as the record's, not as a flag the user never typed."""
import json
import shutil

import imageio.v3 as iio
import numpy as np

import cli


def _one_line(capsys, *parts):
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert all(p in err for p in parts), err
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_object_array_labels_get_a_labels_hint(tmp_path, capsys):
    x = np.zeros((4, 16, 16, 3), np.uint8)
    np.savez(tmp_path / "d.npz", images=x, labels=np.array([0, 1, 0, "b"], dtype=object))
    assert cli.main(["data", "info", str(tmp_path / "d.npz")]) == 2
    line = _one_line(capsys, "'labels' is an object array", "whole-number labels 0..K-1")
    assert "(N, H, W)" not in line  # the image hint, wrong for labels


def test_resume_after_the_data_folder_moved_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for c in "ab":
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(12):
            iio.imwrite(tmp_path / "d" / c / f"{i}.png", rng.integers(0, 256, (16, 16, 3), np.uint8))
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "1", "--batch", "4",
                     "--data", "d", "--run-dir", "run"]) == 0
    shutil.move(tmp_path / "d", tmp_path / "moved")
    capsys.readouterr()
    assert cli.main(["--backend", "numpy", "train", "--resume", "run", "--steps", "2"]) == 2
    _one_line(capsys, "was trained on --data d, which is not there", "moved or deleted",
              "started from another folder")


def test_classes_recorded_as_a_string_is_named_as_the_record(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "1",
                     "--run-dir", str(run)]) == 0
    latest = run / "checkpoints" / "latest.json"
    meta = json.loads(latest.read_text())
    meta["config"]["classes"] = "healthy,blast"
    latest.write_text(json.dumps(meta))
    capsys.readouterr()
    for argv in (["train", "--resume", str(run), "--steps", "2"],
                 ["generate", str(run), "--out", str(tmp_path / "g")]):
        assert cli.main(["--backend", "numpy", *argv]) == 2
        line = _one_line(capsys, "recorded option 'classes' must be a list", '"classes": ["healthy", "blast"]')
        assert "--classes" not in line  # no such option exists
