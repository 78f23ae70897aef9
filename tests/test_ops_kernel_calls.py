"""Work the ops (refgan/ops) provably do not need is not done: speed by doing less.

The results themselves are checked by the gradient tests (test_op_gradients,
test_end_to_end_gradients); these tests count kernel calls.
"""
import numpy as np
import pytest

import refgan
from refgan import backend, nn, ops


@pytest.fixture
def counted(monkeypatch):
    """Counts of the conv kernels' calls on the active backend."""
    K = backend.kernels()
    calls = {"conv2d": 0, "conv2d_grad_input": 0, "conv2d_grad_weight": 0}
    for name in calls:
        f = getattr(K, name)

        def wrapped(*a, _f=f, _name=name, **k):
            calls[_name] += 1
            return _f(*a, **k)

        monkeypatch.setattr(K, name, wrapped)
    return calls


def _critic():
    refgan.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, 2, "same"), nn.LeakyReLU(0.2),
                         nn.Conv2d(4, 4, 3, 2, "same"), nn.LeakyReLU(0.2), nn.Flatten(),
                         nn.Linear(4 * 2 * 2, 1))


def test_input_gradient_computes_no_weight_gradients(counted):
    """grad(D(x), x) -- the penalty's first pass -- needs no weight gradient, although
    the weights require grad: none is computed (2 convs: 2 input gradients, 0 weight)."""
    D = _critic()
    x = refgan.tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)), requires_grad=True)
    (g,) = refgan.grad(ops.sum(D(x)), x, create_graph=True)
    assert counted["conv2d_grad_input"] == 2
    assert counted["conv2d_grad_weight"] == 0
    # The graph kept for the second pass still reaches every weight (not the biases:
    # the input gradient of a piecewise-linear critic does not depend on them).
    ops.sum(g * g).backward()
    assert all(D[i].weight.grad is not None for i in (0, 2, 5))


def test_backward_to_leaves_still_computes_every_needed_gradient(counted):
    D = _critic()
    x = refgan.tensor(np.random.default_rng(1).standard_normal((2, 3, 8, 8)))
    ops.sum(D(x)).backward()
    assert counted["conv2d_grad_weight"] == 2
    assert counted["conv2d_grad_input"] == 1     # the images need none
