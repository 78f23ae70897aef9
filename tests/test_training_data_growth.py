"""The GAN-set growth fits the data: the square's symmetries for cells
(no orientation), Guruswamy et al.'s orientation-keeping affine growth for other data
(digits, characters), one rule for ``train`` and the study (refgan/training/data.py)."""
import json

import numpy as np
import pytest

import cli
from refgan.data import Dataset, make_blood_cells
from refgan.errors import UserError
from refgan.training.config import TrainConfig
from refgan.training.data import auto_growth, grow, prepare
from refgan.study.config import StudyConfig
from refgan.study.protocol import resolve_policies

from test_training_data_npz import SMOKE, official_npz


def oriented(n=6, size=16) -> Dataset:
    """Images dark on the left, bright on the right (plus noise): a mirror or a half
    turn makes them bright on the left, as it turns a b into a d or a 6 into a 9."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(-0.9, 0.9, size, dtype=np.float32)
    x = np.broadcast_to(ramp, (n, 3, size, size)) + rng.normal(0, 0.05, (n, 3, size, size))
    return Dataset(np.clip(x, -1, 1).astype(np.float32), np.arange(n) % 2, ["b", "d"])


def _left_minus_right(images) -> np.ndarray:
    q = images.shape[-1] // 4
    return images[..., :q].mean((1, 2, 3)) - images[..., -q:].mean((1, 2, 3))


def test_affine_growth_keeps_the_orientation_and_dihedral_does_not():
    ds = oriented()
    grown = grow(ds, "affine", seed=0)
    assert len(grown) == 8 * len(ds)
    np.testing.assert_array_equal(grown.images[:len(ds)], ds.images)      # originals first
    assert (grown.origin.reshape(8, -1) == ds.origin).all()
    assert not np.allclose(grown.images[len(ds):2 * len(ds)], ds.images)   # copies changed
    assert (_left_minus_right(grown.images) < -0.5).all()                  # none mirrored or turned
    assert (_left_minus_right(grow(ds, "dihedral").images) > 0.5).any()   # the symmetries turn them


def test_affine_growth_is_deterministic_given_its_seed():
    ds = oriented()
    a, b, c = grow(ds, "affine", seed=3), grow(ds, "affine", seed=3), grow(ds, "affine", seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_grow_names_every_growth():
    with pytest.raises(UserError, match="--grow must be auto, none, dihedral, rot45flip or affine"):
        grow(oriented(), "twice")
    with pytest.raises(UserError, match="--grow must be auto, none, dihedral, rot45flip or affine"):
        TrainConfig(grow="twice").validate()


@pytest.mark.parametrize("class_names, how", [
    (["healthy", "blast"], "dihedral"),
    (["basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte", "monocyte",
      "neutrophil", "platelet"], "dihedral"),                              # BloodMNIST's names
    ([str(d) for d in range(10)], "affine"),                               # digits
    (["class_0", "class_1"], "affine"),                                    # unnamed classes
])
def test_auto_growth_by_dataset(class_names, how):
    ds = Dataset(np.zeros((len(class_names), 3, 8, 8), np.float32), np.arange(len(class_names)),
                 class_names)
    chosen, why = auto_growth(ds)
    assert chosen == how
    assert ("no orientation" if how == "dihedral" else "may change the class") in why


def test_train_default_grows_by_the_rule_and_records_why(tmp_path):
    assert TrainConfig().grow == "auto"
    cells = prepare(TrainConfig(n_per_class=4, size=8))
    assert (cells.grow, len(cells.gan_set)) == ("dihedral", 8 * len(cells.train))
    data = prepare(TrainConfig(data=str(official_npz(tmp_path / "d.npz")), size=16), log=lambda m: None)
    assert data.grow == "affine" and data.grow_why == auto_growth(data.train)[1]
    record = data.record(TrainConfig(data=str(tmp_path / "d.npz"), size=16))
    assert (record.grow, record.grow_why, record.npz_split) == ("affine", data.grow_why, "train")
    given = prepare(TrainConfig(data=str(tmp_path / "d.npz"), size=16, grow="dihedral"), log=lambda m: None)
    assert given.grow == "dihedral" and "--grow auto would choose affine" in given.grow_why


def test_train_command_prints_and_records_the_growth(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main([*SMOKE, "--data", str(official_npz(tmp_path / "d.npz")), "--grow", "auto",
                     "--run-dir", str(run)]) == 0
    err = capsys.readouterr().err
    record = json.loads((run / "config.json").read_text())
    assert record["grow"] == "affine" and "may change the class" in record["grow_why"]
    assert f"GAN-set growth: affine ({record['grow_why']})" in err.splitlines()
    resumed = cli.main(["--backend", "numpy", "train", "--resume", str(run), "--steps", "2"])
    assert resumed == 0   # the recorded growth rebuilds the same GAN set (data hash)


def test_study_resolves_gan_growth_with_the_same_rule():
    digits = oriented()
    cells = make_blood_cells(n_per_class=2, size=8)
    for ds in (digits, cells):
        policy = resolve_policies(StudyConfig(), ds)
        assert (policy.gan_grow, policy.gan_grow_why) == auto_growth(ds)
    assert resolve_policies(StudyConfig(gan_grow="none"), digits).gan_grow == "none"
    assert resolve_policies(StudyConfig(gan_grow="affine"), cells).gan_grow == "affine"
