"""Tests for the array kernels (kernels/).

Three layers, cs231n style:
1. the NumPy reference against naive Python loops and against the definitions
   (adjointness, finite differences, textbook optimiser recursions), in float64;
2. every Numba kernel against the reference (float64 to 1e-12, float32 to 1e-5);
3. every CuPy kernel against the reference (marked ``gpu``; skipped without CuPy + CUDA).
"""
import importlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from refgan import kernels
from refgan.kernels import naive
from refgan.kernels import reference as ref
from refgan import backend
from refgan.errors import UserError

SETTINGS = settings(max_examples=30, deadline=None)
DTYPES = [np.float64, np.float32]
# Tolerances for compiled-vs-reference comparisons: (rtol, atol relative to max |ref|).
TOL = {np.float64: (1e-12, 1e-12), np.float32: (1e-5, 1e-6)}


def assert_close(actual, expected, dtype):
    """Compare compiled output with the reference at the dtype's tolerance."""
    expected = np.asarray(expected)
    actual = np.asarray(actual)
    assert actual.dtype == expected.dtype == np.dtype(dtype)
    assert actual.shape == expected.shape
    rtol, atol = TOL[dtype]
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * max(scale, 1e-30))


@st.composite
def conv_geometry(draw, max_hw=7):
    """(x_shape, kh, kw, stride, pads, dilation) with a non-empty output, asymmetric pads."""
    N = draw(st.integers(1, 2))
    C = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    # Smallest size with a non-empty output: size + pads >= dilation*(k-1) + 1.
    h_min = max(1, dh * (kh - 1) + 1 - pads[0] - pads[1])
    w_min = max(1, dw * (kw - 1) + 1 - pads[2] - pads[3])
    H = draw(st.integers(h_min, max(h_min, max_hw)))
    W = draw(st.integers(w_min, max(w_min, max_hw)))
    return (N, C, H, W), kh, kw, (sh, sw), pads, (dh, dw)


def _rng(seed):
    return np.random.default_rng(seed)


# ============================================================================ 1. reference vs definitions

@pytest.mark.parametrize("size,k,s,lo,hi,d,expected", [
    (64, 5, 2, 1, 2, 1, 32),    # TF 'same', stride 2: the odd pixel goes bottom/right
    (8, 3, 1, 1, 1, 1, 8),      # 'same', stride 1
    (7, 3, 2, 0, 0, 1, 3),      # 'valid'
    (7, 3, 1, 0, 0, 2, 3),      # dilation 2: effective kernel 5
    (4, 5, 1, 0, 0, 1, 0),      # empty
])
def test_conv_output_size(size, k, s, lo, hi, d, expected):
    assert ref.conv_output_size(size, k, s, lo, hi, d) == expected


@SETTINGS
@given(geom=conv_geometry(), seed=st.integers(0, 2**32 - 1))
def test_im2col_matches_naive_loops(geom, seed):
    x_shape, kh, kw, stride, pads, dil = geom
    x = _rng(seed).standard_normal(x_shape)
    cols = ref.im2col(x, kh, kw, stride, pads, dil)
    np.testing.assert_array_equal(cols, naive.im2col_naive(x, kh, kw, stride, pads, dil))


@SETTINGS
@given(geom=conv_geometry(), seed=st.integers(0, 2**32 - 1))
def test_col2im_is_adjoint_of_im2col(geom, seed):
    x_shape, kh, kw, stride, pads, dil = geom
    rng = _rng(seed)
    x = rng.standard_normal(x_shape)
    cols = ref.im2col(x, kh, kw, stride, pads, dil)
    c = rng.standard_normal(cols.shape)
    back = ref.col2im(c, x_shape, kh, kw, stride, pads, dil)
    assert back.shape == x_shape and back.dtype == c.dtype
    lhs, rhs = np.vdot(cols, c), np.vdot(x, back)
    assert abs(lhs - rhs) <= 1e-12 * (np.abs(cols).ravel() @ np.abs(c).ravel() + 1)


@SETTINGS
@given(geom=conv_geometry(), O=st.integers(1, 3), bias=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_conv_as_im2col_gemm_matches_naive(geom, O, bias, seed):
    (N, C, H, W), kh, kw, stride, pads, dil = geom
    rng = _rng(seed)
    x = rng.standard_normal((N, C, H, W))
    Wt = rng.standard_normal((O, C, kh, kw))
    b = rng.standard_normal(O) if bias else None
    OH = ref.conv_output_size(H, kh, stride[0], pads[0], pads[1], dil[0])
    OW = ref.conv_output_size(W, kw, stride[1], pads[2], pads[3], dil[1])
    y = (Wt.reshape(O, -1) @ ref.im2col(x, kh, kw, stride, pads, dil))
    y = y.reshape(O, N, OH, OW).transpose(1, 0, 2, 3)
    if b is not None:
        y = y + b.reshape(1, O, 1, 1)
    np.testing.assert_allclose(y, naive.conv2d_naive(x, Wt, b, stride, pads, dil),
                               rtol=1e-12, atol=1e-12)


@SETTINGS
@given(geom=conv_geometry(), Cout=st.integers(1, 3), data=st.data(),
       seed=st.integers(0, 2**32 - 1))
def test_conv_transpose_as_gemm_col2im_matches_naive(geom, Cout, data, seed):
    (N, Cin, H, W), kh, kw, stride, pads, dil = geom
    # The transposed conv maps an (H, W) grid to any (OH, OW) whose conv output grid is
    # (H, W): OH = (H-1)*sh - top - bottom + dh*(kh-1) + 1 + output_padding, 0 <= op < sh.
    oph = data.draw(st.integers(0, stride[0] - 1))
    opw = data.draw(st.integers(0, stride[1] - 1))
    OH = (H - 1) * stride[0] - pads[0] - pads[1] + dil[0] * (kh - 1) + 1 + oph
    OW = (W - 1) * stride[1] - pads[2] - pads[3] + dil[1] * (kw - 1) + 1 + opw
    if OH < 1 or OW < 1:
        return  # no valid output grid for this geometry
    assert ref.conv_output_size(OH, kh, stride[0], pads[0], pads[1], dil[0]) == H
    assert ref.conv_output_size(OW, kw, stride[1], pads[2], pads[3], dil[1]) == W
    rng = _rng(seed)
    x = rng.standard_normal((N, Cin, H, W))
    Wt = rng.standard_normal((Cin, Cout, kh, kw))
    b = rng.standard_normal(Cout)
    cols = Wt.reshape(Cin, -1).T @ x.transpose(1, 0, 2, 3).reshape(Cin, N * H * W)
    y = ref.col2im(cols, (N, Cout, OH, OW), kh, kw, stride, pads, dil) + b.reshape(1, Cout, 1, 1)
    expected = naive.conv_transpose2d_naive(x, Wt, b, stride, pads, dil, (OH, OW))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(geom=conv_geometry(), O=st.integers(1, 3), bias=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_reference_conv_kernels_match_naive_and_adjoint(geom, O, bias, seed):
    """conv2d against naive loops; conv2d_grad_input is its adjoint in x and
    conv2d_grad_weight its adjoint in w: <conv(x, w), gy> = <x, gx> = <w, gw>."""
    x_shape, kh, kw, stride, pads, dil = geom
    rng = _rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((O, x_shape[1], kh, kw))
    b = rng.standard_normal(O) if bias else None
    y = ref.conv2d(x, w, b, stride, pads, dil)
    np.testing.assert_allclose(y, naive.conv2d_naive(x, w, b, stride, pads, dil),
                               rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    y0 = ref.conv2d(x, w, None, stride, pads, dil)
    gx = ref.conv2d_grad_input(gy, w, x_shape, stride, pads, dil)
    gw = ref.conv2d_grad_weight(x, gy, w.shape, stride, pads, dil)
    assert gx.shape == x.shape and gw.shape == w.shape
    scale = np.abs(y0).ravel() @ np.abs(gy).ravel() + 1
    assert abs(np.vdot(y0, gy) - np.vdot(x, gx)) <= 1e-12 * scale
    assert abs(np.vdot(y0, gy) - np.vdot(w, gw)) <= 1e-12 * scale


def test_im2col_geometry_errors():
    x = np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="empty"):
        ref.im2col(x, 5, 5, (1, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match="pads"):
        ref.im2col(x, 1, 1, (1, 1), (-1, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match="stride"):
        ref.im2col(x, 1, 1, (0, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match="cols shape"):
        ref.col2im(np.zeros((9, 4, 1)), (1, 1, 3, 3), 3, 3, (1, 1), (0, 0, 0, 0), (1, 1))


BN_SHAPES = [(6, 4), (4, 3, 5, 5), (2, 5, 3, 1)]


def _bn_inputs(shape, seed, dtype=np.float64):
    rng = _rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + rng.standard_normal((1, C) + (1,) * (len(shape) - 2)))
    gamma = rng.uniform(0.5, 1.5, C)
    beta = rng.standard_normal(C)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_forward_matches_naive(shape):
    x, gamma, beta = _bn_inputs(shape, 0)
    y, mean, invstd = ref.batch_norm_forward(x, gamma, beta, 1e-5)
    y_n, mean_n, invstd_n = naive.batch_norm_naive(x, gamma, beta, 1e-5)
    assert y.shape == x.shape and mean.shape == invstd.shape == (shape[1],)
    np.testing.assert_allclose(mean, mean_n, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(invstd, invstd_n, rtol=1e-13)
    np.testing.assert_allclose(y, y_n, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_backward_matches_finite_differences(shape):
    """<gx, dx> + <ggamma, dg> + <gbeta, db> == d/dt sum(gy * bn(x + t dx, g + t dg, b + t db))."""
    x, gamma, beta = _bn_inputs(shape, 1)
    rng = _rng(2)
    gy = rng.standard_normal(x.shape)
    dx, dg, db = rng.standard_normal(x.shape), rng.standard_normal(gamma.shape), rng.standard_normal(beta.shape)
    _, mean, invstd = ref.batch_norm_forward(x, gamma, beta, 1e-3)
    gx, ggamma, gbeta = ref.batch_norm_backward(x, gamma, gy, mean, invstd)
    analytic = np.vdot(gx, dx) + np.vdot(ggamma, dg) + np.vdot(gbeta, db)

    def loss(t):
        return np.vdot(gy, ref.batch_norm_forward(x + t * dx, gamma + t * dg, beta + t * db, 1e-3)[0])

    h = 1e-5
    numeric = (loss(h) - loss(-h)) / (2 * h)
    assert abs(analytic - numeric) <= 1e-6 * (abs(numeric) + 1)
    # The gradient of a mean-free normalisation has zero sum over each channel.
    axes = (0,) + tuple(range(2, x.ndim))
    np.testing.assert_allclose(gx.sum(axis=axes), 0, atol=1e-10)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_inference(shape):
    x, gamma, beta = _bn_inputs(shape, 3)
    rng = _rng(4)
    mean, var = rng.standard_normal(shape[1]), rng.uniform(0.1, 2.0, shape[1])
    y = ref.batch_norm_inference(x, gamma, beta, mean, var, 1e-5)
    for c in range(shape[1]):
        expected = (x[:, c] - mean[c]) / math.sqrt(var[c] + 1e-5) * gamma[c] + beta[c]
        np.testing.assert_allclose(y[:, c], expected, rtol=1e-13, atol=1e-13)
    # With the batch's own statistics, inference mode reproduces training mode.
    y_train, bmean, invstd = ref.batch_norm_forward(x, gamma, beta, 1e-5)
    bvar = 1 / invstd**2 - 1e-5
    np.testing.assert_allclose(ref.batch_norm_inference(x, gamma, beta, bmean, bvar, 1e-5), y_train,
                               rtol=1e-10, atol=1e-10)


def test_leaky_relu_and_grad():
    rng = _rng(5)
    x = rng.standard_normal((3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5          # keep finite differences away from the kink
    slope = 0.2
    y = ref.leaky_relu(x, slope)
    for xv, yv in zip(x.ravel(), y.ravel()):
        assert yv == (xv if xv > 0 else slope * xv)
    assert ref.leaky_relu(np.array([0.0]), slope)[0] == 0.0
    gy = rng.standard_normal(x.shape)
    gx = ref.leaky_relu_grad(x, gy, slope)
    h = 1e-6
    numeric = (ref.leaky_relu(x + h, slope) - ref.leaky_relu(x - h, slope)) / (2 * h)
    np.testing.assert_allclose(gx, gy * numeric, rtol=1e-8)


def test_dropout():
    rng = _rng(6)
    x = rng.standard_normal((4, 3, 8, 8))
    u = rng.random(x.shape)
    p = 0.3
    u[0, 0, 0, :4] = p                   # the boundary u == p keeps the unit
    y = ref.dropout(x, u, p)
    keep = u >= p
    assert np.all(y[0, 0, 0, :4] == x[0, 0, 0, :4] / (1 - p))
    np.testing.assert_allclose(y[keep], x[keep] / (1 - p), rtol=1e-15)
    assert np.all(y[~keep] == 0)
    assert 0.6 < keep.mean() < 0.8
    np.testing.assert_array_equal(ref.dropout(x, u, 0.0), x)
    x_inf = np.full((2,), np.inf)
    np.testing.assert_array_equal(ref.dropout(x_inf, np.array([0.1, 0.9]), 0.5), [0.0, 2 * np.inf])
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="probability"):
            ref.dropout(x, u, bad)


def _adam_textbook(p, g, steps, lr, b1, b2, eps, wd):
    """Scalar Adam recursion, one parameter at a time, in Python floats."""
    p = [float(v) for v in p]
    m = [0.0] * len(p)
    v = [0.0] * len(p)
    for t in range(1, steps + 1):
        for k in range(len(p)):
            gk = float(g[t - 1][k]) + wd * p[k]
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk * gk
            mhat = m[k] / (1 - b1**t)
            vhat = v[k] / (1 - b2**t)
            p[k] -= lr * mhat / (math.sqrt(vhat) + eps)
    return np.array(p), np.array(m), np.array(v)


def _rmsprop_textbook(p, g, steps, lr, alpha, eps, wd):
    p = [float(v) for v in p]
    s = [0.0] * len(p)
    for t in range(steps):
        for k in range(len(p)):
            gk = float(g[t][k]) + wd * p[k]
            s[k] = alpha * s[k] + (1 - alpha) * gk * gk
            p[k] -= lr * gk / (math.sqrt(s[k]) + eps)
    return np.array(p), np.array(s)


OPT_CASES = [dict(lr=1e-2, wd=0.0), dict(lr=3e-3, wd=0.05)]


def _run_adam(K, dtype, steps, lr, wd, shape=(3, 4, 5), b1=0.5, b2=0.9, eps=1e-8):
    rng = _rng(7)
    p0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(steps)]
    p, m, v = p0.astype(dtype), np.zeros(shape, dtype), np.zeros(shape, dtype)
    for t, g in enumerate(grads, start=1):
        g = g.astype(dtype)
        g_before = g.copy()
        K.adam_update(p, g, m, v, lr, b1, b2, eps, t, wd)
        np.testing.assert_array_equal(g, g_before)   # grad is an input: never written
    return (p0, grads), (p, m, v)


def _run_rmsprop(K, dtype, steps, lr, wd, shape=(3, 4, 5), alpha=0.9, eps=1e-8):
    rng = _rng(8)
    p0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(steps)]
    p, s = p0.astype(dtype), np.zeros(shape, dtype)
    for g in grads:
        K.rmsprop_update(p, g.astype(dtype), s, lr, alpha, eps, wd)
    return (p0, grads), (p, s)


@pytest.mark.parametrize("case", OPT_CASES)
def test_adam_matches_textbook_recursion(case):
    (p0, grads), (p, m, v) = _run_adam(ref, np.float64, 5, case["lr"], case["wd"])
    p_t, m_t, v_t = _adam_textbook(p0.ravel(), [g.ravel() for g in grads], 5, case["lr"],
                                   0.5, 0.9, 1e-8, case["wd"])
    np.testing.assert_allclose(p.ravel(), p_t, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(m.ravel(), m_t, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(v.ravel(), v_t, rtol=1e-13, atol=1e-15)
    # Adam's first step is lr * g / (|g| + eps) ~ lr * sign(g): mhat = g, sqrt(vhat) = |g|.
    (p0, grads), (p1, _, _) = _run_adam(ref, np.float64, 1, case["lr"], case["wd"])
    g0 = grads[0] + case["wd"] * p0
    np.testing.assert_allclose(p1 - p0, -case["lr"] * g0 / (np.abs(g0) + 1e-8), rtol=1e-9)


@pytest.mark.parametrize("case", OPT_CASES)
def test_rmsprop_matches_textbook_recursion(case):
    (p0, grads), (p, s) = _run_rmsprop(ref, np.float64, 5, case["lr"], case["wd"])
    p_t, s_t = _rmsprop_textbook(p0.ravel(), [g.ravel() for g in grads], 5, case["lr"], 0.9,
                                 1e-8, case["wd"])
    np.testing.assert_allclose(p.ravel(), p_t, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(s.ravel(), s_t, rtol=1e-13, atol=1e-15)
    assert np.all(p != p0)


def test_adam_rejects_zero_step():
    z = np.zeros(3)
    with pytest.raises(ValueError, match="1-based"):
        ref.adam_update(z, z, z.copy(), z.copy(), 1e-3, 0.9, 0.999, 1e-8, 0, 0.0)


# ============================================================================ kernels.load / available

def test_import_is_lazy():
    code = ("import sys, refgan.kernels; "
            "assert 'numba' not in sys.modules and 'cupy' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cupy_module_imports_without_cupy():
    code = ("import sys; sys.modules['cupy'] = None; "
            "import refgan.kernels.cupy_gpu as g; from refgan import backend; "
            "assert not backend.available('cupy'); "
            "import numpy as np; x = np.ones((1, 1, 2, 2)); "
            "assert g.leaky_relu(-x, 0.5).sum() == -2.0")   # host arrays: reference fallback
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", backend.BACKENDS)
def test_load_returns_every_kernel(name):
    if not backend.available(name):
        with pytest.raises(UserError, match=name):
            backend.load(name)
        return
    K = kernels.load(name)
    assert backend.load(name).kernels.im2col is K.im2col
    assert K.name == name
    for k in kernels.KERNEL_NAMES:
        assert callable(getattr(K, k)), k
    if name == "numba":
        from refgan.kernels import numba_cpu
        assert K.im2col is numba_cpu.im2col and K.adam_update is numba_cpu.adam_update


def test_unavailable_and_unknown_backends(monkeypatch):
    assert backend.available("numpy")
    monkeypatch.setitem(sys.modules, "numba", None)      # makes `import numba` fail
    assert not backend.available("numba")
    with pytest.raises(UserError, match="numba"):
        backend.load("numba")
    with pytest.raises(ValueError, match="unknown kernel backend"):
        kernels.load("jax")
    with pytest.raises(UserError, match="unknown backend"):
        backend.available("tpu")


# ============================================================================ 2. compiled vs reference
# The same comparisons run for every compiled backend; `to_dev` / `to_host` move arrays.

class _Host:
    name = "numba"

    def __init__(self):
        self.K = kernels.load("numba")

    to_dev = staticmethod(np.asarray)
    to_host = staticmethod(np.asarray)


class _Gpu:
    name = "cupy"

    def __init__(self):
        cupy = pytest.importorskip("cupy")
        if not backend.available("cupy"):
            pytest.skip("no usable CUDA device")
        self.K = kernels.load("cupy")
        self.to_dev = cupy.asarray
        self.to_host = cupy.asnumpy


@pytest.fixture(scope="module", params=[
    pytest.param("numba"),
    pytest.param("cupy", marks=pytest.mark.gpu),
])
def compiled(request):
    if request.param == "numba":
        if not backend.available("numba"):
            pytest.skip("numba not installed")
        return _Host()
    return _Gpu()


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(geom=conv_geometry(max_hw=9), seed=st.integers(0, 2**32 - 1))
def test_compiled_im2col_col2im(compiled, dtype, geom, seed):
    x_shape, kh, kw, stride, pads, dil = geom
    rng = _rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    cols = ref.im2col(x, kh, kw, stride, pads, dil)
    got = compiled.to_host(compiled.K.im2col(compiled.to_dev(x), kh, kw, stride, pads, dil))
    np.testing.assert_array_equal(got, cols)         # pure data movement: exact
    assert got.dtype == x.dtype
    c = rng.standard_normal(cols.shape).astype(dtype)
    got = compiled.to_host(compiled.K.col2im(compiled.to_dev(c), x_shape, kh, kw, stride, pads, dil))
    assert_close(got, ref.col2im(c, x_shape, kh, kw, stride, pads, dil), dtype)


@st.composite
def tiled_conv_geometry(draw):
    """conv_geometry, sometimes with maps large enough to be split into row blocks
    (more than 256 output pixels) or with batches spread over several tiles."""
    x_shape, kh, kw, stride, pads, dil = draw(conv_geometry(max_hw=9))
    if draw(st.booleans()):
        N, C, _, _ = x_shape
        stride = (1, draw(st.integers(1, 2)))
        size = draw(st.integers(17, 40))
        x_shape = (draw(st.integers(1, 3)), C, size, size + draw(st.integers(0, 3)))
    elif draw(st.booleans()):
        x_shape = (draw(st.integers(3, 40)),) + x_shape[1:]
    return x_shape, kh, kw, stride, pads, dil


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(geom=tiled_conv_geometry(), O=st.integers(1, 4), bias=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_compiled_conv_kernels(compiled, dtype, geom, O, bias, seed):
    """The fused/tiled conv kernels against the im2col + GEMM reference (BLAS may sum
    in another order: compared at the dtype's tolerance)."""
    x_shape, kh, kw, stride, pads, dil = geom
    rng = _rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((O, x_shape[1], kh, kw)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    K, dev, host = compiled.K, compiled.to_dev, compiled.to_host
    y = ref.conv2d(x, w, b, stride, pads, dil)
    assert_close(host(K.conv2d(dev(x), dev(w), None if b is None else dev(b), stride, pads, dil)),
                 y, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(host(K.conv2d_grad_input(dev(gy), dev(w), x_shape, stride, pads, dil)),
                 ref.conv2d_grad_input(gy, w, x_shape, stride, pads, dil), dtype)
    assert_close(host(K.conv2d_grad_weight(dev(x), dev(gy), w.shape, stride, pads, dil)),
                 ref.conv2d_grad_weight(x, gy, w.shape, stride, pads, dil), dtype)


@st.composite
def output_side_geometry(draw):
    """Stride-1 convs with fewer output than input channels (the generator's convs), which
    the Numba backend runs from the output side: (x_shape, O, kh, kw, pads, dilation)."""
    (N, _, H, W), kh, kw, _, pads, dil = draw(conv_geometry(max_hw=11))
    C = draw(st.integers(2, 6))
    return (N, C, H, W), draw(st.integers(1, C - 1)), kh, kw, pads, dil


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(geom=output_side_geometry(), bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_numba_output_side_conv_kernels(dtype, geom, bias, seed):
    """Forward, input gradient and weight gradient of the output-side kernels against the
    im2col + GEMM reference (another summation order: the dtype's tolerance)."""
    if not backend.available("numba"):
        pytest.skip("numba not installed")
    K = kernels.load("numba")
    x_shape, O, kh, kw, pads, dil = geom
    numba_cpu = importlib.import_module("refgan.kernels.numba_cpu")
    w_shape = (O, x_shape[1], kh, kw)
    geo = numba_cpu._conv_args(x_shape, w_shape, (1, 1), pads, dil)
    assert numba_cpu._output_side(x_shape, O, geo)
    rng = _rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((O, x_shape[1], kh, kw)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    y = ref.conv2d(x, w, b, (1, 1), pads, dil)
    assert_close(K.conv2d(x, w, b, (1, 1), pads, dil), y, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(K.conv2d_grad_input(gy, w, x_shape, (1, 1), pads, dil),
                 ref.conv2d_grad_input(gy, w, x_shape, (1, 1), pads, dil), dtype)
    assert_close(K.conv2d_grad_weight(x, gy, w.shape, (1, 1), pads, dil),
                 ref.conv2d_grad_weight(x, gy, w.shape, (1, 1), pads, dil), dtype)



def test_numba_output_side_is_taken_only_where_it_pays():
    """Stride 2, as many outputs as inputs, or a tap buffer over the cap: the tiles."""
    if not backend.available("numba"):
        pytest.skip("numba not installed")
    numba_cpu = importlib.import_module("refgan.kernels.numba_cpu")

    def side(x_shape, O, stride):
        geo = numba_cpu._conv_args(x_shape, (O, x_shape[1], 3, 3), stride, (1, 1, 1, 1), (1, 1))
        return numba_cpu._output_side(x_shape, O, geo)

    assert side((2, 16, 64, 64), 3, (1, 1)) == (3, 3, 1, 1, 1, 1, 64, 64, 64, 64)
    assert side((2, 16, 64, 64), 3, (2, 2)) is None
    assert side((2, 16, 64, 64), 16, (1, 1)) is None
    assert side((1, 16, 1024, 1024), 3, (1, 1)) is None


@st.composite
def patch_rows_geometry(draw):
    """Undilated convs whose channels-last runs (kw*C values) are longer than an output
    row (OW), which the Numba backend runs on patch rows: the critic's stride-2 convs,
    and maps large enough to be split into row blocks, or batches over several tiles:
    (x_shape, O, kh, kw, stride, pads)."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h_min = max(1, kh - pads[0] - pads[1])
    w_min = max(1, kw - pads[2] - pads[3])
    H = draw(st.integers(h_min, max(h_min, 24)))
    W = draw(st.integers(w_min, max(w_min, 24)))
    OW = ref.geometry(H, W, kh, kw, stride, pads, (1, 1))[-1]
    C = draw(st.integers(OW // kw + 1, OW // kw + 3))
    # stride 1 with fewer outputs than inputs runs from the output side: not these
    O = draw(st.integers(1, 6) if stride != (1, 1) else st.integers(C, C + 3))
    return (draw(st.integers(1, 20)), C, H, W), O, kh, kw, stride, pads


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(geom=patch_rows_geometry(), bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
# both kinds of tile, whatever hypothesis draws: 16 + 4 whole images (the main job's
# last critic layer at 8x8), and row blocks of a 24x24 map (10 rows of 24 outputs)
@example(geom=((20, 6, 8, 8), 4, 5, 5, (2, 2), (1, 2, 1, 2)), bias=True, seed=0)
@example(geom=((2, 5, 24, 24), 6, 5, 5, (1, 1), (2, 2, 2, 2)), bias=False, seed=1)
def test_numba_patch_row_conv_kernels(dtype, geom, bias, seed):
    """Forward, input gradient and weight gradient of the patch-row kernels against the
    im2col + GEMM reference (another summation order: the dtype's tolerance)."""
    if not backend.available("numba"):
        pytest.skip("numba not installed")
    K = kernels.load("numba")
    x_shape, O, kh, kw, stride, pads = geom
    numba_cpu = importlib.import_module("refgan.kernels.numba_cpu")
    w_shape = (O, x_shape[1], kh, kw)
    geo = numba_cpu._conv_args(x_shape, w_shape, stride, pads, (1, 1))
    assert numba_cpu._patch_rows_pay(x_shape, geo)
    assert not numba_cpu._output_side(x_shape, O, geo)
    rng = _rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    y = ref.conv2d(x, w, b, stride, pads, (1, 1))
    assert_close(K.conv2d(x, w, b, stride, pads, (1, 1)), y, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(K.conv2d_grad_input(gy, w, x_shape, stride, pads, (1, 1)),
                 ref.conv2d_grad_input(gy, w, x_shape, stride, pads, (1, 1)), dtype)
    assert_close(K.conv2d_grad_weight(x, gy, w.shape, stride, pads, (1, 1)),
                 ref.conv2d_grad_weight(x, gy, w.shape, stride, pads, (1, 1)), dtype)


def test_numba_patch_rows_are_taken_only_where_they_pay():
    """The main job's critic: layers 2-4 (16, 32, 65 channels in, 5x5, stride 2) on patch
    rows, the first (3 channels, 32 outputs a row) and dilated convs on the tiles."""
    if not backend.available("numba"):
        pytest.skip("numba not installed")
    numba_cpu = importlib.import_module("refgan.kernels.numba_cpu")

    def patch(x_shape, O, dilation=(1, 1)):
        geo = numba_cpu._conv_args(x_shape, (O, x_shape[1], 5, 5), (2, 2), (1, 2, 1, 2),
                                   dilation)
        return numba_cpu._patch_rows_pay(x_shape, geo)

    assert patch((16, 16, 32, 32), 32) == (5, 5, 2, 2, 1, 1, 16, 16, 1, 16)
    assert patch((16, 65, 8, 8), 128)
    assert patch((16, 3, 64, 64), 16) is None
    assert patch((16, 16, 32, 32), 32, dilation=(2, 2)) is None


_THREAD_CHECK = """
import numba, numpy as np
from refgan import kernels
K = kernels.load("numba")
rng = np.random.default_rng(21)
# three input channels: runs of kw*C = 15 values, longer than a row of 6 outputs: patch rows
x = rng.standard_normal((37, 3, 12, 12)).astype(np.float32)
w = rng.standard_normal((5, 3, 5, 5)).astype(np.float32)
gy = rng.standard_normal((37, 5, 6, 6)).astype(np.float32)
args = ((2, 2), (1, 2, 1, 2), (1, 1))
# one input channel: runs of kw*C = 5 values, shorter than a row of 6 outputs: the tiles
x0 = rng.standard_normal((37, 1, 12, 12)).astype(np.float32)
w0 = rng.standard_normal((5, 1, 5, 5)).astype(np.float32)
# a stride-1 conv with fewer outputs than inputs: the output-side kernels
x1 = rng.standard_normal((9, 8, 10, 10)).astype(np.float32)
w1 = rng.standard_normal((3, 8, 3, 3)).astype(np.float32)
gy1 = rng.standard_normal((9, 3, 10, 10)).astype(np.float32)
same = ((1, 1), (1, 1, 1, 1), (1, 1))
out = []
for n in (1, 2):
    numba.set_num_threads(n)
    out.append([K.conv2d(x, w, None, *args), K.conv2d_grad_input(gy, w, x.shape, *args),
                K.conv2d_grad_weight(x, gy, w.shape, *args),
                K.conv2d(x0, w0, None, *args), K.conv2d_grad_input(gy, w0, x0.shape, *args),
                K.conv2d_grad_weight(x0, gy, w0.shape, *args),
                K.conv2d(x1, w1, None, *same), K.conv2d_grad_input(gy1, w1, x1.shape, *same),
                K.conv2d_grad_weight(x1, gy1, w1.shape, *same)])
assert all(np.array_equal(a, b) for a, b in zip(*out)), "thread count changed the result"
"""


def test_numba_conv_kernels_do_not_depend_on_thread_count():
    """Tiles and partial sums are fixed by the shapes, so 1 and 2 threads agree bit for bit
    (a resumed run stays identical whatever the thread count). In a subprocess: the
    suite itself runs Numba on one thread."""
    if not backend.available("numba"):
        pytest.skip("numba not installed")
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    subprocess.run([sys.executable, "-c", _THREAD_CHECK], check=True, env=env, timeout=300)


@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_im2col_noncontiguous_input(compiled, dtype):
    x = _rng(9).standard_normal((3, 2, 9, 10)).astype(dtype).transpose(1, 0, 3, 2)  # (2,3,10,9) view
    args = (5, 5, (2, 2), (1, 2, 1, 2), (1, 1))
    got = compiled.to_host(compiled.K.im2col(compiled.to_dev(x), *args))
    np.testing.assert_array_equal(got, ref.im2col(x, *args))


@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_elementwise(compiled, dtype):
    K, dev, host = compiled.K, compiled.to_dev, compiled.to_host
    rng = _rng(10)
    x = rng.standard_normal((4, 3, 7, 5)).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    assert_close(host(K.leaky_relu(dev(x), 0.2)), ref.leaky_relu(x, 0.2), dtype)
    assert_close(host(K.leaky_relu_grad(dev(x), dev(gy), 0.2)), ref.leaky_relu_grad(x, gy, 0.2), dtype)
    for udtype in (np.float64, np.float32):
        u = rng.random(x.shape).astype(udtype)
        for p in (0.0, 0.3, 0.5):
            u[:, :, 0, 0] = udtype(p)       # boundary u == p: kept on every backend
            assert_close(host(K.dropout(dev(x), dev(u), p)), ref.dropout(x, u, p), dtype)
    with pytest.raises(ValueError):
        K.dropout(dev(x), dev(u), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES + [(8, 6, 16, 16)])
def test_compiled_batch_norm(compiled, dtype, shape):
    K, dev, host = compiled.K, compiled.to_dev, compiled.to_host
    x, gamma, beta = _bn_inputs(shape, 11, dtype)
    gy = _rng(12).standard_normal(shape).astype(dtype)
    y, mean, invstd = ref.batch_norm_forward(x, gamma, beta, 1e-5)
    got = K.batch_norm_forward(dev(x), dev(gamma), dev(beta), 1e-5)
    for a, e in zip(got, (y, mean, invstd)):
        assert_close(host(a), e, dtype)
    got = K.batch_norm_backward(dev(x), dev(gamma), dev(gy), dev(mean), dev(invstd))
    for a, e in zip(got, ref.batch_norm_backward(x, gamma, gy, mean, invstd)):
        assert_close(host(a), e, dtype)
    var = _rng(13).uniform(0.1, 2, shape[1]).astype(dtype)
    assert_close(host(K.batch_norm_inference(dev(x), dev(gamma), dev(beta), dev(mean), dev(var), 1e-5)),
                 ref.batch_norm_inference(x, gamma, beta, mean, var, 1e-5), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", OPT_CASES)
def test_compiled_optimisers(compiled, dtype, case):
    """Several in-place steps on device arrays against the reference on host arrays."""
    K, dev, host = compiled.K, compiled.to_dev, compiled.to_host
    rng = _rng(14)
    shape = (5, 4, 3)
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(4)]
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    pd, md, vd = dev(p0.copy()), dev(np.zeros_like(p0)), dev(np.zeros_like(p0))
    for t, g in enumerate(grads, start=1):
        ref.adam_update(p, g, m, v, case["lr"], 0.5, 0.9, 1e-8, t, case["wd"])
        assert K.adam_update(pd, dev(g), md, vd, case["lr"], 0.5, 0.9, 1e-8, t, case["wd"]) is None
    for a, e in zip((pd, md, vd), (p, m, v)):
        assert_close(host(a), e, dtype)
    p, s = p0.copy(), np.zeros_like(p0)
    pd, sd = dev(p0.copy()), dev(np.zeros_like(p0))
    for g in grads:
        ref.rmsprop_update(p, g, s, case["lr"], 0.9, 1e-8, case["wd"])
        K.rmsprop_update(pd, dev(g), sd, case["lr"], 0.9, 1e-8, case["wd"])
    assert_close(host(pd), p, dtype)
    assert_close(host(sd), s, dtype)
    assert np.all(host(pd) != p0)


def test_compiled_kernels_do_not_write_inputs(compiled):
    K, dev, host = compiled.K, compiled.to_dev, compiled.to_host
    rng = _rng(15)
    x = rng.standard_normal((2, 3, 6, 6))
    gy, u = rng.standard_normal(x.shape), rng.random(x.shape)
    g, b = rng.uniform(0.5, 1.5, 3), rng.standard_normal(3)
    cols = rng.standard_normal((27, 2 * 36))
    inputs = [dev(a.copy()) for a in (x, gy, u, g, b, cols)]
    xd, gyd, ud, gd, bd, cd = inputs
    K.im2col(xd, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1))
    K.col2im(cd, x.shape, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1))
    wd = dev(np.ones((3, 3, 3, 3)))
    K.conv2d(xd, wd, bd, (1, 1), (1, 1, 1, 1), (1, 1))
    K.conv2d_grad_input(gyd, wd, x.shape, (1, 1), (1, 1, 1, 1), (1, 1))
    K.conv2d_grad_weight(xd, gyd, (3, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    K.leaky_relu(xd, 0.2)
    K.leaky_relu_grad(xd, gyd, 0.2)
    K.dropout(xd, ud, 0.5)
    _, mean, invstd = K.batch_norm_forward(xd, gd, bd, 1e-5)
    K.batch_norm_backward(xd, gd, gyd, mean, invstd)
    K.batch_norm_inference(xd, gd, bd, bd, gd, 1e-5)
    for a, original in zip(inputs, (x, gy, u, g, b, cols)):
        np.testing.assert_array_equal(host(a), original)


def test_numba_falls_back_to_reference_for_other_dtypes():
    K = kernels.load("numba")
    x = _rng(16).standard_normal((2, 2, 5, 5)).astype(np.float16)
    np.testing.assert_array_equal(K.im2col(x, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
                                  ref.im2col(x, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)))
    np.testing.assert_array_equal(K.leaky_relu(x, 0.1), ref.leaky_relu(x, 0.1))
    # Non-contiguous optimiser state cannot be updated through a flat view: the
    # reference path must still update it in place.
    p = np.ones((4, 4))[:, ::2]
    m, v = np.zeros((4, 2)), np.zeros((4, 2))
    K.adam_update(p, np.ones((4, 2)), m, v, 0.1, 0.9, 0.999, 1e-8, 1, 0.0)
    np.testing.assert_allclose(p, 0.9)
    np.testing.assert_allclose(m, 0.1)


@pytest.mark.gpu
def test_reference_runs_on_cupy_arrays():
    """The xp idiom: the reference itself works on device arrays."""
    cupy = pytest.importorskip("cupy")
    if not backend.available("cupy"):
        pytest.skip("no usable CUDA device")
    x = _rng(17).standard_normal((2, 3, 8, 8))
    args = (3, 3, (2, 2), (0, 1, 0, 1), (1, 1))
    cols = ref.im2col(cupy.asarray(x), *args)
    assert isinstance(cols, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(cols), ref.im2col(x, *args))
    y, mean, invstd = ref.batch_norm_forward(cupy.asarray(x), cupy.ones(3), cupy.zeros(3), 1e-5)
    np.testing.assert_allclose(cupy.asnumpy(y), ref.batch_norm_forward(x, np.ones(3), np.zeros(3), 1e-5)[0],
                               rtol=1e-12, atol=1e-12)
