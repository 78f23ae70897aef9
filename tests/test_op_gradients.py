"""Every op: first and second derivatives against float64 central differences.

hypothesis draws shapes (and, for convolutions, strides, paddings, dilations and batch
sizes); values are kept away from kinks (LeakyReLU/ReLU/abs at 0, ties of a max).
Second order is checked as G(x, gy) = J^T gy, in both x and gy.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import refgan
from refgan import ops as F
from refgan.gradcheck import check_backward, check_double_backward


def away_from_zero(rng, shape, margin=0.2):
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin + x, x)


def distinct(rng, shape):
    """Values with no ties (for max / max-pool)."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.1 + rng.uniform(0, 0.01, shape))


def check_both(fn, inputs, **kw):
    check_backward(fn, inputs, **kw)
    check_double_backward(fn, inputs, **kw)


shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2 ** 16)

UNARY = {
    "neg": (lambda x: -x, "any"),
    "exp": (F.exp, "any"),
    "log": (F.log, "positive"),
    "sqrt": (F.sqrt, "positive"),
    "abs": (F.abs, "nonzero"),
    "tanh": (F.tanh, "any"),
    "sigmoid": (F.sigmoid, "any"),
    "softplus": (F.softplus, "any"),
    "relu": (F.relu, "nonzero"),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), "nonzero"),
    "pow_scalar": (lambda x: x ** 3, "any"),
    "pow_fractional": (lambda x: x ** 1.5, "positive"),
    "rdiv": (lambda x: 1.0 / x, "nonzero"),
    "astype_roundtrip": (lambda x: F.astype(x, np.float64) * 2.0, "any"),
}


def _unary_input(rng, shape, domain):
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return away_from_zero(rng, shape)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary(numpy_backend, name, shape, seed):
    fn, domain = UNARY[name]
    check_both(fn, [_unary_input(np.random.default_rng(seed), shape, domain)])


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: F.pow(a, b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shape=array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4), seed=seeds,
       broadcast=st.booleans())
def test_binary_with_broadcasting(numpy_backend, name, shape, seed, broadcast):
    rng = np.random.default_rng(seed)
    bshape = (1,) + shape[1:] if broadcast else shape
    a = rng.uniform(0.5, 2.0, shape)
    b = rng.uniform(0.5, 2.0, bshape)
    check_both(BINARY[name], [a, b])


@given(shape=shapes, seed=seeds, keepdims=st.booleans(), data=st.data())
def test_reductions(numpy_backend, shape, seed, keepdims, data):
    axis = data.draw(st.one_of(st.none(), st.integers(0, len(shape) - 1)))
    x = distinct(np.random.default_rng(seed), shape)
    check_both(lambda a: F.sum(a, axis, keepdims) * F.sum(a, axis, keepdims), [x])
    check_both(lambda a: F.mean(a, axis, keepdims) ** 2, [x])
    check_both(lambda a: F.max(a, axis, keepdims) ** 2, [x])


@given(seed=seeds, n=st.integers(1, 4), k=st.integers(1, 5))
def test_softmax_family(numpy_backend, seed, n, k):
    x = np.random.default_rng(seed).standard_normal((n, k))
    check_both(lambda a: F.logsumexp(a, axis=1), [x])
    check_both(lambda a: F.log_softmax(a, axis=1), [x])
    check_both(lambda a: F.softmax(a, axis=0), [x])


@given(seed=seeds, m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4),
       batch=st.sampled_from([(), (2,), (3, 1)]))
def test_matmul_and_linear(numpy_backend, seed, m, k, n, batch):
    rng = np.random.default_rng(seed)
    check_both(F.matmul, [rng.standard_normal(batch + (m, k)), rng.standard_normal((k, n))])
    check_both(F.linear, [rng.standard_normal((m, k)), rng.standard_normal((n, k)),
                          rng.standard_normal(n)])


@given(shape=array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=3), seed=seeds)
def test_shape_ops(numpy_backend, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    rev = tuple(reversed(range(len(shape))))
    check_both(lambda a: F.reshape(a, (-1,)) * 1.5, [x])
    check_both(lambda a: F.flatten(a) ** 2, [x])
    check_both(lambda a: F.transpose(a, rev) ** 2, [x])
    check_both(lambda a: F.broadcast_to(a, (2,) + shape) ** 2, [x])
    check_both(lambda a: F.sum_to(a ** 2, (1,) + shape[1:]), [x])
    check_both(lambda a: F.expand_dims(a, 1) ** 2, [x])


@given(seed=seeds, n=st.integers(2, 5), axis=st.integers(0, 1))
def test_concat_stack_split_getitem(numpy_backend, seed, n, axis):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    check_both(lambda p, q: F.concat([p, q ** 2], axis=axis), [a, b])
    check_both(lambda p, q: F.stack([p, q * p], axis=axis), [a, b])
    check_both(lambda p: F.split(p ** 2, [1, n - 1], axis=0), [a])
    idx = rng.integers(0, n, size=7)  # repeated indices must accumulate
    check_both(lambda p: F.getitem(p, idx) ** 2, [a])
    check_both(lambda p: p[1:, ::2] ** 2, [a])


conv_geometry = st.fixed_dictionaries(dict(
    n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(3, 7),
    w=st.integers(3, 7), k=st.integers(1, 3), stride=st.integers(1, 3),
    dilation=st.integers(1, 2), padding=st.sampled_from([0, 1, 2, "same", "valid"]),
    bias=st.booleans()))


@given(g=conv_geometry, seed=seeds)
def test_conv2d(numpy_backend, g, seed):
    rng = np.random.default_rng(seed)
    if (g["k"] - 1) * g["dilation"] + 1 > min(g["h"], g["w"]) + (
            0 if g["padding"] in ("valid", "same") else 2 * g["padding"]):
        return  # kernel larger than the padded input
    x = rng.standard_normal((g["n"], g["c"], g["h"], g["w"]))
    w = rng.standard_normal((g["o"], g["c"], g["k"], g["k"]))
    args = [x, w] + ([rng.standard_normal(g["o"])] if g["bias"] else [])
    check_both(lambda *a: F.conv2d(*a, stride=g["stride"], padding=g["padding"],
                                   dilation=g["dilation"]), args)


@given(g=conv_geometry, seed=seeds, output_padding=st.integers(0, 2))
def test_conv_transpose2d(numpy_backend, g, seed, output_padding):
    rng = np.random.default_rng(seed)
    pad = g["padding"] if isinstance(g["padding"], int) else 0
    op = min(output_padding, g["stride"] - 1)
    out = (g["h"] - 1) * g["stride"] - 2 * pad + g["dilation"] * (g["k"] - 1) + op + 1
    if out <= 0:
        return
    x = rng.standard_normal((g["n"], g["c"], g["h"], g["w"]))
    w = rng.standard_normal((g["c"], g["o"], g["k"], g["k"]))
    args = [x, w] + ([rng.standard_normal(g["o"])] if g["bias"] else [])
    check_both(lambda *a: F.conv_transpose2d(*a, stride=g["stride"], padding=pad,
                                             output_padding=op, dilation=g["dilation"]), args)


def test_conv2d_same_padding_matches_keras_shapes(numpy_backend):
    x = refgan.tensor(np.zeros((1, 3, 64, 64)))
    w = refgan.tensor(np.zeros((8, 3, 5, 5)))
    assert F.conv2d(x, w, stride=2, padding="same").shape == (1, 8, 32, 32)
    x = refgan.tensor(np.zeros((1, 3, 7, 7)))
    assert F.conv2d(x, w, stride=2, padding="same").shape == (1, 8, 4, 4)


@given(seed=seeds, n=st.integers(2, 4), c=st.integers(1, 3), spatial=st.booleans())
def test_batch_norm_train_and_eval(numpy_backend, seed, n, c, spatial):
    rng = np.random.default_rng(seed)
    shape = (n, c, 3, 2) if spatial else (n, c)
    x, gamma, beta = rng.standard_normal(shape), rng.uniform(0.5, 1.5, c), rng.standard_normal(c)
    check_both(lambda a, g, b: F.batch_norm(a, None, None, g, b, training=True)[0],
               [x, gamma, beta])
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    check_both(lambda a, g, b: F.batch_norm(a, rm, rv, g, b, training=False)[0],
               [x, gamma, beta])


def test_batch_norm_fused_first_order_equals_composed(numpy_backend):
    """The fused kernel (create_graph=False) and the op-composed formula agree."""
    rng = np.random.default_rng(0)
    x = refgan.tensor(rng.standard_normal((5, 3, 4, 4)), dtype=np.float64, requires_grad=True)
    g = refgan.tensor(rng.uniform(0.5, 1.5, 3), dtype=np.float64, requires_grad=True)
    b = refgan.tensor(rng.standard_normal(3), dtype=np.float64, requires_grad=True)
    gy = rng.standard_normal((5, 3, 4, 4))
    y = F.batch_norm(x, None, None, g, b, training=True)[0]
    fused = refgan.grad(y, [x, g, b], gy, retain_graph=True)
    composed = refgan.grad(y, [x, g, b], gy, create_graph=True)
    for u, v in zip(fused, composed):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-10, atol=1e-12)


def test_batch_norm_running_statistics_follow_pytorch(numpy_backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 3, 3))
    rm, rv = np.zeros(2), np.ones(2)
    _, rm2, rv2 = F.batch_norm(refgan.tensor(x, dtype=np.float64), rm, rv,
                               refgan.tensor(np.ones(2)), refgan.tensor(np.zeros(2)),
                               training=True, momentum=0.1)
    np.testing.assert_allclose(rm2, 0.1 * x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(rv2, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1))


@given(seed=seeds, p=st.sampled_from([0.1, 0.3, 0.5]))
def test_dropout_seeded(numpy_backend, seed, p):
    x = np.random.default_rng(seed).standard_normal((4, 5))

    def fn(a):
        refgan.manual_seed(seed)
        return F.dropout(a, p, training=True)

    check_both(fn, [x])
    refgan.manual_seed(seed)
    y = F.dropout(refgan.tensor(np.ones((200, 200))), p).numpy()
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.02
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert F.dropout(refgan.tensor(x), p, training=False).numpy() is not None


@given(seed=seeds, n=st.integers(1, 2), c=st.integers(1, 2), s=st.integers(1, 3),
       k=st.integers(1, 3))
def test_pooling_and_upsampling(numpy_backend, seed, n, c, s, k):
    rng = np.random.default_rng(seed)
    x = distinct(rng, (n, c, 2 * k + 1, 2 * k + 2))
    check_both(lambda a: F.upsample_nearest(a, s) ** 2, [x])
    check_both(lambda a: F.avg_pool2d(a, k, stride=max(k - 1, 1), padding=k // 2) ** 2, [x])
    check_both(lambda a: F.max_pool2d(a, k), [x])


@given(seed=seeds, n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 4),
       w=st.integers(1, 4), s=st.integers(1, 3))
def test_upsample_nearest_and_its_adjoint_sum_pool(numpy_backend, seed, n, c, h, w, s):
    """upsample copies pixel (i, j) into the s x s block at (i s, j s); sum_pool2d sums
    each block (naive loops below); the two are adjoint, and sum_pool2d is
    differentiable to second order (its backward is upsample, and vice versa)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    g = rng.standard_normal((n, c, h * s, w * s))
    up, pooled = np.empty_like(g), np.zeros_like(x)
    for i in range(h * s):
        for j in range(w * s):
            up[:, :, i, j] = x[:, :, i // s, j // s]
            pooled[:, :, i // s, j // s] += g[:, :, i, j]
    np.testing.assert_array_equal(F.upsample_nearest(refgan.tensor(x), s).numpy(), up)
    np.testing.assert_allclose(F.sum_pool2d(refgan.tensor(g), s).numpy(), pooled,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.vdot(up, g), np.vdot(x, pooled), rtol=1e-10)
    check_both(lambda a: F.sum_pool2d(a, s) ** 2, [g])


def _bilinear_2x(x):
    """Naive bilinear upsampling by 2 with half-pixel centres and clamped edges
    (PyTorch's align_corners=False): output i reads source coordinate (i + 1/2) / 2 - 1/2."""
    n, c, h, w = x.shape
    out = np.empty((n, c, 2 * h, 2 * w))

    def weights(i, size):
        src = min(max((i + 0.5) / 2 - 0.5, 0.0), size - 1)
        lo = int(np.floor(src))
        hi = min(lo + 1, size - 1)
        return lo, hi, src - lo

    for i in range(2 * h):
        i0, i1, a = weights(i, h)
        for j in range(2 * w):
            j0, j1, b = weights(j, w)
            out[:, :, i, j] = ((1 - a) * (1 - b) * x[:, :, i0, j0] + (1 - a) * b * x[:, :, i0, j1]
                               + a * (1 - b) * x[:, :, i1, j0] + a * b * x[:, :, i1, j1])
    return out


@given(seed=seeds, n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 5),
       w=st.integers(1, 5))
def test_upsample_bilinear_is_the_interpolation_with_half_pixel_centres(numpy_backend, seed, n, c,
                                                                        h, w):
    """Against a naive interpolation loop (a flat image stays flat, the edges clamp), and
    differentiable to second order."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    np.testing.assert_allclose(F.upsample_bilinear(refgan.tensor(x)).numpy(), _bilinear_2x(x),
                               rtol=1e-12, atol=1e-12)
    check_both(lambda a: F.upsample_bilinear(a) ** 2, [x])


def test_embedding_gradient_accumulates_repeated_rows(numpy_backend):
    emb = refgan.nn.Embedding(4, 3).astype(np.float64)
    idx = np.array([0, 2, 2, 3])
    check_both(lambda: emb(idx) ** 2, [], params=[emb.weight])


@given(seed=seeds, n=st.integers(1, 5), k=st.integers(2, 4))
def test_losses(numpy_backend, seed, n, k):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, k))
    labels = rng.integers(0, k, n)
    weight = rng.uniform(0.5, 2.0, k)
    check_both(lambda a: F.cross_entropy(a, labels), [logits])
    check_both(lambda a: F.cross_entropy(a, labels, weight=weight), [logits])
    t = rng.integers(0, 2, (n, 1)).astype(np.float64)
    check_both(lambda a: F.binary_cross_entropy_with_logits(a, t), [logits[:, :1]])
    check_both(lambda a: F.mse_loss(a, logits * 0.5), [logits])
    margins = away_from_zero(rng, (n,), 0.2) + 1.0  # keep 1 - t*s away from 0
    check_both(lambda a: F.hinge_loss(a, np.ones(n)), [2.0 - margins])


def test_cross_entropy_matches_hand_computation(numpy_backend):
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    labels = np.array([0, 2])
    w = np.array([1.0, 1.0, 3.0])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    nll = -np.log(p[[0, 1], labels])
    got = F.cross_entropy(refgan.tensor(logits), labels, weight=w).item()
    assert got == pytest.approx((nll * w[labels]).sum() / w[labels].sum())
    bce = F.binary_cross_entropy_with_logits(refgan.tensor([[30.0], [-30.0]]),
                                             np.array([[1.0], [0.0]])).item()
    assert 0 <= bce < 1e-12  # stable at large logits


def test_where_clip_maximum(numpy_backend):
    rng = np.random.default_rng(3)
    a, b = away_from_zero(rng, (4, 3)), away_from_zero(rng, (4, 3))
    check_both(lambda p, q: F.maximum(p, q) * F.minimum(p, q), [a, b])
    check_both(lambda p: F.clip(p, -0.9, 0.9) ** 2, [a * 0.5 + 0.05])


def test_checker_catches_a_planted_wrong_backward(numpy_backend):
    """A gradient checker that cannot fail proves nothing."""

    class WrongSquare(refgan.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            return gy * self.inputs[0]  # missing factor 2

    class WrongSecondOrder(refgan.Function):
        """Right first derivative, but its backward treats 2x as a constant."""

        def forward(self, x):
            return x * x

        def backward(self, gy):
            return gy * refgan.Tensor(2 * self.inputs[0].data)

    x = [np.random.default_rng(0).standard_normal(5)]
    with pytest.raises(AssertionError, match="gradient check failed"):
        check_backward(lambda a: WrongSquare()(a), x)
    check_backward(lambda a: WrongSecondOrder()(a), x)  # first order is right ...
    with pytest.raises(AssertionError, match="gradient check failed"):
        check_double_backward(lambda a: WrongSecondOrder()(a), x)  # ... second is not


def test_ops_reject_bad_arguments_with_clear_errors(numpy_backend):
    x = refgan.tensor(np.zeros((1, 2, 5, 5)))
    w = refgan.tensor(np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="3 channels"):
        F.conv2d(refgan.tensor(np.zeros((1, 3, 5, 5))), w)
    with pytest.raises(ValueError, match="too small|empty"):
        F.conv2d(refgan.tensor(np.zeros((1, 2, 2, 2))), w)
    with pytest.raises(ValueError, match="padding must be"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, refgan.tensor(np.zeros((2, 3, 3, 3))), stride=1, output_padding=1)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, 1.0)
    with pytest.raises(ValueError, match="cannot squeeze"):
        F.squeeze(x, 1)
    with pytest.raises(ValueError, match="do not add up"):
        F.split(x, [1, 2], axis=1)
    with pytest.raises(ValueError, match="does not split"):
        F.split(x, 3, axis=2)
    with pytest.raises(ValueError, match="at least 2 axes"):
        F.matmul(refgan.tensor(np.zeros(3)), refgan.tensor(np.zeros((3, 2))))
    assert F.reshape(x, (-1, 5)).shape == (10, 5)


def test_sum_pool2d_refuses_a_side_that_is_not_a_multiple_of_its_block():
    with pytest.raises(ValueError, match="not a multiple of 2"):
        F.sum_pool2d(refgan.tensor(np.zeros((1, 1, 5, 4), np.float32)), 2)
