"""The study's GAN steps (refgan/study/gan.py)."""
import json

import numpy as np

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
