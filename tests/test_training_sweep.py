"""refgan sweep (refgan/training/sweep.py, refgan/commands/sweep.py)."""
import json
import math

import numpy as np
import pytest

from refgan.commands import main
from refgan.errors import UserError
from refgan import parallel
from refgan.training import sweep


def test_log_uniform_draws_stay_in_gaur_ranges_and_spread_in_log():
    pairs = sweep.log_uniform(400, seed=1)
    g, d = np.array(pairs).T
    assert g.min() >= 1e-5 and g.max() <= 1e-3 and d.min() >= 1e-4 and d.max() <= 1e-2
    # log-uniform: about half of the draws below the geometric midpoint
    assert 0.4 < np.mean(g < 1e-4) < 0.6 and 0.4 < np.mean(d < 1e-3) < 0.6
    assert sweep.log_uniform(3, seed=1) == pairs[:3]


def test_grid_defaults_to_nizam_and_md_ali():
    assert sweep.grid() == [(2e-4, 2e-4), (4e-4, 3e-4), (4e-4, 4e-4), (4e-4, 2e-4)]
    assert sweep.grid([1e-4, 2e-4], [3e-4]) == [(1e-4, 3e-4), (2e-4, 3e-4)]


def test_sweep_ranks_trials_and_writes_the_best_config(tmp_path, numpy_backend):
    """Two smoke trials in two loky workers: the table is ranked by c2st, and
    best.json holds the winner's config, with the growth '--grow auto' resolved to."""
    pairs = [(1e-4, 1e-3), (2e-4, 2e-4)]
    trials = sweep.sweep("wgan-gp", "smoke", {"steps": 2, "quality_n": 10, "grow": "auto"}, pairs,
                         tmp_path / "s", n_jobs=2, log=lambda m: None)
    assert [t["c2st"] for t in trials] == sorted(t["c2st"] for t in trials)
    assert all(0.0 <= t["c2st"] <= 1.0 for t in trials)
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert best["config"]["lr_g"] == trials[0]["lr_g"] and math.isclose(best["score"], trials[0]["c2st"])
    assert best["config"]["grow"] == "dihedral" and "cell images" in best["config"]["grow_why"]
    csv = (tmp_path / "s" / "trials.csv").read_text().splitlines()
    assert csv[0].startswith("rank,lr_g,lr_d,c2st,kid") and len(csv) == 3
    with pytest.raises(UserError, match="not empty"):
        sweep.sweep("wgan-gp", "smoke", {}, pairs, tmp_path / "s", log=lambda m: None)


def test_sweep_command(tmp_path, capsys):
    rc = main(["--backend", "numpy", "sweep", "--preset", "smoke", "--search", "grid",
               "--lr-g", "1e-4", "--lr-d", "1e-3", "--steps", "1", "--set", "quality_n=8",
               "--jobs", "1", "--joblib-backend", "threading", "--out", str(tmp_path / "s")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "c2st" in out and "1.00e-04" in out


def test_unknown_joblib_backend_needs_its_package():
    with pytest.raises(UserError, match="dask"):
        try:
            import dask.distributed  # noqa: F401
            pytest.skip("dask installed")
        except ModuleNotFoundError:
            parallel.parallel_config("dask", 1)


def test_trials_tied_on_the_two_sample_test_rank_by_kid():
    """Short runs often all score 1.000 on the two-sample test; KID orders them."""
    trials = [dict(c2st=1.0, kid=0.9), dict(c2st=1.0, kid=0.2), dict(c2st=0.98, kid=1.5),
              dict(c2st=float("inf"), kid=float("inf"))]
    assert [t["kid"] for t in sorted(trials, key=sweep.rank_key)] == [1.5, 0.2, 0.9, float("inf")]
