"""The critic losses and regularisers (refgan/gans/regularizers.py): hinge, R1 (with
its second derivative), LeCam and mode seeking, against direct NumPy evaluations."""
import numpy as np
import pytest

import refgan
from refgan import nn
from refgan.gans.regularizers import LeCam, hinge_d_loss, mode_seeking, r1_penalty
from refgan.gradcheck import check_backward


def smooth_critic(seed=0):
    refgan.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.Softplus(), nn.Flatten(),
                         nn.Linear(3 * 3 * 3, 1)).astype(np.float64)


def test_hinge_loss_matches_its_definition(rng):
    r, f = rng.standard_normal((8, 1)) * 2, rng.standard_normal((8, 1)) * 2
    want = np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean()
    got = hinge_d_loss(refgan.tensor(r), refgan.tensor(f)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    check_backward(hinge_d_loss, [r, f], n_directions=3)


def test_r1_equals_finite_difference_input_gradient(rng):
    """E||grad_x D(x)||^2 with the input gradient taken by central differences."""
    D = smooth_critic()
    x = rng.standard_normal((2, 2, 5, 5))
    r1, sq = r1_penalty(D, refgan.tensor(x))
    h, grads = 1e-6, np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        grads[idx] = (D(refgan.tensor(x + e)).numpy().sum()
                      - D(refgan.tensor(x - e)).numpy().sum()) / (2 * h)
    want = (grads.reshape(2, -1) ** 2).sum(1)
    np.testing.assert_allclose(sq.numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(r1.numpy(), want.mean(), rtol=1e-6)


def test_r1_is_differentiable_in_the_critic_weights(rng):
    """The penalty's gradient w.r.t. the weights (a second derivative of D) against
    finite differences."""
    D = smooth_critic(1)
    x = rng.standard_normal((2, 2, 5, 5))
    check_backward(lambda: r1_penalty(D, refgan.tensor(x))[0], [], params=D.parameters(),
                   n_directions=3)


def test_lecam_tracks_moving_averages_and_penalises_the_gap(rng):
    lc = LeCam(decay=0.9)
    r = refgan.tensor(rng.standard_normal((6, 1)) + 2.0)
    f = refgan.tensor(rng.standard_normal((6, 1)) - 1.0)
    out = lc.penalty(r, f).numpy()
    a_r, a_f = 0.1 * r.numpy().mean(), 0.1 * f.numpy().mean()
    np.testing.assert_allclose([float(lc.ema_real), float(lc.ema_fake)], [a_r, a_f])
    want = ((r.numpy() - a_f) ** 2).mean() + ((f.numpy() - a_r) ** 2).mean()
    np.testing.assert_allclose(out, want, rtol=1e-6)
    lc.eval()                                          # evaluation: the averages stay
    lc.penalty(r, f)
    np.testing.assert_allclose(float(lc.ema_real), a_r)
    assert set(lc.state_dict()) == {"ema_real", "ema_fake"}


def test_lecam_gradient(rng):
    lc = LeCam()
    lc.ema_real, lc.ema_fake = np.float64(0.7), np.float64(-0.4)
    lc.eval()
    check_backward(lc.penalty, [rng.standard_normal((5, 1)), rng.standard_normal((5, 1))],
                   n_directions=3)
    # and it is minimal where D(real) sits on the fake average and vice versa
    r = np.full((5, 1), -0.4)
    f = np.full((5, 1), 0.7)
    assert float(lc.penalty(refgan.tensor(r), refgan.tensor(f)).numpy()) == 0.0


def test_mode_seeking_matches_its_definition_and_gradient(rng):
    fake, z = rng.standard_normal((6, 3, 4, 4)), rng.standard_normal((6, 5))
    ratio = np.abs(fake[:3] - fake[3:]).mean() / np.abs(z[:3] - z[3:]).mean()
    got = mode_seeking(refgan.tensor(fake), refgan.tensor(z)).numpy()
    np.testing.assert_allclose(got, 1.0 / (ratio + 1e-5), rtol=1e-10)
    check_backward(lambda f: mode_seeking(f, refgan.tensor(z)), [fake], n_directions=3)


def test_mode_seeking_is_large_for_collapsed_samples(rng):
    z = refgan.tensor(rng.standard_normal((4, 5)))
    same = refgan.tensor(np.ones((4, 3, 4, 4)))
    varied = refgan.tensor(rng.standard_normal((4, 3, 4, 4)))
    assert float(mode_seeking(same, z).numpy()) > 1e4 > float(mode_seeking(varied, z).numpy())
    with pytest.raises(ValueError, match="even batch"):
        mode_seeking(refgan.tensor(np.ones((3, 2))), refgan.tensor(np.ones((3, 2))))
