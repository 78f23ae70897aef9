"""Whole models exported with to_jax against refgan: forward values and state in train
and eval mode (batch-norm running statistics, dropout with refgan's own masks), the
full WGAN-GP critic loss's gradients (penalty included) and the generator loss's, and
a jitted JAX WGAN-GP training step following refgan's step for several iterations."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")

import refgan  # noqa: E402
from refgan import nn, ops  # noqa: E402
from refgan import random as rrandom  # noqa: E402
from refgan.export import load_variables, to_jax, to_state_dict  # noqa: E402
from refgan.export.oracle import FAST_COMPILE, assert_close  # noqa: E402
from refgan.jax_engine.step import (WganGpHyper, critic_loss, generator_loss,  # noqa
                                      init_state, make_wgan_gp_step)

Z, SIDE, B = 8, 8, 4  # latent size, image side, batch: tiny, compile time dominates


# ------------------------------------------------------------------ the models
def generator(style="upsample"):
    """The GAN task's generators at 8 x 8 (one channel): Linear -> BN1d -> act ->
    Unflatten -> [up -> BN2d -> act] -> up -> Tanh."""
    if style == "upsample":
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        ups = [nn.Upsample(2), nn.Conv2d(8, 4, 3, 1, "same", bias=False), nn.BatchNorm2d(4),
               act(), nn.Upsample(2), nn.Conv2d(4, 1, 3, 1, "same")]
    else:  # DCGAN's transposed convolutions
        act = nn.ReLU
        ups = [nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4), act(),
               nn.ConvTranspose2d(4, 1, 4, 2, 1)]
    return nn.Sequential(nn.Linear(Z, 8 * 2 * 2, bias=False), nn.BatchNorm1d(32), act(),
                         nn.Unflatten((8, 2, 2)), *ups, nn.Tanh())


def critic():
    """WGAN-GP critic: [Conv 5x5 s2 'same' -> LeakyReLU(0.2) -> Dropout(0.3)] x 2 -> Linear."""
    return nn.Sequential(nn.Conv2d(1, 4, 5, 2, "same"), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                         nn.Conv2d(4, 8, 5, 2, "same"), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                         nn.Flatten(), nn.Linear(8 * 2 * 2, 1))


def critic_minibatch_std():
    """The WGAN-GP critic whose last conv also reads the batch's spread (groups of 2)."""
    return nn.Sequential(nn.Conv2d(1, 4, 5, 2, "same"), nn.LeakyReLU(0.2), nn.MinibatchStd(2),
                         nn.Conv2d(5, 8, 5, 2, "same"), nn.LeakyReLU(0.2),
                         nn.Flatten(), nn.Linear(8 * 2 * 2, 1))


def dcgan_discriminator():
    return nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(4, 8, 4, 2, 1, bias=False), nn.BatchNorm2d(8),
                         nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(32, 1), nn.Sigmoid())


def cnn_classifier(n_classes=3):
    """Guruswamy et al.'s CNN shape: [Conv 3x3 'same' -> ReLU -> MaxPool 2 -> Dropout] x 2 ->
    Dense -> ReLU -> Dropout -> Dense."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, 1, "same"), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Conv2d(4, 8, 3, 1, "same"), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(32, 16),
                         nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, n_classes))


MODELS = {
    "generator_upsample": (lambda: generator("upsample"), (B, Z)),
    "generator_deconv": (lambda: generator("deconv"), (B, Z)),
    "critic_wgan": (critic, (B, 1, SIDE, SIDE)),
    "critic_minibatch_std": (critic_minibatch_std, (B, 1, SIDE, SIDE)),
    "discriminator_dcgan": (dcgan_discriminator, (B, 1, SIDE, SIDE)),
    "cnn_classifier": (cnn_classifier, (B, 1, SIDE, SIDE)),
}
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture
def record_noise(monkeypatch):
    """Every array refgan.random.uniform returns (dropout's u), in draw order."""
    drawn = []
    original = rrandom.uniform

    def uniform(shape, dtype=np.float32):
        u = original(shape, dtype)
        drawn.append(np.array(u))
        return u

    monkeypatch.setattr(rrandom, "uniform", uniform)
    return drawn


def _build(name, dtype, seed=0):
    refgan.manual_seed(seed)
    make, shape = MODELS[name]
    model = make()
    if dtype == np.float64:
        model.astype(np.float64)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return model, x


# ------------------------------------------------------------------ forward
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_forward_and_state_match_refgan(name, train, dtype, record_noise):
    model, x = _build(name, dtype)
    model.train(True)
    model(refgan.tensor(x * 0.5 + 0.3))  # move the running statistics off their init
    record_noise.clear()
    with jax.enable_x64(dtype == np.float64):
        apply, variables = to_jax(model)
        model.train(train)
        expected = model(refgan.tensor(x)).numpy()
        y, state = jax.jit(lambda v, x, u: apply(v, x, train=train, rng=u))(
            variables, x, list(record_noise))
    assert y.dtype == expected.dtype
    what = f"{name} {'train' if train else 'eval'} {dtype.__name__}"
    assert_close(y, expected, RTOL[dtype], f"forward {what}")
    after = model.state_dict()
    assert set(state) == {k for k in after if "running" in k or "num_batches" in k}
    for key, value in state.items():  # running statistics and batch counters
        assert_close(value, after[key], RTOL[dtype], f"state {key} {what}")


def test_variables_round_trip_through_state_dict():
    model, _ = _build("generator_upsample", np.float32)
    apply, variables = to_jax(model)
    assert list(to_state_dict(variables, like=model)) == list(model.state_dict())
    assert set(variables["params"]) == {k for k, _ in model.named_parameters()}
    bumped = jax.tree_util.tree_map(lambda a: a + 1 if a.dtype.kind == "f" else a, variables)
    fresh, _ = _build("generator_upsample", np.float32, seed=1)
    load_variables(fresh, bumped)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, np.asarray(to_state_dict(bumped)[k]), err_msg=k)
        assert v.dtype == model.state_dict()[k].dtype


def test_apply_leaves_the_refgan_module_untouched():
    model, x = _build("generator_upsample", np.float32)
    before = model.state_dict()
    apply, variables = to_jax(model)
    jax.jit(lambda v, x: apply(v, x, train=True))(variables, x)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_train_mode_dropout_needs_rng():
    model, x = _build("critic_wgan", np.float32)
    apply, variables = to_jax(model)
    run = jax.jit(lambda v, x, key: apply(v, x, train=True, rng=key),
                  compiler_options=FAST_COMPILE)
    with pytest.raises(ValueError, match="needs rng"):
        run(variables, x, None)
    y1, _ = run(variables, x, jax.random.key(0))
    y2, _ = run(variables, x, jax.random.key(1))
    assert not np.allclose(y1, y2)  # a key draws fresh masks


# ----------------------------------------------------------- gradient oracle
def _refgan_critic_loss(D, real, fake, eps, gp_weight=10.0):
    d_real, d_fake = D(real), D(fake)
    gp, _ = ops.gradient_penalty(D, real, fake, eps)
    return d_fake.mean() - d_real.mean() + gp_weight * gp


def _split_noise(drawn, per_call, sites):
    """Recorded refgan draws -> {site: [u per dropout layer]} in call order."""
    assert len(drawn) == per_call * len(sites)
    return {s: drawn[i * per_call:(i + 1) * per_call] for i, s in enumerate(sites)}


def test_wgan_gp_losses_gradients_match_jax_autodiff(record_noise):
    """The full critic loss (penalty included: a second derivative of D) and the
    generator loss (through train-mode batch norm), float64, w.r.t. every parameter."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(3)
        refgan.manual_seed(3)
        G, D = generator().astype(np.float64), critic().astype(np.float64)
        real = rng.uniform(-1, 1, (B, 1, SIDE, SIDE))
        z, eps = rng.standard_normal((B, Z)), rng.uniform(size=(B, 1, 1, 1))
        gapply, gvars = to_jax(G)
        capply, cvars = to_jax(D)
        fake = G(refgan.tensor(z)).detach()  # train mode, as in the critic step

        record_noise.clear()
        D.zero_grad()
        loss = _refgan_critic_loss(D, refgan.tensor(real), fake, eps)
        loss.backward()
        noise = _split_noise(record_noise, 2, ["real", "fake", "gp"])
        jloss_grad = jax.jit(jax.value_and_grad(
            lambda p: critic_loss(capply, p, cvars, real, fake.numpy(), eps, noise, 10.0)[0]),
            compiler_options=FAST_COMPILE)
        jloss, jgrads = jloss_grad(cvars["params"])
        assert_close(jloss, loss.numpy(), 1e-12, "critic loss value")
        for name, p in D.named_parameters():
            assert_close(jgrads[name], p.grad.numpy(), 1e-11, f"critic loss grad {name}")

        record_noise.clear()
        G.zero_grad()
        zg = rng.standard_normal((B, Z))
        loss_g = -D(G(refgan.tensor(zg))).mean()
        loss_g.backward()
        jl, jg = jax.jit(jax.value_and_grad(
            lambda p: generator_loss(gapply, capply, p, gvars, cvars, zg,
                                     list(record_noise))[0]),
            compiler_options=FAST_COMPILE)(gvars["params"])
        assert_close(jl, loss_g.numpy(), 1e-12, "generator loss value")
        for name, p in G.named_parameters():
            assert_close(jg[name], p.grad.numpy(), 1e-11, f"generator loss grad {name}")


# ------------------------------------------------------------ training step
@pytest.fixture
def record_draws(monkeypatch):
    """Every (kind, array) refgan.random hands out (z: normal; dropout u, eps: uniform)."""
    drawn = []
    for kind in ("uniform", "normal"):
        original = getattr(rrandom, kind)

        def draw(shape, dtype=np.float32, *args, _original=original, _kind=kind, **kw):
            a = _original(shape, dtype, *args, **kw)
            drawn.append((_kind, np.array(a)))
            return a

        monkeypatch.setattr(rrandom, kind, draw)
    return drawn


def _step_inputs(draws, n_critic, n_drop):
    """refgan.gans.wgan_gp's draws, in its order, as the JAX step's batch: per critic
    step z, u for D(real), u for D(fake), eps, u for D(x^); then z and u for G's step."""
    it = iter(draws)

    def take(kind):
        got, a = next(it)
        assert got == kind, f"refgan drew {got} where the WGAN-GP step order has {kind}"
        return a

    sites = {"real": [], "fake": [], "gp": []}
    z_critic, eps = [], []
    for _ in range(n_critic):
        z_critic.append(take("normal"))
        for site in ("real", "fake"):
            sites[site].append([take("uniform") for _ in range(n_drop)])
        eps.append(take("uniform"))
        sites["gp"].append([take("uniform") for _ in range(n_drop)])
    z_gen = take("normal")
    gen_noise = [take("uniform") for _ in range(n_drop)]
    assert next(it, None) is None
    critic_noise = {s: [np.stack([u[i] for u in per]) for i in range(n_drop)]
                    for s, per in sites.items()}
    return {"z_critic": np.stack(z_critic), "eps": np.stack(eps), "z_gen": z_gen,
            "noise": {"critic": critic_noise, "gen": gen_noise}}


@pytest.mark.parametrize("options", [{}, {"low_res_critic": 2, "colour_critic": 4}])
def test_jitted_training_step_follows_refgan_wgan_gp(options, record_draws):
    """The JAX step against refgan.gans.wgan_gp's own discriminator/generator steps
    (the smoke preset's networks; and a critic with the low-resolution critic and the
    colour branch beside it, which the JAX engine trains), same weights, data, z, eps and
    dropout masks."""
    from refgan.training import presets
    from refgan.gans.wgan_gp import WGANGP

    c = presets.resolve("wgan-gp", "smoke", lr_d=1e-3, lr_g=1e-3, **options)  # big steps: stern
    refgan.manual_seed(4)
    model = WGANGP(1).build(c)
    G, D = model.nets["G"], model.nets["D"]
    n_drop = sum(isinstance(m, nn.Dropout) for m in D.modules())
    gapply, gvars = to_jax(G)
    capply, cvars = to_jax(D)
    hyper = WganGpHyper(gp_lambda=c.gp_lambda, n_disc=c.n_disc, lr_d=c.lr_d,
                        lr_g=c.lr_g, betas=(c.beta1, c.beta2))
    step = jax.jit(make_wgan_gp_step(gapply, capply, hyper), compiler_options=FAST_COMPILE)
    state = init_state(gvars, cvars)
    rng = np.random.default_rng(4)
    for it in range(3):
        reals = np.tanh(rng.standard_normal((c.n_disc, c.batch, 3, c.size,
                                             c.size))).astype(np.float32)
        record_draws.clear()
        logs = [model.discriminator_step((refgan.tensor(r), None)) for r in reals]
        logs.append(model.generator_step())
        batch = dict(_step_inputs(record_draws, c.n_disc, n_drop), real=reals)
        state, metrics = step(state, batch)
        for name in ("d_loss", "wasserstein", "gp"):
            assert_close(metrics[name], [log[name] for log in logs[:-1]], 1e-5,
                         f"train step {it + 1} {name}")
        assert_close(metrics["g_loss"], logs[-1]["g_loss"], 1e-5, f"train step {it + 1} g_loss")
        for which, net in (("gen", G), ("critic", D)):
            got = to_state_dict(state[which])
            for key, value in net.state_dict().items():
                assert_close(got[key], value, 2e-5, f"train step {it + 1} {which} {key}")
