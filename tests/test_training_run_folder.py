"""Run folders as GAN users know them (stylegan2-ada, StudioGAN) and their provenance."""
import imageio.v3 as iio
import numpy as np
import pytest

from refgan import provenance as prov
from refgan.data import save_grid


def test_row_labels_are_written_once_per_row(tmp_path):
    images = np.zeros((6, 3, 8, 8), np.float32)
    save_grid(images, tmp_path / "plain.png", nrow=3)
    save_grid(images, tmp_path / "rows.png", nrow=3, row_labels=["healthy", "blast"])
    plain, rows = iio.imread(tmp_path / "plain.png"), iio.imread(tmp_path / "rows.png")
    assert rows.shape[0] == plain.shape[0] and rows.shape[1] > plain.shape[1]   # a left margin
    margin = rows[:, : rows.shape[1] - plain.shape[1], :3]
    assert (margin < 128).any()                                                  # text in it
    with pytest.raises(ValueError, match="3 row labels for 2 rows"):
        save_grid(images, tmp_path / "bad.png", nrow=3, row_labels=["a", "b", "c"])


def test_provenance_record():
    record = prov.provenance(["refgan", "train", "--run-dir", "my run"])
    assert record["command"] == "refgan train --run-dir 'my run'"
    assert record["refgan"] and record["python"] and record["backend"]
    assert {"numpy", "scipy", "scikit-learn"} <= set(record["libraries"])
    commit, dirty = prov.git_state()
    assert record["git_commit"] == commit and record["git_dirty"] == dirty
    if commit:
        assert len(commit) == 40 and f"git {commit[:10]}" in prov.summary_line(record)
    assert prov.summary_line(record).endswith("command: refgan train --run-dir 'my run'")


def test_no_git_outside_a_checkout(tmp_path):
    assert prov.git_state(tmp_path) == (None, None)


# ------------------------------------------------------------------ a run folder
import json  # noqa: E402

from refgan.commands import main  # noqa: E402
from refgan.training import checkpoint, run_folder  # noqa: E402
from refgan.training.checkpoint import sha256_file  # noqa: E402
from refgan.training.config import TrainConfig  # noqa: E402


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A smoke run of 4 steps, resumed to 8, keeping every 4th checkpoint."""
    run = tmp_path_factory.mktemp("runs") / "run"
    assert main(["-q", "train", "--preset", "smoke", "--steps", "4", "--keep-every", "4",
                 "--no-quality", "--run-dir", str(run)]) == 0
    assert main(["-q", "train", "--resume", str(run), "--steps", "8", "--no-quality"]) == 0
    return run


def test_config_json_keeps_provenance_and_every_session(resumed_run):
    record = json.loads((resumed_run / "config.json").read_text())
    assert record["steps"] == 8
    first = record["provenance"]
    assert first["command"].startswith("refgan -q train --preset smoke --steps 4")
    assert first["refgan"] and "numpy" in first["libraries"]
    assert [(h["from_step"], h["to_step"]) for h in record["history"]] == [(0, 4), (4, 8)]
    assert record["history"][1]["command"].startswith("refgan -q train --resume")
    assert TrainConfig.from_json(record).steps == 8          # still a config others read


def test_elapsed_time_continues_across_resume(resumed_run):
    records = [json.loads(line) for line in (resumed_run / "metrics.jsonl").read_text().splitlines()]
    elapsed = [r["elapsed_s"] for r in records if "elapsed_s" in r]
    steps = [r["step"] for r in records if "elapsed_s" in r]
    assert steps == list(range(1, 9))
    assert all(b >= a for a, b in zip(elapsed, elapsed[1:])), elapsed


def test_log_txt_reals_and_snapshots(resumed_run):
    log = (resumed_run / "log.txt").read_text()
    assert "start wgan-gp at step 0/4" in log and "resume wgan-gp at step 4/8" in log
    assert "step 8/8" in log and "finished step 8/8" in log
    assert iio.imread(resumed_run / "reals.png").shape[0] > 100
    kept = sorted(p.name for p in (resumed_run / "checkpoints").glob("ckpt-*.npz"))
    assert kept == ["ckpt-0000004.npz", "ckpt-0000008.npz"]


def test_best_checkpoint_is_a_copy_with_its_score(resumed_run):
    folder = resumed_run / "checkpoints"
    best = json.loads((folder / "best.json").read_text())
    assert best["metric"] == "kid_simple" and best["step"] in (2, 4, 6, 8)
    assert best["sha256"] == sha256_file(folder / "best.npz")


def test_progress_gif_frames_are_stamped_with_their_step(resumed_run):
    frames = iio.imread(resumed_run / "progress.gif")
    grids = sorted((resumed_run / "samples").glob("step_*.png"))
    assert len(frames) == len(grids) > 1
    a, b = run_folder.stamp_step(np.zeros((40, 80, 3), np.uint8) + 200, 1), \
        run_folder.stamp_step(np.zeros((40, 80, 3), np.uint8) + 200, 1000)
    band = a.shape[0] - 40
    assert band > 0 and (a[:band] < 128).any() and not np.array_equal(a[:band], b[:band])
    assert np.array_equal(a[band:], np.zeros((40, 80, 3), np.uint8) + 200)


def test_sample_quality_ranks_noise_below_real_images():
    from refgan.data import make_blood_cells

    a, b = (make_blood_cells(n_per_class=30, size=16, seed=s) for s in (0, 1))
    by_class = lambda ds: {n: ds.images[ds.labels == i] for i, n in enumerate(ds.class_names)}  # noqa: E731
    noise = {n: np.random.default_rng(0).uniform(-1, 1, x.shape).astype(np.float32)
             for n, x in by_class(a).items()}
    assert checkpoint.sample_quality(by_class(b), by_class(a)) < 0.1 < checkpoint.sample_quality(noise, by_class(a))


def test_the_resume_hint_is_a_command_that_runs(tmp_path):
    import shlex
    import subprocess

    from refgan.provenance import refgan_command

    argv = shlex.split(refgan_command()) + ["--version"]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("refgan ")


def test_generate_manifest_records_provenance(resumed_run, tmp_path):
    out = tmp_path / "gen"
    assert main(["-q", "generate", str(resumed_run), "--n", "2", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["provenance"]["command"].startswith("refgan -q generate")
    assert manifest["step"] == 8
