"""WGAN-GP in an autoencoder's latent space (refgan/gans/latent.py, ``--latent-ae N``):
the autoencoder's shapes and loss against its formula in NumPy, its derivatives against
float64 finite differences, and a run whose first N steps train the autoencoder alone,
whose later steps train the latent networks alone, that samples images and resumes
bit-identically across the change of stage."""
import json

import numpy as np
import pytest

import refgan
from refgan.errors import UserError
from refgan.gans import MODEL_CLASSES, base, regularizers
from refgan.gans.latent import (FACTOR, LATENT_CHANNELS, LATENT_L2, LATENT_NOISE, Autoencoder,
                                LatentGenerator)
from refgan.gradcheck import check_backward
from refgan.training import presets
from refgan.training import trainer as trainer_module
from refgan.training.trainer import Trainer

from test_gans import resumes_bit_identically, trainer


def small_autoencoder():
    refgan.manual_seed(0)
    return Autoencoder(1).astype(np.float64)


def test_the_codes_are_a_quarter_of_the_side_and_the_redrawing_an_image(rng):
    ae = small_autoencoder()
    x = refgan.tensor(rng.uniform(-1, 1, (3, 3, 32, 32)))
    h = ae.encoder(x)
    assert h.shape == (3, LATENT_CHANNELS, 32 // FACTOR, 32 // FACTOR)
    out = ae(x).numpy()
    assert out.shape == (3, 3, 32, 32) and np.abs(out).max() <= 1
    np.testing.assert_array_equal(out, ae.decoder(h).numpy())


def test_loss_is_l1_of_the_noisy_redrawing_plus_scaled_code_energy(rng):
    ae = small_autoencoder()
    x = rng.uniform(-1, 1, (3, 3, 16, 16))
    eps = rng.standard_normal((3, LATENT_CHANNELS, 16 // FACTOR, 16 // FACTOR))
    loss, logs = ae.loss(refgan.tensor(x), refgan.tensor(eps))
    h = ae.encoder(refgan.tensor(x)).numpy()
    rec = ae.decoder(refgan.tensor(h + LATENT_NOISE * eps)).numpy()
    l1, l2 = np.abs(rec - x).mean(), (h ** 2).mean()
    np.testing.assert_allclose(loss.numpy(), l1 + LATENT_L2 * l2, rtol=1e-12)
    assert logs["ae_l1"] == pytest.approx(l1) and logs["ae_code_rms"] == pytest.approx(l2 ** 0.5)


def test_loss_gradients_match_finite_differences(rng):
    ae = small_autoencoder()
    x = rng.uniform(-1, 1, (2, 3, 16, 16))
    eps = rng.standard_normal((2, LATENT_CHANNELS, 16 // FACTOR, 16 // FACTOR))
    check_backward(lambda t: ae.loss(t, refgan.tensor(eps))[0], [x], params=list(ae.parameters()))


def latent_config(**changes):
    options = dict(size=64, steps=6, latent_ae=3, ema=0.999, use_best=False)
    return presets.resolve("wgan-gp", "smoke", **{**options, **changes})


def weights(module) -> list:
    return [p.numpy().copy() for p in module.parameters()]


def moved(before, module) -> bool:
    return any(not np.array_equal(a, p.numpy()) for a, p in zip(before, module.parameters()))


def test_the_first_steps_train_the_autoencoder_and_the_rest_the_latent_networks(tmp_path, numpy_backend):
    t = trainer(latent_config(), tmp_path, log=lambda m: None).setup()
    m = t.models["healthy"]
    ae, G, D = m.nets["AE"], m.nets["G"], m.nets["D"]
    assert isinstance(G, LatentGenerator) and G.decoder is ae.decoder
    g0, d0, ae0 = weights(G.latent_g), weights(D), weights(ae)
    assert t.run(max_steps=3) == 130
    assert moved(ae0, ae) and not moved(g0, G.latent_g) and not moved(d0, D)
    ae1 = weights(ae)
    second = Trainer.resume(tmp_path, t.data, log=lambda m: None)
    assert second.run() == 0
    resumed = second.models["healthy"]
    assert not moved(ae1, resumed.nets["AE"])
    assert moved(g0, resumed.nets["G"].latent_g) and moved(d0, resumed.nets["D"])
    ema = resumed.nets["G_ema"]
    for pe, p in zip(ema.decoder.parameters(), resumed.nets["AE"].decoder.parameters()):
        np.testing.assert_array_equal(pe.numpy(), p.numpy())   # the decoder is copied, not averaged
    images = resumed.sample(5)
    assert images.shape == (5, 3, 64, 64) and np.isfinite(images).all()
    assert np.abs(images).max() <= 1


def test_the_mode_seeking_term_reads_the_latent_gans_codes(monkeypatch):
    """With --latent-ae, G's mode-seeking term (the preset's) compares the latent GAN's
    codes (N, C, S/f, S/f) of the batch's two halves, not decoded images; the second
    stage's G loss carries it (its value differs from the loss without it)."""
    terms = []
    monkeypatch.setattr(base, "mode_seeking", lambda fake, z: terms.append(
        (fake.shape, z.shape)) or regularizers.mode_seeking(fake, z))
    losses = {}
    for weight in (0.0, 1.0):
        c = latent_config(mode_seeking=weight)
        refgan.manual_seed(0)
        m = MODEL_CLASSES["wgan-gp"](1).build(c)
        m.step = c.latent_ae                       # the second stage
        losses[weight] = m.generator_step()["g_loss"]
    side = 64 // FACTOR
    assert terms == [((c.batch, LATENT_CHANNELS, side, side), (c.batch, c.latent_dim))]
    assert losses[1.0] != losses[0.0]


def test_a_latent_run_resumes_bit_identically_across_the_change_of_stage(tmp_path, numpy_backend):
    resumes_bit_identically(latent_config(appearance="stain"), tmp_path, interrupt_at=2)


@pytest.mark.parametrize("changes, match", [
    (dict(size=32), "it needs --size 64 or more"),
    (dict(steps=3), "--latent-ae 3 leaves none of --steps 3 to the GAN"),
    (dict(diffaugment="translation"), "--diffaugment cannot act on"),
    (dict(vae=1.0), "--vae cannot act on"),
    (dict(patch_critic=True, recon=1.0), "--patch-critic, --recon cannot act on"),
    (dict(generator="styled"), "--generator styled cannot act on"),
])
def test_latent_ae_is_refused_with_what_reads_images_or_changes_g(changes, match):
    with pytest.raises(UserError, match=match):
        latent_config(**changes).validate()


def test_latent_ae_is_a_wgan_gp_option():
    with pytest.raises(UserError, match="dcgan does not use --latent-ae"):
        presets.resolve("dcgan", "smoke", strict=True, latent_ae=5)


def test_the_health_checks_read_the_latent_stage_only(tmp_path, numpy_backend):
    """The non-convergence rules average the critic's logs over the run; the autoencoder's
    steps have none (a run of this length stopped with a KeyError before the rules
    skipped them)."""
    t = trainer(latent_config(steps=30, latent_ae=10), tmp_path, log=lambda m: None).setup()
    assert t.run() == 0


def test_a_budget_spent_inside_the_autoencoder_stage_is_flagged(tmp_path, numpy_backend):
    """A slow machine whose time budget ends before the latent GAN's first step is told
    so (the summary's flags), not shown the decoder's drawings of untrained codes as if
    the run had trained."""
    logged = []
    t = trainer(latent_config(steps=40, latent_ae=20, time_budget=1e-6), tmp_path,
                log=logged.append).setup()
    assert t.run() == 0 and t.step == 1
    assert ("autoencoder_stage", "healthy") in t.monitor.flagged
    assert any("before the latent GAN's first step" in m for m in logged)
    # past the first stage, the budget is not flagged
    t = trainer(latent_config(steps=6, latent_ae=2, time_budget=1e3), tmp_path / "b",
                log=lambda m: None).setup()
    assert t.run() == 0 and not any(kind == "autoencoder_stage" for kind, _ in t.monitor.flagged)


def test_a_time_budget_ends_the_autoencoder_stage_at_its_share_and_resume_keeps_it(
        tmp_path, numpy_backend, monkeypatch):
    """With a time budget the first stage ends once it has spent AE_BUDGET_SHARE of it
    (here made ~0: the first step spends it), the models train the latent GAN from the
    next step, and a resumed run ends its first stage where the checkpoint says."""
    monkeypatch.setattr(trainer_module, "AE_BUDGET_SHARE", 1e-12)
    logged = []
    t = trainer(latent_config(steps=6, latent_ae=4, time_budget=1e3), tmp_path,
                log=logged.append).setup()
    assert t.run(max_steps=3) == 130 and t.ae_end == 1
    assert all(m.ae_steps == 1 for m in t.models.values())
    assert any("the autoencoder stage ended at step 1 of the 4 asked for" in m for m in logged)
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "latent_ae_end" and e["step"] == 1 for e in events)
    g = weights(t.models["healthy"].nets["G"].latent_g)
    monkeypatch.setattr(trainer_module, "AE_BUDGET_SHARE", 0.25)   # not what decides now
    second = Trainer.resume(tmp_path, t.data, log=lambda m: None)
    assert second.ae_end == 1 and all(m.ae_steps == 1 for m in second.models.values())
    assert second.run() == 0
    assert moved(g, second.models["healthy"].nets["G"].latent_g)


def test_a_checkpoint_without_a_recorded_end_resumes_at_the_asked_for_steps(tmp_path,
                                                                         numpy_backend):
    """A checkpoint written before the end of the first stage was recorded (its meta
    lacks ``latent_ae_end``) resumes with --latent-ae's N steps as the end."""
    t = trainer(latent_config(steps=6, latent_ae=3), tmp_path, log=lambda m: None).setup()
    assert t.run(max_steps=2) == 130 and t.ae_end == 3
    record_path = tmp_path / "checkpoints" / "latest.json"
    record = json.loads(record_path.read_text())
    assert record.pop("latent_ae_end") == 3
    record_path.write_text(json.dumps(record))
    second = Trainer.resume(tmp_path, t.data, log=lambda m: None)
    assert second.ae_end == 3 and all(m.ae_steps == 3 for m in second.models.values())
    assert second.run() == 0
