"""ALI's stochastic encoder and the mutual-information models (infogan, infowgan-gp)."""
import numpy as np
import pytest

import refgan
from refgan import ops
from refgan.gans import MODEL_CLASSES
from refgan.training import presets
from refgan.gans.architectures import Encoder
from refgan.gradcheck import check_backward, check_double_backward

from test_gans_real_data import CLASSES, cells, train_model  # noqa: F401 (fixture)


def small_encoder():
    refgan.manual_seed(0)
    return Encoder(8, 2, latent_dim=3).astype(np.float64)


# ------------------------------------------------------------ stochastic encoder
def test_encoder_draws_from_its_gaussian(numpy_backend):
    """z = mu + exp(logvar / 2) eps: two draws differ, and many draws have mean mu(x)
    and standard deviation exp(logvar(x) / 2)."""
    E = small_encoder()
    E.eval()  # batch-norm running statistics: E(x) then depends on x alone
    x = refgan.tensor(np.random.default_rng(0).standard_normal((1, 3, 8, 8)))
    with refgan.no_grad():
        mu, logvar = (t.numpy()[0] for t in E(x))
        draws = np.concatenate([E.sample(x).numpy() for _ in range(4000)])
    assert not np.allclose(draws[0], draws[1])
    sigma = np.exp(logvar / 2)
    np.testing.assert_allclose(draws.mean(0), mu, atol=4 * sigma.max() / np.sqrt(4000))
    np.testing.assert_allclose(draws.std(0), sigma, rtol=0.06)


def test_encoder_sample_gradient_wrt_image_and_weights(cpu_backend):
    """The reparameterised draw is differentiable in x and in every weight of E
    (train-mode batch norm included), first and second order."""
    E = small_encoder()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 3, 8, 8))
    eps = refgan.tensor(rng.standard_normal((3, 3)))
    check_backward(lambda x: E.sample(x, eps=eps), [x], params=E.parameters(), n_directions=3)
    check_double_backward(lambda x: E.sample(x, eps=eps), [x], n_directions=2)


def test_ali_generator_loss_reaches_the_encoder_through_the_draw(numpy_backend):
    """L_GE's gradient w.r.t. E's weights matches finite differences with the noise
    held fixed, and it reaches the log-variance half of E's head."""
    c = presets.resolve("ali", "smoke", size=8, width_g=2, width_d=2, latent_dim=3, batch=3)
    refgan.manual_seed(0)
    m = MODEL_CLASSES["ali"](1).build(c)
    for net in m.nets.values():
        net.astype(np.float64)
    m.nets["D"].eval()  # no dropout: the loss is a deterministic function of E
    x = refgan.tensor(np.random.default_rng(2).standard_normal((3, 3, 8, 8)))
    E = m.nets["E"]

    def encoder_loss():
        refgan.manual_seed(7)  # the same eps at every evaluation
        return ops.binary_cross_entropy_with_logits(m.nets["D"](x, E.sample(x)), 0.0)

    check_backward(encoder_loss, [], params=E.parameters(), n_directions=3)
    E.zero_grad()
    encoder_loss().backward()
    head_w = E.head.weight.grad.numpy()          # (2 * latent, F): mean rows, then logvar
    assert np.abs(head_w[3:]).sum() > 0


# ------------------------------------------------------------ mutual information
@pytest.mark.parametrize("model", ["infogan", "infowgan-gp"])
def test_mutual_information_term_puts_the_code_into_the_image(cells, model, numpy_backend):  # noqa: F811
    """After a short run, Q recovers the categorical code from G(z, c) well above
    chance (1 / n_cat), and changing the code at fixed z changes the image about as
    much as changing z. With lambda_I = 0 neither holds (checked when writing this
    test: Q 0.26, code/z change ratio 0.2-0.3; with lambda_I = 1: 0.96-1.0, 0.8-1.4)."""
    train, _, _ = cells
    steps = 120 if model == "infowgan-gp" else 200
    m = train_model(model, train.images, train.labels, 1, steps, n_disc=1, info_lambda=1.0)
    n = 400
    cat, c = m.codes(n)
    for net in m.nets.values():
        net.eval()
    with refgan.no_grad():
        x = m.nets["G"](ops.concat([m.z(n), c], axis=1))
        q_cat = m.nets["Q"](m.nets["trunk"](x)).numpy()[:, :m.n_cat]
    assert np.mean(q_cat.argmax(1) == cat) > 0.7  # chance 0.25
    z = np.random.default_rng(1).standard_normal((50, m.latent_dim)).astype(np.float32)
    xs = [m.sample(50, labels=np.full(50, k), z=z) for k in range(m.n_cat)]
    code_change = np.mean([np.abs(xs[a] - xs[b]).mean()
                           for a in range(m.n_cat) for b in range(a + 1, m.n_cat)])
    z_change = np.abs(xs[0][:25] - xs[0][25:]).mean()
    assert code_change > 0.5 * z_change


def test_infowgan_gp_critic_is_penalised_and_q_is_not(numpy_backend):
    """The gradient penalty is taken on D's score only: the critic step reports a
    penalty and a Wasserstein estimate, and Q's head gets gradient from L_I alone."""
    c = presets.resolve("infowgan-gp", "smoke", size=8, width_g=2, width_d=2, latent_dim=4,
                        batch=4, dropout=0.0)
    refgan.manual_seed(0)
    m = MODEL_CLASSES["infowgan-gp"](1).build(c)
    x = refgan.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 3, 8, 8)).astype(np.float32))
    logs = m.discriminator_step((x, np.zeros(4, np.int64)))
    assert {"wasserstein", "gp", "grad_norm", "info_loss"} <= set(logs)
    assert m.nets["Q"].weight.grad is not None
    m.lam_info = 0.0
    for net in m.nets.values():
        net.zero_grad()
    m.discriminator_step((x, np.zeros(4, np.int64)))
    q_grad = m.nets["Q"].weight.grad
    assert q_grad is None or not np.abs(q_grad.numpy()).any()
