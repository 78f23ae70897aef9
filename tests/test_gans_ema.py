"""Generator EMA with warm-up (GAN.update_ema)."""
import copy

import numpy as np

import refgan
from refgan.gans import MODEL_CLASSES
from refgan.training import presets


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


def test_within_the_warm_up_the_average_is_a_tenth_of_the_run_old(numpy_backend):
    """While (1 + t) / (10 + t) < decay the average's weights are on average t / 10
    updates old, whatever the decay (update_ema's docstring): with G's weights equal
    to the update count s, the average after update t is t - t / 10."""
    t = 1000
    for decay in (0.999, 0.995):                  # the warm-up term binds to step 1,790
        m = model_with_ema()
        G, E = m.nets["G"], m.nets["G_ema"]
        for step in range(1, t + 1):
            for p in G.parameters():
                p.data = np.full_like(p.data, step)
            assert m.update_ema(decay, step) < decay
        for pe in E.parameters():
            np.testing.assert_allclose(pe.data, t - t / 10, atol=0.5)


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


def test_standing_statistics_belong_to_the_ema_weights(numpy_backend):
    """The EMA G's batch-norm statistics are recomputed for its own weights from its
    own latent stream; G's statistics and refgan's random streams are untouched."""
    m = model_with_ema()
    G, E = m.nets["G"], m.nets["G_ema"]
    for p in E.parameters():                      # EMA weights that differ from G's
        p.data = p.data * 1.5 + 0.1
    m.update_ema(0.5, step=100)                   # copies G's statistics, as training does
    g_stats = [b.copy() for b in (G.project[1].running_mean, G.project[1].running_var)]
    streams = refgan.random.get_state()
    m.standing_statistics(seed=3, batches=4, batch=8)
    # the first batch norm follows Linear(z) (no bias): the mean of the 4 batch means
    # of z W^T is the mean of all 32 latents times W^T
    rng = np.random.default_rng([3, 5])
    z = np.concatenate([rng.standard_normal((8, m.latent_dim)).astype(np.float32) for _ in range(4)])
    W = E.project[0].weight.numpy()
    np.testing.assert_allclose(E.project[1].running_mean, z.mean(0) @ W.T, rtol=1e-5, atol=1e-6)
    assert not np.allclose(E.project[1].running_mean, g_stats[0])
    np.testing.assert_array_equal(G.project[1].running_mean, g_stats[0])
    np.testing.assert_array_equal(G.project[1].running_var, g_stats[1])
    assert refgan.random.get_state() == streams
    assert E.project[1].momentum == 0.1 and E.training


def test_the_grid_and_the_checkpoint_of_a_step_share_standing_statistics(tmp_path, monkeypatch):
    """The sample grid (progress.gif, health checks) at a checkpoint step reads the EMA G
    with the standing statistics the checkpoint records, not G's copied ones."""
    from refgan.commands import main
    from refgan.training.monitor import Monitor

    seen = {}
    grid = Monitor.sample_grid

    def spy(self, models, step):
        for key, m in models.items():
            bn = m.nets["G_ema"].project[1]
            seen[key] = (step, bn.running_mean.copy(), m.nets["G"].project[1].running_mean.copy())
        return grid(self, models, step)

    monkeypatch.setattr(Monitor, "sample_grid", spy)
    run = tmp_path / "run"
    assert main(["-q", "train", "--model", "wgan-gp", "--preset", "smoke", "--ema", "0.9",
                 "--steps", "2", "--sample-every", "2", "--ckpt-every", "2",
                 "--no-progress", "--run-dir", str(run)]) == 0
    with np.load(run / "checkpoints" / "ckpt-0000002.npz") as z:
        saved = {k: z[k] for k in z.files if "G_ema.project.1.running_mean" in k}
    assert sorted(seen) == ["blast", "healthy"] and len(saved) == 2
    for key, (step, ema_stats, g_stats) in seen.items():
        assert step == 2
        [name] = [n for n in saved if n.startswith(key)]
        np.testing.assert_array_equal(ema_stats, saved[name])
        assert not np.allclose(ema_stats, g_stats)
