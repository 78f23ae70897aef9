"""FastGAN's generator and self-supervised critic (refgan/gans/fastgan.py,
``--generator fastgan``, ``--recon W``): each piece against a naive NumPy reference,
gradients against float64 finite differences, the critic's output untouched by the
decoders, runs of both models that read ``--recon``, and a bit-identical resume."""
import numpy as np
import pytest

import refgan
from refgan import nn
from refgan.errors import UserError
from refgan.gans.architectures import Trunk
from refgan.gans.fastgan import (Decoder, FastGANGenerator, SelfSupervisedCritic,
                                 SkipLayerExcitation)
from refgan.gradcheck import check_backward, check_double_backward
from refgan.training import presets

from test_gans import resumes_bit_identically, trained_critic_part


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def test_skip_layer_excitation_against_a_naive_loop(rng):
    refgan.manual_seed(0)
    sle = SkipLayerExcitation(3, 5).astype(np.float64)
    low, high = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 5, 16, 16))
    w1 = sle.squeeze.weight.numpy()              # (5, 3, 4, 4)
    w2 = sle.excite.weight.numpy()[:, :, 0, 0]   # (5, 5)
    expected = np.empty_like(high)
    for n in range(2):
        pooled = low[n].reshape(3, 4, 2, 4, 2).mean(axis=(2, 4))   # 8x8 -> 4x4 bins
        s = np.array([(w1[o] * pooled).sum() for o in range(5)])
        e = sigmoid(w2 @ (s * sigmoid(s)))
        assert np.all((e > 0) & (e < 1))
        expected[n] = high[n] * e[:, None, None]
    np.testing.assert_allclose(sle(refgan.tensor(low), refgan.tensor(high)).numpy(), expected,
                               rtol=1e-10)


def test_skip_layer_excitation_gradients_match_finite_differences(rng):
    refgan.manual_seed(0)
    sle = SkipLayerExcitation(2, 3).astype(np.float64)
    check_backward(lambda lo, hi: sle(lo, hi),
                   [rng.standard_normal((2, 2, 8, 8)), rng.standard_normal((2, 3, 16, 16))],
                   params=sle.parameters())


@pytest.mark.parametrize("size,pairs", [(16, {}), (32, {2: 0}), (64, {2: 0, 3: 1})])
def test_generator_excites_each_stage_from_the_one_a_quarter_its_side(size, pairs, rng):
    refgan.manual_seed(0)
    G = FastGANGenerator(5, size, 4)
    assert G.excited_by == pairs
    y = G(refgan.tensor(rng.standard_normal((3, 5)).astype(np.float32))).numpy()
    assert y.shape == (3, 3, size, size) and np.all(np.abs(y) <= 1)


def test_generator_gradients_match_finite_differences(rng):
    """Every parameter of a 32x32 generator (its excitation included); eval mode, so
    that the noise planes and batch-norm statistics are fixed between evaluations."""
    refgan.manual_seed(0)
    G = FastGANGenerator(4, 32, 2).astype(np.float64)
    G.eval()
    check_backward(lambda z: G(z), [rng.standard_normal((2, 4))], params=G.parameters())


def test_generator_noise_and_excitation_change_the_image(rng):
    refgan.manual_seed(0)
    G = FastGANGenerator(4, 32, 2).astype(np.float64)
    G.eval()
    z = refgan.tensor(rng.standard_normal((2, 4)))
    before = G(z).numpy()
    G.sle2.excite.weight.data = G.sle2.excite.weight.data + 1.0
    assert not np.allclose(G(z).numpy(), before)


def small_critic(size=16, width=2):
    trunk = Trunk(size, width, dropout=0.0, minibatch_std=2)
    return nn.Sequential(trunk, nn.Linear(trunk.out_features, 1))


def test_trunk_keeps_the_activated_stage_output_of_the_side_asked(rng):
    refgan.manual_seed(0)
    critic = small_critic(32).astype(np.float64)
    trunk = critic[0]
    x = refgan.tensor(rng.standard_normal((4, 3, 32, 32)))
    layers = list(trunk.body._modules.values())
    h = x
    for layer in layers[:4]:      # conv, LeakyReLU (16x16), conv, LeakyReLU (8x8)
        h = layer(h)
    with trunk.keeping(8) as kept:
        out = critic(x)
    assert len(kept) == 1 and kept[0].shape == (4, 4, 8, 8)
    np.testing.assert_array_equal(kept[0].numpy(), h.numpy())
    np.testing.assert_array_equal(out.numpy(), critic(x).numpy())   # output unchanged
    with trunk.keeping(8) as again:
        pass
    assert again == [] and trunk._kept is None
    with pytest.raises(ValueError, match="no stage of this trunk outputs 5x5"):
        trunk.channels_at(5)


def test_self_supervised_critic_loss_against_its_definition(rng):
    refgan.manual_seed(0)
    d = SelfSupervisedCritic(small_critic(32), 32).astype(np.float64)
    x = refgan.tensor(rng.standard_normal((2, 3, 32, 32)))
    refgan.manual_seed(7)
    out, loss = d.with_reconstruction(x)
    refgan.manual_seed(7)
    q = int(refgan.random.generator().integers(4))
    r, c = divmod(q, 2)
    with d.trunk.keeping(8) as kept:
        d.critic(x)
    f = kept[0]
    whole = d.whole(f).numpy()
    part = d.part(f[:, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4]).numpy()
    xs = x.numpy()
    pooled = xs.reshape(2, 3, 16, 2, 16, 2).mean(axis=(3, 5))
    quadrant = xs[:, :, 16 * r:16 * r + 16, 16 * c:16 * c + 16]
    assert whole.shape == (2, 3, 16, 16) and part.shape == (2, 3, 16, 16)
    expected = ((whole - pooled) ** 2).mean() + ((part - quadrant) ** 2).mean()
    np.testing.assert_allclose(float(loss.numpy()), expected, rtol=1e-12)
    np.testing.assert_array_equal(out.numpy(), d.critic(x).numpy())
    np.testing.assert_array_equal(d(x).numpy(), d.critic(x).numpy())


def test_self_supervised_critic_gradients_match_finite_differences(rng):
    """L_recon against every parameter (trunk and decoders), reseeded so that each
    evaluation decodes the same quadrant; D(x) to second order (the gradient penalty
    differentiates its input gradient through the wrapper)."""
    refgan.manual_seed(0)
    d = SelfSupervisedCritic(small_critic(16), 16).astype(np.float64)
    x = rng.standard_normal((2, 3, 16, 16))

    def recon(t):
        refgan.manual_seed(3)
        return d.with_reconstruction(t)[1]

    check_backward(recon, [x], params=d.parameters())
    check_double_backward(lambda t: d(t), [x], params=d.critic.parameters())


def test_decoder_upsamples_and_halves_the_channels():
    dec = Decoder(16, 2)
    convs = [m for m in dec.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(16, 8), (8, 4), (4, 3)]
    y = dec(refgan.tensor(np.zeros((1, 16, 4, 4), np.float32)))
    assert y.shape == (1, 3, 16, 16)


@pytest.mark.parametrize("model", ["wgan-gp", "dcgan"])
def test_a_run_with_recon_trains_the_decoders(model, tmp_path, numpy_backend):
    c = presets.resolve(model, "smoke", steps=3, recon=1.0, use_best=False)
    t = trained_critic_part(c, tmp_path / "run", SelfSupervisedCritic, lambda D: [
        m for m in D.part.modules() if isinstance(m, nn.Conv2d)][0])
    assert any(k.startswith("net.D.whole.") for k in t.models["healthy"].state_dict())
    logs = t.models["healthy"].discriminator_step(t.batch("healthy"))
    assert logs["recon"] > 0


def test_fastgan_with_recon_resumes_bit_identically(tmp_path, numpy_backend):
    c = presets.resolve("wgan-gp", "smoke", steps=4, n_disc=2, generator="fastgan", recon=0.5,
                        spectral_norm=True, use_best=False)
    full, _ = resumes_bit_identically(c, tmp_path, interrupt_at=1)
    assert isinstance(full.models["healthy"].nets["G"], FastGANGenerator)


@pytest.mark.parametrize("kw,message", [
    (dict(model="cgan", recon=1.0), "cgan does not use --recon"),
    (dict(model="dcgan", generator="fastgan"), "dcgan does not use --generator"),
    (dict(recon=-1.0), "--recon must be a finite number"),
    (dict(recon=1.0, size=8), "--recon decodes the critic's 8x8 features: it needs --size 16"),
    (dict(recon=1.0, size=32, progressive=5), "--recon reads Gaur et al.'s fixed critic"),
])
def test_bad_fastgan_options_are_refused_by_name(kw, message):
    model = kw.pop("model", "wgan-gp")
    with pytest.raises(UserError, match=message):
        presets.resolve(model, "smoke", strict=True, **kw).validate()
