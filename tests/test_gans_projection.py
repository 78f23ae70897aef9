"""CGAN's projection discriminator (refgan/gans/cgan.py, ``--critic projection``):
the formula, and a trained projection CGAN makes the requested class."""
import numpy as np
import pytest

import refgan
from refgan.gans import MODEL_CLASSES
from refgan.training import presets

from test_gans_real_data import (CLASSES, STEPS, cells, conditional_recognition,  # noqa: F401
                                 train_model)


def test_projection_critic_is_head_plus_label_inner_product(rng):
    c = presets.resolve("cgan", "smoke", critic="projection")
    refgan.manual_seed(0)
    m = MODEL_CLASSES["cgan"](3).build(c)
    x = refgan.tensor(rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32))
    y = np.array([0, 2, 1, 2])
    D = m.nets["D"]
    D.eval()
    phi = D[0](x).numpy()
    want = phi @ D[1].weight.numpy().T + D[1].bias.numpy() \
        + (m.nets["embed_D"].weight.numpy()[y] * phi).sum(1, keepdims=True)
    np.testing.assert_allclose(m.D(x, y).numpy(), want, rtol=1e-5, atol=1e-6)
    assert D[0].body[0].in_channels == 3          # no label plane


def test_projection_critic_trains_and_resumes_state():
    c = presets.resolve("cgan", "smoke", critic="projection", spectral_norm=True,
                        loss="hinge")
    refgan.manual_seed(0)
    m = MODEL_CLASSES["cgan"](2).build(c)
    x = refgan.tensor(np.zeros((8, 3, 16, 16), np.float32))
    logs = m.discriminator_step((x, np.array([0, 1] * 4)))
    logs.update(m.generator_step())
    assert np.isfinite([logs["d_loss"], logs["g_loss"]]).all()
    other = MODEL_CLASSES["cgan"](2).build(c)
    other.load_state_dict(m.state_dict())
    for k, v in other.state_dict().items():
        assert np.array_equal(v, m.state_dict()[k]), k


@pytest.mark.slow
def test_projection_cgan_makes_the_requested_class(cells):  # noqa: F811
    """The same protocol, steps and threshold as the concat CGAN (test_gans_real_data),
    with the hinge loss the projection paper trains with (docs/toolkit.md has the
    seeds behind the choice)."""
    train, _, clf = cells
    m = train_model("cgan", train.images, train.labels, len(CLASSES), critic="projection",
                    loss="hinge", **STEPS["cgan"])
    assert conditional_recognition(m, clf) > 0.75  # chance 0.25
