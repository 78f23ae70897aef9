"""Numba CPU kernels: the same interface as ``kernels.reference``, compiled and threaded.

Each public function validates and normalises its arguments in Python (shapes,
C-contiguity, dtype-cast scalars) and hands plain contiguous arrays to one
``@njit(parallel=True, cache=True)`` kernel that does a single fused pass with
``prange`` over independent work items (rows of ``cols``, image planes, channels,
or flat elements).  The convolution kernels call BLAS sgemm/dgemm themselves, from
inside their threads, on cache-sized column tiles (see "convolution" below).

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
* Idle threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE`` for Numba's
  OpenMP pool, unless the user set it): on a shared 2-core machine a spinning idle
  pool burned 4-10x the CPU of the work itself (the main job's iteration took
  1.24 s on 2 threads spinning and 0.30 s passive, at load 9), and on an idle one a
  wake-up costs microseconds per kernel.
"""
import os

# Read once, when Numba's OpenMP pool starts (at the first parallel kernel call).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from numba import njit, prange, types  # noqa: E402
from numba.np.linalg import ensure_blas  # noqa: E402

from . import reference as ref  # noqa: E402

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


# ----------------------------------------------------------------------------- convolution
# conv2d / conv2d_grad_input / conv2d_grad_weight never build the whole (C*kh*kw, N*OH*OW)
# column matrix (105 MB for the paper critic's second layer at batch 64). Images go in
# groups of ``m`` ("tiles", about _TILE_COLS output pixels: L2-sized columns); one
# thread builds a tile's columns in its own small buffer and feeds them straight to
# sgemm, which then reads them from cache. Numba's threads are the only pool: BLAS
# runs single-threaded inside them (see single_threaded_blas), so the two never fight.
# The split into tiles depends only on the shapes, never on the thread count, so the
# results are the same on 1 or 2 threads (the weight gradient sums a fixed number of
# per-group partial sums in a fixed order).

ensure_blas()  # Numba's BLAS bridge (numba_xxgemm) calls scipy.linalg.cython_blas
_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char, types.intp, types.intp, types.intp,
    types.voidptr, types.voidptr, types.intp, types.voidptr, types.intp, types.voidptr,
    types.voidptr, types.intp))
_TILE_COLS = 256     # output pixels per tile: sgemm's N dimension (>= 256 runs near peak)
_WEIGHT_PARTS = 4    # partial sums of a weight gradient (fixed: thread-count independent)


@njit(cache=True, nogil=True)
def _gemm(trans_a, trans_b, M, N, K, a, lda, b, ldb, beta, c, ldc):
    """Row-major ``c (M, N) = op(a) @ op(b) + beta * c`` through BLAS ?gemm.

    ``a``/``b``/``c`` are arrays whose first element starts the matrix and whose rows are
    ``lda``/``ldb``/``ldc`` elements apart (views into larger arrays are fine). BLAS is
    column-major, so it computes ``c^T = op(b)^T op(a)^T``: b goes first.
    """
    scal = np.empty(2, c.dtype)
    scal[0] = 1.0
    scal[1] = beta
    kind = np.int8(115) if c.itemsize == 4 else np.int8(100)    # 's' or 'd'
    t, n = np.int8(116), np.int8(110)                           # 't', 'n'
    _xxgemm(kind, t if trans_b else n, t if trans_a else n, N, M, K, scal[0:].ctypes,
            b.ctypes, ldb, a.ctypes, lda, scal[1:].ctypes, c.ctypes, ldc)


@njit(cache=True, inline="always")
def _tile(t, N, m, R, OH):
    """Tile t as (first image, images, first output row, end row); see _tiling."""
    if R >= OH:
        n0 = t * m
        return n0, min(N, n0 + m) - n0, 0, OH
    blocks = (OH + R - 1) // R
    n0, b = t // blocks, t % blocks
    return n0, 1, b * R, min(OH, b * R + R)


@njit(cache=True, inline="always")
def _n_tiles(N, m, R, OH):
    return (N + m - 1) // m if R >= OH else N * ((OH + R - 1) // R)


@njit(cache=True, nogil=True)
def _im2col_tile_phases(x, n0, m, oh0, oh1, cols, kh, kw, sh, sw, top, left, OW):
    """``_im2col_tile`` for dilation 1 without a strided gather in the hot loop.

    Each padded image plane is first split into its sh x sw stride phases,
    ``ph[a, b, r, q] = xpad[r*sh + a, q*sw + b]``; tap (i, j) of output row oh then reads
    the *contiguous* run ``ph[i % sh, j % sw, oh + i // sh, j // sw : j // sw + OW]``,
    so the copies vectorise and need no bounds checks (the padding is in ``ph``).
    """
    N, C, H, W = x.shape
    P = (oh1 - oh0) * OW
    Hq = (oh1 - oh0) + (kh - 1) // sh
    Wq = OW + (kw - 1) // sw
    ph = np.empty((sh, sw, Hq, Wq), x.dtype)
    for n in range(m):
        for c in range(C):
            img = x[n0 + n, c]
            for a in range(sh):
                for bb in range(sw):
                    for r in range(Hq):
                        h = (r + oh0) * sh + a - top
                        dst = ph[a, bb, r]
                        if h < 0 or h >= H:
                            for q in range(Wq):
                                dst[_U(q)] = 0
                            continue
                        src = img[h]
                        for q in range(Wq):
                            w = q * sw + bb - left
                            dst[_U(q)] = src[_U(w)] if 0 <= w < W else 0
            for i in range(kh):
                a, di = i % sh, i // sh
                for j in range(kw):
                    bb, dj = j % sw, j // sw
                    out = cols[(c * kh + i) * kw + j, n * P:(n + 1) * P]
                    for r in range(oh1 - oh0):
                        src = ph[a, bb, r + di, dj:dj + OW]
                        base = r * OW
                        for ow in range(OW):
                            out[_U(base + ow)] = src[_U(ow)]


@njit(cache=True, nogil=True)
def _im2col_tile(x, n0, m, oh0, oh1, cols, kh, kw, sh, sw, top, left, dh, dw, OW):
    """cols (C*kh*kw, m*(oh1-oh0)*OW) = the im2col columns of output rows oh0 .. oh1-1
    of images n0 .. n0+m-1 (the reference layout restricted to those pixels)."""
    if dh == 1 and dw == 1:
        _im2col_tile_phases(x, n0, m, oh0, oh1, cols, kh, kw, sh, sw, top, left, OW)
        return
    N, C, H, W = x.shape
    P = (oh1 - oh0) * OW
    for c in range(C):
        for i in range(kh):
            hoff = i * dh - top
            for j in range(kw):
                woff = j * dw - left
                row = (c * kh + i) * kw + j
                ow_lo, ow_hi = _valid_range(woff, sw, W, OW)
                for n in range(m):
                    out = cols[row, n * P:(n + 1) * P]
                    img = x[n0 + n, c]
                    for oh in range(oh0, oh1):
                        h = oh * sh + hoff
                        base = (oh - oh0) * OW
                        if h < 0 or h >= H:
                            for ow in range(OW):
                                out[_U(base + ow)] = 0
                            continue
                        src = img[h]
                        for ow in range(ow_lo):
                            out[_U(base + ow)] = 0
                        for ow in range(ow_lo, ow_hi):
                            out[_U(base + ow)] = src[_U(ow * sw + woff)]
                        for ow in range(ow_hi, OW):
                            out[_U(base + ow)] = 0


@njit(cache=True, nogil=True)
def _col2im_tile_add(cols, x, n0, m, oh0, oh1, kh, kw, sh, sw, top, left, dh, dw, OH, OW):
    """x[n0 .. n0+m-1] += col2im of the tile's columns (C*kh*kw, m*(oh1-oh0)*OW), taps
    in the reference's (i, j) order (the caller zeroes x first)."""
    N, C, H, W = x.shape
    K = kh * kw
    P = (oh1 - oh0) * OW
    for n in range(m):
        for c in range(C):
            plane = x[n0 + n, c]
            for i in range(kh):
                hoff = i * dh - top
                oh_lo, oh_hi = _valid_range(hoff, sh, H, OH)
                for j in range(kw):
                    woff = j * dw - left
                    ow_lo, ow_hi = _valid_range(woff, sw, W, OW)
                    src = cols[c * K + i * kw + j, n * P:(n + 1) * P]
                    for oh in range(max(oh_lo, oh0), min(oh_hi, oh1)):
                        dst = plane[oh * sh + hoff]
                        base = (oh - oh0) * OW
                        for ow in range(ow_lo, ow_hi):
                            dst[_U(ow * sw + woff)] += src[_U(base + ow)]


@njit(cache=True, nogil=True)
def _gather_tile(g, n0, m, out):
    """out (O, m*L) = g[n0 .. n0+m-1] (N, O, L) with the images side by side (GEMM layout)."""
    O, L = g.shape[1], g.shape[2]
    for n in range(m):
        for o in range(O):
            out[o, n * L:(n + 1) * L] = g[n0 + n, o]


@njit(cache=True, nogil=True)
def _tile_output(patch_rows, w, cols, y, n0, mm, oh0, oh1, OW, b, has_bias):
    """y[n0 .. n0+mm-1, :, oh0*OW : oh1*OW] = w (O, K) @ the tile's columns (+ bias):
    ``cols`` (K, mm*P) on the tiles, or its transpose (mm*P, K) as patch rows."""
    O, K = w.shape
    L = y.shape[2]
    P = (oh1 - oh0) * OW
    ldb = K if patch_rows else mm * P
    if mm == 1:   # the tile's output is a (O, P) block of y[n0]: sgemm writes it there
        _gemm(False, patch_rows, O, P, K, w, K, cols, ldb, 0.0, y[n0, :, oh0 * OW:], L)
    else:
        out = np.empty((O, mm * P), y.dtype)
        _gemm(False, patch_rows, O, mm * P, K, w, K, cols, ldb, 0.0, out, mm * P)
        for n in range(mm):
            for o in range(O):
                y[n0 + n, o] = out[o, n * P:(n + 1) * P]
    if has_bias:
        for n in range(mm):
            for o in range(O):
                yo = y[n0 + n, o]
                bo = b[o]
                for p in range(oh0 * OW, oh1 * OW):
                    yo[_U(p)] = yo[_U(p)] + bo


@njit(**_JIT)
def _conv2d_kernel(x, w2, b, has_bias, y, kh, kw, sh, sw, top, left, dh, dw, OH, OW, m, R):
    N = x.shape[0]
    CK = w2.shape[1]
    for t in prange(_n_tiles(N, m, R, OH)):
        n0, mm, oh0, oh1 = _tile(t, N, m, R, OH)
        P = (oh1 - oh0) * OW
        cols = np.empty((CK, mm * P), x.dtype)
        _im2col_tile(x, n0, mm, oh0, oh1, cols, kh, kw, sh, sw, top, left, dh, dw, OW)
        _tile_output(False, w2, cols, y, n0, mm, oh0, oh1, OW, b, has_bias)


@njit(**_JIT)
def _conv2d_grad_input_kernel(gy, w2, gx, kh, kw, sh, sw, top, left, dh, dw, OH, OW, m, R):
    N = gy.shape[0]
    O, CK = w2.shape
    L = OH * OW
    m_img = m if R >= OH else 1
    # One work item per image group: a row block's columns spill into its neighbours'
    # pixels, so the blocks of one image run in order on one thread.
    for g in prange((N + m_img - 1) // m_img):
        n0 = g * m_img
        mm = min(N, n0 + m_img) - n0
        gx[n0:n0 + mm] = 0
        if mm > 1:
            cols = np.empty((CK, mm * L), gy.dtype)
            gt = np.empty((O, mm * L), gy.dtype)
            _gather_tile(gy, n0, mm, gt)
            _gemm(True, False, CK, mm * L, O, w2, CK, gt, mm * L, 0.0, cols, mm * L)
            _col2im_tile_add(cols, gx, n0, mm, 0, OH, kh, kw, sh, sw, top, left, dh, dw, OH, OW)
            continue
        for oh0 in range(0, OH, R):
            oh1 = min(OH, oh0 + R)
            P = (oh1 - oh0) * OW
            cols = np.empty((CK, P), gy.dtype)
            _gemm(True, False, CK, P, O, w2, CK, gy[n0, :, oh0 * OW:], L, 0.0, cols, P)
            _col2im_tile_add(cols, gx, n0, 1, oh0, oh1, kh, kw, sh, sw, top, left, dh, dw, OH, OW)


@njit(**_JIT)
def _conv2d_grad_weight_kernel(x, gy, parts, kh, kw, sh, sw, top, left, dh, dw, OH, OW, m, R):
    N = x.shape[0]
    n_parts, O, CK = parts.shape
    L = OH * OW
    n_tiles = _n_tiles(N, m, R, OH)
    for p in prange(n_parts):
        for t in range(p, n_tiles, n_parts):
            n0, mm, oh0, oh1 = _tile(t, N, m, R, OH)
            P = (oh1 - oh0) * OW
            cols = np.empty((CK, mm * P), x.dtype)
            _im2col_tile(x, n0, mm, oh0, oh1, cols, kh, kw, sh, sw, top, left, dh, dw, OW)
            beta = 0.0 if t == p else 1.0
            if mm == 1:
                _gemm(False, True, O, CK, P, gy[n0, :, oh0 * OW:], L, cols, P, beta, parts[p], CK)
            else:
                gt = np.empty((O, mm * P), x.dtype)
                _gather_tile(gy, n0, mm, gt)
                _gemm(False, True, O, CK, mm * P, gt, mm * P, cols, mm * P, beta, parts[p], CK)


@njit(**_JIT)
def _sum_parts_kernel(parts):
    """parts[0] += parts[1] + ... in that order (per element: the same on any thread count)."""
    n_parts = parts.shape[0]
    flat = parts.reshape(n_parts, -1)
    for k in prange(flat.shape[1]):
        acc = flat[0, _U(k)]
        for p in range(1, n_parts):
            acc += flat[p, _U(k)]
        flat[0, _U(k)] = acc


# ------------------------------------------------- stride-1 convs with fewer outputs than inputs
# A stride-1 conv whose output has fewer channels than its input (every generator conv
# here halves the channels, the last one goes 16 -> 3) is cheaper from the output side:
# the tap responses T[(o, i, j), q] = sum_c w[o, c, i, j] x[c, q] are one GEMM on the
# input as it lies (no im2col), and y[o, p] = sum_ij T[(o, i, j), p + offset_ij]. The
# copies then move O*kh*kw rows per pixel instead of C*kh*kw. The two backward passes
# use the same shifted layout of the output gradient.
_OUTPUT_SIDE_MAX = 1 << 22   # values in one image's tap buffer; larger maps: the tiles


def _output_side(x_shape, O, geo):
    """(kh, kw, top, left, dh, dw, H, W, OH, OW) when a conv of input ``x_shape``, ``O``
    output channels and geometry ``geo`` (:func:`_conv_args`) runs through the
    output-side kernels below; None when it runs on the tiles."""
    C, H, W = x_shape[1:]
    kh, kw, sh, sw, top, left, dh, dw, OH, OW = geo[:10]
    if (sh, sw) == (1, 1) and O < C and O * kh * kw * H * W <= _OUTPUT_SIDE_MAX:
        return kh, kw, top, left, dh, dw, H, W, OH, OW
    return None


@njit(cache=True, nogil=True)
def _move_taps(taps, plane, o, kh, kw, top, left, dh, dw, H, W, OH, OW, gather):
    """Between the tap maps taps[(o, i, j), q] (q over the input pixels) and one output
    plane (OH*OW): ``gather`` sets taps[(o, i, j), p + offset_ij] = plane[p] (the other
    entries untouched); otherwise plane[p] += taps[(o, i, j), p + offset_ij]. Taps in
    (i, j) order, output pixels whose tap falls outside the input skipped."""
    for i in range(kh):
        hoff = i * dh - top
        oh_lo, oh_hi = _valid_range(hoff, 1, H, OH)
        for j in range(kw):
            woff = j * dw - left
            ow_lo, ow_hi = _valid_range(woff, 1, W, OW)
            tap = taps[(o * kh + i) * kw + j]
            for oh in range(oh_lo, oh_hi):
                p0 = oh * OW
                q0 = (oh + hoff) * W + woff
                if gather:
                    for ow in range(ow_lo, ow_hi):
                        tap[_U(q0 + ow)] = plane[_U(p0 + ow)]
                else:
                    for ow in range(ow_lo, ow_hi):
                        plane[_U(p0 + ow)] += tap[_U(q0 + ow)]


@njit(cache=True, nogil=True)
def _shifted_taps(g, n, kh, kw, top, left, dh, dw, H, W, OH, OW, out):
    """out[(o, i, j), q] = g[n, o, q - offset_ij] over the input pixels q, 0 where that
    output pixel does not exist: the im2col of the output gradient, offsets reversed."""
    out[:] = 0
    for o in range(g.shape[1]):
        _move_taps(out, g[n, o], o, kh, kw, top, left, dh, dw, H, W, OH, OW, True)


@njit(**_JIT)
def _conv2d_output_side_kernel(x, wt, b, has_bias, y, kh, kw, top, left, dh, dw, H, W, OH, OW):
    """y (N, O, OH*OW) from x (N, C, H*W) and wt (O*kh*kw, C), stride 1."""
    N, C, HW = x.shape
    OK = wt.shape[0]
    for n in prange(N):
        taps = np.empty((OK, HW), x.dtype)
        _gemm(False, False, OK, HW, C, wt, C, x[n], HW, 0.0, taps, HW)
        for o in range(OK // (kh * kw)):
            y[n, o] = b[o] if has_bias else 0.0
            _move_taps(taps, y[n, o], o, kh, kw, top, left, dh, dw, H, W, OH, OW, False)


@njit(**_JIT)
def _conv2d_grad_input_output_side_kernel(gy, wt, gx, kh, kw, top, left, dh, dw, H, W, OH, OW):
    """gx (N, C, H*W) = sum over taps of wt^T @ the shifted gy, stride 1."""
    N = gy.shape[0]
    OK, C = wt.shape
    for n in prange(N):
        shifted = np.empty((OK, H * W), gy.dtype)
        _shifted_taps(gy, n, kh, kw, top, left, dh, dw, H, W, OH, OW, shifted)
        _gemm(True, False, C, H * W, OK, wt, C, shifted, H * W, 0.0, gx[n], H * W)


@njit(**_JIT)
def _conv2d_grad_weight_output_side_kernel(x, gy, parts, kh, kw, top, left, dh, dw, H, W, OH, OW):
    """parts[p] (O*kh*kw, C) = the partial weight gradients of images p, p + n_parts, ..."""
    N, C, HW = x.shape
    n_parts, OK, _ = parts.shape
    for p in prange(n_parts):
        shifted = np.empty((OK, HW), x.dtype)
        for n in range(p, N, n_parts):
            _shifted_taps(gy, n, kh, kw, top, left, dh, dw, H, W, OH, OW, shifted)
            _gemm(False, True, OK, C, HW, shifted, HW, x[n], HW, 0.0 if n == p else 1.0,
                  parts[p], C)


# ------------------------------------------------- convs with many input channels: patch rows
# The tiles' im2col copies each (c, i, j) row of an output tile in runs of OW values;
# for a stride-2 critic conv on a small map (OW = 16, 8, 4) those runs are short and
# the copy, not sgemm, sets the pace. With the image channels-last (H, W*C), one output
# pixel's patch is kh runs of kw*C contiguous values (80 to 325 in the main job's
# critic), so the tile is built as one row per output pixel, patch in (i, j, c) order,
# and sgemm reads it transposed. Same FLOPs, same tiles; longer copies.


def _patch_rows_pay(x_shape, geo):
    """(kh, kw, sh, sw, top, left, OH, OW, m, R) when a conv of input ``x_shape`` and
    geometry ``geo`` runs through the patch-row kernels below; None otherwise (dilated
    convs, and those whose channels-last runs, kw*C values, would be no longer than the
    tiles' runs of OW)."""
    C = x_shape[1]
    kh, kw, sh, sw, top, left, dh, dw, OH, OW, m, R = geo
    if (dh, dw) == (1, 1) and C * kw > OW:
        return kh, kw, sh, sw, top, left, OH, OW, m, R
    return None


@njit(**_JIT)
def _to_channels_last(x, xh):
    """xh (N, H, W*C)[n, h, w*C + c] = x (N, C, H, W)[n, c, h, w]."""
    N, C, H, W = x.shape
    for n in prange(N):
        for h in range(H):
            row = xh[n, h]
            for c in range(C):
                src = x[n, c, h]
                for w in range(W):
                    row[_U(w * C + c)] = src[_U(w)]


@njit(**_JIT)
def _to_channels_first(xh, x):
    """x (N, C, H, W)[n, c, h, w] = xh (N, H, W*C)[n, h, w*C + c]."""
    N, C, H, W = x.shape
    for n in prange(N):
        for c in range(C):
            for h in range(H):
                src = xh[n, h]
                dst = x[n, c, h]
                for w in range(W):
                    dst[_U(w)] = src[_U(w * C + c)]


@njit(cache=True, nogil=True)
def _patch_rows(xh, C, n0, m, oh0, oh1, rows, kh, kw, sh, sw, top, left, OW, add):
    """Between channels-last images xh (N, H, W*C) and the patch rows of a tile,
    rows (m*(oh1-oh0)*OW, kh*kw*C), row (n, oh, ow) holding
    ``xpad[n, oh*sh + i, ow*sw + j, c]`` at column (i*kw + j)*C + c. Without ``add``:
    rows = the patches (zeros in the padding); with it: xh += the adjoint (each image's
    pixels summed in the order of its output pixels, then taps)."""
    H = xh.shape[1]
    W = xh.shape[2] // C
    KC = kw * C
    r = 0
    for n in range(m):
        img = xh[n0 + n]
        for oh in range(oh0, oh1):
            for ow in range(OW):
                row = rows[r]
                r += 1
                w0 = ow * sw - left
                jlo = min(max(0, -w0), kw)
                jhi = max(min(kw, W - w0), jlo)
                for i in range(kh):
                    h = oh * sh + i - top
                    base = i * KC
                    if h < 0 or h >= H:
                        if not add:
                            for k in range(KC):
                                row[_U(base + k)] = 0
                        continue
                    src = img[h]
                    s0 = w0 * C      # column base + k reads src[s0 + k]
                    if add:
                        for k in range(jlo * C, jhi * C):
                            src[_U(s0 + k)] += row[_U(base + k)]
                        continue
                    for k in range(jlo * C):
                        row[_U(base + k)] = 0
                    for k in range(jlo * C, jhi * C):
                        row[_U(base + k)] = src[_U(s0 + k)]
                    for k in range(jhi * C, KC):
                        row[_U(base + k)] = 0


@njit(**_JIT)
def _conv2d_patch_kernel(xh, C, wh, b, has_bias, y, kh, kw, sh, sw, top, left, OH, OW, m, R):
    """y (N, O, OH*OW) from channels-last xh and wh (O, kh*kw*C): per tile, y = wh @ rows^T."""
    N = xh.shape[0]
    KC = wh.shape[1]
    for t in prange(_n_tiles(N, m, R, OH)):
        n0, mm, oh0, oh1 = _tile(t, N, m, R, OH)
        P = (oh1 - oh0) * OW
        rows = np.empty((mm * P, KC), xh.dtype)
        _patch_rows(xh, C, n0, mm, oh0, oh1, rows, kh, kw, sh, sw, top, left, OW, False)
        _tile_output(True, wh, rows, y, n0, mm, oh0, oh1, OW, b, has_bias)


@njit(**_JIT)
def _conv2d_grad_input_patch_kernel(gy, wh, gxh, C, kh, kw, sh, sw, top, left, OH, OW, m, R):
    """gxh (N, H, W*C) = the adjoint of the patch rows of rows = gy^T @ wh, per image group
    (a row block's patches spill into its neighbours' pixels: one image, one thread)."""
    N = gy.shape[0]
    O, KC = wh.shape
    L = OH * OW
    m_img = m if R >= OH else 1
    for g in prange((N + m_img - 1) // m_img):
        n0 = g * m_img
        mm = min(N, n0 + m_img) - n0
        gxh[n0:n0 + mm] = 0
        if mm > 1:
            gt = np.empty((O, mm * L), gy.dtype)
            _gather_tile(gy, n0, mm, gt)
            rows = np.empty((mm * L, KC), gy.dtype)
            _gemm(True, False, mm * L, KC, O, gt, mm * L, wh, KC, 0.0, rows, KC)
            _patch_rows(gxh, C, n0, mm, 0, OH, rows, kh, kw, sh, sw, top, left, OW, True)
            continue
        for oh0 in range(0, OH, R):
            oh1 = min(OH, oh0 + R)
            P = (oh1 - oh0) * OW
            rows = np.empty((P, KC), gy.dtype)
            _gemm(True, False, P, KC, O, gy[n0, :, oh0 * OW:], L, wh, KC, 0.0, rows, KC)
            _patch_rows(gxh, C, n0, 1, oh0, oh1, rows, kh, kw, sh, sw, top, left, OW, True)


@njit(**_JIT)
def _conv2d_grad_weight_patch_kernel(xh, C, gy, parts, kh, kw, sh, sw, top, left, OH, OW, m, R):
    """parts[p] (O, kh*kw*C) = the partial weight gradients gy @ rows of tiles p,
    p + n_parts, ... (a fixed split: the same sums on any thread count)."""
    N = xh.shape[0]
    n_parts, O, KC = parts.shape
    L = OH * OW
    n_tiles = _n_tiles(N, m, R, OH)
    for p in prange(n_parts):
        for t in range(p, n_tiles, n_parts):
            n0, mm, oh0, oh1 = _tile(t, N, m, R, OH)
            P = (oh1 - oh0) * OW
            rows = np.empty((mm * P, KC), xh.dtype)
            _patch_rows(xh, C, n0, mm, oh0, oh1, rows, kh, kw, sh, sw, top, left, OW, False)
            beta = 0.0 if t == p else 1.0
            if mm == 1:
                _gemm(False, False, O, KC, P, gy[n0, :, oh0 * OW:], L, rows, KC, beta, parts[p], KC)
            else:
                gt = np.empty((O, mm * P), xh.dtype)
                _gather_tile(gy, n0, mm, gt)
                _gemm(False, False, O, KC, mm * P, gt, mm * P, rows, KC, beta, parts[p], KC)


def _channels_last(x):
    N, C, H, W = x.shape
    xh = np.empty((N, H, W * C), x.dtype)
    _to_channels_last(np.ascontiguousarray(x), xh)
    return xh


def _taps_by_channel(w):
    """(O, C, kh, kw) -> (O*kh*kw, C): the output side's weight layout; reshaped to
    (O, kh*kw*C), the same values are the patch rows' weight."""
    O, C, kh, kw = w.shape
    return np.ascontiguousarray(np.asarray(w).transpose(0, 2, 3, 1).reshape(O * kh * kw, C))


def _summed(parts):
    """parts[0] after adding the other partial weight gradients into it, in order."""
    if parts.shape[0] > 1:
        _sum_parts_kernel(parts)
    return parts[0]


def _from_taps_by_channel(g, w_shape):
    """A weight gradient in (o, i, j, c) order (either layout: (O*kh*kw, C) or
    (O, kh*kw*C)) as (O, C, kh, kw)."""
    O, C, kh, kw = w_shape
    return np.ascontiguousarray(g.reshape(O, kh, kw, C).transpose(0, 3, 1, 2))


def _tiling(N, OH, OW):
    """(images per tile m, output rows per tile R): about _TILE_COLS output pixels a tile.
    Small maps put m whole images side by side; large ones split an image into blocks
    of R rows (m = 1)."""
    L = OH * OW
    if L <= _TILE_COLS:
        return max(1, min(N, -(-_TILE_COLS // L))), OH
    return 1, max(1, _TILE_COLS // OW)


def single_threaded_blas():
    """Run the BLAS that the Numba kernels call (SciPy's) on one thread: the kernels
    call it from inside their own threads, and nested pools oversubscribe the cores."""
    from threadpoolctl import ThreadpoolController

    ctl = ThreadpoolController().select(user_api="blas")
    for lib in ctl.lib_controllers:
        if "scipy.libs" in lib.filepath or "scipy/" in lib.filepath:
            lib.set_num_threads(1)


def _conv_args(x_shape, w_shape, stride, pads, dilation):
    N, C, H, W = x_shape
    O, Cw, kh, kw = w_shape
    if C != Cw:
        raise ValueError(f"conv: input has {C} channels, weight expects {Cw}")
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = ref.geometry(H, W, kh, kw, stride, pads,
                                                                    dilation)
    return (kh, kw, sh, sw, top, left, dh, dw, OH, OW) + _tiling(N, OH, OW)


def conv2d(x, w, b, stride, pads, dilation):
    """Tiled Numba ``conv2d``; see ``kernels.reference.conv2d``."""
    if not _native(x, w) or (b is not None and not _native(x, b)):
        return ref.conv2d(x, w, b, stride, pads, dilation)
    geo = _conv_args(x.shape, w.shape, stride, pads, dilation)
    (N, C, H, W), O = x.shape, w.shape[0]
    OH, OW = geo[8], geo[9]
    y = np.empty((N, O, OH * OW), dtype=x.dtype)
    bias = np.ascontiguousarray(b) if b is not None else np.empty(0, x.dtype)
    side = _output_side(x.shape, O, geo)
    if side:
        _conv2d_output_side_kernel(np.ascontiguousarray(x).reshape(N, C, H * W),
                                   _taps_by_channel(w), bias, b is not None, y, *side)
        return y.reshape(N, O, OH, OW)
    patch = _patch_rows_pay(x.shape, geo)
    if patch:
        _conv2d_patch_kernel(_channels_last(x), C, _taps_by_channel(w).reshape(O, -1), bias,
                             b is not None, y, *patch)
        return y.reshape(N, O, OH, OW)
    _conv2d_kernel(np.ascontiguousarray(x), np.ascontiguousarray(w).reshape(O, -1), bias,
                   b is not None, y, *geo)
    return y.reshape(N, O, OH, OW)


def conv2d_grad_input(gy, w, x_shape, stride, pads, dilation):
    """Tiled Numba ``conv2d_grad_input`` (the transposed conv); see the reference."""
    if not _native(gy, w):
        return ref.conv2d_grad_input(gy, w, x_shape, stride, pads, dilation)
    geo = _conv_args(x_shape, w.shape, stride, pads, dilation)
    N, O = gy.shape[0], w.shape[0]
    if gy.shape != (N, O, geo[8], geo[9]) or x_shape[0] != N:
        raise ValueError(f"conv2d_grad_input: gy shape {gy.shape} does not match x_shape "
                         f"{tuple(x_shape)} and weight {w.shape}")
    gx = np.empty(tuple(x_shape), dtype=gy.dtype)
    side = _output_side(x_shape, O, geo)
    if side:
        _conv2d_grad_input_output_side_kernel(np.ascontiguousarray(gy).reshape(N, O, -1),
                                              _taps_by_channel(w), gx.reshape(N, x_shape[1], -1),
                                              *side)
        return gx
    patch = _patch_rows_pay(x_shape, geo)
    if patch:
        C, H, W = x_shape[1:]
        gxh = np.empty((N, H, W * C), gy.dtype)
        _conv2d_grad_input_patch_kernel(np.ascontiguousarray(gy).reshape(N, O, -1),
                                        _taps_by_channel(w).reshape(O, -1), gxh, C, *patch)
        _to_channels_first(gxh, gx)
        return gx
    _conv2d_grad_input_kernel(np.ascontiguousarray(gy).reshape(N, O, -1),
                              np.ascontiguousarray(w).reshape(O, -1), gx, *geo)
    return gx


def conv2d_grad_weight(x, gy, w_shape, stride, pads, dilation):
    """Tiled Numba ``conv2d_grad_weight``; see the reference."""
    if not _native(x, gy):
        return ref.conv2d_grad_weight(x, gy, w_shape, stride, pads, dilation)
    geo = _conv_args(x.shape, w_shape, stride, pads, dilation)
    N, O = x.shape[0], w_shape[0]
    if gy.shape != (N, O, geo[8], geo[9]):
        raise ValueError(f"conv2d_grad_weight: gy shape {gy.shape} does not match x "
                         f"{x.shape} and weight shape {tuple(w_shape)}")
    C, kh, kw = w_shape[1:]
    xs, gys = np.ascontiguousarray(x), np.ascontiguousarray(gy).reshape(N, O, -1)
    side = _output_side(x.shape, O, geo)
    if side:
        parts = np.empty((min(N, _WEIGHT_PARTS), O * kh * kw, C), x.dtype)
        _conv2d_grad_weight_output_side_kernel(xs.reshape(N, C, -1), gys, parts, *side)
        return _from_taps_by_channel(_summed(parts), w_shape)
    m, R = geo[-2:]
    n_tiles = -(-N // m) if R >= geo[8] else N * -(-geo[8] // R)
    parts = np.empty((min(n_tiles, _WEIGHT_PARTS), O, C * kh * kw), x.dtype)
    patch = _patch_rows_pay(x.shape, geo)
    if patch:   # parts in the patch rows' (i, j, c) order: the output side's, O-major
        _conv2d_grad_weight_patch_kernel(_channels_last(xs), C, gys, parts, *patch)
        return _from_taps_by_channel(_summed(parts), w_shape)
    _conv2d_grad_weight_kernel(xs, gys, parts, *geo)
    return _summed(parts).reshape(tuple(w_shape))


single_threaded_blas()


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


# ------------------------------------------------------------------ depthwise convolution
# One thread per (n, c) image plane (the weight gradient: per channel), taps in the
# reference's (i, j) order with the output loop inside, so forward and input gradient
# add in the same order as ``reference.depthwise_conv2d*`` (the padded taps the
# reference adds as zeros are skipped). No im2col, no GEMM: a depthwise layer has
# kh*kw multiply-adds per output, too few for a matrix product to pay.

@njit(**_JIT)
def _depthwise_kernel(x, w, y, kh, kw, sh, sw, top, left, dh, dw):
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    for p in prange(N * C):
        n, c = p // C, p % C
        for oh in range(OH):
            for ow in range(OW):
                y[n, c, oh, ow] = 0.0
        for i in range(kh):
            oh0, oh1 = _valid_range(i * dh - top, sh, H, OH)
            for j in range(kw):
                ow0, ow1 = _valid_range(j * dw - left, sw, W, OW)
                wv = w[c, 0, i, j]
                for oh in range(oh0, oh1):
                    ih = _U(oh * sh + i * dh - top)
                    for ow in range(ow0, ow1):
                        y[n, c, oh, ow] += x[n, c, ih, _U(ow * sw + j * dw - left)] * wv


@njit(**_JIT)
def _depthwise_grad_input_kernel(gy, w, gx, kh, kw, sh, sw, top, left, dh, dw):
    N, C, H, W = gx.shape
    OH, OW = gy.shape[2], gy.shape[3]
    for p in prange(N * C):
        n, c = p // C, p % C
        for h in range(H):
            for x_ in range(W):
                gx[n, c, h, x_] = 0.0
        for i in range(kh):
            oh0, oh1 = _valid_range(i * dh - top, sh, H, OH)
            for j in range(kw):
                ow0, ow1 = _valid_range(j * dw - left, sw, W, OW)
                wv = w[c, 0, i, j]
                for oh in range(oh0, oh1):
                    ih = _U(oh * sh + i * dh - top)
                    for ow in range(ow0, ow1):
                        gx[n, c, ih, _U(ow * sw + j * dw - left)] += gy[n, c, oh, ow] * wv


@njit(**_JIT)
def _depthwise_grad_weight_kernel(x, gy, gw, kh, kw, sh, sw, top, left, dh, dw):
    N, C, H, W = x.shape
    OH, OW = gy.shape[2], gy.shape[3]
    for c in prange(C):
        for i in range(kh):
            oh0, oh1 = _valid_range(i * dh - top, sh, H, OH)
            for j in range(kw):
                ow0, ow1 = _valid_range(j * dw - left, sw, W, OW)
                acc = 0.0
                for n in range(N):
                    for oh in range(oh0, oh1):
                        ih = _U(oh * sh + i * dh - top)
                        for ow in range(ow0, ow1):
                            acc += x[n, c, ih, _U(ow * sw + j * dw - left)] * gy[n, c, oh, ow]
                gw[c, 0, i, j] = acc


def _depthwise_args(x_shape, w_shape, stride, pads, dilation):
    N, C, H, W = x_shape
    if tuple(w_shape[:2]) != (C, 1):
        raise ValueError(f"depthwise conv: weight {tuple(w_shape)} for {C} channels, expected "
                         f"({C}, 1, kh, kw)")
    kh, kw = w_shape[2:]
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = ref.geometry(H, W, kh, kw, stride, pads,
                                                                    dilation)
    return (kh, kw, sh, sw, top, left, dh, dw), (OH, OW)


def depthwise_conv2d(x, w, stride, pads, dilation):
    """Numba ``depthwise_conv2d``; see ``kernels.reference.depthwise_conv2d``."""
    if not _native(x, w):
        return ref.depthwise_conv2d(x, w, stride, pads, dilation)
    geo, (OH, OW) = _depthwise_args(x.shape, w.shape, stride, pads, dilation)
    y = np.empty((x.shape[0], x.shape[1], OH, OW), dtype=x.dtype)
    _depthwise_kernel(np.ascontiguousarray(x), np.ascontiguousarray(w), y, *geo)
    return y


def depthwise_conv2d_grad_input(gy, w, x_shape, stride, pads, dilation):
    """Numba ``depthwise_conv2d_grad_input``; see the reference."""
    if not _native(gy, w):
        return ref.depthwise_conv2d_grad_input(gy, w, x_shape, stride, pads, dilation)
    geo, (OH, OW) = _depthwise_args(x_shape, w.shape, stride, pads, dilation)
    if gy.shape != (x_shape[0], x_shape[1], OH, OW):
        raise ValueError(f"depthwise_conv2d_grad_input: gy shape {gy.shape} does not match "
                         f"x_shape {tuple(x_shape)}")
    gx = np.empty(tuple(x_shape), dtype=gy.dtype)
    _depthwise_grad_input_kernel(np.ascontiguousarray(gy), np.ascontiguousarray(w), gx, *geo)
    return gx


def depthwise_conv2d_grad_weight(x, gy, w_shape, stride, pads, dilation):
    """Numba ``depthwise_conv2d_grad_weight`` (sums in float order per tap, so it agrees
    with the reference's pairwise sum to rounding); see the reference."""
    if not _native(x, gy):
        return ref.depthwise_conv2d_grad_weight(x, gy, w_shape, stride, pads, dilation)
    geo, (OH, OW) = _depthwise_args(x.shape, w_shape, stride, pads, dilation)
    if gy.shape != (x.shape[0], x.shape[1], OH, OW):
        raise ValueError(f"depthwise_conv2d_grad_weight: gy shape {gy.shape} does not match "
                         f"x {x.shape}")
    gw = np.empty(tuple(w_shape), dtype=x.dtype)
    _depthwise_grad_weight_kernel(np.ascontiguousarray(x), np.ascontiguousarray(gy), gw, *geo)
    return gw
