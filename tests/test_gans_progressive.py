"""Progressive growing (refgan/gans/progressive.py, ``--progressive P``): the schedule,
the fade of reals, generator and critic, the full-size networks being Gaur et al.'s,
first and second derivatives through a fade, and a growing run that resumes exactly."""
import numpy as np
import pytest

import refgan
from refgan import nn
from refgan.errors import UserError
from refgan.gans.architectures import Generator, Trunk
from refgan.gans.progressive import (ProgressiveGenerator, ProgressiveTrunk, at_level, down,
                                     growth, levels, side_at)
from refgan.gradcheck import check_backward, check_double_backward
from refgan.training import presets
from refgan.torch_export import export_run
from refgan.training.trainer import Trainer

from test_gans import trainer


def test_schedule_holds_then_fades_each_resolution_and_ends_at_full_size():
    P, size = 10, 64                                    # 16 -> 32 -> 64: two doublings
    assert levels(size) == 2 and levels(32) == 1 and levels(16) == 0
    p = [growth(t, P, size) for t in range(60)]
    assert p[:11] == [0.0] * 11                         # hold 16 for P steps (fade starts at a = 0)
    np.testing.assert_allclose(p[10:20], np.arange(10) / 10)   # fade 32 in over P steps
    assert p[20:31] == [1.0] * 11 and p[40:] == [2.0] * 20
    assert all(b >= a for a, b in zip(p, p[1:]))
    assert growth(5, 0, size) == 2.0                    # off: full size from the start
    assert [side_at(q, size) for q in (0.0, 0.5, 1.0, 1.5, 2.0)] == [16, 32, 32, 64, 64]


def test_reals_are_averaged_down_and_faded_like_the_generator(rng):
    x = rng.standard_normal((2, 3, 64, 64))
    t = refgan.tensor(x)
    np.testing.assert_array_equal(at_level(t, 2.0, 64).numpy(), x)
    quarter = x.reshape(2, 3, 16, 4, 16, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(at_level(t, 0.0, 64).numpy(), quarter, rtol=1e-12)
    half = x.reshape(2, 3, 32, 2, 32, 2).mean(axis=(3, 5))
    blurred = quarter.repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_allclose(at_level(t, 0.25, 64).numpy(), 0.75 * blurred + 0.25 * half,
                               rtol=1e-12)
    np.testing.assert_allclose(down(t).numpy(), half, rtol=1e-12)


def _copy_into(dst_params, src):
    """Copy ``src``'s parameters and buffers, in order, into the first ones of ``dst``."""
    for a, b in zip(dst_params, src.parameters()):
        a.data = b.data.copy()


def test_full_size_networks_are_gaur_et_al_s():
    """At the end of growing, G is the upsample generator and D's trunk the wgan trunk
    (the growing adds only the lower resolutions' 1x1 colour convs)."""
    refgan.manual_seed(0)
    g, ref = ProgressiveGenerator(8, 64, 4).astype(np.float64), Generator(8, 64, 4).astype(np.float64)
    g_own = [p for n, p in g.named_parameters() if not n.startswith("to_rgb")]
    assert [p.shape for p in g_own] == [p.shape for p in ref.parameters()]
    _copy_into(g_own, ref)
    z = refgan.tensor(np.random.default_rng(1).standard_normal((4, 8)))
    np.testing.assert_allclose(g(z).numpy(), ref(z).numpy(), rtol=1e-12, atol=1e-14)

    d = ProgressiveTrunk(64, 4, dropout=0.0, minibatch_std=2).astype(np.float64)
    dref = Trunk(64, 4, dropout=0.0, minibatch_std=2).astype(np.float64)
    d_own = [p for n, p in d.named_parameters() if not n.startswith("from_rgb")]
    assert [p.shape for p in d_own] == [p.shape for p in dref.parameters()]
    _copy_into(d_own, dref)
    x = refgan.tensor(np.random.default_rng(2).standard_normal((4, 3, 64, 64)))
    np.testing.assert_allclose(d(x).numpy(), dref(x).numpy(), rtol=1e-12, atol=1e-14)
    assert d.out_features == dref.out_features


def test_generator_draws_at_the_level_s_side_and_fades_continuously():
    refgan.manual_seed(0)
    g = ProgressiveGenerator(8, 64, 4).astype(np.float64)
    z = refgan.tensor(np.random.default_rng(1).standard_normal((3, 8)))
    g.set_level(0.0)
    at16 = g(z).numpy()
    assert at16.shape == (3, 3, 16, 16)
    g.set_level(1e-9)                                   # fading 32 in: all of 16's image
    np.testing.assert_allclose(g(z).numpy(), at16.repeat(2, 2).repeat(2, 3), atol=1e-7)
    g.set_level(1.0)
    assert g(z).shape == (3, 3, 32, 32)
    assert g.full_size(g(z).numpy()).shape == (3, 3, 64, 64)


def test_critic_fade_starts_from_the_lower_resolution_critic():
    refgan.manual_seed(0)
    d = ProgressiveTrunk(64, 4, dropout=0.0).astype(np.float64)
    x = refgan.tensor(np.random.default_rng(3).standard_normal((2, 3, 64, 64)))
    d.set_level(0.0)
    low = d(at_level(x, 0.0, 64)).numpy()
    d.set_level(1e-9)
    np.testing.assert_allclose(d(at_level(x, 1e-9, 64)).numpy(), low, atol=1e-7)


def test_gradients_through_a_fade_match_finite_differences():
    """First and second order (the gradient penalty differentiates the critic's input
    gradient) through the fading critic and generator, float64."""
    refgan.manual_seed(0)
    d = ProgressiveTrunk(32, 2, dropout=0.0).astype(np.float64)
    g = ProgressiveGenerator(4, 32, 2).astype(np.float64)
    d.set_level(0.4)
    g.set_level(0.4)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 32, 32))
    check_backward(lambda t: d(t), [x], params=d.parameters())
    check_double_backward(lambda t: d(t), [x], params=d.parameters())
    g.eval()                                            # batch-norm running statistics
    check_backward(lambda t: g(t), [rng.standard_normal((2, 4))], params=g.parameters())


def config(**kw):
    kw.setdefault("steps", 6)
    kw.setdefault("n_disc", 2)
    kw.setdefault("size", 32)
    return presets.resolve("wgan-gp", "smoke", **kw)


def test_a_growing_run_trains_samples_full_size_and_resumes_bit_identically(tmp_path, numpy_backend):
    c = config(progressive=2, ema=0.9, use_best=False)
    full = trainer(c, tmp_path / "full", log=lambda m: None).setup()
    assert full.run() == 0
    m = full.models["healthy"]
    assert isinstance(m.nets["G"], ProgressiveGenerator)
    assert m.nets["G"].p == 1.0 and m.nets["G_ema"].p == 1.0
    assert m.sample(3).shape == (3, 3, 32, 32)
    part = trainer(c, tmp_path / "part", log=lambda m: None).setup()
    assert part.run(max_steps=4) == 130                 # stopped inside the fade: step 3 at p = 0.5
    assert part.models["healthy"].nets["G"].p == 0.5
    resumed = Trainer.resume(tmp_path / "part", part.data, log=lambda m: None)
    assert resumed.models["healthy"].nets["G"].p == 0.5  # the level comes back with the checkpoint
    assert resumed.run() == 0
    (a, _), (b, _) = full.state(), resumed.state()
    assert a.keys() == b.keys() and any(k.endswith(".level") for k in a)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_a_sample_below_full_size_is_upsampled(tmp_path, numpy_backend):
    t = trainer(config(progressive=50, steps=2), tmp_path / "run", log=lambda m: None).setup()
    assert t.run() == 0
    m = t.models["healthy"]
    assert m.nets["G"].p == 0.0
    s = m.sample(2)
    assert s.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(s[:, :, ::2, ::2], s[:, :, 1::2, 1::2])
    with pytest.raises(UserError, match="ProgressiveGenerator has no PyTorch twin"):
        export_run(tmp_path / "run", tmp_path / "torch")      # named, not half exported


@pytest.mark.parametrize("kw,message", [
    (dict(progressive=10, size=16), "--progressive starts at 16x16"),
    (dict(progressive=10, size=32, generator="styled"), "--progressive grows Gaur et al.'s upsample"),
    (dict(progressive=-1, size=32), "--progressive must be >= 0"),
])
def test_bad_progressive_options_are_refused(kw, message):
    with pytest.raises(UserError, match=message):
        presets.resolve("wgan-gp", "smoke", **kw).validate()


def test_other_models_refuse_progressive():
    with pytest.raises(UserError, match="dcgan does not use --progressive"):
        presets.resolve("dcgan", "smoke", strict=True, progressive=10, size=32)   # as the command line does
