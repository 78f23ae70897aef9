"""Numba CPU kernels: the same interface as ``kernels.reference``, compiled and threaded.

Each public function validates and normalises its arguments in Python (shapes,
C-contiguity, dtype-cast scalars) and hands plain contiguous arrays to one
``@njit(parallel=True, cache=True)`` kernel that does a single fused pass with
``prange`` over independent work items (rows of ``cols``, image planes, channels,
or flat elements).  GEMMs are not here: the ops call BLAS on the columns.

Design choices
--------------
* One compiled specialisation per dtype: inputs are made C-contiguous and integer
  arguments are Python ints, so the only thing that varies between calls is the
  float dtype (float32 or float64).  Anything else (float16, ints, mixed dtypes)
  falls back to the reference implementation.
* Scalars (slope, learning rates, ...) are cast to the array dtype before the call,
  so float32 kernels do float32 arithmetic in the same order as the NumPy
  reference (no fastmath: LLVM then neither reorders nor contracts into FMAs).
  The im2col/col2im/elementwise/optimiser kernels therefore agree with the
  reference bit for bit; the batch-norm kernels accumulate per-channel sums in
  float64 and agree to rounding.
* Hot-loop indices are cast to ``np.uintp`` (``_U``): with a signed index Numba emits
  Python's negative-index wraparound check on every access, which blocks LLVM's
  vectorisation; unsigned indices make im2col ~2-4x faster per thread.
* ``col2im`` gives each (n, c) image plane to one thread and scatters into it in
  the reference's (i, j) order: no races, no atomics, deterministic and identical
  to the reference sum.
"""
import numpy as np
from numba import njit, prange

from . import reference as ref

_JIT = dict(parallel=True, cache=True, nogil=True)
_U = np.uintp   # unsigned index: no wraparound check (see module docstring)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _native(*arrays):
    """True when every array is a NumPy float32/float64 array of one common dtype."""
    dt = arrays[0].dtype
    return (dt in _FLOATS and all(isinstance(a, np.ndarray) and a.dtype == dt for a in arrays))


# ----------------------------------------------------------------------------- im2col / col2im

@njit(cache=True, inline="always")
def _valid_range(off, stride, size, n_out):
    """Output positions o in [lo, hi) with 0 <= o*stride + off < size (clipped to [0, n_out])."""
    lo = min(max(0, -(off // stride)), n_out)          # ceil(-off / stride)
    hi = max(min(n_out, (size - 1 - off) // stride + 1), lo)
    return lo, hi


@njit(**_JIT)
def _im2col_kernel(x, cols, kh, kw, sh, sw, top, left, dh, dw, OH, OW):
    N, C, H, W = x.shape
    K = kh * kw
    CK = C * K
    L = OH * OW
    # One work item per (row (c, i, j), image n): each writes a contiguous OH*OW block.
    for r in prange(N * CK):
        row = r // N
        n = r - row * N
        c = row // K
        i = (row - c * K) // kw
        j = row - c * K - i * kw
        hoff = i * dh - top
        woff = j * dw - left
        ow_lo, ow_hi = _valid_range(woff, sw, W, OW)
        out = cols[row, n * L:(n + 1) * L]
        for oh in range(OH):
            h = oh * sh + hoff
            base = oh * OW
            if h < 0 or h >= H:
                for ow in range(OW):
                    out[_U(base + ow)] = 0
            else:
                src = x[n, c, h]
                for ow in range(ow_lo):
                    out[_U(base + ow)] = 0
                for ow in range(ow_lo, ow_hi):
                    out[_U(base + ow)] = src[_U(ow * sw + woff)]
                for ow in range(ow_hi, OW):
                    out[_U(base + ow)] = 0


@njit(**_JIT)
def _col2im_kernel(cols, x, kh, kw, sh, sw, top, left, dh, dw, OH, OW):
    N, C, H, W = x.shape
    K = kh * kw
    L = OH * OW
    # One work item per (n, c) image plane: the thread owns every pixel it writes.
    for p in prange(N * C):
        n = p // C
        c = p - n * C
        plane = x[n, c]
        for h in range(H):
            for w in range(W):
                plane[_U(h), _U(w)] = 0
        for i in range(kh):
            hoff = i * dh - top
            oh_lo, oh_hi = _valid_range(hoff, sh, H, OH)
            for j in range(kw):
                woff = j * dw - left
                ow_lo, ow_hi = _valid_range(woff, sw, W, OW)
                src = cols[c * K + i * kw + j, n * L:(n + 1) * L]
                for oh in range(oh_lo, oh_hi):
                    dst = plane[oh * sh + hoff]
                    base = oh * OW
                    for ow in range(ow_lo, ow_hi):
                        dst[_U(ow * sw + woff)] += src[_U(base + ow)]


def im2col(x, kh, kw, stride, pads, dilation):
    """Numba ``im2col``; see ``kernels.reference.im2col`` for shapes and layout."""
    if not _native(x):
        return ref.im2col(x, kh, kw, stride, pads, dilation)
    N, C, H, W = x.shape
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = ref.geometry(H, W, kh, kw, stride, pads,
                                                                    dilation)
    cols = np.empty((C * kh * kw, N * OH * OW), dtype=x.dtype)
    _im2col_kernel(np.ascontiguousarray(x), cols, kh, kw, sh, sw, top, left, dh, dw, OH, OW)
    return cols


def col2im(cols, x_shape, kh, kw, stride, pads, dilation):
    """Numba ``col2im`` (adjoint of ``im2col``); see ``kernels.reference.col2im``."""
    if not _native(cols):
        return ref.col2im(cols, x_shape, kh, kw, stride, pads, dilation)
    N, C, H, W = x_shape
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = ref.geometry(H, W, kh, kw, stride, pads,
                                                                    dilation)
    ref.check_cols_shape(cols, x_shape, kh, kw, OH, OW)
    x = np.empty((N, C, H, W), dtype=cols.dtype)
    _col2im_kernel(np.ascontiguousarray(cols), x, kh, kw, sh, sw, top, left, dh, dw, OH, OW)
    return x


# ----------------------------------------------------------------------------- elementwise

@njit(**_JIT)
def _leaky_relu_kernel(x, slope, y):
    for k in prange(x.size):
        v = x[_U(k)]
        y[_U(k)] = v if v > 0 else v * slope


@njit(**_JIT)
def _leaky_relu_grad_kernel(x, gy, slope, gx):
    for k in prange(x.size):
        g = gy[_U(k)]
        gx[_U(k)] = g if x[_U(k)] > 0 else g * slope


@njit(**_JIT)
def _dropout_kernel(x, u, p, scale, y):
    for k in prange(x.size):
        y[_U(k)] = x[_U(k)] * scale if u[_U(k)] >= p else 0


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def leaky_relu(x, slope):
    """``y = x if x > 0 else slope * x`` (fused, threaded)."""
    if not _native(x):
        return ref.leaky_relu(x, slope)
    y = np.empty(x.shape, dtype=x.dtype)
    _leaky_relu_kernel(_flat(x), x.dtype.type(slope), y.reshape(-1))
    return y


def leaky_relu_grad(x, gy, slope):
    """``gx = gy if x > 0 else slope * gy`` (fused, threaded)."""
    if not _native(x, gy) or x.shape != gy.shape:
        return ref.leaky_relu_grad(x, gy, slope)
    gx = np.empty(x.shape, dtype=x.dtype)
    _leaky_relu_grad_kernel(_flat(x), _flat(gy), x.dtype.type(slope), gx.reshape(-1))
    return gx


def dropout(x, u, p):
    """``y = x / (1 - p)`` where ``u >= p`` else 0; see ``kernels.reference.dropout``."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not (_native(x) and isinstance(u, np.ndarray) and u.dtype in _FLOATS
            and u.shape == x.shape):
        return ref.dropout(x, u, p)
    y = np.empty(x.shape, dtype=x.dtype)
    _dropout_kernel(_flat(x), _flat(u), u.dtype.type(p), x.dtype.type(1 / (1 - p)), y.reshape(-1))
    return y


# ----------------------------------------------------------------------------- batch norm
# Kernels see x as (N, C, L) with L = H*W (or 1 for (N, C) inputs) and parallelise
# over channels.  Per-channel sums are accumulated in float64 with four independent
# partial sums (a fixed order, so deterministic): a single running sum is one long
# dependency chain of additions and runs several times slower.

@njit(cache=True, inline="always")
def _sum4(a, b, mu, istd, L, mode):
    """Float64 sum over l < L of: a[l] (mode 0), (a[l]-mu)^2 (mode 1), b[l]*(a[l]-mu)*istd (mode 2)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    L4 = L - L % 4
    for l in range(0, L4, 4):
        if mode == 0:
            s0 += a[_U(l)]
            s1 += a[_U(l + 1)]
            s2 += a[_U(l + 2)]
            s3 += a[_U(l + 3)]
        elif mode == 1:
            d0 = a[_U(l)] - mu
            d1 = a[_U(l + 1)] - mu
            d2 = a[_U(l + 2)] - mu
            d3 = a[_U(l + 3)] - mu
            s0 += d0 * d0
            s1 += d1 * d1
            s2 += d2 * d2
            s3 += d3 * d3
        else:
            s0 += b[_U(l)] * ((a[_U(l)] - mu) * istd)
            s1 += b[_U(l + 1)] * ((a[_U(l + 1)] - mu) * istd)
            s2 += b[_U(l + 2)] * ((a[_U(l + 2)] - mu) * istd)
            s3 += b[_U(l + 3)] * ((a[_U(l + 3)] - mu) * istd)
    for l in range(L4, L):
        if mode == 0:
            s0 += a[_U(l)]
        elif mode == 1:
            d = a[_U(l)] - mu
            s0 += d * d
        else:
            s0 += b[_U(l)] * ((a[_U(l)] - mu) * istd)
    return (s0 + s1) + (s2 + s3)


@njit(**_JIT)
def _bn_forward_kernel(x, gamma, beta, eps, y, mean, invstd):
    N, C, L = x.shape
    M = N * L
    for c in prange(C):
        s = 0.0
        for n in range(N):
            s += _sum4(x[n, c], x[n, c], 0.0, 0.0, L, 0)
        mu = s / M
        ss = 0.0
        for n in range(N):
            ss += _sum4(x[n, c], x[n, c], mu, 0.0, L, 1)
        mean[c] = mu
        invstd[c] = 1.0 / np.sqrt(ss / M + eps)
        # Normalise with the stored (dtype-rounded) statistics, as the reference does.
        m_c = mean[c]
        i_c = invstd[c]
        g_c = gamma[c]
        b_c = beta[c]
        for n in range(N):
            xr = x[n, c]
            yr = y[n, c]
            for l in range(L):
                yr[_U(l)] = (xr[_U(l)] - m_c) * i_c * g_c + b_c


@njit(**_JIT)
def _bn_backward_kernel(x, gamma, gy, mean, invstd, gx, ggamma, gbeta):
    N, C, L = x.shape
    M = N * L
    for c in prange(C):
        mu = np.float64(mean[c])
        istd = np.float64(invstd[c])
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            sg += _sum4(gy[n, c], gy[n, c], 0.0, 0.0, L, 0)
            sgx += _sum4(x[n, c], gy[n, c], mu, istd, L, 2)
        gbeta[c] = sg
        ggamma[c] = sgx
        # gx = gamma*invstd * (gy - mean(gy) - xhat * mean(gy*xhat)), in float64
        scale = np.float64(gamma[c]) * istd
        mg = sg / M
        mgx = sgx / M
        for n in range(N):
            xr = x[n, c]
            gr = gy[n, c]
            out = gx[n, c]
            for l in range(L):
                xhat = (xr[_U(l)] - mu) * istd
                out[_U(l)] = scale * (gr[_U(l)] - mg - xhat * mgx)


@njit(**_JIT)
def _bn_inference_kernel(x, mean, scale, beta, y):
    N, C, L = x.shape
    for p in prange(N * C):
        n = p // C
        c = p - n * C
        m_c = mean[c]
        s_c = scale[c]
        b_c = beta[c]
        xr = x[n, c]
        yr = y[n, c]
        for l in range(L):
            yr[_U(l)] = (xr[_U(l)] - m_c) * s_c + b_c


def _as_ncl(x):
    """Contiguous (N, C, L) view/copy of an (N, C, ...) array."""
    if x.ndim < 2:
        raise ValueError(f"batch norm needs x of shape (N, C, ...), got {x.shape}")
    return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)


def batch_norm_forward(x, gamma, beta, eps):
    """Training-mode batch norm; returns ``(y, mean, invstd)``. See the reference."""
    if not _native(x, gamma, beta):
        return ref.batch_norm_forward(x, gamma, beta, eps)
    C = x.shape[1]
    y = np.empty(x.shape, dtype=x.dtype)
    mean = np.empty(C, dtype=x.dtype)
    invstd = np.empty(C, dtype=x.dtype)
    x3 = _as_ncl(x)
    _bn_forward_kernel(x3, np.ascontiguousarray(gamma), np.ascontiguousarray(beta),
                       float(eps), y.reshape(x3.shape), mean, invstd)
    return y, mean, invstd


def batch_norm_backward(x, gamma, gy, mean, invstd):
    """Training-mode batch-norm gradient; returns ``(gx, ggamma, gbeta)``. See the reference."""
    if not _native(x, gamma, gy, mean, invstd) or x.shape != gy.shape:
        return ref.batch_norm_backward(x, gamma, gy, mean, invstd)
    C = x.shape[1]
    gx = np.empty(x.shape, dtype=x.dtype)
    ggamma = np.empty(C, dtype=x.dtype)
    gbeta = np.empty(C, dtype=x.dtype)
    x3 = _as_ncl(x)
    _bn_backward_kernel(x3, np.ascontiguousarray(gamma), _as_ncl(gy), np.ascontiguousarray(mean),
                        np.ascontiguousarray(invstd), gx.reshape(x3.shape), ggamma, gbeta)
    return gx, ggamma, gbeta


def batch_norm_inference(x, gamma, beta, mean, var, eps):
    """Inference-mode batch norm with running statistics. See the reference."""
    if not _native(x, gamma, beta, mean, var):
        return ref.batch_norm_inference(x, gamma, beta, mean, var, eps)
    # The per-channel scale is C numbers: compute it exactly as the reference does.
    scale = np.ascontiguousarray(gamma / np.sqrt(var + x.dtype.type(eps)))
    y = np.empty(x.shape, dtype=x.dtype)
    x3 = _as_ncl(x)
    _bn_inference_kernel(x3, np.ascontiguousarray(mean), scale, np.ascontiguousarray(beta),
                         y.reshape(x3.shape))
    return y


# ----------------------------------------------------------------------------- optimisers

@njit(**_JIT)
def _adam_kernel(p, g, m, v, beta1, beta2, one_m_beta1, one_m_beta2, step_size,
                 bias_correction2_sqrt, eps, wd):
    for i in prange(p.size):
        k = _U(i)
        gk = g[k] + wd * p[k] if wd != 0 else g[k]
        mk = beta1 * m[k] + one_m_beta1 * gk
        vk = beta2 * v[k] + one_m_beta2 * (gk * gk)
        m[k] = mk
        v[k] = vk
        p[k] = p[k] - step_size * mk / (np.sqrt(vk) / bias_correction2_sqrt + eps)


@njit(**_JIT)
def _rmsprop_kernel(p, g, sq, alpha, one_m_alpha, lr, eps, wd):
    for i in prange(p.size):
        k = _U(i)
        gk = g[k] + wd * p[k] if wd != 0 else g[k]
        sk = alpha * sq[k] + one_m_alpha * (gk * gk)
        sq[k] = sk
        p[k] = p[k] - lr * gk / (np.sqrt(sk) + eps)


def _inplace_ok(*arrays):
    """In-place kernels need one dtype, one shape and C-contiguous buffers (a flat view)."""
    return (_native(*arrays) and all(a.flags.c_contiguous for a in arrays)
            and all(a.shape == arrays[0].shape for a in arrays))


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay):
    """In-place Adam step (torch semantics, 1-based ``step``). See the reference."""
    if step < 1:
        raise ValueError(f"Adam step is 1-based, got {step}")
    if not _inplace_ok(param, m, v) or not _native(param, grad) or grad.shape != param.shape:
        return ref.adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay)
    t = param.dtype.type
    _adam_kernel(param.reshape(-1), _flat(grad), m.reshape(-1), v.reshape(-1),
                 t(beta1), t(beta2), t(1 - beta1), t(1 - beta2),
                 t(lr / (1 - beta1 ** step)), t((1 - beta2 ** step) ** 0.5), t(eps),
                 t(weight_decay))


def rmsprop_update(param, grad, sq, lr, alpha, eps, weight_decay):
    """In-place RMSprop step (torch semantics, non-centred, no momentum). See the reference."""
    if not _inplace_ok(param, sq) or not _native(param, grad) or grad.shape != param.shape:
        return ref.rmsprop_update(param, grad, sq, lr, alpha, eps, weight_decay)
    t = param.dtype.type
    _rmsprop_kernel(param.reshape(-1), _flat(grad), sq.reshape(-1),
                    t(alpha), t(1 - alpha), t(lr), t(eps), t(weight_decay))
