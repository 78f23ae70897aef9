"""The GAN zoo: every model trains a few steps on every CPU backend, and each
player's loss moves the right way on a tiny problem (refgan/gans)."""
import functools

import numpy as np
import pytest

import refgan
from refgan.gans import MODEL_CLASSES
from refgan.training import presets
from refgan.training import data as gan_data
from refgan.gans.acgan import real_fraction
from refgan.gradcheck import check_backward, check_double_backward
from refgan.training.config import TrainConfig
from refgan.training.trainer import Trainer

UNCONDITIONAL = ["wgan-gp", "dcgan", "infogan", "infowgan-gp", "ali"]
CONDITIONAL = ["cgan", "acgan"]


_DATA_KEYS = ("data", "n_per_class", "classes", "size", "data_seed", "test_frac", "grow")
_prepare = functools.lru_cache(maxsize=8)(lambda key: gan_data.prepare(TrainConfig(**dict(key))))


def cached_prepare(c):
    """The GanData of config ``c``: the tiny synthetic set rendered once per
    configuration, not once per test."""
    return _prepare(tuple((k, tuple(getattr(c, k)) if isinstance(getattr(c, k), list)
                           else getattr(c, k)) for k in _DATA_KEYS))


def trainer(c, run_dir, **kw):
    """A Trainer of config ``c`` on its (cached) data."""
    return Trainer(c, cached_prepare(c), run_dir, **kw)


def resumes_bit_identically(c, tmp_path, interrupt_at: int = 2) -> tuple:
    """Train config ``c`` whole in ``tmp_path / 'full'``, and interrupted after
    ``interrupt_at`` steps and resumed in ``tmp_path / 'part'``; assert that both end in
    the same state, array for array, random stream included. Returns (the whole run's
    trainer, its state)."""
    full = trainer(c, tmp_path / "full", log=lambda m: None).setup()
    assert full.run() == 0
    part = trainer(c, tmp_path / "part", log=lambda m: None).setup()
    assert part.run(max_steps=interrupt_at) == 130
    resumed = Trainer.resume(tmp_path / "part", part.data, log=lambda m: None)
    assert resumed.run() == 0
    (a, meta_a), (b, meta_b) = full.state(), resumed.state()
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert meta_a["refgan_rng"] == meta_b["refgan_rng"]
    return full, a


def trained_critic_part(c, run_dir, kind, part):
    """Train a run of config ``c`` and check that its healthy critic is a ``kind`` whose
    layer ``part(D)`` learnt (its weights moved); returns the finished trainer."""
    t = trainer(c, run_dir, log=lambda m: None).setup()
    D = t.models["healthy"].nets["D"]
    assert isinstance(D, kind)
    layer = part(D)
    before = layer.weight.numpy().copy()
    assert t.run() == 0
    assert not np.array_equal(layer.weight.numpy(), before)
    return t


def critic_matches_finite_differences(critic, x):
    """The critic's first and second derivatives (the gradient penalty differentiates its
    input gradient) against float64 finite differences, with respect to the image ``x``
    and every parameter."""
    check_backward(lambda t: critic(t), [x], params=critic.parameters())
    check_double_backward(lambda t: critic(t), [x], params=critic.parameters())


def smoke_config(model, **kw):
    kw.setdefault("steps", 2)
    kw.setdefault("n_disc", 1)
    return presets.resolve(model, "smoke", **kw)


@pytest.mark.parametrize("model", UNCONDITIONAL + CONDITIONAL)
def test_model_trains_a_few_steps(model, cpu_backend, tmp_path):
    t = trainer(smoke_config(model), tmp_path / "run", log=lambda m: None).setup()
    assert t.run() == 0
    assert t.step == 2
    assert len(t.models) == (1 if model in CONDITIONAL else 2)
    x = t.sample_class("blast", 3, seed=0)
    assert x.shape == (3, 3, 16, 16) and np.isfinite(x).all() and np.abs(x).max() <= 1
    for name in ("config.json", "metrics.jsonl", "samples.png", "progress.gif",
                 "checkpoints/latest.json"):
        assert (tmp_path / "run" / name).exists(), name


def test_acgan_ali_from_an_ali_run(tmp_path):
    with refgan.using_backend("numpy"):
        ali = trainer(smoke_config("ali", per_class=False), tmp_path / "ali",
                      log=lambda m: None).setup()
        ali.run()
        c = smoke_config("acgan-ali", ali=str(tmp_path / "ali"), finetune=True)
        t = trainer(c, tmp_path / "aa", log=lambda m: None).setup()
        g_ali = ali.models["all"].nets["G"].state_dict()["blocks.0.weight"]
        assert np.array_equal(t.models["all"].nets["G"].state_dict()["blocks.0.weight"], g_ali)
        assert t.run() == 0
        assert "ali_state" not in (tmp_path / "aa" / "config.json").read_text()
        # the encoder is the ALI run's, frozen
        e_ali = ali.models["all"].nets["E"].state_dict()
        e = t.models["all"].nets["E"]
        assert all(np.array_equal(v, e_ali[k]) for k, v in e.state_dict().items())
        assert not any(p.requires_grad for p in e.parameters())


def test_acgan_ali_masks_the_encoder_codes_real_fake_term_unless_told_not_to(tmp_path):
    """Guruswamy et al.'s masked loss L_C - L_S 1(S = fake) (the first half of a batch
    are encoder codes) and the unmasked variant they compare it with."""
    with refgan.using_backend("numpy"):
        trainer(smoke_config("ali", per_class=False), tmp_path / "ali", log=lambda m: None).setup().run()
        masks = {}
        for loss in ("masked", "unmasked"):
            c = smoke_config("acgan-ali", ali=str(tmp_path / "ali"), ali_loss=loss)
            t = trainer(c, tmp_path / loss, log=lambda m: None).setup()
            x, y = t.batch("all")
            masks[loss] = t.models["all"].mixed_codes(x, y)[2].ravel()
            assert t.run() == 0
        h = len(masks["masked"]) // 2
        assert masks["masked"].tolist() == [0.0] * h + [1.0] * (len(masks["masked"]) - h)
        assert masks["unmasked"].tolist() == [1.0] * len(masks["unmasked"])


def test_acgan_ali_needs_an_ali_run(tmp_path):
    with pytest.raises(refgan.UserError, match="--ali"):
        trainer(smoke_config("acgan-ali"), tmp_path / "aa").setup()


def test_real_fraction_schedules():
    assert real_fraction("v1", 0) == 0.25
    assert real_fraction("v2", 5) == 0.75
    assert [real_fraction("v3", e) for e in range(6)] == [0.75, 0.75, 0.5, 0.75, 0.75, 0.5]
    assert real_fraction("0.4", 0) == 0.4
    with pytest.raises(refgan.UserError):
        real_fraction("v9", 0)


def test_sizes_scale(numpy_backend):
    from refgan.gans.architectures import Generator, Trunk

    for size in (8, 16, 32, 64, 128):
        G = Generator(4, size, 2)
        with refgan.no_grad():
            x = G(refgan.tensor(np.zeros((2, 4), np.float32)))
        assert x.shape == (2, 3, size, size)
        assert Trunk(size, 2)(x).shape[0] == 2


# ------------------------------------------------------------ loss moves right way
def _tiny_problem(model, seed=0):
    """A model on 8x8 images, and a fixed batch of two kinds of 'cells'."""
    refgan.manual_seed(seed)
    c = presets.resolve(model, "smoke", size=8, width_g=4, width_d=4, latent_dim=4,
                        batch=8, lr_g=2e-3, lr_d=2e-3, dropout=0.0, n_cat=2, n_cont=1)
    m = MODEL_CLASSES[model](2 if MODEL_CLASSES[model].conditional else 1).build(c)
    yy, xx = np.mgrid[-1:1:8j, -1:1:8j]
    blob = np.exp(-(xx ** 2 + yy ** 2) * 3)
    imgs = np.stack([np.stack([blob, -blob, blob * 0.5])] * 8).astype(np.float32) * 0.8
    labels = np.arange(8) % 2
    imgs[labels == 1] *= -1
    return m, (refgan.tensor(imgs), labels)


def _trend(values):
    return np.mean(values[-3:]) - np.mean(values[:3])


@pytest.mark.parametrize("model", UNCONDITIONAL + CONDITIONAL)
def test_each_player_lowers_its_loss(model, numpy_backend):
    """D alone (G fixed) lowers D's loss; G alone (D fixed) lowers G's loss."""
    m, batch = _tiny_problem(model)
    d = [m.discriminator_step(batch)["d_loss"] for _ in range(12)]
    assert _trend(d) < 0, d
    g = [m.generator_step(batch)["g_loss"] for _ in range(12)]
    assert _trend(g) < 0, g


@pytest.mark.parametrize("model", ["wgan-gp", "infowgan-gp"])
@pytest.mark.parametrize("every", [1, 3])
def test_lazy_gradient_penalty(model, every, numpy_backend):
    """--gp-every k: the penalty, weighted k * lambda, on critic updates 0, k, 2k, ...
    (counted by the critic's optimiser) and no penalty on the others."""
    m, batch = _tiny_problem(model)
    m.gp_every = every
    for update in range(6):
        logs = m.discriminator_step(batch)
        assert ("gp" in logs) == (update % every == 0), (update, logs)
        expected = -logs["wasserstein"] + every * m.gp_lambda * logs.get("gp", 0.0)
        expected += m.lam_info * logs["info_loss"] if model == "infowgan-gp" else 0.0
        assert logs["d_loss"] == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_wgan_critic_estimate_grows_when_critic_trains(numpy_backend):
    m, batch = _tiny_problem("wgan-gp")
    w = [m.discriminator_step(batch)["wasserstein"] for _ in range(12)]
    assert _trend(w) > 0, w


@pytest.mark.parametrize("every", [1, 3])
def test_lazy_penalty_on_a_linear_critic(every, numpy_backend):
    """add_penalty against closed forms: a linear critic D(x) = w.x + b has input
    gradient w everywhere, so GP = (||w|| - 1)^2 whatever the interpolation, and the
    penalty's weight gradient is 2 (||w|| - 1) w / ||w||. On updates 0, k, 2k, ...
    the loss and its gradient gain k * lambda times these; on the others nothing."""
    from refgan import nn
    from refgan.gans.wgan_gp import add_penalty

    rng = np.random.default_rng(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    w = rng.normal(size=(1, 12))
    critic.load_state_dict({**critic.state_dict(), "1.weight": w})
    w = critic.state_dict()["1.weight"].astype(np.float64)  # as stored (float32)
    real, fake = (refgan.tensor(rng.normal(size=(4, 3, 2, 2))) for _ in range(2))
    norm, lam = np.linalg.norm(w), 10.0
    for updates in range(4):
        for p in critic.parameters():
            p.grad = None
        base = critic(fake).mean() - critic(real).mean()
        loss, logs = add_penalty(base, critic, real, fake, lam, every, updates)
        loss.backward()
        w_grad = next(p for p in critic.parameters() if p.shape == (1, 12)).grad.numpy()
        # d(base)/dw = mean(fake) - mean(real), flattened
        base_grad = (fake.numpy().reshape(4, -1).mean(0) - real.numpy().reshape(4, -1).mean(0))
        on = updates % every == 0
        weight = every * lam if on else 0.0
        expected = float(base.numpy()) + weight * (norm - 1) ** 2
        assert float(loss.numpy()) == pytest.approx(expected, rel=1e-5)
        np.testing.assert_allclose(w_grad[0], base_grad + weight * 2 * (norm - 1) * w[0] / norm,
                                   rtol=1e-4, atol=1e-6)
        assert ("gp" in logs) == on
