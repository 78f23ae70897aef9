"""Issue 11, commands and run folders: misuse is one clear line (exit 2), and no
finished work is lost or overwritten."""
import pytest

import cli


def _one_line(capsys, *parts):
    err = capsys.readouterr().err
    assert all(p in err for p in parts), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


# --------------------------------------------------------------------- study
def test_study_out_never_overwrites_an_earlier_study(tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir()
    (out / "results.json").write_text("{}")
    (out / "report.html").write_text("<html>")
    assert cli.main(["study", "--quick", "--out", str(out)]) == 2
    _one_line(capsys, "holds an earlier study: results.json, report.html", "choose a new --out")
    assert (out / "results.json").read_text() == "{}"
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert cli.main(["study", "--quick", "--out", str(afile)]) == 2
    _one_line(capsys, f"--out {afile} is a file")


@pytest.mark.parametrize("argv, message", [
    (["--n-per-class", "0"], "--n-per-class 0: give at least 1"),
    (["--seed", "-1"], "--seed -1: seeds are whole numbers >= 0"),
])
def test_study_bad_numbers(tmp_path, capsys, argv, message):
    assert cli.main(["study", "--quick", *argv, "--out", str(tmp_path / "s")]) == 2
    _one_line(capsys, message)
    assert not (tmp_path / "s").exists()


# --------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_outside_the_training_loop_is_one_line(tmp_path, capsys, monkeypatch):
    import refgan.commands.data

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(refgan.commands.data, "make_blood_cells", interrupted)
    assert cli.main(["data", "preview", "--out", str(tmp_path / "p.png")]) == 130
    _one_line(capsys, "interrupted (Ctrl-C) during", "data")
