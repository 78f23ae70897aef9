"""Spectral normalisation (refgan/nn/spectral_norm.py): the power iteration finds the
largest singular value, the normalised layer has gradients of first and second
order, and u and v travel in the state dict."""
import numpy as np
import pytest

import refgan
from refgan import nn
from refgan.gradcheck import check_backward, check_double_backward
from refgan.nn.spectral_norm import SpectralNorm, apply_spectral_norm


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.Linear(6, 4), (4, -1)),
    (lambda: nn.Conv2d(3, 5, 3), (5, -1)),
    (lambda: nn.ConvTranspose2d(3, 5, 3), None),
])
def test_power_iteration_converges_to_the_largest_singular_value(make, shape):
    refgan.manual_seed(0)
    layer = SpectralNorm(make())
    W = layer.module.weight.numpy().astype(np.float64)
    Wm = W.reshape(shape) if shape else W.transpose(1, 0, 2, 3).reshape(W.shape[1], -1)
    for _ in range(100):
        sigma = float(layer.sigma(update=True).numpy())
    np.testing.assert_allclose(sigma, np.linalg.svd(Wm, compute_uv=False)[0], rtol=1e-4)


def test_normalised_weight_has_unit_spectral_norm_and_layer_uses_it(rng):
    refgan.manual_seed(1)
    layer = SpectralNorm(nn.Linear(5, 3))
    for _ in range(50):
        layer.sigma(update=True)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    W = layer.module.weight.numpy()
    sigma = np.linalg.svd(W, compute_uv=False)[0]
    layer.eval()
    y = layer(refgan.tensor(x)).numpy()
    np.testing.assert_allclose(y, x @ (W / sigma).T + layer.module.bias.numpy(), rtol=1e-4,
                               atol=1e-5)
    assert layer.module.weight is layer.module._parameters["weight"]   # restored


def test_eval_mode_leaves_u_alone_and_training_moves_it(rng):
    layer = SpectralNorm(nn.Conv2d(2, 3, 3))
    x = refgan.tensor(rng.standard_normal((1, 2, 5, 5)).astype(np.float32))
    u0 = layer.u.copy()
    layer.eval()
    layer(x)
    np.testing.assert_array_equal(layer.u, u0)
    layer.train()
    layer(x)
    assert not np.array_equal(layer.u, u0)


def test_gradients_first_and_second_order(rng):
    """In eval mode (u and v fixed) the map (x, W) -> layer(x) is smooth; a critic with a
    smooth activation checks the double backward through the normalisation."""
    refgan.manual_seed(2)
    net = apply_spectral_norm(nn.Sequential(nn.Conv2d(2, 3, 3), nn.Softplus(), nn.Flatten(),
                                            nn.Linear(27, 1))).astype(np.float64)
    for _ in range(3):
        net(refgan.tensor(rng.standard_normal((2, 2, 5, 5))))
    net.eval()
    x = rng.standard_normal((2, 2, 5, 5))
    check_backward(net, [x], params=net.parameters(), n_directions=3)
    check_double_backward(net, [x], params=net.parameters(), n_directions=2)


def test_u_is_in_the_state_dict_and_order_is_kept():
    refgan.manual_seed(3)
    net = apply_spectral_norm(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2),
                                            nn.Flatten(), nn.Linear(4, 1)))
    assert list(net.state_dict()) == ["0.u", "0.v", "0.module.weight", "0.module.bias",
                                      "3.u", "3.v", "3.module.weight", "3.module.bias"]
    x = refgan.tensor(np.ones((2, 3, 3, 3), np.float32))
    net(x)
    refgan.manual_seed(4)
    other = apply_spectral_norm(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2),
                                              nn.Flatten(), nn.Linear(4, 1)))
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other(x).numpy(), net(x).numpy())
    np.testing.assert_array_equal(other[0].u, net[0].u)


def test_refuses_other_layers():
    with pytest.raises(TypeError, match="Linear or Conv"):
        SpectralNorm(nn.BatchNorm1d(3))
