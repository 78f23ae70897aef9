"""Best checkpoint by the two-sample test (--best-metric c2st), --use-best and
--time-budget (refgan/training/run_folder.py, trainer.py)."""
import json

import numpy as np

from refgan.training import presets
from refgan.training.data import prepare
from refgan.training.trainer import Trainer


def test_c2st_best_checkpoint_used_at_the_end_and_a_time_budget(tmp_path, numpy_backend):
    """--time-budget ends the run normally (exit 0, final grid) at the first step
    past it; --best-metric c2st scores every checkpoint against fresh cells, and
    --use-best ends the run with the best one's weights."""
    c = presets.resolve("wgan-gp", "smoke", steps=50, ckpt_every=1, best_metric="c2st",
                        use_best=True, time_budget=1e-9)
    t = Trainer(c, prepare(c), tmp_path / "r", log=lambda m: None).setup()
    assert t.run() == 0 and t.step == 1
    events = [json.loads(line).get("event") for line in
              (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert "time_budget" in events and "interrupted" not in events
    assert (tmp_path / "r" / "samples.png").exists()
    best = json.loads((tmp_path / "r" / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "c2st" and 0.0 <= best["value"] <= 1.0


def test_use_best_restores_the_best_weights(tmp_path, numpy_backend, monkeypatch):
    from refgan.training import quality

    scores = iter([0.9, 0.6, 0.8, 0.95])
    monkeypatch.setattr(quality, "c2st_score", lambda ref, gen, seed=0: (next(scores), {}))
    c = presets.resolve("wgan-gp", "smoke", steps=4, ckpt_every=1, best_metric="c2st",
                        use_best=True)
    t = Trainer(c, prepare(c), tmp_path / "r", log=lambda m: None).setup()
    weights = {}
    original = t.save_checkpoint

    def save_and_remember():
        original()
        weights[t.step] = t.models["healthy"].nets["G"].state_dict()["project.0.weight"].copy()

    t.save_checkpoint = save_and_remember
    assert t.run() == 0
    assert t.best["step"] == 2 and t.best["value"] == 0.6
    np.testing.assert_array_equal(t.models["healthy"].nets["G"].state_dict()["project.0.weight"],
                                  weights[2])
    log = (tmp_path / "r" / "log.txt").read_text()
    for step, note in ((1, "(new best)"), (2, "(new best)"), (3, "(best: step 2, 0.6000)"),
                       (4, "(best: step 2, 0.6000)")):
        assert f"checkpoint {step}: c2st {[0.9, 0.6, 0.8, 0.95][step - 1]:.4f} {note}" in log


def test_a_run_recorded_under_the_old_metric_name_resumes_against_its_best(tmp_path, monkeypatch):
    """best.json names the --best-metric option (c2st, kid_simple); runs written before
    recorded c2st_vs_fresh / kid_simple_vs_train. Resuming one must keep comparing
    against its best: a worse checkpoint after the resume must not replace it."""
    from cli import main
    from refgan.training import checkpoint, quality

    scores = iter([0.6, 0.9, 0.8, 0.95])
    monkeypatch.setattr(quality, "c2st_score", lambda ref, gen, seed=0: (next(scores), {}))
    run = tmp_path / "r"
    assert main(["-q", "train", "--preset", "smoke", "--steps", "2", "--ckpt-every", "1",
                 "--best-metric", "c2st", "--no-quality", "--run-dir", str(run)]) == 0
    path = run / "checkpoints" / "best.json"
    best = json.loads(path.read_text())
    assert (best["metric"], best["step"], best["value"]) == ("c2st", 1, 0.6)
    path.write_text(json.dumps(dict(best, metric="c2st_vs_fresh")))  # as an older run wrote it
    assert checkpoint.read_best(run)["metric"] == "c2st"
    assert main(["-q", "train", "--resume", str(run), "--steps", "4", "--no-quality"]) == 0
    best = json.loads(path.read_text())
    assert (best["step"], best["value"]) == (1, 0.6)  # 0.8 and 0.95 are worse
    log = (run / "log.txt").read_text()
    assert "checkpoint 3: c2st 0.8000 (best: step 1, 0.6000)" in log
