"""Failure flags that can fire (refgan/training/monitor.py): mode collapse within each
class of a conditional model, and the two ways a discriminator stops helping G (it
wins, or it cannot tell real from fake), on scripted metric histories and scripted
generators; healthy histories and generators are not flagged."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from refgan.training import presets
from refgan.training.load import model_keys
from refgan.training.monitor import Monitor

CLASSES = ["healthy", "blast"]
SIZE = 8


def real_data(n_per_class=40, seed=0):
    """Random real images (N, 3, 8, 8) in [-1, 1], ``n_per_class`` of each class."""
    rng = np.random.default_rng(seed)
    images = np.clip(rng.normal(0, 0.5, (n_per_class * len(CLASSES), 3, SIZE, SIZE)), -1, 1)
    labels = np.repeat(np.arange(len(CLASSES)), n_per_class)
    return SimpleNamespace(class_names=CLASSES,
                           train=SimpleNamespace(images=images.astype(np.float32), labels=labels))


def monitor(tmp_path, model, steps=100, **kw):
    config = presets.resolve(model, "smoke", steps=steps, size=SIZE, n_fixed=8, **kw)
    messages = []
    m = Monitor(config, real_data(), model_keys(config), tmp_path, log=messages.append)
    return m, messages


class ScriptedGenerator:
    """G(z, y) = base[y] + 0.5 * A z: a different image for every z, except for the
    labels in ``collapsed``, whose image is base[y] whatever z is."""
    conditional = True

    def __init__(self, latent_dim, collapsed=(), seed=1):
        rng = np.random.default_rng(seed)
        self.base = rng.normal(0, 0.3, (len(CLASSES), 3 * SIZE * SIZE))
        self.A = rng.normal(0, 1 / np.sqrt(latent_dim), (latent_dim, 3 * SIZE * SIZE))
        self.collapsed = {CLASSES.index(c) for c in collapsed}

    def sample(self, n, labels=None, z=None):
        spread = 0.5 * z @ self.A
        spread[np.isin(labels, list(self.collapsed))] = 0
        return (self.base[labels] + spread).reshape(n, 3, SIZE, SIZE).astype(np.float32)


def events(tmp_path):
    return [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]


# ------------------------------------------------------------- mode collapse
@pytest.mark.parametrize("model", ["cgan", "acgan"])
def test_collapsed_class_of_a_conditional_generator_is_flagged_by_name(tmp_path, model):
    m, messages = monitor(tmp_path, model)
    G = ScriptedGenerator(m.config.latent_dim, collapsed=["blast"])
    ratios = m.check_health(m.fixed_samples({"all": G}), step=50)
    assert ratios["blast/diversity"] < 0.05 < 0.5 < ratios["healthy/diversity"]
    assert ("mode_collapse", "blast") in m.flagged
    assert ("mode_collapse", "healthy") not in m.flagged
    assert len(messages) == 1 and "'blast'" in messages[0] and "healthy" not in messages[0]
    assert [e["model"] for e in events(tmp_path) if e.get("event") == "mode_collapse"] == ["blast"]


def test_fully_collapsed_conditional_generator_flags_every_class(tmp_path):
    """One image per class: the samples still differ across classes (the old check,
    over the whole row, saw ~1x the real diversity and said nothing)."""
    m, messages = monitor(tmp_path, "cgan")
    G = ScriptedGenerator(m.config.latent_dim, collapsed=CLASSES)
    m.check_health(m.fixed_samples({"all": G}), step=50)
    assert {k for kind, k in m.flagged if kind == "mode_collapse"} == set(CLASSES)


def test_diverse_conditional_generator_is_not_flagged(tmp_path):
    m, messages = monitor(tmp_path, "cgan")
    G = ScriptedGenerator(m.config.latent_dim)
    ratios = m.check_health(m.fixed_samples({"all": G}), step=50)
    assert not m.flagged and not messages
    assert set(ratios) == {f"{c}/diversity" for c in CLASSES}


def test_conditional_grid_has_a_row_per_class_at_the_same_latents(tmp_path):
    m, _ = monitor(tmp_path, "cgan")
    G = ScriptedGenerator(m.config.latent_dim)
    rows = m.sample_grid({"all": G}, step=0)
    assert list(rows) == CLASSES
    n = m.config.n_fixed
    assert all(r.shape == (n, 3, SIZE, SIZE) for r in rows.values())
    # same z in every row: the rows differ only by their class's base image
    assert np.allclose(rows["blast"] - rows["healthy"], (G.base[1] - G.base[0]).reshape(3, SIZE, SIZE),
                       atol=1e-5)


# ------------------------------------------------------------- non-convergence
def feed(m, steps, histories: dict, seed=0):
    """``steps`` logged steps of {model key: {metric: value, or (mean, sd) for noise}}."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        m.record({f"{key}/{n}": float(v if np.isscalar(v) else rng.normal(*v))
                  for key, metrics in histories.items() for n, v in metrics.items()})


def non_convergence(tmp_path):
    return [e for e in events(tmp_path) if e.get("event") == "non_convergence"]


def test_discriminator_that_wins_is_flagged_with_its_evidence(tmp_path):
    m, messages = monitor(tmp_path, "dcgan")
    feed(m, 40, {c: dict(d_loss=0.02, g_loss=5.0, d_real=0.99, d_fake=0.01) for c in CLASSES})
    m.check_health({}, step=40)
    (e, _), = [(e, None) for e in non_convergence(tmp_path) if e["model"] == "blast"]
    assert e["failure"] == "discriminator_wins"
    assert "0.020" in e["message"] and "5.00" in e["message"] and "--lr-d" in e["message"]


def test_discriminator_at_chance_is_flagged(tmp_path):
    """D's scores of real images and of fakes both sit at 0.5 for a whole window."""
    m, messages = monitor(tmp_path, "dcgan")
    feed(m, 40, {"healthy": dict(d_loss=(1.386, 0.01), g_loss=(0.693, 0.01),
                                 d_real=(0.51, 0.01), d_fake=(0.49, 0.01)),
                 "blast": dict(d_loss=(0.9, 0.1), g_loss=(1.5, 0.2),
                               d_real=(0.8, 0.05), d_fake=(0.3, 0.05))})
    m.check_health({}, step=40)
    (e,) = non_convergence(tmp_path)
    assert e["model"] == "healthy" and e["failure"] == "discriminator_at_chance"
    assert "cannot tell" in e["message"] and "0.51" in e["message"] and "0.49" in e["message"]
    assert ("non_convergence", "blast") not in m.flagged


def test_both_losses_near_zero_is_flagged_as_its_own_failure(tmp_path):
    """The broken AC-GAN: D's loss and G's loss near zero at once (D calls the
    fakes fake in its step and real in G's): not the 'D wins' message."""
    m, messages = monitor(tmp_path, "acgan")
    feed(m, 40, {"all": dict(d_loss=(0.004, 0.001), g_loss=(0.005, 0.001), real_fraction=0.75)})
    m.check_health({}, step=40)
    (e,) = non_convergence(tmp_path)
    assert e["failure"] == "losses_collapse"
    assert "G's loss" in e["message"] and "0.005" in e["message"]
    assert len(messages) == 1


def test_chance_is_not_flagged_in_the_first_fifth_of_a_run(tmp_path):
    """A freshly initialised D scores everything about 0.5."""
    m, messages = monitor(tmp_path, "dcgan", steps=1000)
    feed(m, 150, {c: dict(d_loss=1.386, g_loss=0.693, d_real=0.5, d_fake=0.5) for c in CLASSES})
    m.check_health({}, step=150)
    assert not m.flagged


@pytest.mark.parametrize("model,history", [
    # a healthy BCE game: D ahead of G but not saturated
    ("dcgan", dict(d_loss=(0.9, 0.1), g_loss=(1.5, 0.2), d_real=(0.8, 0.05), d_fake=(0.3, 0.05))),
    ("cgan", dict(d_loss=(0.5, 0.1), g_loss=(2.0, 0.3))),
    ("acgan", dict(d_loss=(0.45, 0.05), g_loss=(2.5, 0.3), real_fraction=0.75)),
    # WGAN-GP: losses of any sign and scale, both passing near zero; the estimate falls
    ("wgan-gp", dict(d_loss=(0.0, 0.02), g_loss=(0.0, 0.03), wasserstein=(2.0, 0.3),
                     gp=(0.05, 0.01), grad_norm=(1.0, 0.1))),
])
def test_healthy_histories_are_not_flagged(tmp_path, model, history):
    m, messages = monitor(tmp_path, model)
    feed(m, 60, {k: history for k in m.keys})
    m.check_health({}, step=60)
    assert not m.flagged and not messages


def test_critic_running_away_is_flagged(tmp_path):
    m, messages = monitor(tmp_path, "wgan-gp")
    steady = dict(d_loss=-2.0, g_loss=1.0, wasserstein=2.0)
    feed(m, 10, {"healthy": steady, "blast": steady})          # windows of 10 steps
    feed(m, 10, {"healthy": dict(d_loss=-9.0, g_loss=5.0, wasserstein=9.0), "blast": steady})
    m.check_health({}, step=40)
    (e,) = non_convergence(tmp_path)
    assert e["model"] == "healthy" and e["failure"] == "critic_runs_away" and "2.00" in e["message"] and "9.00" in e["message"]


def test_critic_growing_stronger_far_below_its_start_is_not_flagged(tmp_path):
    """The main job with translation-only DiffAugment: the estimate fell from ~16 (the
    untrained G) to ~0.8 and rose to ~1.6 while the samples kept improving; a critic
    that grows somewhat stronger is not one that runs away."""
    m, messages = monitor(tmp_path, "wgan-gp")
    feed(m, 10, {k: dict(wasserstein=(16.0, 1.0)) for k in m.keys})
    feed(m, 10, {k: dict(wasserstein=(0.75, 0.2)) for k in m.keys}, seed=1)
    feed(m, 10, {k: dict(wasserstein=(1.65, 0.2)) for k in m.keys}, seed=2)
    m.check_health({}, step=60)
    assert not m.flagged and not messages


def test_critic_climbing_back_towards_its_start_is_flagged(tmp_path):
    m, messages = monitor(tmp_path, "wgan-gp")
    feed(m, 10, {k: dict(wasserstein=(16.0, 1.0)) for k in m.keys})
    feed(m, 10, {k: dict(wasserstein=(0.75, 0.2)) for k in m.keys}, seed=1)
    feed(m, 10, {"healthy": dict(wasserstein=(6.0, 0.2)), "blast": dict(wasserstein=(0.75, 0.2))},
         seed=2)
    m.check_health({}, step=60)
    (e,) = non_convergence(tmp_path)
    assert e["model"] == "healthy" and e["failure"] == "critic_runs_away"


def test_critic_estimate_drifting_inside_its_noise_is_not_flagged(tmp_path):
    """The main job (batch 16, one critic step) logs per-step estimates spread over
    +-10 while their window means drift from ~0.1 to ~1.2; that "doubling" is noise,
    not a critic running away (it fired on every check of the healthy model)."""
    m, messages = monitor(tmp_path, "wgan-gp")
    feed(m, 10, {"healthy": dict(wasserstein=(0.1, 8.0)), "blast": dict(wasserstein=(0.1, 8.0))})
    feed(m, 10, {"healthy": dict(wasserstein=(1.2, 8.0)), "blast": dict(wasserstein=(0.1, 8.0))},
         seed=1)
    m.check_health({}, step=40)
    assert not m.flagged and not messages


def test_final_grid_title_names_the_checkpoint_it_was_drawn_from():
    """With --use-best the grid is drawn by the best checkpoint's weights, not the last
    step's (the main job's grid said "after 2535 steps" for step 1900's weights)."""
    from refgan.training.monitor import grid_title

    assert grid_title("wgan-gp", 2535) == "wgan-gp after 2535 steps (fixed z)"
    assert grid_title("wgan-gp", 2535, 2535) == "wgan-gp after 2535 steps (fixed z)"
    assert grid_title("wgan-gp", 2535, 1900) == "wgan-gp, best checkpoint: step 1900 of 2535 (fixed z)"
