"""DiffAugment (refgan/gans/diffaugment.py): what each transform does, and that the
gradient flows through every one of them (G is trained through T)."""
import numpy as np
import pytest

import refgan
from refgan.errors import UserError
from refgan.gans import diffaugment as da
from refgan.gradcheck import check_backward, check_double_backward

TRANSFORMS = [da.brightness, da.saturation, da.contrast, da.translation, da.cutout]
IDS = ["brightness", "saturation", "contrast", "translation", "cutout"]


def images(n=3, size=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, size, size))


@pytest.mark.parametrize("transform", TRANSFORMS, ids=IDS)
def test_gradient_flows_through_each_transform(transform, cpu_backend):
    """First and second order in float64, with the random draws held fixed
    (reseeded at every evaluation)."""
    def f(x):
        refgan.manual_seed(3)
        return transform(x)

    check_backward(f, [images()], n_directions=3)
    check_double_backward(f, [images()], n_directions=2)


def test_gradient_reaches_a_generator_through_the_full_policy(numpy_backend):
    """d/dW of a critic score of T(G(z)): the path L_G takes."""
    from refgan import nn

    refgan.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Unflatten((3, 8, 8)), nn.Tanh()).astype(np.float64)
    z = refgan.Tensor(np.random.default_rng(1).standard_normal((2, 4)))
    w = refgan.Tensor(np.random.default_rng(2).standard_normal((1, 3, 8, 8)))

    def score():
        refgan.manual_seed(5)
        return (da.diff_augment(G(z)) * w).sum()

    check_backward(score, [], params=G.parameters(), n_directions=3)


def test_translation_shifts_and_fills_with_zeros(numpy_backend):
    x = np.arange(2 * 1 * 8 * 8, dtype=np.float64).reshape(2, 1, 8, 8) + 1
    refgan.manual_seed(0)
    y = da.translation(refgan.Tensor(x)).numpy()
    for n in range(2):
        nz = y[n, 0] != 0
        # every kept pixel is the input pixel at one common offset
        rows, cols = np.nonzero(nz)
        src = (y[n, 0][nz] - 1 - n * 64).astype(int)
        dy, dx = set(src // 8 - rows), set(src % 8 - cols)
        assert len(dy) == 1 and len(dx) == 1 and abs(dy.pop()) <= 1 and abs(dx.pop()) <= 1


def test_cutout_zeroes_one_square_of_half_the_side(numpy_backend):
    refgan.manual_seed(1)
    y = da.cutout(refgan.Tensor(np.ones((16, 3, 8, 8)))).numpy()
    zeros = (y[:, 0] == 0).sum(axis=(1, 2))
    assert zeros.max() == 16 and zeros.min() > 0           # 4x4 square, maybe cut by the border
    assert ((y == 0).all(axis=1) == (y[:, :1] == 0)[:, 0]).all()  # same hole in every channel


def test_colour_transforms_keep_spatial_structure_and_vary_per_image(numpy_backend):
    x = refgan.Tensor(images(4))
    refgan.manual_seed(2)
    y = da.brightness(x).numpy()
    shift = (y - x.numpy()).reshape(4, -1)
    assert np.allclose(shift, shift[:, :1]) and np.ptp(shift[:, 0]) > 0


def test_policy_names():
    assert da.parse_policy("color,translation,cutout") == ("color", "translation", "cutout")
    assert da.parse_policy("") == () and da.parse_policy("none") == ()
    with pytest.raises(UserError, match="policy"):
        da.parse_policy("colour")
