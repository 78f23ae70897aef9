"""The low-resolution critic (refgan/gans/multiscale.py, ``--low-res-critic F``): its
output against the two critics run by hand on a naively pooled image, first and second
derivatives against float64 finite differences, runs of both models that read it, and
the refusals."""
import numpy as np
import pytest

import refgan
from refgan import nn
from refgan.errors import UserError
from refgan.gans.architectures import Trunk
from refgan.gans.multiscale import WithLowResCritic
from refgan.training import presets

from test_gans import critic_matches_finite_differences, trained_critic_part


def naive_pool(x, f):
    """Mean over each f x f block, by loops."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, h // f, w // f))
    for i in range(h // f):
        for j in range(w // f):
            out[:, :, i, j] = x[:, :, i * f:(i + 1) * f, j * f:(j + 1) * f].mean(axis=(2, 3))
    return out


def critic(size, width):
    trunk = Trunk(size, width, dropout=0.0)
    return nn.Sequential(trunk, nn.Linear(trunk.out_features, 1))


def test_output_is_the_main_critic_plus_the_low_one_on_the_pooled_image(rng):
    refgan.manual_seed(0)
    d = WithLowResCritic(critic(32, 2), 32, 2, 4).astype(np.float64)
    x = rng.standard_normal((3, 3, 32, 32))
    low_side = d.low(refgan.tensor(naive_pool(x, 4))).numpy()
    expected = d.main(refgan.tensor(x)).numpy() + low_side
    np.testing.assert_allclose(d(refgan.tensor(x)).numpy(), expected, rtol=1e-12)
    assert d.low[0].sides == {4: 2, 2: 4} and d(refgan.tensor(x)).shape == (3, 1)


def test_low_critic_sees_regional_means_only(rng):
    """Images with the same 4x4 block means differ to the main critic, not to the low one."""
    refgan.manual_seed(0)
    d = WithLowResCritic(critic(32, 2), 32, 2, 4).astype(np.float64)
    x = rng.standard_normal((2, 3, 32, 32))
    detail = rng.standard_normal((2, 3, 32, 32))
    detail -= np.repeat(np.repeat(naive_pool(detail, 4), 4, axis=2), 4, axis=3)
    a, b = refgan.tensor(x), refgan.tensor(x + detail)
    np.testing.assert_allclose(d.low(d.pool(a)).numpy(), d.low(d.pool(b)).numpy(), rtol=1e-10)
    assert not np.allclose(d.main(a).numpy(), d.main(b).numpy())


def test_gradients_match_finite_differences_to_second_order(rng):
    """The gradient penalty differentiates the critic's input gradient: float64, both
    orders, with respect to the image and every parameter of both critics."""
    refgan.manual_seed(0)
    d = WithLowResCritic(critic(16, 2), 16, 2, 2, minibatch_std=2).astype(np.float64)
    critic_matches_finite_differences(d, rng.standard_normal((4, 3, 16, 16)))


@pytest.mark.parametrize("model", ["wgan-gp", "dcgan"])
def test_a_run_with_the_low_critic_trains_it(model, tmp_path, numpy_backend):
    c = presets.resolve(model, "smoke", steps=3, low_res_critic=2, use_best=False)
    t = trained_critic_part(c, tmp_path / "run", WithLowResCritic, lambda D: D.low[1])
    assert any(k.startswith("net.D.low.") for k in t.models["healthy"].state_dict())


@pytest.mark.parametrize("kw,message", [
    (dict(low_res_critic=4), "--low-res-critic 4 must be a factor >= 2 of --size 16 that leaves "
                             "a side of 8 or more .* e.g. --low-res-critic 2"),
    (dict(low_res_critic=3), "must be a factor >= 2 of --size 16"),
    (dict(low_res_critic=1), "must be a factor >= 2"),
    (dict(low_res_critic=-1), "--low-res-critic must be >= 0"),
    (dict(low_res_critic=2, size=8), "no factor does at this size: leave it out"),
    (dict(low_res_critic=2, recon=1.0), "leave out --low-res-critic or --recon"),
    (dict(low_res_critic=2, size=32, progressive=2), "leave out --low-res-critic or --progressive"),
    (dict(model="cgan", low_res_critic=2), "cgan does not use --low-res-critic"),
])
def test_bad_low_critic_options_are_refused_by_name(kw, message):
    model = kw.pop("model", "wgan-gp")
    with pytest.raises(UserError, match=message):
        presets.resolve(model, "smoke", strict=True, **kw)


@pytest.mark.parametrize("size,factor", [(16, 3), (16, 4), (32, 1)])
def test_the_module_refuses_a_factor_that_leaves_no_critic(size, factor):
    with pytest.raises(ValueError, match=f"got {factor} for side {size}"):
        WithLowResCritic(critic(size, 2), size, 2, factor)
