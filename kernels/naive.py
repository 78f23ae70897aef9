"""Deliberately naive Python-loop definitions, used only by the tests on small sizes.

These are the definitions written as directly as possible -- one loop per index,
no padding tricks, no reshapes -- so that the vectorised reference kernels can be
checked against them (cs231n style).  They are slow; never call them on real data.
"""
import math

import numpy as np


def im2col_naive(x, kh, kw, stride, pads, dilation):
    """Loop definition of ``im2col``: (N, C, H, W) -> (C*kh*kw, N*OH*OW)."""
    N, C, H, W = x.shape
    sh, sw = stride
    top, bottom, left, right = pads
    dh, dw = dilation
    OH = (H + top + bottom - dh * (kh - 1) - 1) // sh + 1
    OW = (W + left + right - dw * (kw - 1) - 1) // sw + 1
    cols = np.zeros((C * kh * kw, N * OH * OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    for oh in range(OH):
                        for ow in range(OW):
                            h = oh * sh - top + i * dh
                            w = ow * sw - left + j * dw
                            if 0 <= h < H and 0 <= w < W:
                                cols[c * kh * kw + i * kw + j, (n * OH + oh) * OW + ow] = x[n, c, h, w]
    return cols


def conv2d_naive(x, W, b, stride, pads, dilation):
    """Direct cross-correlation, PyTorch ``F.conv2d`` semantics.

    ``y[n, o, oh, ow] = b[o] + sum_{c,i,j} W[o, c, i, j] * x[n, c, oh*sh - top + i*dh, ow*sw - left + j*dw]``
    with out-of-range x read as 0.  x (N, C, H, W), W (O, C, kh, kw), b (O,) or None.
    """
    N, C, H, Wd = x.shape
    O, _, kh, kw = W.shape
    sh, sw = stride
    top, bottom, left, right = pads
    dh, dw = dilation
    OH = (H + top + bottom - dh * (kh - 1) - 1) // sh + 1
    OW = (Wd + left + right - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((N, O, OH, OW), dtype=np.result_type(x, W))
    for n in range(N):
        for o in range(O):
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0.0 if b is None else b[o]
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                h = oh * sh - top + i * dh
                                w = ow * sw - left + j * dw
                                if 0 <= h < H and 0 <= w < Wd:
                                    acc += W[o, c, i, j] * x[n, c, h, w]
                    y[n, o, oh, ow] = acc
    return y


def conv_transpose2d_naive(x, W, b, stride, pads, dilation, out_size):
    """Transposed convolution by its scatter definition (PyTorch ``F.conv_transpose2d``).

    Every input pixel ``x[n, c, h, w]`` adds ``x[n, c, h, w] * W[c, o, i, j]`` to
    ``y[n, o, h*sh - top + i*dh, w*sw - left + j*dw]``; contributions landing outside
    ``out_size = (OH, OW)`` are dropped.  x (N, Cin, H, W), W (Cin, Cout, kh, kw), b (Cout,) or None.
    """
    N, Cin, H, Wd = x.shape
    _, Cout, kh, kw = W.shape
    sh, sw = stride
    top, _, left, _ = pads
    dh, dw = dilation
    OH, OW = out_size
    y = np.zeros((N, Cout, OH, OW), dtype=np.result_type(x, W))
    for n in range(N):
        for c in range(Cin):
            for h in range(H):
                for w in range(Wd):
                    for o in range(Cout):
                        for i in range(kh):
                            for j in range(kw):
                                oh = h * sh - top + i * dh
                                ow = w * sw - left + j * dw
                                if 0 <= oh < OH and 0 <= ow < OW:
                                    y[n, o, oh, ow] += x[n, c, h, w] * W[c, o, i, j]
    if b is not None:
        for o in range(Cout):
            y[:, o] += b[o]
    return y


def batch_norm_naive(x, gamma, beta, eps):
    """Training-mode batch norm channel by channel, with exactly rounded sums (``math.fsum``).

    Returns ``(y, mean, invstd)`` like ``batch_norm_forward``; computed in float64.
    """
    C = x.shape[1]
    y = np.empty(x.shape, dtype=np.float64)
    mean = np.empty(C)
    invstd = np.empty(C)
    for c in range(C):
        vals = [float(v) for v in np.asarray(x[:, c]).ravel()]
        mu = math.fsum(vals) / len(vals)
        var = math.fsum((v - mu) ** 2 for v in vals) / len(vals)
        mean[c] = mu
        invstd[c] = 1.0 / math.sqrt(var + eps)
        y[:, c] = (np.asarray(x[:, c], dtype=np.float64) - mu) * invstd[c] * float(gamma[c]) + float(beta[c])
    return y, mean, invstd
