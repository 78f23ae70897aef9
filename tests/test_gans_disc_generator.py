"""The disc generator (refgan/gans/disc_generator.py, ``--generator discs``): the disc
layer against its formula written with NumPy loops, first-order derivatives against
float64 finite differences, where each disc may sit, and a run that trains, resumes
bit-identically and that the exporter names as one it cannot export."""
import numpy as np
import pytest

import refgan
from refgan import nn, ops
from refgan.errors import UserError
from refgan.gans.disc_generator import (DENSITY_OFFSET, EPS, PALLOR_WIDTH, RADIUS_RANGE,
                                        DiscGenerator, DiscLayer)
from refgan.gans.stain_generator import StainGenerator
from refgan.gans.styled import make_generator
from refgan.gradcheck import check_backward
from refgan.torch_export import export_run
from refgan.training import presets

from test_gans import resumes_bit_identically


def softplus(v):
    return np.logaddexp(0.0, v)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def naive_disc_layer(layer, features, image):
    """The module docstring's formula, one image, disc and pixel at a time."""
    n, _, g, _ = features.shape
    size, per_cell = image.shape[-1], layer.per_cell
    w = layer.head.weight.numpy()[:, :, 0, 0]
    b = layer.head.bias.numpy()
    r0 = np.exp(layer.log_radius.numpy()[0])
    tau = softplus(layer.edge.numpy()[0]) * 2.0 / size
    pallor = sigmoid(layer.pallor.numpy()[0])
    colour = softplus(layer.absorb.numpy())
    side = layer.side                                  # the density map's side: S or S / 2
    out = np.empty_like(image)
    for i in range(n):
        od = np.zeros((side, side))
        for j in range(per_cell):
            for row in range(g):
                for col in range(g):
                    h = w @ features[i, :, row, col] + b      # (4 per_cell,) this cell's head
                    hd, hx, hy, hr = h.reshape(4, per_cell)[:, j]
                    density = softplus(hd - DENSITY_OFFSET)
                    cx = -1 + (2 * col + 1) / g + np.tanh(hx) * 2 / g
                    cy = -1 + (2 * row + 1) / g + np.tanh(hy) * 2 / g
                    r = r0 * np.exp(RADIUS_RANGE * np.tanh(hr))
                    for py in range(side):
                        for px in range(side):
                            x, y = -1 + (2 * px + 1) / side, -1 + (2 * py + 1) / side
                            d2 = (x - cx) ** 2 + (y - cy) ** 2 + EPS
                            edge = sigmoid((r - np.sqrt(d2)) / tau)
                            centre = np.exp(-d2 / (PALLOR_WIDTH * r) ** 2)
                            od[py, px] += density * edge * (1 - pallor * centre)
        if side < size:                                # doubled by bilinear interpolation
            od = ops.upsample_bilinear(refgan.tensor(od[None, None])).numpy()[0, 0]
        out[i] = (image[i] + 1) * np.exp(-od[None] * colour[:, None, None]) - 1
    return out


@pytest.mark.parametrize("size,side", [(8, 8), (32, 16)])
def test_disc_layer_is_its_formula(size, side, rng):
    refgan.manual_seed(0)
    layer = DiscLayer(5, 2, size).astype(np.float64)
    assert layer.side == side
    layer.head.bias.data = layer.head.bias.data + 3.0              # dense discs: a strong test
    features = rng.standard_normal((2, 5, 2, 2))
    image = rng.uniform(-1, 1, (2, 3, size, size))
    got = layer(refgan.tensor(features), refgan.tensor(image)).numpy()
    np.testing.assert_allclose(got, naive_disc_layer(layer, features, image), rtol=1e-12, atol=1e-12)
    assert got.min() > -1.0 and np.all(got <= image + 1e-12)      # discs only absorb light


def test_discs_are_round_and_sit_within_a_cell_of_their_own(rng):
    refgan.manual_seed(0)
    layer = DiscLayer(3, 4, 16, per_cell=1).astype(np.float64)     # drawn at full side
    features = 10 * rng.standard_normal((3, 3, 4, 4))             # saturate the tanh's
    density, cx, cy, r = (t.numpy()[..., 0, 0] for t in layer.discs(refgan.tensor(features)))
    cells = -1 + (2 * np.arange(4) + 1) / 4
    assert np.all(np.abs(cx - np.tile(cells, 4)) <= 2 / 4 + 1e-12)
    assert np.all(np.abs(cy - np.repeat(cells, 4)) <= 2 / 4 + 1e-12)
    r0 = np.exp(layer.log_radius.numpy()[0])
    assert np.all((r >= r0 * np.exp(-RADIUS_RANGE) - 1e-12) & (r <= r0 * np.exp(RADIUS_RANGE) + 1e-12))
    # one disc alone: its density map is symmetric about its centre and falls off at r
    od = layer.optical_density(*(refgan.tensor(np.array(v, np.float64).reshape(1, 1, 1, 1))
                                 for v in (1.0, 0.0, 0.0, 0.5))).numpy()[0, 0]
    np.testing.assert_allclose(od, od[::-1], atol=1e-12)
    np.testing.assert_allclose(od, od.T, atol=1e-12)
    radial = od[8, 8:]                                              # from the centre outwards
    rim = int(np.argmax(radial))
    assert 0 < rim < 7 and radial[0] < radial[rim] and radial[rim] > 0.7   # pale centre, a rim
    assert np.all(np.diff(radial[rim:]) < 0) and radial[-1] < 0.05           # and out


def test_gradients_match_finite_differences(rng):
    refgan.manual_seed(0)
    G = DiscGenerator(4, 8, 2).astype(np.float64)
    G.eval()                                                       # batch-norm running statistics
    G.discs.head.bias.data = G.discs.head.bias.data + 2.0         # discs that show
    check_backward(lambda t: G(t), [0.3 * rng.standard_normal((2, 4))], params=G.parameters())


@pytest.mark.parametrize("design,cls,learnt", [("discs", DiscGenerator, "log_radius"),
                                               ("stain", StainGenerator, "absorb")])
def test_an_output_stage_run_trains_resumes_bit_identically_and_export_names_it(
        design, cls, learnt, tmp_path, numpy_backend):
    """The two generators whose output stage is physics (the discs here, the Beer-Lambert
    maps of refgan/gans/stain_generator.py): their learnt constants are checkpointed, a
    resumed run is the whole one, and the torch export names G as one it cannot export."""
    c = presets.resolve("wgan-gp", "smoke", steps=4, n_disc=2, generator=design, use_best=False)
    full, state = resumes_bit_identically(c, tmp_path)
    assert isinstance(full.models["healthy"].nets["G"], cls)
    assert any(k.endswith(learnt) for k in state)
    s = full.models["healthy"].sample(3)
    assert s.shape == (3, 3, c.size, c.size) and s.max() <= 1.0 and s.min() >= -1.0
    manifest = export_run(tmp_path / "full", tmp_path / "torch")   # the critic goes, G is named
    assert "healthy.D" in manifest["networks"]
    assert f"{cls.__name__} has no PyTorch twin" in manifest["skipped"]["healthy.G"]


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_upsample_option_reaches_the_generator_under_the_discs(upsample):
    c = presets.resolve("wgan-gp", "smoke", size=32, generator="discs", upsample=upsample).validate()
    G = make_generator(c, 8)
    assert isinstance(G, DiscGenerator) and G.grid == 4
    assert [m.mode for m in G.modules() if isinstance(m, nn.Upsample)] == [upsample] * 3


def test_disc_generator_is_refused_where_it_cannot_go():
    with pytest.raises(UserError, match="dcgan does not use --generator"):
        presets.resolve("dcgan", "smoke", strict=True, generator="discs")
    with pytest.raises(UserError, match="--progressive grows Gaur et al.'s upsample"):
        presets.resolve("wgan-gp", "smoke", generator="discs", progressive=5, size=32).validate()
