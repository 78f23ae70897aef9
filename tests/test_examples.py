"""examples/wgan_gp.py: the one-file WGAN-GP runs, detaches the fake batch in the
critic step, and its written-out gradient penalty is the library's."""
import importlib.util
from pathlib import Path

import numpy as np

import refgan
from refgan import ops, optim

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "wgan_gp.py"
spec = importlib.util.spec_from_file_location("wgan_gp_example", EXAMPLE)
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


def test_example_trains_a_few_steps_and_writes_samples(tmp_path, capsys):
    out = tmp_path / "samples.png"
    assert example.main(["--steps", "2", "--size", "16", "--width", "4", "--batch", "8",
                         "--n-critic", "2", "--n-per-class", "12", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    err = capsys.readouterr().err
    assert err.count("step    2/2") == 2      # one GAN per class
    assert len(EXAMPLE.read_text().splitlines()) < 200


def _pair():
    refgan.manual_seed(0)
    G, D = example.generator(8, 16, 4), example.critic(16, 4, dropout=0.0)
    rng = np.random.default_rng(0)
    x = refgan.tensor(rng.uniform(-1, 1, (4, 3, 16, 16)), dtype=np.float32)
    z = refgan.tensor(rng.standard_normal((4, 8)), dtype=np.float32)
    eps = refgan.tensor(rng.uniform(0, 1, (4, 1, 1, 1)), dtype=np.float32)
    return G, D, x, z, eps


def test_critic_step_never_reaches_the_generator(numpy_backend):
    G, D, x, z, eps = _pair()
    g_before = [p.data.copy() for p in G.parameters()]
    d_before = [p.data.copy() for p in D.parameters()]
    opt_d = optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.9))
    example.critic_step(G, D, opt_d, x, z, eps)
    assert all(p.grad is None for p in G.parameters())          # the fake batch was detached
    assert all(np.array_equal(a, p.data) for a, p in zip(g_before, G.parameters()))
    assert any(not np.array_equal(a, p.data) for a, p in zip(d_before, D.parameters()))
    opt_g = optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.9))
    d_now = [p.data.copy() for p in D.parameters()]
    example.generator_step(G, D, opt_g, z)
    assert all(np.array_equal(a, p.data) for a, p in zip(d_now, D.parameters()))  # D fixed
    assert any(not np.array_equal(a, p.data) for a, p in zip(g_before, G.parameters()))
    assert all(p.requires_grad for p in D.parameters())


def test_written_out_penalty_is_the_librarys(numpy_backend):
    G, D, x, z, eps = _pair()
    with refgan.no_grad():
        fake = G(z)
    mine = example.gradient_penalty(D, x, fake, eps)
    library, _ = ops.gradient_penalty(D, x, fake, eps=eps)
    np.testing.assert_allclose(mine.numpy(), library.numpy(), rtol=1e-4)
    # both are functions of D's weights: their weight gradients agree too
    w = D.parameters()[0]
    (g_mine,) = refgan.grad(mine, w)
    (g_lib,) = refgan.grad(library, w)
    np.testing.assert_allclose(g_mine.numpy(), g_lib.numpy(), rtol=1e-3, atol=1e-6)
