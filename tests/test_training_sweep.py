"""refgan sweep (refgan/training/sweep.py, refgan/commands/sweep.py)."""
import json
import math
from pathlib import Path

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


def test_designs_are_option_sets_and_preset_is_none():
    assert sweep.designs(["generator=fastgan recon=1", "preset", "", "gp-every=2"]) == [
        {"generator": "fastgan", "recon": 1.0}, {}, {}, {"gp_every": 2}]
    with pytest.raises(UserError, match="expected KEY=VALUE words"):
        sweep.designs(["generator fastgan"])
    with pytest.raises(UserError, match="unknown training option 'colour'"):
        sweep.designs(["colour=8"])


def test_plan_runs_every_setting_at_every_seed_and_labels_them():
    trials = sweep.plan([{"recon": 1.0}, {}], seeds=[0, 1])
    assert trials == [{"recon": 1.0, "seed": 0}, {"recon": 1.0, "seed": 1}, {"seed": 0}, {"seed": 1}]
    assert sweep.plan([(1e-4, 1e-3)]) == [{"lr_g": 1e-4, "lr_d": 1e-3}]
    assert [sweep.label(t) for t in trials[1:3]] == ["recon=1", "preset"]
    assert sweep.label({"lr_g": 1e-4, "lr_d": 1e-3}) == "lr_g=0.0001 lr_d=0.001"


def _trial(setting, seed, c2st, healthy, blast, status="complete"):
    per = {"healthy": dict(zip(sweep.MEASURES, healthy)), "blast": dict(zip(sweep.MEASURES, blast))}
    return dict(setting=setting, seed=seed, c2st=c2st, kid=0.1, steps=100 + seed, status=status,
                per_class=per if status == "complete" else {}, run_dir=f"{setting}-{seed}",
                lr_g=2e-4, lr_d=1e-3, wall_s=1.0, flags=[], error=None)


def test_settings_summarise_their_seeds_and_rank_by_the_mean_then_the_worst():
    inf = float("inf")
    trials = [_trial("a", 0, 0.70, (0.60, 0.80), (0.62, 0.85)),
              _trial("a", 1, 0.74, (0.64, 0.90), (0.66, 0.83)),
              _trial("b", 0, 0.60, (0.55, 0.70), (0.58, 0.72)),
              _trial("b", 1, 0.76, (0.70, 0.74), (0.71, 0.75)),
              _trial("c", 0, 0.50, (0.50, 0.50), (0.50, 0.50)),
              _trial("c", 1, inf, (), (), status="interrupted")]
    settings = sweep.summarise(trials)
    assert [s["setting"] for s in settings] == ["b", "a", "c"]   # means 0.68, 0.72; c unfinished
    a = next(s for s in settings if s["setting"] == "a")
    assert a["seeds"] == [0, 1] and a["finished"] == 2
    assert math.isclose(a["c2st"], 0.72) and a["c2st_worst"] == 0.74
    assert a["per_class"]["healthy"]["svm_colour"] == (0.80, 0.90) and a["worst_figure"] == 0.90
    assert a["steps"] == [100, 101] and a["best_run_dir"] == "a-0"
    c = settings[-1]
    assert c["finished"] == 1 and c["c2st"] == inf                # an unfinished seed ranks last
    text = sweep.settings_table(trials)
    assert "0.800-0.900" in text and "worst_figure" in text.splitlines()[0]


def test_design_sweep_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(["--backend", "numpy", "sweep", "--preset", "smoke", "--design", "preset",
               "--design", "recon=1 gp-every=2", "--seeds", "0,1", "--steps", "1",
               "--set", "quality_n=8", "--jobs", "1", "--joblib-backend", "threading",
               "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "recon=1 gp_every=2" in printed and "c2st_worst" in printed
    rows = (out / "settings.csv").read_text().splitlines()
    assert rows[0].startswith("rank,setting,seeds,c2st_mean,c2st_worst,worst_figure") and len(rows) == 3
    best = json.loads((out / "best.json").read_text())
    assert best["seeds"] == [0, 1] and best["setting"] in ("preset", "recon=1 gp_every=2")
    trials = json.loads((out / "trials.json").read_text())
    assert sorted((t["setting"], t["seed"]) for t in trials) == [
        ("preset", 0), ("preset", 1), ("recon=1 gp_every=2", 0), ("recon=1 gp_every=2", 1)]
    recon = [t for t in trials if t["setting"] != "preset"]
    assert all(json.loads((Path(t["run_dir"]) / "config.json").read_text())["recon"] == 1.0
               for t in recon)


@pytest.mark.parametrize("args,message", [
    (["--design", "recon=1", "--search", "grid"], "--design compares designs at the preset's rates"),
    (["--design", "recon"], "expected KEY=VALUE words"),
    (["--design", "recon=1", "--model", "cgan"], "cgan does not use --recon"),
])
def test_bad_designs_are_refused_in_one_line(args, message, tmp_path, capsys):
    assert main(["sweep", "--preset", "smoke", *args, "--out", str(tmp_path / "s")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
