"""The Beer-Lambert generator (refgan/gans/stain_generator.py, ``--generator stain``):
its output stage against the formula in NumPy, the camera's saturation, first-order
derivatives against float64 finite differences (a run that trains, resumes
bit-identically and that the exporter names: tests/test_gans_disc_generator.py, for both
output-stage generators)."""
import numpy as np
import pytest

import refgan
from refgan.errors import UserError
from refgan import nn
from refgan.gans.stain_generator import DENSITY_OFFSET, LIGHT_SCALE, StainGenerator
from refgan.gans.styled import make_generator
from refgan.gradcheck import check_backward
from refgan.training import presets



def softplus(v):
    return np.logaddexp(0.0, v)


def test_output_is_beer_lambert_of_the_maps_clipped_at_white(rng):
    refgan.manual_seed(0)
    g = StainGenerator(6, 16, 4, absorbers=3).astype(np.float64)
    g.eval()
    assert not np.any(g.white.weight.numpy())                     # neutral light to start
    g.white.weight.data = rng.standard_normal((3, 6)) * 0.1      # ... and z's part tested too
    z = rng.standard_normal((4, 6))
    h = g.maps(refgan.tensor(z)).numpy()                          # (4, 4, 16, 16)
    A = softplus(g.absorb.numpy())                                # (3 absorbers, 3 channels)
    od = np.einsum("nkij,kc->ncij", softplus(h[:, :3] - DENSITY_OFFSET), A)
    white = z @ g.white.weight.numpy().T + g.white.bias.numpy()  # (4, 3)
    light = np.exp(LIGHT_SCALE * h[:, 3:] + white[:, :, None, None] - od)
    expected = 2 * np.minimum(light, 1.0) - 1
    got = g(refgan.tensor(z)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert got.max() <= 1.0 and got.min() > -1.0


def test_saturated_pixels_are_white_and_pass_no_gradient(rng):
    refgan.manual_seed(0)
    g = StainGenerator(6, 16, 4).astype(np.float64)
    g.eval()
    g.white.bias.data = g.white.bias.data + 0.4                  # a brighter light: many pixels clip
    z = rng.standard_normal((2, 6))
    x = g(refgan.tensor(z))
    saturated = x.numpy() == 1.0
    assert 0.2 < saturated.mean() < 1.0
    (x * refgan.tensor(saturated.astype(np.float64))).sum().backward()
    for p in g.parameters():
        assert p.grad is None or not np.any(p.grad.numpy()), "a white pixel passed a gradient"
    g.zero_grad()
    x = g(refgan.tensor(z))
    (x * refgan.tensor((~saturated).astype(np.float64))).sum().backward()
    assert np.any(g.absorb.grad.numpy())


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_gradients_match_finite_differences(upsample, rng):
    refgan.manual_seed(0)
    g = StainGenerator(4, 8, 2, absorbers=2, upsample=upsample).astype(np.float64)
    g.eval()                                                      # batch-norm running statistics
    check_backward(lambda t: g(t), [0.3 * rng.standard_normal((2, 4))], params=g.parameters())


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_upsample_option_reaches_the_maps(upsample):
    """``--upsample`` sets how the density maps double (bilinear: no 2x2 blocks for the
    exponential to turn into a grid-like mottling); the bilinear op itself is checked in
    tests/test_gans_upsample.py."""
    c = presets.resolve("wgan-gp", "smoke", size=32, generator="stain", upsample=upsample).validate()
    g = make_generator(c, 8)
    assert isinstance(g, StainGenerator)
    assert [m.mode for m in g.maps.modules() if isinstance(m, nn.Upsample)] == [upsample] * 3


def test_stain_generator_is_refused_where_it_cannot_go():
    with pytest.raises(UserError, match="dcgan does not use --generator"):
        presets.resolve("dcgan", "smoke", strict=True, generator="stain")
    with pytest.raises(UserError, match="--progressive grows Gaur et al.'s upsample"):
        presets.resolve("wgan-gp", "smoke", generator="stain", progressive=5, size=32).validate()
