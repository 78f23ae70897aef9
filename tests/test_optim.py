"""Optimisers against their textbook recursions, exact resume, schedules."""
import numpy as np
import pytest

import refgan
from refgan import nn, optim


def quadratic_problem(seed=0):
    rng = np.random.default_rng(seed)
    p = nn.Parameter(rng.standard_normal(5).astype(np.float32))
    target = rng.standard_normal(5).astype(np.float32)
    return p, target


def step(opt, p, target):
    opt.zero_grad()
    d = p - refgan.tensor(target)
    (d * d).sum().backward()
    opt.step()


def test_adam_matches_the_recursion(cpu_backend):
    p, target = quadratic_problem()
    x = p.numpy().astype(np.float64)
    opt = optim.Adam([p], lr=0.01, betas=(0.5, 0.9), weight_decay=0.01)
    m = v = np.zeros(5)
    for t in range(1, 6):
        step(opt, p, target)
        g = 2 * (x - target) + 0.01 * x
        m, v = 0.5 * m + 0.5 * g, 0.9 * v + 0.1 * g * g
        x = x - 0.01 * (m / (1 - 0.5 ** t)) / (np.sqrt(v / (1 - 0.9 ** t)) + 1e-8)
    np.testing.assert_allclose(p.numpy(), x, rtol=1e-5, atol=1e-6)


def test_rmsprop_and_sgd_match_their_recursions(cpu_backend):
    p, target = quadratic_problem(1)
    x = p.numpy().astype(np.float64)
    opt = optim.RMSprop([p], lr=0.01, alpha=0.9)
    s = np.zeros(5)
    for _ in range(5):
        step(opt, p, target)
        g = 2 * (x - target)
        s = 0.9 * s + 0.1 * g * g
        x = x - 0.01 * g / (np.sqrt(s) + 1e-8)
    np.testing.assert_allclose(p.numpy(), x, rtol=1e-5, atol=1e-6)

    p, target = quadratic_problem(2)
    x = p.numpy().astype(np.float64)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    buf = None
    for _ in range(5):
        step(opt, p, target)
        g = 2 * (x - target)
        buf = g if buf is None else 0.9 * buf + g
        x = x - 0.1 * buf
    np.testing.assert_allclose(p.numpy(), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=0.05, betas=(0.5, 0.9)),
    lambda ps: optim.RMSprop(ps, lr=0.01),
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.5)], ids=["adam", "rmsprop", "sgd"])
def test_resume_from_state_dict_is_exact(cpu_backend, make):
    p, target = quadratic_problem(3)
    opt = make([p])
    sched = optim.CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        step(opt, p, target)
        sched.step()
    saved_p, saved_opt, saved_sched = p.numpy().copy(), opt.state_dict(), sched.state_dict()
    for _ in range(3):
        step(opt, p, target)
        sched.step()
    expected = p.numpy().copy()

    q = nn.Parameter(saved_p.copy())
    opt2 = make([q])
    opt2.load_state_dict({k: np.array(v) for k, v in saved_opt.items()})
    sched2 = optim.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(saved_sched)
    for _ in range(3):
        step(opt2, q, target)
        sched2.step()
    np.testing.assert_array_equal(q.numpy(), expected)


def test_schedules():
    p, _ = quadratic_problem()
    opt = optim.SGD([p], lr=1.0)
    cos = optim.make_schedule("cosine", opt, total_steps=4)
    assert [round(cos.step(), 6) for _ in range(4)] == [0.853553, 0.5, 0.146447, 0.0]
    opt = optim.SGD([p], lr=1.0)
    st = optim.make_schedule("step", opt, total_steps=4)
    assert [st.step() for _ in range(4)] == [1.0, 0.1, 0.1, pytest.approx(0.01)]
    with pytest.raises(ValueError, match="unknown schedule"):
        optim.make_schedule("warm", opt, 4)
