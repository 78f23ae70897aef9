"""ADA (refgan/gans/ada.py): the augmentation at probability p and the controller
that moves p from sign(D(real))."""
import numpy as np
import pytest

import refgan
from refgan.gans.ada import ADA
from refgan.gradcheck import check_backward, check_double_backward


def images(n=64, size=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, size, size))


def test_identity_at_p_zero_and_full_augmentation_at_p_one():
    x = refgan.tensor(images())
    ada = ADA("translation", p=0.0)
    assert ada.augment(x) is x
    ada.p = np.asarray(1.0)
    refgan.manual_seed(0)
    y = ada.augment(x).numpy()
    changed = np.abs(y - x.numpy()).reshape(64, -1).max(1) > 0
    assert changed.mean() > 0.8          # all images drawn a shift; zero shifts leave a few


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_share_of_augmented_images_is_p(p):
    ada = ADA("cutout", p=p)
    refgan.manual_seed(1)
    x = images(n=2000, size=4)
    y = ada.augment(refgan.tensor(x)).numpy()
    share = (np.abs(y - x).reshape(len(x), -1).max(1) > 0).mean()
    assert abs(share - p) < 0.04


def test_augmentation_is_differentiable():
    ada = ADA("color,translation", p=0.5)

    def f(x):
        refgan.manual_seed(3)
        return ada.augment(x)

    check_backward(f, [images(n=4)], n_directions=3)
    check_double_backward(f, [images(n=4)], n_directions=2)


def test_controller_raises_p_when_the_critic_is_sure_and_lowers_it_otherwise():
    ada = ADA(target=0.6, interval=2, speed=100)
    sure = refgan.tensor(np.ones((10, 1)))             # r_t = 1 > 0.6
    ada.observe(sure)
    assert float(ada.p) == 0.0                         # adjusted every 2 updates
    ada.observe(sure)
    np.testing.assert_allclose(float(ada.p), 20 / 100)
    unsure = refgan.tensor(np.r_[np.ones((5, 1)), -np.ones((5, 1))])   # r_t = 0
    ada.observe(unsure)
    ada.observe(unsure)
    np.testing.assert_allclose(float(ada.p), 0.0)
    for _ in range(20):
        ada.observe(sure)
    assert float(ada.p) == 1.0                         # clipped to [0, 1]


def test_state_round_trip():
    ada = ADA(interval=3)
    ada.observe(refgan.tensor(np.ones((4, 1))))
    other = ADA(interval=3)
    other.load_state_dict(ada.state_dict())
    assert other.r_t == ada.r_t == 1.0
    assert int(other.calls) == 1
