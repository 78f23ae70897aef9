"""The ops the ImageNet backbones add: grouped (and depthwise) convolution, SiLU, zero
and constant padding, max pooling with padding, average pooling with and without the
padding in the divisor, adaptive average pooling and squeeze-and-excite.

Each forward is checked against naive loops, and first and second derivatives against
float64 central differences (refgan.gradcheck), on the numpy and numba backends
(the grouped convolution calls each backend's conv kernels once per group).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refgan
from refgan import nn
from refgan import ops as F
from refgan.gradcheck import GradientCheckError, check_backward, check_double_backward
import refgan.kernels as kernels
from refgan.kernels import reference as R

seeds = st.integers(0, 2 ** 16)


def check_both(fn, inputs, **kw):
    check_backward(fn, inputs, **kw)
    check_double_backward(fn, inputs, **kw)


def distinct(rng, shape):
    """Values with no ties (max pooling has a kink at a tie)."""
    n = int(np.prod(shape))
    return rng.permutation(n).reshape(shape) * 0.1 + rng.uniform(0, 0.01, shape)


# ---------------------------------------------------------------- naive references
def naive_conv(x, w, b, stride, pads, groups):
    """y[n, o, i, j] = b[o] + sum over c in group(o) and taps (a, e) of
    w[o, c, a, e] xpad[n, c, i s + a, j s + e]."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    OH = (H + top + bottom - kh) // stride + 1
    OW = (W + left + right - kw) // stride + 1
    Og = O // groups
    y = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            g = o // Og
            for i in range(OH):
                for j in range(OW):
                    patch = xp[n, g * Cg:(g + 1) * Cg, i * stride:i * stride + kh,
                               j * stride:j * stride + kw]
                    y[n, o, i, j] = (patch * w[o]).sum() + (0 if b is None else b[o])
    return y


def naive_pool(x, k, s, pads, reduce, fill):
    """Each window of the image padded with ``fill`` reduced by ``reduce(window, mask)``,
    mask marking the taps inside the image."""
    N, C, H, W = x.shape
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    inside = np.pad(np.ones((H, W), bool), ((top, bottom), (left, right)))
    OH, OW = (H + top + bottom - k) // s + 1, (W + left + right - k) // s + 1
    y = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            win = xp[:, :, i * s:i * s + k, j * s:j * s + k]
            m = inside[i * s:i * s + k, j * s:j * s + k]
            y[:, :, i, j] = reduce(win, m)
    return y


# ------------------------------------------------------------- grouped convolution
@given(seed=seeds, groups=st.sampled_from([1, 2, 3]), cin=st.integers(1, 2),
       cout=st.integers(1, 2), stride=st.integers(1, 2), pad=st.integers(0, 1),
       k=st.sampled_from([1, 3]), bias=st.booleans())
def test_grouped_conv_forward_and_derivatives(cpu_backend, seed, groups, cin, cout, stride,
                                              pad, k, bias):
    rng = np.random.default_rng(seed)
    C, O = cin * groups, cout * groups
    x = rng.standard_normal((2, C, 5, 4))
    w = rng.standard_normal((O, cin, k, k))
    b = rng.standard_normal(O) if bias else None
    got = F.conv2d(refgan.tensor(x), refgan.tensor(w), None if b is None else refgan.tensor(b),
                   stride=stride, padding=pad, groups=groups).numpy()
    np.testing.assert_allclose(got, naive_conv(x, w, b, stride, (pad,) * 4, groups),
                               rtol=1e-10, atol=1e-10)
    args = [x, w] + ([b] if bias else [])
    fn = lambda *a: F.conv2d(*a, stride=stride, padding=pad, groups=groups) ** 2  # noqa: E731
    check_both(fn, args)


@given(seed=seeds, mult=st.integers(1, 2), stride=st.integers(1, 2))
def test_depthwise_conv_same_padding(cpu_backend, seed, mult, stride):
    """Keras DepthwiseConv2D(padding='same'): groups = C, the odd pad bottom/right."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((3 * mult, 1, 3, 3))
    got = F.conv2d(refgan.tensor(x), refgan.tensor(w), stride=stride, padding="same",
                   groups=3).numpy()
    pads = F.conv.resolve_padding("same", (6, 5), (3, 3), (stride, stride), (1, 1))
    np.testing.assert_allclose(got, naive_conv(x, w, None, stride, pads, 3), rtol=1e-10,
                               atol=1e-10)
    check_both(lambda a, v: F.conv2d(a, v, stride=stride, padding="same", groups=3), [x, w])


def test_grouped_weight_gradient_of_a_weight_gradient(cpu_backend):
    """The penalty's path: a function of a grouped conv's weight gradient, differentiated
    again (Conv2dGradW's backward with groups)."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((6, 2, 3, 3))

    def fn(a, v):
        y = F.conv2d(a, v, padding=1, groups=2)
        (gw,) = refgan.grad(F.sum(F.tanh(y)), [v], create_graph=True)
        return gw * gw

    check_backward(fn, [x, w])


def test_grouped_conv_rejects_bad_channel_counts(numpy_backend):
    with pytest.raises(ValueError, match="groups=2"):
        F.conv2d(refgan.tensor(np.ones((1, 3, 4, 4))), refgan.tensor(np.ones((4, 1, 3, 3))),
                 groups=2)
    with pytest.raises(ValueError, match="groups=3 must divide"):
        nn.Conv2d(4, 6, 3, groups=3)


def test_grouped_conv_module_matches_per_group_modules(numpy_backend):
    """nn.Conv2d(groups=g) equals g independent convs on the channel blocks."""
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(4, 6, 3, padding=1, groups=2).astype(np.float64)
    assert conv.weight.shape == (6, 2, 3, 3)
    x = rng.standard_normal((2, 4, 5, 5))
    y = conv(refgan.tensor(x)).numpy()
    for g in range(2):
        part = F.conv2d(refgan.tensor(x[:, 2 * g:2 * g + 2]),
                        refgan.tensor(conv.weight.numpy()[3 * g:3 * g + 3]),
                        refgan.tensor(conv.bias.numpy()[3 * g:3 * g + 3]), padding=1).numpy()
        np.testing.assert_allclose(y[:, 3 * g:3 * g + 3], part, rtol=1e-12)


# ------------------------------------------------------------------------ SiLU
@given(seed=seeds)
def test_silu(numpy_backend, seed):
    x = np.random.default_rng(seed).standard_normal((3, 4)) * 3
    np.testing.assert_allclose(F.silu(refgan.tensor(x)).numpy(), x / (1 + np.exp(-x)),
                               rtol=1e-12)
    np.testing.assert_allclose(nn.SiLU()(refgan.tensor(x)).numpy(), x / (1 + np.exp(-x)),
                               rtol=1e-12)
    check_both(F.silu, [x])


# --------------------------------------------------------------------- padding
@given(seed=seeds, pads=st.tuples(*[st.integers(0, 2)] * 4),
       value=st.sampled_from([0.0, -1.5]))
def test_pad2d(cpu_backend, seed, pads, value):
    x = np.random.default_rng(seed).standard_normal((2, 3, 3, 4))
    t, b, l, r = pads
    expected = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)
    np.testing.assert_array_equal(F.pad2d(refgan.tensor(x), pads, value).numpy(), expected)
    check_both(lambda a: F.pad2d(a, pads, value) ** 2, [x])
    assert nn.ZeroPad2d(pads)(refgan.tensor(x)).shape == expected.shape


# --------------------------------------------------------------------- pooling
@given(seed=seeds, k=st.integers(2, 3), s=st.integers(1, 2), pad=st.integers(0, 1))
def test_max_pool_with_padding(cpu_backend, seed, k, s, pad):
    """torchvision ResNet's 3x3/s2/p1 and pytorch-fid's 3x3/s1/p1: the padding is -inf."""
    x = distinct(np.random.default_rng(seed), (2, 2, 5, 6)) - 3.0  # all negative
    expected = naive_pool(x, k, s, (pad,) * 4, lambda w, m: w.max(axis=(2, 3)), -np.inf)
    got = F.max_pool2d(refgan.tensor(x), k, s, padding=pad).numpy()
    np.testing.assert_array_equal(got, expected)
    assert nn.MaxPool2d(k, s, pad)(refgan.tensor(x)).shape == expected.shape
    check_both(lambda a: F.max_pool2d(a, k, s, padding=pad), [x])


def test_max_pool_same_padding_matches_keras_rule(numpy_backend):
    x = distinct(np.random.default_rng(1), (1, 2, 6, 7)) - 5.0
    pads = F.conv.resolve_padding("same", (6, 7), (3, 3), (2, 2), (1, 1))
    expected = naive_pool(x, 3, 2, pads, lambda w, m: w.max(axis=(2, 3)), -np.inf)
    np.testing.assert_array_equal(F.max_pool2d(refgan.tensor(x), 3, 2, "same").numpy(),
                                  expected)


def _mean_inside(w, m):
    return (w * m).sum(axis=(2, 3)) / m.sum()


@given(seed=seeds, k=st.integers(2, 3), s=st.integers(1, 2), pad=st.integers(0, 1),
       include=st.booleans())
def test_avg_pool_count_include_pad(cpu_backend, seed, k, s, pad, include):
    x = np.random.default_rng(seed).standard_normal((2, 2, 5, 6))
    reduce = (lambda w, m: w.mean(axis=(2, 3))) if include else _mean_inside
    expected = naive_pool(x, k, s, (pad,) * 4, reduce, 0.0)
    got = F.avg_pool2d(refgan.tensor(x), k, s, pad, count_include_pad=include).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    check_both(lambda a: F.avg_pool2d(a, k, s, pad, count_include_pad=include) ** 2, [x])


def test_avg_pool_keras_same_does_not_count_padding(numpy_backend):
    """Keras AveragePooling2D((3, 3), strides=1, padding='same') (InceptionV3): the
    corner output averages the 4 pixels inside the image, not 9 with zeros."""
    x = np.random.default_rng(2).standard_normal((1, 1, 4, 5))
    y = nn.AvgPool2d(3, 1, "same", count_include_pad=False)(refgan.tensor(x)).numpy()
    assert y[0, 0, 0, 0] == pytest.approx(x[0, 0, :2, :2].mean())
    expected = naive_pool(x, 3, 1, (1, 1, 1, 1), _mean_inside, 0.0)
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def naive_adaptive(x, oh, ow):
    """PyTorch's bins: [floor(i H / oh), ceil((i + 1) H / oh))."""
    N, C, H, W = x.shape
    y = np.zeros((N, C, oh, ow))
    for i in range(oh):
        h0, h1 = (i * H) // oh, -(-((i + 1) * H) // oh)
        for j in range(ow):
            w0, w1 = (j * W) // ow, -(-((j + 1) * W) // ow)
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


@given(seed=seeds, h=st.integers(1, 7), w=st.integers(1, 7), oh=st.integers(1, 4),
       ow=st.integers(1, 4))
def test_adaptive_avg_pool(cpu_backend, seed, h, w, oh, ow):
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    got = F.adaptive_avg_pool2d(refgan.tensor(x), (oh, ow)).numpy()
    np.testing.assert_allclose(got, naive_adaptive(x, oh, ow), rtol=1e-12, atol=1e-12)
    check_both(lambda a: F.adaptive_avg_pool2d(a, (oh, ow)) ** 2, [x])
    assert nn.AdaptiveAvgPool2d(1)(refgan.tensor(x)).shape == (2, 3, 1, 1)


# ------------------------------------------------------------- squeeze-and-excite
def test_squeeze_excite_forward_and_derivatives(numpy_backend):
    rng = np.random.default_rng(4)
    se = nn.SqueezeExcite(4, 2).astype(np.float64)
    assert sorted(k for k in se.state_dict()) == ["fc1.bias", "fc1.weight", "fc2.bias",
                                                  "fc2.weight"]
    x = rng.standard_normal((2, 4, 3, 3))
    w1, b1 = se.fc1.weight.numpy()[:, :, 0, 0], se.fc1.bias.numpy()
    w2, b2 = se.fc2.weight.numpy()[:, :, 0, 0], se.fc2.bias.numpy()
    s = x.mean(axis=(2, 3))
    h = s @ w1.T + b1
    e = 1 / (1 + np.exp(-((h / (1 + np.exp(-h))) @ w2.T + b2)))
    np.testing.assert_allclose(se(refgan.tensor(x)).numpy(), x * e[:, :, None, None],
                               rtol=1e-12)
    check_both(lambda a: se(a), [x], params=se.parameters())


def test_batch_norm_without_scale(numpy_backend):
    """Keras BatchNormalization(scale=False): no weight, gamma = 1."""
    bn = nn.BatchNorm2d(3, eps=1e-3, scale=False).eval()
    assert "weight" not in bn.state_dict() and bn.num_parameters() == 3
    bn.running_mean = np.array([0.5, -1.0, 2.0], np.float32)
    bn.running_var = np.array([4.0, 1.0, 0.25], np.float32)
    bn.bias.data = np.array([1.0, 0.0, -1.0], np.float32)
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(np.float32)
    expected = ((x - bn.running_mean[:, None, None]) / np.sqrt(bn.running_var + 1e-3)[:, None, None]
                + bn.bias.data[:, None, None])
    np.testing.assert_allclose(bn(refgan.tensor(x)).numpy(), expected, rtol=1e-6)


def test_checker_catches_a_wrong_group_split(numpy_backend):
    """A planted mistake: group blocks taken from the wrong end of the weight. The
    forward check against naive loops must fail (the test above is not vacuous)."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 4, 4, 4)), rng.standard_normal((4, 2, 3, 3))
    wrong = F.conv2d(refgan.tensor(x), refgan.tensor(w[::-1].copy()), groups=2).numpy()
    assert not np.allclose(wrong, naive_conv(x, w, None, 1, (0,) * 4, 2))
    with pytest.raises(GradientCheckError):
        class Bad(refgan.Function):
            def forward(self, a):
                return a * 2

            def backward(self, gy):
                return F.conv2d(gy, refgan.tensor(np.ones((4, 1, 1, 1))), groups=4)

        check_backward(lambda a: Bad()(a), [x])


# --------------------------------------------------------- depthwise kernels
@given(seed=seeds, stride=st.integers(1, 2), k=st.sampled_from([1, 3, 5]),
       pads=st.tuples(*[st.integers(0, 2)] * 4), dilation=st.integers(1, 2))
def test_depthwise_kernels_match_the_per_channel_conv_kernels(seed, stride, k, pads, dilation):
    """The tap-by-tap depthwise kernels against the GEMM conv kernels run channel by
    channel (the numpy reference), for the forward, the input and the weight gradient."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((3, 1, k, k))
    geo = ((stride, stride), pads, (dilation, dilation))
    if (7 + pads[0] + pads[1] - dilation * (k - 1) - 1) < 0 or (
            6 + pads[2] + pads[3] - dilation * (k - 1) - 1) < 0:
        return
    y = R.depthwise_conv2d(x, w, *geo)
    per = np.concatenate([R.conv2d(x[:, c:c + 1], w[c:c + 1], None, *geo) for c in range(3)], 1)
    np.testing.assert_allclose(y, per, rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    gx = R.depthwise_conv2d_grad_input(gy, w, x.shape, *geo)
    gx_per = np.concatenate([R.conv2d_grad_input(gy[:, c:c + 1], w[c:c + 1], (2, 1, 7, 6), *geo)
                             for c in range(3)], 1)
    np.testing.assert_allclose(gx, gx_per, rtol=1e-12, atol=1e-12)
    gw = R.depthwise_conv2d_grad_weight(x, gy, w.shape, *geo)
    gw_per = np.concatenate([R.conv2d_grad_weight(x[:, c:c + 1], gy[:, c:c + 1], (1, 1, k, k),
                                                  *geo) for c in range(3)], 0)
    np.testing.assert_allclose(gw, gw_per, rtol=1e-12, atol=1e-12)


@given(seed=seeds, stride=st.integers(1, 2), k=st.sampled_from([3, 5]))
def test_depthwise_op_second_order(cpu_backend, seed, stride, k):
    """The depthwise path of all three conv functions, to second order."""
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((3, 1, k, k))
    b = rng.standard_normal(3)
    check_both(lambda a, v, c: F.conv2d(a, v, c, stride=stride, padding="same", groups=3)
               ** 2, [x, w, b])

    def weight_grad_squared(a, v):
        y = F.conv2d(a, v, stride=stride, padding=1, groups=3)
        (gw,) = refgan.grad(F.sum(F.tanh(y)), [v], create_graph=True)
        return gw * gw

    check_backward(weight_grad_squared, [x, w])


@pytest.mark.skipif(not refgan.backend.available("numba"), reason="numba not installed")
@given(seed=seeds, stride=st.integers(1, 3), k=st.sampled_from([1, 3, 5]),
       pads=st.tuples(*[st.integers(0, 2)] * 4), dilation=st.integers(1, 2),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_numba_depthwise_kernels_match_numpy_twin(seed, stride, k, pads, dilation, dtype):
    """The compiled depthwise kernels against their NumPy twins: forward and input
    gradient add in the twin's order (equal to rounding of the skipped zero taps), the
    weight gradient sums in another order (equal to float rounding)."""
    K = kernels.load("numba")
    rng = np.random.default_rng(seed)
    H, W = 8, 7
    if min(H + pads[0] + pads[1], W + pads[2] + pads[3]) < dilation * (k - 1) + 1:
        return
    x = rng.standard_normal((2, 4, H, W)).astype(dtype)
    w = rng.standard_normal((4, 1, k, k)).astype(dtype)
    geo = ((stride, stride), pads, (dilation, dilation))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y = K.depthwise_conv2d(x, w, *geo)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, R.depthwise_conv2d(x, w, *geo), **tol)
    gy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(K.depthwise_conv2d_grad_input(gy, w, x.shape, *geo),
                               R.depthwise_conv2d_grad_input(gy, w, x.shape, *geo), **tol)
    np.testing.assert_allclose(K.depthwise_conv2d_grad_weight(x, gy, w.shape, *geo),
                               R.depthwise_conv2d_grad_weight(x, gy, w.shape, *geo), **tol)
