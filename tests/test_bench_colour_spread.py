"""bench/colour_spread.py: the colour spread and what the colour test leans on, read
from a run folder."""
import sys
from pathlib import Path

import numpy as np

from refgan.commands import main
from refgan.data import make_blood_cells
from refgan.training.quality import COLOUR_STATISTICS, colour_statistics

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import colour_spread  # noqa: E402


def test_a_runs_spread_and_the_colour_tests_groups(tmp_path, capsys):
    assert main(["-q", "train", "--preset", "smoke", "--steps", "2", "--run-dir", str(tmp_path / "r")]) == 0
    out = colour_spread.run_spread(tmp_path / "r", n=30)
    assert set(out) == {"healthy", "blast"}
    fake, real, groups, gaps = out["blast"]
    assert fake.shape == real.shape == (3,) and (real > 0).all()
    assert set(groups) == {"all", "means", "stds", "percentiles", "correlations", "-means", "-stds",
                           "-percentiles", "-correlations", "linear"}
    assert list(gaps) == COLOUR_STATISTICS and len(gaps) == 24
    assert all(0 <= v <= 1 for v in groups.values())
    # a two-step generator's noise is told from cells by its colours alone
    assert groups["all"] > 0.9
    # the printed report names the five furthest statistics, alone and given the others
    colour_spread.main([str(tmp_path / "r")])
    lines = capsys.readouterr().out.splitlines()
    furthest = [line for line in lines if "furthest" in line]
    assert len(furthest) == 4                             # two per class
    assert all(line.count("(spread x") == 5 for line in furthest)


def test_the_groups_of_identical_sets_are_at_chance():
    rng = np.random.default_rng(0)
    cells = np.tanh(rng.normal(size=(60, 3, 8, 8))).astype(np.float32)
    groups = colour_spread.colour_test_groups(colour_statistics(cells[:30]), colour_statistics(cells[30:]))
    assert all(v < 0.8 for v in groups.values())


def test_the_statistic_names_follow_the_colour_statistics_columns():
    """Each name's column is the statistic it names, computed by hand."""
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (4, 3, 8, 8))
    stats = colour_statistics(images)
    column = dict(zip(COLOUR_STATISTICS, stats.T))
    flat = images.reshape(4, 3, -1)
    np.testing.assert_allclose(column["G mean"], flat[:, 1].mean(1))
    np.testing.assert_allclose(column["B std"], flat[:, 2].std(1))
    np.testing.assert_allclose(column["R p75"], np.percentile(flat[:, 0], 75, axis=1))
    np.testing.assert_allclose(column["corr GB"], [np.corrcoef(f[1], f[2])[0, 1] for f in flat], atol=1e-6)


def test_a_correlation_that_does_not_go_with_the_percentiles_stands_out_given_the_others():
    """Samples whose green and blue channels are decorrelated by swapping the blue
    channel between images keep every per-channel statistic in distribution (each
    channel alone is a real cell's), so the channel correlations are the only
    statistics that miss what the others predict of them."""
    cells = make_blood_cells(n_per_class=150, classes=("healthy",), size=32, seed=0).images
    real, fake = cells[:75], cells[75:].copy()
    fake[:, 2] = np.roll(fake[:, 2], 1, axis=0)  # each blue channel from another cell
    gaps = colour_spread.statistic_gaps(colour_statistics(real), colour_statistics(fake))
    worst_given_others = max(gaps, key=lambda k: abs(gaps[k][2]))
    assert worst_given_others in ("corr RB", "corr GB")
    per_channel = [k for k in gaps if not k.startswith("corr")]
    assert max(abs(gaps[k][0]) for k in per_channel) < 0.5     # alone: in distribution
    assert abs(gaps[worst_given_others][2]) > 1.0


def test_the_gaps_of_two_real_sets_are_small():
    cells = make_blood_cells(n_per_class=200, classes=("blast",), size=32, seed=3).images
    gaps = colour_spread.statistic_gaps(colour_statistics(cells[:100]), colour_statistics(cells[100:]))
    assert max(abs(g[0]) for g in gaps.values()) < 0.5
    assert max(abs(g[2]) for g in gaps.values()) < 0.6


def test_a_broken_relation_shows_given_the_others_not_alone():
    """Two statistics that move together in real cells and independently in the
    samples, each with the real marginal: alone both look right (shift ~0, spread
    ~1), given the others their residual spreads several times the real one."""
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(2, 400, 24))
    real[:, 23] = real[:, 22] + 0.1 * rng.normal(size=400)
    fake[:, 23] = rng.normal(size=400) * real[:, 23].std()
    gaps = colour_spread.statistic_gaps(real, fake)
    shift, spread, cond_shift, cond_spread = gaps["corr GB"]
    assert abs(shift) < 0.2 and 0.8 < spread < 1.2
    assert cond_spread > 5
    untouched = gaps["R mean"]
    assert abs(untouched[2]) < 0.2 and 0.8 < untouched[3] < 1.2
