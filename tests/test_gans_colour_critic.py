"""The colour branch of the critic (refgan/gans/colour_critic.py, ``--colour-critic H``):
rho(mean over pixels of phi(pixel)) against a naive per-pixel loop, blind to where the
colours are, first and second derivatives against float64 finite differences, and
runs of both models that read it."""
import numpy as np
import pytest

import refgan
from refgan.errors import UserError
from refgan.gans.architectures import Trunk
from refgan.gans.colour_critic import ColourBranch, WithColourBranch
from refgan import nn
from refgan.training import presets

from test_gans import critic_matches_finite_differences, trained_critic_part


def leaky(v):
    return np.where(v > 0, v, 0.2 * v)


def test_branch_is_rho_of_the_mean_of_phi_over_pixels(rng):
    refgan.manual_seed(0)
    b = ColourBranch(5).astype(np.float64)
    x = rng.standard_normal((2, 3, 4, 6))
    convs = [m for m in b.phi.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in b.rho.modules() if isinstance(m, nn.Linear)]
    [(w1, b1)] = [(c.weight.numpy()[:, :, 0, 0], c.bias.numpy()) for c in convs]
    (v1, c1), (v2, c2) = [(m.weight.numpy(), m.bias.numpy()) for m in linears]
    expected = []
    for image in x:
        pooled = np.zeros(5)
        for i in range(4):
            for j in range(6):
                pixel = image[:, i, j]
                pooled += leaky(w1 @ pixel + b1) / 24
        expected.append(leaky(pooled @ v1.T + c1) @ v2.T + c2)
    np.testing.assert_allclose(b(refgan.tensor(x)).numpy(), np.array(expected), rtol=1e-12)


def test_branch_sees_the_colours_and_not_where_they_are(rng):
    refgan.manual_seed(0)
    b = ColourBranch(8).astype(np.float64)
    x = rng.standard_normal((3, 3, 8, 8))
    shuffled = x.reshape(3, 3, 64)[:, :, rng.permutation(64)].reshape(3, 3, 8, 8)
    np.testing.assert_allclose(b(refgan.tensor(shuffled)).numpy(), b(refgan.tensor(x)).numpy(),
                               rtol=1e-12)
    other = x.copy()
    other[:, 0] += 0.5                                   # a different colour distribution
    assert not np.allclose(b(refgan.tensor(other)).numpy(), b(refgan.tensor(x)).numpy())


def test_critic_adds_the_branch_to_the_main_critic(rng):
    refgan.manual_seed(0)
    main = nn.Sequential(Trunk(16, 2, dropout=0.0), nn.Linear(2 * 2 * 4 * 4, 1)).astype(np.float64)
    d = WithColourBranch(main, 4).astype(np.float64)
    x = refgan.tensor(rng.standard_normal((2, 3, 16, 16)))
    np.testing.assert_allclose(d(x).numpy(), (d.main(x) + d.colour(x)).numpy(), rtol=1e-12)
    assert d(x).shape == (2, 1)


def test_gradients_match_finite_differences_to_second_order(rng):
    """The gradient penalty differentiates the critic's input gradient: float64, both
    orders, with respect to the image and every parameter of both branches."""
    refgan.manual_seed(0)
    main = nn.Sequential(Trunk(8, 2, dropout=0.0), nn.Linear(2 * 2 * 2 * 2, 1))
    d = WithColourBranch(main, 3).astype(np.float64)
    critic_matches_finite_differences(d, rng.standard_normal((2, 3, 8, 8)))


@pytest.mark.parametrize("model", ["wgan-gp", "dcgan"])
def test_a_run_with_the_branch_trains_it(model, tmp_path, numpy_backend):
    c = presets.resolve(model, "smoke", steps=3, colour_critic=4, use_best=False)
    t = trained_critic_part(c, tmp_path / "run", WithColourBranch, lambda D: [
        m for m in D.colour.rho.modules() if isinstance(m, nn.Linear)][-1])
    assert any(k.startswith("net.D.colour.") for k in t.models["healthy"].state_dict())


def test_other_models_refuse_the_branch():
    with pytest.raises(UserError, match="infogan does not use --colour-critic"):
        presets.resolve("infogan", "smoke", strict=True, colour_critic=8)
