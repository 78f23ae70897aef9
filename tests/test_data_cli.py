"""``cli.py data`` subcommands."""
import os
import sys

import imageio.v3 as iio
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
cli = pytest.importorskip("cli")


def test_preview_writes_a_labelled_png(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert cli.main(["data", "preview", "--style", "smear", "--per-class", "3", "--out", str(out)]) == 0
    img = iio.imread(out)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 300
    assert "wrote" in capsys.readouterr().out
    out2 = tmp_path / "pbc.png"
    assert cli.main(["data", "preview", "--classes", "pbc", "--per-class", "2", "--size", "32", "--out", str(out2)]) == 0
    assert out2.exists()


def test_info_prints_summary_and_bad_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for c in ("healthy", "blast"):
        (tmp_path / c).mkdir()
        iio.imwrite(tmp_path / c / "a.png", rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    (tmp_path / "blast" / "broken.png").write_bytes(b"\x89PNG broken")
    assert cli.main(["data", "info", str(tmp_path)]) == 2          # a clear error, exit 2
    err = capsys.readouterr().err
    assert "broken.png" in err and "--skip-bad" in err and "Traceback" not in err
    assert cli.main(["data", "info", str(tmp_path), "--skip-bad", "--size", "16",
                     "--grid", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "2 images of 16x16" in out and "skipped" in out and "broken.png" in out
    assert (tmp_path / "g.png").exists()


def test_calibrate_and_unknown_layout(tmp_path, capsys):
    assert cli.main(["data", "calibrate", "--seeds", "1", "--n-per-class", "40", "--size", "32"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert cli.main(["data", "info", str(tmp_path)]) == 2
    assert "cannot tell the layout" in capsys.readouterr().err
