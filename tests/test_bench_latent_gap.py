"""bench/latent_gap.py: a latent run's two-sample figures step by step (decoder, drawn
appearance, codes), read from a run folder."""
import sys
from pathlib import Path

import pytest

from refgan.commands import main
from refgan.errors import UserError

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import latent_gap  # noqa: E402


@pytest.fixture(scope="module")
def latent_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("latent") / "r"
    assert main(["-q", "train", "--preset", "smoke", "--size", "64", "--latent-ae", "2",
                 "--steps", "4", "--appearance", "stain-peak-noise", "--no-quality",
                 "--run-dir", str(run)]) == 0
    return run


def test_each_set_is_scored_for_each_class(latent_run, capsys):
    out = latent_gap.latent_gap(latent_run, n=30, repeats=1)
    assert set(out) == {"healthy", "blast"}
    for res in out.values():
        assert set(res) == {*latent_gap.SETS, "code_spread"}
        for key in latent_gap.SETS:
            assert all(0 <= v <= 1 for v in res[key])
        assert all(v > 0 for v in res["code_spread"])
        # two autoencoder steps redraw noise, which the colour test tells from cells
        assert res["own"][1] > 0.8 and res["samples"][1] > 0.8
    latent_gap.main([str(latent_run), "--n", "30", "--repeats", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all("permuted" in line and "code means' spread" in line for line in lines)


def test_a_run_without_codes_is_refused_in_one_line(tmp_path, capsys):
    run = tmp_path / "pixels"
    assert main(["-q", "train", "--preset", "smoke", "--steps", "2", "--no-quality",
                 "--run-dir", str(run)]) == 0
    with pytest.raises(UserError, match="not a --latent-ae run"):
        latent_gap.latent_gap(run, n=10)
    with pytest.raises(SystemExit) as e:
        latent_gap.main([str(run)])
    assert e.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
