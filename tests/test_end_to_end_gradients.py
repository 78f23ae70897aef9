"""Whole-network gradient checks: the cases the NumPy GAN projects we studied get wrong."""
import numpy as np
import pytest

import refgan
from refgan import nn
from refgan import ops as F
from refgan.gradcheck import check_backward, check_double_backward


def small_critic(activation):
    return nn.Sequential(
        nn.Conv2d(3, 4, 5, stride=2, padding="same"), activation, nn.Dropout(0.3),
        nn.Conv2d(4, 6, 5, stride=2, padding="same"), activation, nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 1)).astype(np.float64)


@pytest.mark.parametrize("activation", [nn.LeakyReLU(0.2), nn.Softplus(), nn.Tanh()],
                         ids=["leaky_relu", "softplus", "tanh"])
def test_wgan_gp_critic_loss_gradient_wrt_every_parameter(cpu_backend, activation):
    """L_D = D(G(z)) - D(x) + 10 (||grad D(x_hat)||_2 - 1)^2 differentiated w.r.t. the
    critic's weights: second order through conv, its weight-gradient node, dropout and
    the activation (smooth activations make the Hessian terms non-zero)."""
    refgan.manual_seed(0)
    D = small_critic(activation)
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((3, 3, 7, 7)), rng.standard_normal((3, 3, 7, 7))
    eps = rng.uniform(size=(3, 1, 1, 1))

    def critic_loss():
        refgan.manual_seed(5)  # same dropout masks at every evaluation
        d_real = D(refgan.Tensor(real)).mean()
        d_fake = D(refgan.Tensor(fake)).mean()
        gp, _ = F.gradient_penalty(D, refgan.Tensor(real), refgan.Tensor(fake),
                                   eps=refgan.Tensor(eps))
        return d_fake - d_real + 10.0 * gp

    check_backward(critic_loss, [], params=D.parameters(), n_directions=4)


def test_wgan_gp_critic_loss_gradient_with_minibatch_std(cpu_backend):
    """The penalty differentiates through the batch's spread (MinibatchStd couples the
    samples of a group): second order w.r.t. every critic weight."""
    refgan.manual_seed(0)
    D = nn.Sequential(
        nn.Conv2d(3, 4, 5, stride=2, padding="same"), nn.Softplus(), nn.MinibatchStd(2),
        nn.Conv2d(5, 6, 5, stride=2, padding="same"), nn.Softplus(),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 1)).astype(np.float64)
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((4, 3, 7, 7)), rng.standard_normal((4, 3, 7, 7))
    eps = rng.uniform(size=(4, 1, 1, 1))

    def critic_loss(fake):
        gp, _ = F.gradient_penalty(D, refgan.Tensor(real), fake, eps=refgan.Tensor(eps))
        return D(fake).mean() - D(refgan.Tensor(real)).mean() + 10.0 * gp

    check_backward(critic_loss, [fake], params=D.parameters(), n_directions=4)


def test_generator_gets_penalty_gradient_through_fake(cpu_backend):
    """With fake = G(z) attached, the penalty's gradient also reaches G (through x_hat)."""
    refgan.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 3 * 5 * 5), nn.Unflatten((3, 5, 5)), nn.Tanh()).astype(np.float64)
    D = small_critic(nn.Softplus())
    D.eval()
    rng = np.random.default_rng(2)
    real, z = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 4))
    eps = rng.uniform(size=(2, 1, 1, 1))

    def penalty():
        gp, _ = F.gradient_penalty(D, refgan.Tensor(real), G(refgan.Tensor(z)),
                                   eps=refgan.Tensor(eps))
        return gp

    check_backward(penalty, [], params=G.parameters() + D.parameters(), n_directions=3)


def test_function_of_a_conv_weight_gradient(cpu_backend):
    """h(x, W) = ||dL/dW||^2: differentiating it runs Conv2dGradW's backward, which
    must use its incoming gradient (DeZero's ignores it)."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))

    def h(x, w):
        y = F.tanh(F.conv2d(x, w, stride=2, padding=1))
        (gw,) = refgan.grad((y * y).sum(), w, create_graph=True)
        return (gw * gw).sum()

    check_backward(h, [x, w], n_directions=3)


def test_transposed_conv_weight_gradient_second_order(cpu_backend):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal((3, 2, 4, 4))
    check_double_backward(lambda a, b: F.tanh(F.conv_transpose2d(a, b, stride=2, padding=1)),
                          [x, w])


def test_fan_out_tensor_used_by_two_layers(cpu_backend):
    refgan.manual_seed(1)
    a = nn.Conv2d(2, 3, 3, padding=1).astype(np.float64)
    b = nn.Conv2d(2, 3, 3, padding=1).astype(np.float64)
    x = np.random.default_rng(5).standard_normal((2, 2, 4, 4))

    def f(x):
        h = F.softplus(x)  # used by both branches
        return F.tanh(a(h)) * b(h) + h.sum()

    check_backward(f, [x], params=a.parameters() + b.parameters())
    check_double_backward(f, [x], params=a.parameters() + b.parameters())


def test_train_mode_batch_norm_second_order_in_a_network(cpu_backend):
    refgan.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding="same"), nn.BatchNorm2d(3),
                        nn.LeakyReLU(0.2), nn.Conv2d(3, 2, 3), nn.BatchNorm2d(2),
                        nn.Tanh()).astype(np.float64)
    x = np.random.default_rng(6).standard_normal((4, 2, 5, 5))

    def penalty(x):  # a gradient penalty on a BN network: needs BN's true double backward
        (g,) = refgan.grad(net(x).sum(), x, create_graph=True)
        return (g * g).sum()

    check_backward(penalty, [x], params=net.parameters(), n_directions=3)


def test_wgan_gp_generator_architecture_forward_backward_agree_across_backends():
    """The seed-000 generator/critic blocks give the same values on numpy and numba."""
    results = {}
    for name in ("numpy", "numba"):
        with refgan.using_backend(name):
            refgan.manual_seed(7)
            G = nn.Sequential(nn.Linear(8, 16 * 4 * 4), nn.BatchNorm1d(16 * 4 * 4),
                              nn.LeakyReLU(0.2), nn.Unflatten((16, 4, 4)),
                              nn.Upsample(2), nn.Conv2d(16, 8, 3, padding="same"),
                              nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
                              nn.Conv2d(8, 3, 3, padding="same"), nn.Tanh())
            D = small_critic(nn.LeakyReLU(0.2)).astype(np.float32)
            z = refgan.tensor(np.random.default_rng(0).standard_normal((4, 8)))
            fake = G(z)
            gp, _ = F.gradient_penalty(D, fake.detach() * 0.5, fake)
            loss = D(fake).mean() + 10.0 * gp
            loss.backward()
            results[name] = [loss.numpy()] + [p.grad.numpy() for p in G.parameters()]
    for a, b in zip(results["numpy"], results["numba"]):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
