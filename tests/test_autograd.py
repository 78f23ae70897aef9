"""The autograd engine: accumulation, fan-out, create_graph, pruning, freeing."""
import gc
import weakref

import numpy as np
import pytest

import refgan
from refgan import ops as F


def t64(a, requires_grad=True):
    return refgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def test_fan_out_accumulates(numpy_backend):
    x = t64([1.0, -2.0, 3.0])
    y = (x * x + x).sum()  # x used three times
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 1)


def test_backward_accumulates_across_calls(numpy_backend):
    x = t64([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_grad_returns_tuple_and_leaves_dot_grad(numpy_backend):
    x = t64([1.0, 2.0])
    (g,) = refgan.grad((x ** 3).sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    assert x.grad is None


def test_second_and_third_derivative(numpy_backend):
    x = t64([0.5, -1.5])
    (g,) = refgan.grad((x ** 4).sum(), x, create_graph=True)
    (h,) = refgan.grad(g.sum(), x, create_graph=True)
    (t,) = refgan.grad(h.sum(), x)
    np.testing.assert_allclose(h.numpy(), 12 * x.numpy() ** 2)
    np.testing.assert_allclose(t.numpy(), 24 * x.numpy())


def test_grad_of_intermediate_and_unused(numpy_backend):
    x = t64([1.0, 2.0])
    u = x * 2.0
    y = (u * u).sum()
    (gu,) = refgan.grad(y, u, retain_graph=True)
    np.testing.assert_allclose(gu.numpy(), 2 * u.numpy())
    z = t64([1.0])
    with pytest.raises(RuntimeError, match="not reachable"):
        refgan.grad(y, [x, z], retain_graph=True)
    gx, gz = refgan.grad(y, [x, z], allow_unused=True)
    assert gz is None and gx is not None


def test_second_backward_without_retain_graph_is_an_error(numpy_backend):
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_grad_prunes_branches_that_do_not_lead_to_inputs(numpy_backend):
    """grad(D(x_hat), x_hat) must not run the generator's backward."""
    calls = []

    class Spy(refgan.Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, gy):
            calls.append(1)
            return gy

    w = t64([1.0, 2.0])
    x_hat = Spy()(w) * 3.0  # "generator" output
    (g,) = refgan.grad((x_hat * x_hat).sum(), x_hat)
    assert calls == []
    np.testing.assert_allclose(g.numpy(), 2 * x_hat.numpy())


def test_no_grad_records_nothing(numpy_backend):
    x = t64([1.0])
    with refgan.no_grad():
        y = x * 2.0
    assert y.creator is None and not y.requires_grad


def test_graph_is_freed_by_reference_counting(numpy_backend):
    x = t64(np.ones(4))
    y = F.tanh(x * 2.0)
    fn = weakref.ref(y.creator)
    gc.disable()
    try:
        del y
        assert fn() is None  # no cycle keeps the node alive
    finally:
        gc.enable()


def test_scalar_operands_keep_float32(numpy_backend):
    x = refgan.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (2.0 * x - 1.0) / 3.0 + x ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_broadcast_gradients_sum_back(numpy_backend):
    a = t64(np.ones((3, 4)))
    b = t64(np.arange(4.0))
    (a * b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 3.0))
    np.testing.assert_allclose(a.grad.numpy(), np.tile(np.arange(4.0), (3, 1)))


def test_backward_needs_scalar_or_gradient(numpy_backend):
    x = t64(np.ones(3))
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2.0).backward()
    (x * 2.0).backward(np.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_grad_output_of_the_wrong_shape_is_rejected(numpy_backend):
    x = t64([1.0, 2.0])
    with pytest.raises(ValueError, match="does not match"):
        refgan.grad(x * 2.0, x, grad_outputs=np.ones(3))


def test_tensors_and_modules_move_between_backends():
    x = refgan.tensor(np.arange(3.0))
    with refgan.using_backend("numpy"):
        net = refgan.nn.Linear(2, 2)
        before = net.state_dict()
    with refgan.using_backend("numba"):
        assert isinstance(x.to_backend().data, np.ndarray)
        net.to_backend()
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(v, before[k])


def test_thread_count_must_be_positive():
    with pytest.raises(refgan.UserError, match=">= 1"):
        refgan.set_num_threads(0)
