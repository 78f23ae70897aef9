"""CuPy GPU kernels: the same interface as ``kernels.reference``, as CUDA kernels.

* ``im2col`` / ``col2im`` are ``cupy.RawKernel`` s with one thread per *output*
  element (grid-stride loop).  ``col2im`` is a gather: each image pixel sums the
  column entries of the kernel taps that cover it, in the reference's (i, j)
  order, so it needs no atomics and is deterministic run to run.
* The elementwise work (LeakyReLU, dropout, batch-norm normalisation, optimiser
  steps) is fused into ``cupy.ElementwiseKernel`` s; the per-channel batch-norm
  sums use ``cupy.ReductionKernel`` with the per-channel statistics broadcast as
  (1, C, 1, ...) arrays.  ``T`` is the kernels' type placeholder, so float32 and
  float64 each get their own compiled kernel.

This module imports without CuPy (``refgan.backend.available('cupy')`` is then False);
kernels are built on first use.  Arrays that are not float32/float64 CuPy arrays
are handed to the reference implementation (which itself runs on CuPy).
Elementwise kernels are compiled with NVRTC's defaults (FMA contraction on), so
results agree with the NumPy reference to rounding, not bit for bit;
``im2col`` / ``col2im`` only move and add and do agree exactly.
"""
import functools

import numpy as np

from . import reference as ref

try:
    import cupy
except ImportError:  # import-safe: refgan.backend.available('cupy') reports why it cannot run
    cupy = None

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_BLOCK = 256


def _on_gpu(*arrays):
    """True when every argument is a CuPy float32/float64 array of one common dtype."""
    if cupy is None:
        return False
    dt = arrays[0].dtype
    return dt in _FLOATS and all(isinstance(a, cupy.ndarray) and a.dtype == dt for a in arrays)


# ----------------------------------------------------------------------------- im2col / col2im

_IM2COL_SRC = r"""
extern "C" __global__ void refgan_im2col_{T}(
        const {T}* __restrict__ x, {T}* __restrict__ cols, const long long total,
        const int N, const int C, const int H, const int W, const int kh, const int kw,
        const int sh, const int sw, const int top, const int left,
        const int dh, const int dw, const int OH, const int OW)
{{
    // One thread per element of cols (C*kh*kw, N*OH*OW), viewed as (C, kh, kw, N, OH, OW).
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {{
        long long t = idx;
        const int ow = (int)(t % OW); t /= OW;
        const int oh = (int)(t % OH); t /= OH;
        const int n = (int)(t % N); t /= N;
        const int j = (int)(t % kw); t /= kw;
        const int i = (int)(t % kh); t /= kh;
        const long long c = t;
        const int h = oh * sh - top + i * dh;
        const int w = ow * sw - left + j * dw;
        {T} v = 0;
        if (h >= 0 && h < H && w >= 0 && w < W) {{
            v = x[(((long long)n * C + c) * H + h) * W + w];
        }}
        cols[idx] = v;
    }}
}}
"""

_COL2IM_SRC = r"""
extern "C" __global__ void refgan_col2im_{T}(
        const {T}* __restrict__ cols, {T}* __restrict__ x, const long long total,
        const int N, const int C, const int H, const int W, const int kh, const int kw,
        const int sh, const int sw, const int top, const int left,
        const int dh, const int dw, const int OH, const int OW)
{{
    // One thread per image pixel: gather every (i, j, oh, ow) whose tap lands on it.
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {{
        long long t = idx;
        const int w = (int)(t % W); t /= W;
        const int h = (int)(t % H); t /= H;
        const int c = (int)(t % C); t /= C;
        const long long n = t;
        const long long L = (long long)OH * OW;
        {T} acc = 0;
        for (int i = 0; i < kh; ++i) {{
            const int hs = h + top - i * dh;         // = oh * sh
            if (hs < 0 || hs % sh != 0) continue;
            const int oh = hs / sh;
            if (oh >= OH) continue;
            for (int j = 0; j < kw; ++j) {{
                const int ws = w + left - j * dw;    // = ow * sw
                if (ws < 0 || ws % sw != 0) continue;
                const int ow = ws / sw;
                if (ow >= OW) continue;
                acc += cols[(((long long)c * kh + i) * kw + j) * (N * L) + n * L
                            + (long long)oh * OW + ow];
            }}
        }}
        x[idx] = acc;
    }}
}}
"""


#: ``cupy.RawKernel`` sources, name -> CUDA text with ``{T}`` for the C type; the
#: kernel is ``refgan_<name>_<ctype>``.
RAW = {"im2col": _IM2COL_SRC, "col2im": _COL2IM_SRC}


@functools.lru_cache(maxsize=None)
def _raw_kernel(which, dtype):
    ctype = _CTYPE[np.dtype(dtype)]
    return cupy.RawKernel(RAW[which].format(T=ctype), f"refgan_{which}_{ctype}")


def _launch(kernel, total, *args):
    # Grid-stride loop inside the kernel, so the grid may be capped.
    blocks = int(min((total + _BLOCK - 1) // _BLOCK, 1 << 20))
    kernel((max(blocks, 1),), (_BLOCK,), args)


def _geometry_args(N, C, H, W, kh, kw, sh, sw, top, left, dh, dw, OH, OW):
    return tuple(np.int32(v) for v in (N, C, H, W, kh, kw, sh, sw, top, left, dh, dw, OH, OW))


def im2col(x, kh, kw, stride, pads, dilation):
    """CUDA ``im2col``; see ``kernels.reference.im2col`` for shapes and layout."""
    if not _on_gpu(x):
        return ref.im2col(x, kh, kw, stride, pads, dilation)
    N, C, H, W = x.shape
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = ref.geometry(H, W, kh, kw, stride, pads,
                                                                    dilation)
    cols = cupy.empty((C * kh * kw, N * OH * OW), dtype=x.dtype)
    total = cols.size
    _launch(_raw_kernel("im2col", x.dtype), total, cupy.ascontiguousarray(x), cols,
            np.int64(total), *_geometry_args(N, C, H, W, kh, kw, sh, sw, top, left, dh, dw, OH, OW))
    return cols


def col2im(cols, x_shape, kh, kw, stride, pads, dilation):
    """CUDA ``col2im`` (deterministic gather; adjoint of ``im2col``). See the reference."""
    if not _on_gpu(cols):
        return ref.col2im(cols, x_shape, kh, kw, stride, pads, dilation)
    N, C, H, W = x_shape
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = ref.geometry(H, W, kh, kw, stride, pads,
                                                                    dilation)
    ref.check_cols_shape(cols, x_shape, kh, kw, OH, OW)
    x = cupy.empty((N, C, H, W), dtype=cols.dtype)
    total = x.size
    _launch(_raw_kernel("col2im", cols.dtype), total, cupy.ascontiguousarray(cols), x,
            np.int64(total), *_geometry_args(N, C, H, W, kh, kw, sh, sw, top, left, dh, dw, OH, OW))
    return x


# ----------------------------------------------------------------------------- fused elementwise / reductions

#: ``cupy.ElementwiseKernel`` specs, name -> (in_params, out_params, operation).
ELEMENTWISE = {
    "leaky_relu": ("T x, T slope", "T y", "y = x > (T)0 ? x : x * slope"),
    "leaky_relu_grad": ("T x, T gy, T slope", "T gx", "gx = x > (T)0 ? gy : gy * slope"),
    "dropout": ("T x, U u, U p, T scale", "T y", "y = u >= p ? x * scale : (T)0"),
    "bn_normalize": ("T x, T mean, T invstd, T gamma, T beta", "T y",
                     "y = (x - mean) * invstd * gamma + beta"),
    "bn_backward": ("T x, T gy, T mean, T invstd, T scale, T gbeta, T ggamma, T M", "T gx",
                    "gx = scale * (M * gy - gbeta - (x - mean) * invstd * ggamma)"),
    "bn_inference": ("T x, T mean, T scale, T beta", "T y", "y = (x - mean) * scale + beta"),
    # param, m, v are outputs that are also read: CuPy updates them in place.
    "adam": ("T grad, T beta1, T beta2, T one_m_beta1, T one_m_beta2, T step_size, "
             "T bias_correction2_sqrt, T eps, T wd",
             "T param, T m, T v",
             """
             const T g = wd != (T)0 ? grad + wd * param : grad;
             m = beta1 * m + one_m_beta1 * g;
             v = beta2 * v + one_m_beta2 * (g * g);
             param = param - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps);
             """),
    "rmsprop": ("T grad, T alpha, T one_m_alpha, T lr, T eps, T wd", "T param, T sq",
                """
                const T g = wd != (T)0 ? grad + wd * param : grad;
                sq = alpha * sq + one_m_alpha * (g * g);
                param = param - lr * g / (sqrt(sq) + eps);
                """),
}

#: ``cupy.ReductionKernel`` specs, name -> (in_params, out_params, map_expr, reduce_expr,
#: post_map_expr, identity); per-channel sums with the statistics broadcast (1, C, 1, ...).
REDUCTION = {
    "sqdev_sum": ("T x, T mean", "T out", "(x - mean) * (x - mean)", "a + b", "out = a", "0"),
    "gy_xhat_sum": ("T gy, T x, T mean, T invstd", "T out", "gy * ((x - mean) * invstd)",
                    "a + b", "out = a", "0"),
}


@functools.lru_cache(maxsize=None)
def _k(name):
    """Build (once) and return the named ElementwiseKernel / ReductionKernel."""
    if name in ELEMENTWISE:
        return cupy.ElementwiseKernel(*ELEMENTWISE[name], f"refgan_{name}")
    return cupy.ReductionKernel(*REDUCTION[name], f"refgan_{name}")


def leaky_relu(x, slope):
    """``y = x if x > 0 else slope * x`` (one fused kernel)."""
    if not _on_gpu(x):
        return ref.leaky_relu(x, slope)
    return _k("leaky_relu")(x, x.dtype.type(slope))


def leaky_relu_grad(x, gy, slope):
    """``gx = gy if x > 0 else slope * gy`` (one fused kernel)."""
    if not _on_gpu(x, gy):
        return ref.leaky_relu_grad(x, gy, slope)
    return _k("leaky_relu_grad")(x, gy, x.dtype.type(slope))


def dropout(x, u, p):
    """``y = x / (1 - p)`` where ``u >= p`` else 0; see ``kernels.reference.dropout``."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not (_on_gpu(x) and _on_gpu(u) and u.shape == x.shape):
        return ref.dropout(x, u, p)
    return _k("dropout")(x, u, u.dtype.type(p), x.dtype.type(1 / (1 - p)))


def batch_norm_forward(x, gamma, beta, eps):
    """Training-mode batch norm; returns ``(y, mean, invstd)``. See the reference."""
    if not _on_gpu(x, gamma, beta):
        return ref.batch_norm_forward(x, gamma, beta, eps)
    axes, bshape = ref._channel_axes_and_shape(x)
    M = x.size // x.shape[1]
    mean = x.mean(axis=axes)
    var = _k("sqdev_sum")(x, mean.reshape(bshape), axis=axes) / x.dtype.type(M)
    invstd = 1 / cupy.sqrt(var + x.dtype.type(eps))
    y = _k("bn_normalize")(x, mean.reshape(bshape), invstd.reshape(bshape),
                           gamma.reshape(bshape), beta.reshape(bshape))
    return y, mean, invstd


def batch_norm_backward(x, gamma, gy, mean, invstd):
    """Training-mode batch-norm gradient; returns ``(gx, ggamma, gbeta)``. See the reference."""
    if not _on_gpu(x, gamma, gy, mean, invstd):
        return ref.batch_norm_backward(x, gamma, gy, mean, invstd)
    axes, bshape = ref._channel_axes_and_shape(x)
    M = x.size // x.shape[1]
    mean_b, invstd_b = mean.reshape(bshape), invstd.reshape(bshape)
    gbeta = gy.sum(axis=axes)
    ggamma = _k("gy_xhat_sum")(gy, x, mean_b, invstd_b, axis=axes)
    scale = gamma * invstd / x.dtype.type(M)
    gx = _k("bn_backward")(x, gy, mean_b, invstd_b, scale.reshape(bshape), gbeta.reshape(bshape),
                           ggamma.reshape(bshape), x.dtype.type(M))
    return gx, ggamma, gbeta


def batch_norm_inference(x, gamma, beta, mean, var, eps):
    """Inference-mode batch norm with running statistics. See the reference."""
    if not _on_gpu(x, gamma, beta, mean, var):
        return ref.batch_norm_inference(x, gamma, beta, mean, var, eps)
    _, bshape = ref._channel_axes_and_shape(x)
    scale = gamma / cupy.sqrt(var + x.dtype.type(eps))
    return _k("bn_inference")(x, mean.reshape(bshape), scale.reshape(bshape), beta.reshape(bshape))


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay):
    """In-place Adam step (torch semantics, 1-based ``step``). See the reference."""
    if step < 1:
        raise ValueError(f"Adam step is 1-based, got {step}")
    if not _on_gpu(param, grad, m, v):
        return ref.adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay)
    t = param.dtype.type
    _k("adam")(grad, t(beta1), t(beta2), t(1 - beta1), t(1 - beta2),
               t(lr / (1 - beta1 ** step)), t((1 - beta2 ** step) ** 0.5), t(eps),
               t(weight_decay), param, m, v)


def rmsprop_update(param, grad, sq, lr, alpha, eps, weight_decay):
    """In-place RMSprop step (torch semantics, non-centred, no momentum). See the reference."""
    if not _on_gpu(param, grad, sq):
        return ref.rmsprop_update(param, grad, sq, lr, alpha, eps, weight_decay)
    t = param.dtype.type
    _k("rmsprop")(grad, t(alpha), t(1 - alpha), t(lr), t(eps), t(weight_decay), param, sq)
