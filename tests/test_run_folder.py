"""Run folders as GAN users know them (stylegan2-ada, StudioGAN) and their provenance."""
import imageio.v3 as iio
import numpy as np
import pytest

from refgan import provenance as prov
from refgan.data import save_grid


def test_row_labels_are_written_once_per_row(tmp_path):
    images = np.zeros((6, 3, 8, 8), np.float32)
    save_grid(images, tmp_path / "plain.png", nrow=3)
    save_grid(images, tmp_path / "rows.png", nrow=3, row_labels=["healthy", "blast"])
    plain, rows = iio.imread(tmp_path / "plain.png"), iio.imread(tmp_path / "rows.png")
    assert rows.shape[0] == plain.shape[0] and rows.shape[1] > plain.shape[1]   # a left margin
    margin = rows[:, : rows.shape[1] - plain.shape[1], :3]
    assert (margin < 128).any()                                                  # text in it
    with pytest.raises(ValueError, match="3 row labels for 2 rows"):
        save_grid(images, tmp_path / "bad.png", nrow=3, row_labels=["a", "b", "c"])


def test_provenance_record():
    record = prov.provenance(["refgan", "train", "--run-dir", "my run"])
    assert record["command"] == "refgan train --run-dir 'my run'"
    assert record["refgan"] and record["python"] and record["backend"]
    assert {"numpy", "scipy", "scikit-learn"} <= set(record["libraries"])
    commit, dirty = prov.git_state()
    assert record["git_commit"] == commit and record["git_dirty"] == dirty
    if commit:
        assert len(commit) == 40 and f"git {commit[:10]}" in prov.summary_line(record)
    assert prov.summary_line(record).endswith("command: refgan train --run-dir 'my run'")


def test_no_git_outside_a_checkout(tmp_path):
    assert prov.git_state(tmp_path) == (None, None)
