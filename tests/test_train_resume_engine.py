"""``train --resume`` continues on the engine the run was trained with unless --engine
says otherwise, and config.json records the engine each session used."""
import json

import cli
from refgan.commands import train as train_command
from refgan.training.trainer import Trainer


def _record_engine(run, engine):
    """Make a refgan run look as if trained by ``engine`` (both records)."""
    latest = run / "checkpoints" / "latest.json"
    meta = json.loads(latest.read_text())
    meta["config"]["engine"] = engine
    latest.write_text(json.dumps(meta))
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(dict(cfg, engine=engine)))


def test_resume_keeps_the_recorded_engine_and_records_a_switch(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "1",
                     "--run-dir", str(run)]) == 0
    _record_engine(run, "jax")
    asked = []

    def spy(engine):  # the refgan loop stands in for JAX's: this test is about the choice
        asked.append(engine)
        return Trainer

    monkeypatch.setattr(train_command, "trainer_class", spy)
    assert cli.main(["--backend", "numpy", "train", "--resume", str(run), "--steps", "2"]) == 0
    assert asked == ["jax"]  # was: silently the refgan engine
    assert json.loads((run / "config.json").read_text())["engine"] == "jax"
    assert cli.main(["--backend", "numpy", "train", "--resume", str(run), "--steps", "3",
                     "--engine", "refgan"]) == 0
    assert asked == ["jax", "refgan"]
    record = json.loads((run / "config.json").read_text())
    assert record["engine"] == "refgan" and record["backend"] == "numpy"  # was: still jax
    assert [h["engine"] for h in record["history"]][-2:] == ["jax", "refgan"]
    meta = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert meta["config"]["engine"] == "refgan"
