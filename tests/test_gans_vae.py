"""VAE-GAN's reconstruction term (refgan/gans/vae.py, ``--vae W``): the loss against
its formula in NumPy, its first-order derivatives in G's and E's weights against float64
finite differences, and a run whose encoder learns and that resumes bit-identically."""
import numpy as np
import pytest

import refgan
from refgan.errors import UserError
from refgan.gans.architectures import Encoder, Generator
from refgan.gans.vae import KL_SCALE, vae_loss
from refgan.gradcheck import check_backward
from refgan.training import presets

from test_gans import resumes_bit_identically


def small_pair():
    refgan.manual_seed(0)
    G = Generator(4, 8, 2).astype(np.float64).eval()
    E = Encoder(8, 2, 4, style="wgan").astype(np.float64)
    return G, E


def test_loss_is_l1_plus_scaled_kl(rng):
    G, E = small_pair()
    x = rng.uniform(-1, 1, (3, 3, 8, 8))
    eps = rng.standard_normal((3, 4))
    loss, logs = vae_loss(G, E, refgan.tensor(x), refgan.tensor(eps))
    mu, logvar = (t.numpy() for t in E(refgan.tensor(x)))
    rec = G(refgan.tensor(mu + np.exp(logvar / 2) * eps)).numpy()
    l1 = np.abs(rec - x).mean()
    kl = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar).sum(1).mean()
    np.testing.assert_allclose(loss.numpy(), l1 + kl / (KL_SCALE * 3 * 8 * 8), rtol=1e-12)
    assert logs["vae_l1"] == pytest.approx(l1) and logs["vae_kl"] == pytest.approx(kl)


def test_gradients_match_finite_differences(rng):
    G, E = small_pair()
    x = rng.uniform(-1, 1, (2, 3, 8, 8))
    eps = rng.standard_normal((2, 4))
    check_backward(lambda t: vae_loss(G, E, t, refgan.tensor(eps))[0], [x],
                   params=list(G.parameters()) + list(E.parameters()))


def test_a_vae_run_trains_its_encoder_and_resumes_bit_identically(tmp_path, numpy_backend):
    c = presets.resolve("wgan-gp", "smoke", steps=4, n_disc=2, vae=10.0, use_best=False)
    full, state = resumes_bit_identically(c, tmp_path)
    assert isinstance(full.models["healthy"].nets["E"], Encoder)
    assert any(k.startswith("healthy::opt.E") for k in state), "E's optimiser state is saved"
    steps = state["healthy::opt.E.step_count"]
    assert int(np.asarray(steps)) == 4, "E took one step per generator step"


def test_vae_is_refused_where_it_cannot_go():
    with pytest.raises(UserError, match="dcgan does not use --vae"):
        presets.resolve("dcgan", "smoke", strict=True, vae=1.0)
    with pytest.raises(UserError, match="--vae encodes full-size images"):
        presets.resolve("wgan-gp", "smoke", vae=1.0, progressive=5, size=32).validate()
