"""bench/colour_spread.py: the colour spread and what the colour test leans on, read
from a run folder."""
import sys
from pathlib import Path

import numpy as np

from refgan.commands import main

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import colour_spread  # noqa: E402


def test_a_runs_spread_and_the_colour_tests_groups(tmp_path, capsys):
    assert main(["-q", "train", "--preset", "smoke", "--steps", "2", "--run-dir", str(tmp_path / "r")]) == 0
    out = colour_spread.run_spread(tmp_path / "r", n=30)
    assert set(out) == {"healthy", "blast"}
    fake, real, groups = out["blast"]
    assert fake.shape == real.shape == (3,) and (real > 0).all()
    assert set(groups) == {"all", "means", "stds", "percentiles", "correlations", "-means", "-stds",
                           "-percentiles", "-correlations"}
    assert all(0 <= v <= 1 for v in groups.values())
    # a two-step generator's noise is told from cells by its colours alone
    assert groups["all"] > 0.9


def test_the_groups_of_identical_sets_are_at_chance():
    rng = np.random.default_rng(0)
    cells = np.tanh(rng.normal(size=(60, 3, 8, 8))).astype(np.float32)
    groups = colour_spread.colour_test_groups(cells[:30], cells[30:])
    assert all(v < 0.8 for v in groups.values())
