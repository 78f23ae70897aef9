"""The patch head (refgan/gans/patch_critic.py, ``--patch-critic``): its output against
the critic and the head run by hand, that it judges patches wherever they sit, first and
second derivatives against float64 finite differences, runs of both models that read
it, and the refusals."""
import numpy as np
import pytest

import refgan
from refgan import nn
from refgan.errors import UserError
from refgan.gans.architectures import Trunk
from refgan.gans.patch_critic import WithPatchHead
from refgan.training import presets

from test_gans import critic_matches_finite_differences, trained_critic_part


def critic(size, width, **kw):
    trunk = Trunk(size, width, dropout=0.0, **kw)
    return nn.Sequential(trunk, nn.Linear(trunk.out_features, 1))


def leaky(v):
    return np.where(v > 0, v, 0.2 * v)


def test_output_is_the_critic_plus_the_mean_patch_score(rng):
    refgan.manual_seed(0)
    d = WithPatchHead(critic(32, 2), side=16).astype(np.float64)
    x = rng.standard_normal((3, 3, 32, 32))
    body = d.critic[0].body
    f = body[1](body[0](refgan.tensor(x))).numpy()          # first stage: conv, leaky ReLU
    assert f.shape == (3, 2, 16, 16)
    conv3, conv1 = d.head[0], d.head[2]
    w3, b3 = conv3.weight.numpy(), conv3.bias.numpy()
    fp = np.pad(f, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h = np.zeros((3, 2, 16, 16))
    for i in range(3):
        for j in range(3):
            h += np.einsum("oc,nchw->nohw", w3[:, :, i, j], fp[:, :, i:i + 16, j:j + 16])
    h = leaky(h + b3[None, :, None, None])
    scores = (np.einsum("oc,nchw->nohw", conv1.weight.numpy()[:, :, 0, 0], h)
              + conv1.bias.numpy()[None, :, None, None])
    expected = d.critic(refgan.tensor(x)).numpy() + scores.mean(axis=(2, 3))
    np.testing.assert_allclose(d(refgan.tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_head_scores_every_patch_wherever_it_sits(rng):
    """Moving the image's content by an even number of pixels (whole cells of the 16x16
    grid at 32x32) inside a blank frame moves the patch scores with it: their mean is
    unchanged."""
    refgan.manual_seed(0)
    d = WithPatchHead(critic(32, 2), side=16).astype(np.float64)
    x = np.zeros((1, 3, 32, 32))
    x[:, :, 8:16, 8:16] = rng.standard_normal((1, 3, 8, 8))
    moved = np.roll(x, (8, 4), axis=(2, 3))
    scores = []
    for image in (x, moved):
        with d.trunk.keeping(16) as kept:
            d.critic(refgan.tensor(image))
        scores.append(d.head(kept[0]).numpy().mean())
    assert scores[0] == pytest.approx(scores[1], rel=1e-12)


def test_gradients_match_finite_differences_to_second_order(rng):
    """The gradient penalty differentiates the critic's input gradient: float64, both
    orders, with respect to the image and every parameter, minibatch std included."""
    refgan.manual_seed(0)
    d = WithPatchHead(critic(32, 2, minibatch_std=2), side=16).astype(np.float64)
    critic_matches_finite_differences(d, rng.standard_normal((2, 3, 32, 32)))


@pytest.mark.parametrize("model", ["wgan-gp", "dcgan"])
def test_a_run_with_the_patch_head_trains_it(model, tmp_path, numpy_backend):
    c = presets.resolve(model, "smoke", size=32, steps=3, patch_critic=True, use_best=False)
    t = trained_critic_part(c, tmp_path / "run", WithPatchHead, lambda D: D.head[0])
    assert any(k.startswith("net.D.head.") for k in t.models["healthy"].state_dict())


@pytest.mark.parametrize("kw,message", [
    (dict(patch_critic=True), "--patch-critic reads the critic's 16x16 features: it needs --size 32"),
    (dict(patch_critic=True, size=32, recon=1.0), "leave out --patch-critic or --recon"),
    (dict(patch_critic=True, size=32, low_res_critic=2), "leave out --patch-critic or --low-res-critic"),
    (dict(patch_critic=True, size=32, progressive=2), "leave out --patch-critic or --progressive"),
    (dict(model="cgan", patch_critic=True, size=32), "cgan does not use --patch-critic"),
])
def test_bad_patch_options_are_refused_by_name(kw, message):
    model = kw.pop("model", "wgan-gp")
    with pytest.raises(UserError, match=message):
        presets.resolve(model, "smoke", strict=True, **kw)


def test_the_module_needs_one_trunk():
    with pytest.raises(ValueError, match="found 0"):
        WithPatchHead(nn.Sequential(nn.Flatten(), nn.Linear(3, 1)))
