"""Class names from the data are file names and checkpoint keys: the loader refuses
the ones that would escape a folder or break a key, and every path built from a name
stays inside its output folder."""
import json

import imageio.v3 as iio
import numpy as np
import pytest

import cli
from refgan.data import load_dataset
from refgan.data.names import check_class_names, inside
from refgan.errors import UserError
from refgan.training.load import sample_class


def _one_line(capsys, *parts):
    err = capsys.readouterr().err
    assert all(p in err for p in parts), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def _npz(path, names, n=12, size=16):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n * len(names), size, size, 3), dtype=np.uint8)
    y = np.repeat(np.arange(len(names)), n)
    np.savez(path, images=x, labels=y, class_names=np.array(names))
    return path


@pytest.mark.parametrize("names, problem", [
    (["../../../escaped", "b"], "path separator"),
    (["..", "b"], "relative folder reference"),
    (["a", "."], "relative folder reference"),
    (["a\\b", "c"], "path separator"),
    (["", "b"], "is empty"),
    (["  ", "b"], "is empty"),
    (["a::G", "b"], "'::'"),
    (["a\nb", "c"], "control character"),
    (["a\x1b[31m", "c"], "control character"),
    (["same", "same"], "appears twice"),
])
def test_npz_with_bad_class_names_is_refused(tmp_path, names, problem):
    with pytest.raises(UserError, match="class name") as err:
        load_dataset(_npz(tmp_path / "d.npz", names))
    assert problem in str(err.value)


def test_train_on_an_escaping_class_name_is_one_line_and_writes_nothing_outside(tmp_path, capsys,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _npz(tmp_path / "d.npz", ["../../../escaped", "b"])
    run = tmp_path / "a" / "b" / "c" / "run"
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "2",
                     "--data", str(data), "--run-dir", str(run)]) == 2
    _one_line(capsys, "'../../../escaped'", "path separator", "rename the class")
    assert not run.exists() and not list(tmp_path.rglob("escaped*"))


def test_folder_class_names_with_html_are_legal_but_duplicates_are_not(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("<img src=x onerror=alert(1)>", "b"):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in range(3):
            iio.imwrite(tmp_path / "d" / name / f"{i}.png",
                        rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    ds = load_dataset(tmp_path / "d")
    assert ds.class_names == ["<img src=x onerror=alert(1)>", "b"]


def test_check_class_names_and_inside():
    assert check_class_names(("ALL", "hem"), "x") == ["ALL", "hem"]
    with pytest.raises(UserError, match="appears twice"):
        check_class_names(["a", "b", "a"], "x")
    assert inside("/out", "blast", "blast_00000.png") == __import__("pathlib").Path(
        "/out/blast/blast_00000.png")
    for bad in (("..",), ("../x.png",), ("a", "..", "..", "x"), ("/etc/passwd",), (".",)):
        with pytest.raises(UserError, match="leads outside"):
            inside("/out", *bad)


def test_a_run_whose_recorded_classes_were_edited_to_escape_is_refused(tmp_path, capsys):
    """A hand-edited or hostile checkpoint record is checked too: generate and export
    never write outside --out."""
    run = tmp_path / "run"
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "2",
                     "--run-dir", str(run)]) == 0
    latest = run / "checkpoints" / "latest.json"
    meta = json.loads(latest.read_text())
    meta["config"]["classes"] = ["../../escaped", "blast"]
    latest.write_text(json.dumps(meta))
    capsys.readouterr()
    for argv in (["generate", str(run), "--n", "1", "--out", str(tmp_path / "o" / "g")],
                 ["export", str(run), "--to", "torch", "--out", str(tmp_path / "o" / "t")]):
        assert cli.main(["--backend", "numpy", *argv]) == 2
        _one_line(capsys, "'../../escaped'", "path separator")
    assert not list(tmp_path.rglob("escaped*"))


class _Model:
    latent_dim = 2

    def __init__(self, tag, conditional=False):
        self.tag, self.conditional = tag, conditional

    def sample(self, n, z=None, labels=None):
        return np.full((n, 1), self.tag if labels is None else 10 * self.tag + labels[0], float)


def test_a_class_named_all_is_drawn_from_its_own_generator():
    """ALL vs normal: a per-class run's keys are class names, and the class "all"
    is not mistaken for the one conditional model."""
    names = ["all", "normal"]
    per_class = {"all": _Model(1), "normal": _Model(2)}
    assert sample_class(per_class, names, "normal", 2, seed=0)[0, 0] == 2
    assert sample_class(per_class, names, "all", 2, seed=0)[0, 0] == 1
    conditional = {"all": _Model(3, conditional=True)}
    assert sample_class(conditional, names, "normal", 2, seed=0)[0, 0] == 31
    assert sample_class(conditional, names, "all", 2, seed=0)[0, 0] == 30


def test_a_per_class_run_with_a_class_named_all_trains_and_generates_each_class(tmp_path):
    data = _npz(tmp_path / "d.npz", ["all", "normal"])
    run = tmp_path / "run"
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "2",
                     "--data", str(data), "--run-dir", str(run)]) == 0
    from refgan.training.load import load_models

    models, _ = load_models(run)
    assert list(models) == ["all", "normal"]
    a = sample_class(models, ["all", "normal"], "normal", 3, seed=5)
    b = models["normal"].sample(3, z=np.random.default_rng(5).standard_normal((3, models[
        "normal"].latent_dim)).astype(np.float32))
    np.testing.assert_array_equal(a, b)
