"""``train --data X.npz`` trains the GAN on the file's official train part,
never on its official test images unless asked (refgan/training/data.py, loaders.py,
commands/train.py)."""
import json

import numpy as np
import pytest

import cli
from refgan.errors import UserError
from refgan.training.config import TrainConfig
from refgan.training.data import prepare

N_TRAIN, N_TEST = 30, 10  # images per class in each official part


def _part(rng, n, low, high):
    """``n`` images per class of two classes, grey levels in [low, high): a random pattern
    (no two images alike: the split would keep near-duplicates together)."""
    images = rng.integers(low, high, (2 * n, 16, 16)).astype(np.uint8)
    return images, np.repeat([0, 1], n)


def official_npz(path, keys=("train_images", "train_labels", "test_images", "test_labels")):
    """An npz whose official train images are dark (grey < 100) and whose official test
    images are bright (grey >= 150): one pixel of the GAN set tells its part."""
    rng = np.random.default_rng(0)
    (x_tr, y_tr), (x_te, y_te) = _part(rng, N_TRAIN, 0, 100), _part(rng, N_TEST, 150, 256)
    np.savez(path, **dict(zip(keys, (x_tr, y_tr, x_te, y_te))))
    return path


def _from_test_part(images) -> np.ndarray:
    return images.reshape(len(images), -1).max(1) > 0.0  # grey 150 is +0.18 in [-1, 1]


def _config(path, **kw):
    return TrainConfig(data=str(path), size=16, grow="none", **kw).validate()


@pytest.mark.parametrize("keys", [("train_images", "train_labels", "test_images", "test_labels"),  # MedMNIST
                                  ("x_train", "y_train", "x_test", "y_test")])                      # Keras
def test_gan_set_holds_no_official_test_image_by_default(tmp_path, keys):
    data = prepare(_config(official_npz(tmp_path / "d.npz", keys)), log=lambda m: None)
    assert not _from_test_part(data.gan_set.images).any()
    assert not _from_test_part(data.test.images).any()   # the held-out split is cut from the train part
    assert len(data.train) + len(data.test) == 2 * N_TRAIN
    assert data.npz_split == "train"


@pytest.mark.parametrize("part, n_images, n_bright", [("all", 2 * (N_TRAIN + N_TEST), 2 * N_TEST),
                                                      ("test", 2 * N_TEST, 2 * N_TEST)])
def test_npz_split_chooses_the_part(tmp_path, part, n_images, n_bright):
    data = prepare(_config(official_npz(tmp_path / "d.npz"), npz_split=part), log=lambda m: None)
    both = np.concatenate([data.train.images, data.test.images])
    assert len(both) == n_images and _from_test_part(both).sum() == n_bright
    assert data.npz_split == part


def test_npz_without_a_partition_is_used_whole_and_refuses_a_part(tmp_path):
    rng = np.random.default_rng(1)
    x, y = _part(rng, 12, 0, 256)
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    data = prepare(_config(tmp_path / "d.npz"), log=lambda m: None)
    assert len(data.train) + len(data.test) == 24 and data.npz_split == "all"
    with pytest.raises(UserError, match="has no official train/test partition.*leave out --npz-split"):
        prepare(_config(tmp_path / "d.npz", npz_split="train"), log=lambda m: None)


def test_npz_split_with_data_that_is_no_npz_is_refused():
    with pytest.raises(UserError, match="--npz-split test applies to a .npz --data only"):
        TrainConfig(npz_split="test").validate()
    with pytest.raises(UserError, match="--npz-split must be auto, train, val, test or all"):
        TrainConfig(data="x.npz", npz_split="half").validate()


SMOKE = ["--backend", "numpy", "train", "--preset", "smoke", "--steps", "1"]


def test_train_command_says_and_records_the_part(tmp_path, capsys):
    path, run = official_npz(tmp_path / "d.npz"), tmp_path / "run"
    assert cli.main([*SMOKE, "--data", str(path), "--test-frac", "0.5", "--data-seed", "3",
                     "--run-dir", str(run)]) == 0
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if x.startswith("data: ")]
    assert line == [f"data: the official 'train' part of {path} ({2 * N_TRAIN} of {2 * (N_TRAIN + N_TEST)} "
                    f"images; --npz-split all or test to change): {N_TRAIN} for the GAN, {N_TRAIN} held out "
                    "(--test-frac 0.5, --data-seed 3)"], err
    record = json.loads((run / "config.json").read_text())
    assert (record["npz_split"], record["test_frac"], record["data_seed"]) == ("train", 0.5, 3)


def test_train_command_refuses_contradictory_data_options(tmp_path, capsys):
    assert cli.main([*SMOKE, "--npz-split", "all", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--npz-split all applies to a .npz --data only" in err and len(err.strip().splitlines()) == 1, err
    path = official_npz(tmp_path / "d.npz")
    assert cli.main([*SMOKE, "--data", str(path), "--n-per-class", "5", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--n-per-class sizes the embedded cells only" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_old_runs_without_npz_split_rebuild_the_whole_file():
    """Runs recorded before --npz-split trained on every part of an npz."""
    assert TrainConfig.from_json(dict(data="x.npz")).npz_split == "all"
