"""StyleGAN2's blocks (refgan/nn/modulated.py): forward against the naive
per-sample-weight form, first and second derivatives against finite differences."""
import numpy as np
import pytest

import refgan
from refgan import nn, ops
from refgan.gradcheck import GradientCheckError, check_backward, check_double_backward
from refgan.nn.modulated import (EqualLinear, MappingNetwork, ModulatedConv2d, NoiseInput,
                                 modulated_conv2d, pixel_norm)


def naive_modulated_conv(x, W, s, demodulate, eps=1e-8):
    """One conv per sample with its own weight W'[o, c] = s[c] W[o, c] (* d[o])."""
    out = []
    for n in range(x.shape[0]):
        Wn = W * s[n][None, :, None, None]
        if demodulate:
            Wn = Wn / np.sqrt((Wn ** 2).sum(axis=(1, 2, 3), keepdims=True) + eps)
        y = ops.conv2d(refgan.tensor(x[n:n + 1]), refgan.tensor(Wn), None, 1, "same")
        out.append(y.numpy())
    return np.concatenate(out)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_modulated_conv_equals_per_sample_weights(demodulate, k, cpu_backend, rng):
    x = rng.standard_normal((3, 4, 6, 6))
    W = rng.standard_normal((5, 4, k, k))
    s = rng.uniform(0.2, 2.0, (3, 4))
    got = modulated_conv2d(refgan.tensor(x), refgan.tensor(W), refgan.tensor(s),
                           demodulate).numpy()
    np.testing.assert_allclose(got, naive_modulated_conv(x, W, s, demodulate), rtol=1e-9,
                               atol=1e-10)


def test_demodulation_gives_unit_output_scale(rng):
    """With unit-variance i.i.d. input, every output channel of a demodulated conv has
    unit variance whatever the style's scale (StyleGAN2 eq. 2-3)."""
    x = rng.standard_normal((64, 8, 12, 12))
    W = rng.standard_normal((6, 8, 3, 3))
    s = rng.uniform(0.1, 10.0, (64, 8))
    y = modulated_conv2d(refgan.tensor(x), refgan.tensor(W), refgan.tensor(s)).numpy()
    std = y[:, :, 1:-1, 1:-1].std(axis=(0, 2, 3))      # interior: no zero padding
    np.testing.assert_allclose(std, 1.0, atol=0.05)


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_first_and_second_order(demodulate, cpu_backend, rng):
    x = rng.standard_normal((2, 3, 5, 5))
    W = rng.standard_normal((4, 3, 3, 3))
    s = rng.uniform(0.5, 1.5, (2, 3))
    f = lambda x, W, s: modulated_conv2d(x, W, s, demodulate)  # noqa: E731
    check_backward(f, [x, W, s], n_directions=3)
    check_double_backward(f, [x, W, s], n_directions=2)


def test_checker_catches_a_wrong_demodulation(rng):
    """The check can fail: a demodulation that forgets the style's square (d from
    s, not s^2) differs from the naive form."""
    x, W, s = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), \
        rng.uniform(0.5, 1.5, (2, 3))

    def wrong(x, W, s):
        wsq = ops.sum(W * W, axis=(2, 3))
        d = 1.0 / ops.sqrt(ops.matmul(s, ops.transpose(wsq)) + 1e-8)
        y = ops.conv2d(x * ops.reshape(s, (2, 3, 1, 1)), W, None, 1, "same")
        return y * ops.reshape(d, (2, 4, 1, 1))

    got = wrong(refgan.tensor(x), refgan.tensor(W), refgan.tensor(s)).numpy()
    assert not np.allclose(got, naive_modulated_conv(x, W, s, True))


def test_pixel_norm_and_mapping_network(rng):
    z = rng.standard_normal((4, 6)) * 7.0
    np.testing.assert_allclose((pixel_norm(refgan.tensor(z)).numpy() ** 2).mean(1), 1.0,
                               rtol=1e-6)
    net = MappingNetwork(6, 5, layers=3).astype(np.float64)
    w = net(refgan.tensor(z))
    assert w.shape == (4, 5)
    # the mapping reads z only through its direction
    np.testing.assert_allclose(net(refgan.tensor(z * 3.0)).numpy(), w.numpy(), rtol=1e-6)
    check_double_backward(net, [z], params=net.parameters(), n_directions=2)


def test_noise_input_is_random_in_training_and_fixed_in_eval(rng):
    layer = NoiseInput(4)
    layer.strength.data = layer.strength.data + 0.5
    x = refgan.tensor(np.zeros((2, 3, 4, 4), np.float32))
    a, b = layer(x).numpy(), layer(x).numpy()
    assert not np.array_equal(a, b)
    assert np.array_equal(a[:, 0], a[:, 1])               # one plane for every channel
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    assert "noise_const" in layer.state_dict()


def test_gradient_check_catches_a_planted_error(rng):
    """A backward that drops the demodulation's dependence on the style must fail."""
    x, W = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    s = rng.uniform(0.5, 1.5, (2, 3))

    def detached_d(x, W, s):
        wsq = ops.sum(W * W, axis=(2, 3))
        d = refgan.tensor((1.0 / np.sqrt((s.data ** 2) @ wsq.data.T + 1e-8)))
        y = ops.conv2d(x * ops.reshape(s, (2, 3, 1, 1)), W, None, 1, "same")
        return y * ops.reshape(d, (2, 4, 1, 1))

    with pytest.raises(GradientCheckError):
        check_backward(detached_d, [x, W, s], n_directions=3)


def test_modulated_conv_module_starts_as_plain_conv(rng):
    """The affine's bias starts at 1 and its weight is small, so the style is ~1."""
    layer = ModulatedConv2d(3, 4, 3, style_dim=5)
    nn.init.constant_(layer.affine.weight, 0.0)
    x = refgan.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    w = refgan.tensor(rng.standard_normal((2, 5)).astype(np.float32))
    plain = ops.conv2d(x, layer.weight, None, 1, "same").numpy()
    d = 1.0 / np.sqrt((layer.weight.numpy() ** 2).sum(axis=(1, 2, 3)) + 1e-8)
    np.testing.assert_allclose(layer(x, w).numpy(), plain * d[None, :, None, None],
                               rtol=1e-5, atol=1e-6)


def test_equal_linear_computes_a_scaled_linear_and_learns_lr_mul_slower(rng):
    layer = EqualLinear(4, 3, lr_mul=0.01).astype(np.float64)
    x = rng.standard_normal((5, 4))
    W, b = layer.weight.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(layer(refgan.tensor(x)).numpy(),
                               x @ (W * 0.01 / 2.0).T + 0.01 * b, rtol=1e-12)
    # the effective weight starts at standard scale: std 1 / sqrt(in_features)
    big = EqualLinear(400, 300, lr_mul=0.01)
    assert abs(float((big.weight.numpy() * big.scale).std()) - 0.05) < 0.002
    check_backward(layer, [x], params=layer.parameters(), n_directions=3)
    # an optimiser step of size eta on W moves the effective weight by lr_mul * eta / sqrt(in)
    plain = EqualLinear(4, 3, lr_mul=1.0)
    assert layer.scale == pytest.approx(0.01 * plain.scale)
