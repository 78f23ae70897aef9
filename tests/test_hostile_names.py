"""Hostile but legal class names through every command that writes files or HTML:
data info --grid, train, generate, export, sweep and study. Nothing is written
outside the folder each command was given, the CSV keeps its columns, and the
study's report shows the names as text, never as markup."""
import csv

import imageio.v3 as iio
import numpy as np
import pytest

import cli
from refgan.data import save_grid

HOSTILE = ["<img src=x onerror=alert(1)>", "normal, benign \"q\" 'q' & <b> $a^{$"]


@pytest.mark.slow
def test_hostile_class_names_through_every_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for name in HOSTILE:
        (data / name).mkdir(parents=True)
        for i in range(12):
            iio.imwrite(data / name / f"{i}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    np_ = ["--backend", "numpy"]
    assert cli.main(["data", "info", str(data), "--size", "16", "--grid", str(tmp_path / "grid.png")]) == 0
    run = tmp_path / "run"
    assert cli.main([*np_, "train", "--preset", "smoke", "--steps", "2", "--batch", "4",
                     "--data", str(data), "--run-dir", str(run)]) == 0
    assert cli.main([*np_, "generate", str(run), "--n", "2", "--out", str(tmp_path / "gen")]) == 0
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == sorted(HOSTILE + ["manifest.json"])
    assert cli.main([*np_, "export", str(run), "--to", "torch", "--out", str(tmp_path / "torch")]) == 0
    assert {p.name.split(".")[0] for p in (tmp_path / "torch").glob("*.safetensors")} == set(HOSTILE)
    assert cli.main([*np_, "sweep", "--preset", "smoke", "--search", "grid", "--lr-g", "1e-4",
                     "--lr-d", "1e-3", "--steps", "1", "--set", f"data={data}", "--set", "batch=4",
                     "--set", "quality_n=4", "--jobs", "1", "--joblib-backend", "threading",
                     "--out", str(tmp_path / "sweep")]) == 0
    rows = list(csv.reader((tmp_path / "sweep" / "trials.csv").open()))
    assert len({len(r) for r in rows}) == 1 and f"{HOSTILE[1]}_lr_pixels" in rows[0]
    assert cli.main([*np_, "study", "--quick", "--gan", str(run), "--classifiers", "lr",
                     "--no-progress", "--out", str(tmp_path / "study")]) == 0
    page = (tmp_path / "study" / "report.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
    assert "&amp; &lt;b&gt;" in page
    # every command stayed inside the folder it was given
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "gen", "grid.png", "run", "study",
                                                          "sweep", "torch"]


def test_grids_draw_names_with_dollar_signs_as_text(tmp_path):
    """Matplotlib would read '$a^{$' as broken TeX and raise; names are text."""
    images = np.zeros((4, 3, 8, 8), np.float32)
    save_grid(images, tmp_path / "a.png", labels=np.array([0, 0, 1, 1]), class_names=HOSTILE, nrow=2,
              title=HOSTILE[1])
    save_grid(images, tmp_path / "b.png", nrow=2, row_labels=HOSTILE)
    assert (tmp_path / "a.png").stat().st_size and (tmp_path / "b.png").stat().st_size
