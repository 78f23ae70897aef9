"""The study's GAN steps (refgan/study/gan.py)."""
import json

import numpy as np
import pytest

from refgan.data import Dataset


def test_the_studys_gan_chooses_its_checkpoint_from_its_own_training_images(tmp_path):
    """The cpu preset picks its best checkpoint by a two-sample test against freshly
    rendered cells; inside the study that would compare a digit GAN with cells (it
    crashed: "unknown cell class '0'") and a real-cell GAN with synthetic ones. The
    study's GAN is scored against the images it trained on, whatever the data."""
    from refgan.study.gan import refgan_gan_step

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (24, 3, 16, 16)).astype(np.float32)
    train = Dataset(images, np.repeat([0, 1], 12), class_names=("0", "1"), name="digits-like")
    step = refgan_gan_step("wgan-gp", "cpu", steps=2, ckpt_every=1, sample_every=1,
                           width_g=4, width_d=4, latent_dim=8, batch=4)
    out = step(train, {"0": 3, "1": 3}, seed=0, workdir=tmp_path / "gan")
    assert len(out.generated) == 6
    best = json.loads((tmp_path / "gan" / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "kid_simple"


def test_the_studys_gans_share_the_cores_with_the_jobs_beside_them(tmp_path, monkeypatch):
    """The study runs its jobs side by side (n_jobs workers); each job's GAN gets the
    cores divided among them, not every core (2 workers x 2 threads x 2 class threads on
    2 cores made the quick study ten times slower beside another test), 1 where the
    workers run elsewhere, and a thread count the user gives wins."""
    from refgan import backend
    from refgan.study import gan as G
    from refgan.study import protocol, quick_config
    from refgan.study.jobs import job_threads

    monkeypatch.setattr(backend, "available_cores", lambda: 8)
    assert job_threads(quick_config(n_jobs=4)) == 2
    assert job_threads(quick_config(n_jobs=1)) == 8
    assert job_threads(quick_config(n_jobs=16)) == 1
    assert job_threads(quick_config(n_jobs=4, joblib_backend="dask")) == 1

    seen = []

    class Stop(Exception):
        pass

    def gan_step(model, preset, **overrides):
        seen.append(overrides.get("threads"))
        raise Stop

    monkeypatch.setattr(G, "refgan_gan_step", gan_step)
    for options, expected in ((dict(), 2), (dict(threads=3), 3)):
        cfg = quick_config(n_jobs=4, gan_options=dict(quick_config().gan_options, **options))
        with pytest.raises(Stop):
            protocol.run_study(cfg, tmp_path / f"study{expected}", log=lambda m: None)
    assert seen == [2, 3]
