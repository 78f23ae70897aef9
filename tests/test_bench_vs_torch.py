"""bench/vs_torch.py: its rows resolve, count their FLOPs and run one iteration in each
engine (the benchmark itself is timed by hand, never here)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import vs_torch  # noqa: E402


@pytest.mark.parametrize("row", sorted(vs_torch.ROWS))
def test_every_row_resolves_and_counts_its_flops(row):
    c = vs_torch.row_config(row)
    crit, gen = vs_torch.conv_layers(c)
    assert len(crit) == len(gen) > 0 and gen[-1][3] == 3
    assert vs_torch.useful_gflop(c) > 0


@pytest.mark.parametrize("engine", ["refgan", "torch"])
def test_the_main_rows_iteration_runs_in_each_engine(engine, tmp_path):
    if engine == "torch":
        pytest.importorskip("torch")
    weights = tmp_path / "w.npz"
    vs_torch.write_initial_weights("main", str(weights))
    make = {"refgan": vs_torch._refgan_engine, "torch": vs_torch._torch_engine}[engine]
    iteration = make(vs_torch.row_config("main"), 1, str(weights))
    iteration()
