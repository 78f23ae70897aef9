"""Generator EMA with warm-up (GAN.update_ema)."""
import copy

import numpy as np

import refgan
from refgan.gans import MODEL_CLASSES, presets


def model_with_ema():
    c = presets.resolve("wgan-gp", "smoke", size=8, width_g=2, width_d=2, latent_dim=4, batch=4)
    refgan.manual_seed(0)
    m = MODEL_CLASSES["wgan-gp"](1).build(c)
    m.nets["G_ema"] = copy.deepcopy(m.nets["G"])
    return m


def test_warm_up_decay_and_the_average(numpy_backend):
    m = model_with_ema()
    G, E = m.nets["G"], m.nets["G_ema"]
    start = [p.data.copy() for p in E.parameters()]
    for p in G.parameters():
        p.data = p.data + 1.0
    d = m.update_ema(0.999, step=1)
    assert np.isclose(d, 2 / 11)                     # warm-up: forgets the start fast
    for s, pe in zip(start, E.parameters()):
        np.testing.assert_allclose(pe.data, d * s + (1 - d) * (s + 1.0), rtol=1e-6)
    assert m.update_ema(0.999, step=10_000) == 0.999  # the decay itself later on


def test_ema_reaches_a_still_generator_and_copies_batch_norm_statistics(numpy_backend):
    m = model_with_ema()
    G, E = m.nets["G"], m.nets["G_ema"]
    for p in G.parameters():
        p.data = p.data * 0 + 0.5
    bn = [mod for mod in G.modules() if "running_mean" in mod._buffers][0]
    bn.running_mean = bn.running_mean + 3.0
    for step in range(1, 200):
        m.update_ema(0.99, step)
    for pe in E.parameters():
        np.testing.assert_allclose(pe.data, 0.5, atol=0.05)
    bn_e = [mod for mod in E.modules() if "running_mean" in mod._buffers][0]
    np.testing.assert_array_equal(bn_e.running_mean, bn.running_mean)
