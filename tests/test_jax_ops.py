"""Every refgan op against its JAX twin: forward values (float32 and float64) and
derivatives (JAX autodiff of the twins vs refgan's hand-written backwards, first and
second order, float64). Skipped when JAX is not installed."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")

from refgan import ops  # noqa: E402
from refgan import random as rrandom  # noqa: E402
from refgan.export.jax_ops import TWINS, refgan_ops  # noqa: E402
from refgan.export.oracle import (FAST_COMPILE, assert_close, jax_function,  # noqa: E402
                                  jax_grads, refgan_grads)
from refgan.autograd import Tensor  # noqa: E402
from refgan.ops import conv, math, norm, reduce, shape  # noqa: E402
from refgan.ops.conv import conv_out_hw  # noqa: E402

FORWARD_RTOL = {np.float32: 1e-5, np.float64: 1e-12}
GRAD_RTOL = {1: 1e-11, 2: 1e-11}  # float64; observed <= 1e-15


# ---------------------------------------------------------------- input makers
def normal(*shape):
    return ("normal", shape)


def positive(*shape):  # for log, sqrt, pow bases, divisors
    return ("positive", shape)


def away(*shape):  # away from kinks (relu, abs at 0)
    return ("away", shape)


def _draw(spec, rng, dtype):
    kind, shp = spec
    x = rng.standard_normal(shp)
    if kind == "positive":
        x = rng.uniform(0.5, 2.0, shp)
    elif kind == "away":
        x = x + 0.3 * np.sign(x)
    return x.astype(dtype)


def _dropout(x):
    rrandom.manual_seed(11)  # refgan draws the same u that the JAX side is given
    return ops.dropout(x, 0.3)


def _conv_grad_w_case(x_hw, k, stride, pads, dilation):
    oh, ow = (
        (x_hw[0] + pads[0] + pads[1] - dilation[0] * (k - 1) - 1) // stride[0] + 1,
        (x_hw[1] + pads[2] + pads[3] - dilation[1] * (k - 1) - 1) // stride[1] + 1)
    fn = lambda x, gy: conv.Conv2dGradW((4, 3, k, k), stride, pads, dilation)(x, gy)  # noqa
    return fn, [normal(2, 3, *x_hw), normal(2, 4, oh, ow)]


def _fold_case(x_shape, k, stride, pads):
    oh, ow = conv_out_hw(x_shape[2:], (k, k), stride, pads, (1, 1))
    fn = lambda c: conv.Fold(x_shape, (k, k), stride, pads, (1, 1))(c)  # noqa: E731
    return fn, [normal(x_shape[0], x_shape[1] * k * k, oh * ow)]


LEAKY_X = np.random.default_rng(5).standard_normal((3, 4)) + 0.3  # LeakyReLUGrad's x
DROP_U = np.random.default_rng(6).random((4, 5))  # DropoutGrad's uniform noise

# id -> (op class, refgan callable on Tensors, input specs)
CASES = {
    "add_broadcast": (math.Add, lambda a, b: a + b, [normal(3, 4), normal(4)]),
    "sub_broadcast": (math.Sub, lambda a, b: a - b, [normal(3, 4), normal(3, 1)]),
    "mul": (math.Mul, lambda a, b: a * b, [normal(2, 3), normal(2, 3)]),
    "div": (math.Div, lambda a, b: a / b, [normal(2, 3), positive(3)]),
    "neg": (math.Neg, lambda a: -a, [normal(5)]),
    "pow_scalar": (math.PowScalar, lambda a: (a ** 3) * (a ** -0.5), [positive(2, 3)]),
    "pow": (math.Pow, lambda a, b: ops.pow(a, b), [positive(2, 3), normal(2, 3)]),
    "exp": (math.Exp, ops.exp, [normal(2, 3)]),
    "log": (math.Log, ops.log, [positive(2, 3)]),
    "sqrt": (math.Sqrt, ops.sqrt, [positive(2, 3)]),
    "abs": (math.Abs, ops.abs, [away(2, 3)]),
    "tanh": (math.Tanh, ops.tanh, [normal(2, 3)]),
    "sigmoid": (math.Sigmoid, ops.sigmoid, [normal(2, 3)]),
    "softplus": (math.Softplus, ops.softplus, [normal(2, 3)]),
    "relu": (math.ReLU, ops.relu, [away(2, 3)]),
    "leaky_relu": (math.LeakyReLU, lambda a: ops.leaky_relu(a, 0.2), [away(2, 3)]),
    "leaky_relu_grad": (math.LeakyReLUGrad,
                        lambda g: math.LeakyReLUGrad(LEAKY_X.astype(g.dtype), 0.2)(g),
                        [normal(3, 4)]),
    "astype": (math.AsType, lambda a: ops.astype(ops.astype(a, np.float16), a.dtype) * a,
               [normal(2, 3)]),
    "reshape": (shape.Reshape, lambda a: ops.reshape(a, (2, 6)) * ops.reshape(a, (2, 6)),
                [normal(3, 4)]),
    "transpose": (shape.Transpose, lambda a: ops.transpose(a, (2, 0, 1)), [normal(2, 3, 4)]),
    "broadcast_to": (shape.BroadcastTo, lambda a: ops.broadcast_to(a, (2, 3, 4)),
                     [normal(3, 1)]),
    "sum_to": (shape.SumTo, lambda a: ops.sum_to(a, (3, 1)), [normal(2, 3, 4)]),
    "concat": (shape.Concat, lambda a, b, c: ops.concat([a, b, c], axis=1),
               [normal(2, 1), normal(2, 3), normal(2, 2)]),
    "split": (shape.Split, lambda a: ops.split(a * a, [1, 3], axis=1), [normal(2, 4)]),
    "getitem": (shape.GetItem,
                lambda a: ops.getitem(a * a, (np.array([0, 2, 2]), slice(1, None))),
                [normal(3, 4)]),
    "getitem_grad": (shape.GetItemGrad,
                     lambda g: shape.GetItemGrad(np.array([0, 2, 2, 3, 0]), (4, 3))(g * g),
                     [normal(5, 3)]),
    "sum": (reduce.Sum, lambda a: ops.sum(a * a, axis=(0, 2), keepdims=True),
            [normal(2, 3, 4)]),
    "max": (reduce.Max, lambda a: ops.max(a * a, axis=1), [normal(3, 5)]),
    "logsumexp": (reduce.LogSumExp, lambda a: ops.logsumexp(a, axis=1), [normal(3, 5)]),
    "matmul_batched": (reduce.MatMul, ops.matmul, [normal(2, 3, 4), normal(4, 5)]),
    "conv2d_same_s2": (conv.Conv2d,
                       lambda x, w, b: ops.conv2d(x, w, b, stride=2, padding="same"),
                       [normal(2, 3, 7, 7), normal(4, 3, 5, 5), normal(4)]),
    "conv2d_dilated_asym": (conv.Conv2d,
                            lambda x, w: ops.conv2d(x, w, padding=(0, 1, 2, 1), dilation=2),
                            [normal(2, 3, 6, 5), normal(4, 3, 3, 3)]),
    "conv2d_s3_skip": (conv.Conv2d, lambda x, w: ops.conv2d(x, w, stride=3),
                       [normal(1, 2, 8, 8), normal(3, 2, 3, 3)]),
    "conv_transpose2d_s2": (conv.ConvTranspose2d,
                            lambda x, w, b: ops.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                                 output_padding=1),
                            [normal(2, 3, 4, 4), normal(3, 2, 4, 4), normal(2)]),
    "conv_transpose2d_dilated": (conv.ConvTranspose2d,
                                 lambda x, w: ops.conv_transpose2d(x, w, stride=(1, 2),
                                                                   padding=(1, 0), dilation=2),
                                 [normal(1, 2, 3, 4), normal(2, 3, 3, 3)]),
    "conv2d_grad_w_s2": (conv.Conv2dGradW,) + _conv_grad_w_case((7, 7), 3, (2, 2),
                                                                (1, 0, 1, 0), (1, 1)),
    "conv2d_grad_w_s3_dil": (conv.Conv2dGradW,) + _conv_grad_w_case((8, 9), 3, (3, 2),
                                                                    (0, 0, 1, 1), (2, 1)),
    "conv2d_grouped_s2": (conv.Conv2d,
                          lambda x, w, b: ops.conv2d(x, w, b, stride=2, padding=1, groups=2),
                          [normal(2, 4, 6, 5), normal(6, 2, 3, 3), normal(6)]),
    "conv2d_depthwise_same": (conv.Conv2d,
                              lambda x, w: ops.conv2d(x, w, padding="same", groups=3),
                              [normal(2, 3, 5, 5), normal(6, 1, 3, 3)]),
    "conv2d_depthwise_s2": (conv.Conv2d,
                            lambda x, w, b: ops.conv2d(x, w, b, stride=2, padding=(0, 1, 1, 0),
                                                       groups=3),
                            [normal(2, 3, 6, 5), normal(3, 1, 3, 3), normal(3)]),
    "conv_transpose2d_grouped": (conv.ConvTranspose2d,
                                 lambda x, w: conv.ConvTranspose2d((2, 2), (1, 1, 0, 1), (1, 1),
                                                                   (7, 6), 2)(x, w),
                                 [normal(2, 4, 4, 3), normal(4, 3, 3, 3)]),
    "conv2d_grad_w_grouped": (conv.Conv2dGradW,
                              lambda x, gy: conv.Conv2dGradW((6, 1, 3, 3), (2, 1), (1, 1, 0, 0),
                                                             (1, 1), 3)(x, gy),
                              [normal(2, 3, 7, 5), normal(2, 6, 4, 3)]),
    "pad2d": (conv.Pad2d, lambda x: ops.pad2d(x * x, (1, 2, 0, 3), value=0.5) ** 2,
              [normal(2, 2, 3, 4)]),
    "max_pool2d_padded": (conv.Pad2d, lambda x: ops.max_pool2d(x, 3, 2, padding=1),
                          [normal(1, 2, 5, 6)]),
    "unfold": (conv.Unfold, lambda x: ops.unfold(x * x, 3, stride=2, padding=1),
               [normal(2, 2, 5, 6)]),
    "fold": (conv.Fold,) + _fold_case((2, 2, 5, 6), 3, (2, 2), (1, 1, 1, 1)),
    "upsample_nearest": (conv.UpsampleNearest,
                         lambda x: ops.upsample_nearest(x * x, 3) ** 2, [normal(2, 2, 3, 4)]),
    "sum_pool2d": (conv.SumPool2d, lambda x: ops.sum_pool2d(x * x, 2) ** 2,
                   [normal(2, 2, 4, 6)]),
    "max_pool2d": (reduce.Max, lambda x: ops.max_pool2d(x * x, 2), [normal(1, 2, 4, 6)]),
    "batch_norm_train_4d": (norm.BatchNormTrain,
                            lambda x, g, b: ops.batch_norm(x, None, None, g, b, True)[0] ** 2,
                            [normal(4, 3, 2, 2), positive(3), normal(3)]),
    "batch_norm_train_2d": (norm.BatchNormTrain,
                            lambda x, g, b: ops.batch_norm(x, None, None, g, b, True)[0] ** 2,
                            [normal(5, 3), positive(3), normal(3)]),
    "dropout": (norm.Dropout, lambda x: _dropout(x * x), [normal(4, 5)]),
    "dropout_grad": (norm.DropoutGrad,
                     lambda g: norm.DropoutGrad(DROP_U.astype(g.dtype), 0.3)(g * g),
                     [normal(4, 5)]),
}


def _noise(case_id, arrays):
    """The dropout noise refgan draws in ``_dropout`` (same seed, shape and dtype)."""
    if CASES[case_id][0] is not norm.Dropout:
        return None
    rrandom.manual_seed(11)
    return [rrandom.uniform(arrays[0].shape, arrays[0].dtype)]


def _inputs(case_id, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [_draw(spec, rng, dtype) for spec in CASES[case_id][2]]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_every_refgan_op_has_a_jax_twin():
    found = refgan_ops()
    assert len(found) >= 30  # the discovery itself works
    missing = [f"{c.__module__}.{c.__name__}" for c in found if c not in TWINS]
    assert not missing, f"refgan ops without a JAX twin in jax_ops.py: {missing}"


def test_every_refgan_op_is_tested_here():
    tested = {case[0] for case in CASES.values()}
    untested = [c.__name__ for c in refgan_ops() if c not in tested]
    assert not untested, f"add a case to CASES for {untested}"


def test_missing_twin_is_a_clear_error():
    class Unmapped(math.Neg):
        pass

    with pytest.raises(NotImplementedError, match="Unmapped has no JAX twin"):
        jax_function(lambda a: Unmapped()(a))(np.ones(3, np.float32))


@pytest.mark.parametrize("case_id", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_refgan(case_id, dtype):
    _, f, _ = CASES[case_id]
    arrays = _inputs(case_id, dtype)
    expected = f(*(Tensor(a) for a in arrays))
    with jax.enable_x64(dtype == np.float64):
        actual = jax.jit(jax_function(f, rng=_noise(case_id, arrays)),
                         compiler_options=FAST_COMPILE)(*arrays)
    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = actual if isinstance(actual, tuple) else (actual,)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        assert_close(a, e.numpy(), FORWARD_RTOL[dtype], f"forward {case_id} {dtype.__name__}")


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_gradients_match_jax_autodiff(case_id, order, x64):
    _, f, _ = CASES[case_id]
    arrays = _inputs(case_id, np.float64)
    rng = np.random.default_rng(1)
    ys = f(*(Tensor(a) for a in arrays))
    gys = [rng.standard_normal(y.shape) for y in (ys if isinstance(ys, tuple) else (ys,))]
    vs = [rng.standard_normal(a.shape) for a in arrays] if order == 2 else None
    expected = refgan_grads(f, arrays, gys, order, vs)
    actual = jax_grads(f, arrays, gys, order, vs, rng=_noise(case_id, arrays))
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_close(a, e, GRAD_RTOL[order], f"order-{order} grad {case_id} input {i}")


@pytest.mark.parametrize("geometry", [dict(stride=2, padding="same"),
                                      dict(stride=(1, 2), padding=(0, 1, 2, 1), dilation=2)])
def test_conv_implementations_agree(geometry, x64, monkeypatch):
    """Conv2d's two JAX forms (XLA's convolution for GPU/TPU, im2col + GEMM for CPU)
    give the same values and first and second derivatives."""
    from refgan.export import jax_ops

    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    f = lambda x, w: ops.conv2d(x, w, **geometry)  # noqa: E731
    gy = [rng.standard_normal(f(Tensor(x), Tensor(w)).shape)]
    vs = [rng.standard_normal(x.shape), rng.standard_normal(w.shape)]
    results = {}
    for impl in ("xla", "gemm"):
        monkeypatch.setattr(jax_ops, "CONV_IMPL", impl)
        results[impl] = ([jax.jit(jax_function(f))(x, w)] + jax_grads(f, [x, w], gy, 1)
                         + jax_grads(f, [x, w], gy, 2, vs))
    for a, e in zip(results["gemm"], results["xla"]):
        assert_close(a, e, 1e-12, f"conv gemm vs xla {geometry}")
