"""Readable NumPy reference kernels (the twin every compiled kernel is tested against).

Every function works on raw arrays (no autograd) and is written with
``xp = get_array_module(x)`` so that the same code runs on NumPy and CuPy arrays.
All functions are functional -- they allocate fresh outputs and never write into
their inputs -- except the optimiser updates (``adam_update``, ``rmsprop_update``)
whose contract is to update parameter and state in place.

Layouts follow PyTorch: images NCHW, padding ``pads = (top, bottom, left, right)``
(asymmetric allowed; TF 'same' padding puts the odd pixel bottom/right),
``stride = (sh, sw)``, ``dilation = (dh, dw)``.

``im2col`` produces PyTorch's ``F.unfold`` layout::

    cols[n, c*kh*kw + i*kw + j, oh*OW + ow] = x[n, c, oh*sh - top + i*dh, ow*sw - left + j*dw]

(zero where the index falls in the padding), so a convolution with weight
``W (O, C, kh, kw)`` is ``W.reshape(O, -1) @ cols`` and ``col2im`` -- the adjoint,
summing overlapping windows -- gives the input gradient and the transposed conv.
"""
import sys

import numpy


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``.

    CuPy is looked up in ``sys.modules`` rather than imported: if nobody has
    imported it, no argument can be a CuPy array, and importing it here would
    make every NumPy call pay for CUDA initialisation.
    """
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        return cupy.get_array_module(*arrays)
    return numpy


def conv_output_size(size, k, stride, pad_lo, pad_hi, dilation):
    """Number of output positions along one spatial axis.

    ``(size + pad_lo + pad_hi - dilation*(k - 1) - 1) // stride + 1``
    """
    return (size + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def _check_geometry(kh, kw, stride, pads, dilation):
    sh, sw = stride
    top, bottom, left, right = pads
    dh, dw = dilation
    if min(kh, kw, sh, sw, dh, dw) < 1:
        raise ValueError(f"kernel size, stride and dilation must be >= 1, got "
                         f"k=({kh},{kw}) stride={stride} dilation={dilation}")
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"pads must be >= 0, got {pads}")
    return sh, sw, top, bottom, left, right, dh, dw


def geometry(H, W, kh, kw, stride, pads, dilation):
    """Validated ``(sh, sw, top, bottom, left, right, dh, dw, OH, OW)`` of a window
    layout on an H x W image; shared by every im2col/col2im implementation."""
    sh, sw, top, bottom, left, right, dh, dw = _check_geometry(kh, kw, stride, pads, dilation)
    OH = conv_output_size(H, kh, sh, top, bottom, dh)
    OW = conv_output_size(W, kw, sw, left, right, dw)
    if OH < 1 or OW < 1:
        raise ValueError(f"empty convolution output: input {H}x{W}, kernel {kh}x{kw}, "
                         f"stride {stride}, pads {pads}, dilation {dilation}")
    return sh, sw, top, bottom, left, right, dh, dw, OH, OW


def im2col(x, kh, kw, stride, pads, dilation):
    """Unfold sliding windows into columns, batch folded into the columns.

    Parameters
    ----------
    x : (N, C, H, W) array
    kh, kw : kernel height and width
    stride : (sh, sw);  pads : (top, bottom, left, right);  dilation : (dh, dw)

    Returns
    -------
    cols : (C*kh*kw, N*OH*OW) array, same dtype as ``x``, with
        ``cols[c*kh*kw + i*kw + j, n*OH*OW + oh*OW + ow] = xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]``
        where ``xpad`` is ``x`` zero-padded by ``pads``.

    With the batch folded into the columns a whole convolution is *one* GEMM,
    ``W.reshape(O, -1) @ cols`` -> (O, N*OH*OW); a stack of N small per-image GEMMs is
    up to 30x slower in BLAS at these sizes. (PyTorch's ``F.unfold`` is this array
    reshaped to (C*kh*kw, N, L) and transposed to (N, C*kh*kw, L).)
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = geometry(H, W, kh, kw, stride, pads,
                                                                dilation)
    xpad = xp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    cols = xp.empty((C, kh, kw, N, OH, OW), dtype=x.dtype)
    xpad = xpad.transpose(1, 0, 2, 3)  # (C, N, H, W): channel-major like cols
    # One strided slice per kernel offset: the (i, j) tap of every window at once.
    for i in range(kh):
        h0 = i * dh
        for j in range(kw):
            w0 = j * dw
            cols[:, i, j] = xpad[:, :, h0:h0 + sh * (OH - 1) + 1:sh,
                                 w0:w0 + sw * (OW - 1) + 1:sw]
    return cols.reshape(C * kh * kw, N * OH * OW)


def check_cols_shape(cols, x_shape, kh, kw, OH, OW):
    """Raise unless ``cols`` has the im2col shape (C*kh*kw, N*OH*OW) for ``x_shape``."""
    N, C = x_shape[0], x_shape[1]
    if cols.shape != (C * kh * kw, N * OH * OW):
        raise ValueError(f"cols shape {cols.shape} does not match x_shape {tuple(x_shape)}: "
                         f"expected {(C * kh * kw, N * OH * OW)}")


def col2im(cols, x_shape, kh, kw, stride, pads, dilation):
    """Fold columns back into an image, summing overlaps: the adjoint of ``im2col``.

    For every ``x`` and ``c`` of matching shapes
    ``<im2col(x), c> == <x, col2im(c, x.shape, ...)>``, so ``col2im`` of the
    column gradient is the input gradient of a convolution, and ``col2im`` of
    ``W.T @ x`` is a transposed convolution.

    Parameters
    ----------
    cols : (C*kh*kw, N*OH*OW) array (the ``im2col`` layout)
    x_shape : (N, C, H, W) of the image to rebuild

    Returns
    -------
    x : (N, C, H, W) array, same dtype as ``cols``:
        ``x[n, c, h, w] = sum over (i, j, oh, ow) with oh*sh - top + i*dh == h and
        ow*sw - left + j*dw == w of cols[c*kh*kw + i*kw + j, n*OH*OW + oh*OW + ow]``.
    """
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = geometry(H, W, kh, kw, stride, pads,
                                                                dilation)
    check_cols_shape(cols, x_shape, kh, kw, OH, OW)
    cols6 = cols.reshape(C, kh, kw, N, OH, OW)
    xpad = xp.zeros((C, N, H + top + bottom, W + left + right), dtype=cols.dtype)
    # Within one (i, j) the windows hit distinct pixels, so the strided += is exact;
    # overlaps between different (i, j) accumulate across loop iterations.
    for i in range(kh):
        h0 = i * dh
        for j in range(kw):
            w0 = j * dw
            xpad[:, :, h0:h0 + sh * (OH - 1) + 1:sh,
                 w0:w0 + sw * (OW - 1) + 1:sw] += cols6[:, i, j]
    return xp.ascontiguousarray(xpad[:, :, top:top + H, left:left + W].transpose(1, 0, 2, 3))


def conv2d(x, w, b, stride, pads, dilation):
    """Convolution (cross-correlation) as one GEMM over the columns.

    Parameters
    ----------
    x : (N, C, H, W);  w : (O, C, kh, kw);  b : (O,) or None

    Returns
    -------
    y : (N, O, OH, OW) with ``y[n, o] = sum_c w[o, c] (*) x[n, c] + b[o]``, computed as
        ``w.reshape(O, C*kh*kw) @ im2col(x)`` -> (O, N*OH*OW), then moved to NCHW.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    *_, OH, OW = geometry(H, W, kh, kw, stride, pads, dilation)
    y = w.reshape(O, -1) @ im2col(x, kh, kw, stride, pads, dilation)
    y = xp.ascontiguousarray(y.reshape(O, N, OH, OW).transpose(1, 0, 2, 3))
    return y if b is None else y + b.reshape(1, O, 1, 1)


def conv2d_grad_input(gy, w, x_shape, stride, pads, dilation):
    """The adjoint of ``conv2d`` in x (its input gradient; also the transposed conv).

    Parameters
    ----------
    gy : (N, O, OH, OW);  w : (O, C, kh, kw);  x_shape : (N, C, H, W) with
        ``conv2d`` mapping H x W to OH x OW

    Returns
    -------
    gx : (N, C, H, W) = ``col2im(w.reshape(O, -1).T @ gy as (O, N*OH*OW))``, i.e.
        ``gx[n, c, h, w'] = sum_{o, i, j} w[o, c, i, j] gy[n, o, oh, ow]`` over the
        windows (oh, ow) whose tap (i, j) lands on pixel (h, w').
    """
    N, O, OH, OW = gy.shape
    _, _, kh, kw = w.shape
    g2 = gy.transpose(1, 0, 2, 3).reshape(O, N * OH * OW)
    return col2im(w.reshape(O, -1).T @ g2, tuple(x_shape), kh, kw, stride, pads, dilation)


def conv2d_grad_weight(x, gy, w_shape, stride, pads, dilation):
    """The weight gradient of ``conv2d``: bilinear in (x, gy).

    Parameters
    ----------
    x : (N, C, H, W);  gy : (N, O, OH, OW);  w_shape : (O, C, kh, kw)

    Returns
    -------
    gw : w_shape, ``gw[o, (c, i, j)] = sum_{n, p} gy[n, o, p] * im2col(x)[(c, i, j), (n, p)]``.
    """
    N, O, OH, OW = gy.shape
    _, _, kh, kw = w_shape
    g2 = gy.transpose(1, 0, 2, 3).reshape(O, N * OH * OW)
    return (g2 @ im2col(x, kh, kw, stride, pads, dilation).T).reshape(tuple(w_shape))


def leaky_relu(x, slope):
    """``y = x if x > 0 else slope * x`` elementwise."""
    xp = get_array_module(x)
    return xp.where(x > 0, x, x * x.dtype.type(slope))


def leaky_relu_grad(x, gy, slope):
    """Gradient of ``leaky_relu`` w.r.t. ``x``: ``gx = gy if x > 0 else slope * gy``."""
    xp = get_array_module(x)
    return xp.where(x > 0, gy, gy * gy.dtype.type(slope))


def _channel_axes_and_shape(x):
    """Reduction axes (all but 1) and the broadcast shape (1, C, 1, ...) for per-channel params."""
    if x.ndim < 2:
        raise ValueError(f"batch norm needs x of shape (N, C, ...), got {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, bshape


def batch_norm_forward(x, gamma, beta, eps):
    """Training-mode batch normalisation.

    Parameters
    ----------
    x : (N, C) or (N, C, H, W) array;  gamma, beta : (C,) arrays;  eps : float

    Returns
    -------
    y : same shape as x,  ``y = gamma * (x - mean) * invstd + beta``
    mean : (C,) mean over every axis but 1
    invstd : (C,) ``1 / sqrt(var + eps)`` with the biased variance ``mean((x - mean)**2)``
    """
    xp = get_array_module(x)
    axes, bshape = _channel_axes_and_shape(x)
    mean = x.mean(axis=axes)
    xc = x - mean.reshape(bshape)
    var = (xc * xc).mean(axis=axes)          # two-pass variance: no cancellation
    invstd = 1 / xp.sqrt(var + x.dtype.type(eps))
    y = xc * invstd.reshape(bshape) * gamma.reshape(bshape) + beta.reshape(bshape)
    return y, mean, invstd


def batch_norm_backward(x, gamma, gy, mean, invstd):
    """Gradient of training-mode ``batch_norm_forward`` (batch statistics depend on x).

    With ``xhat = (x - mean) * invstd`` and M the number of elements per channel::

        gbeta  = sum gy
        ggamma = sum gy * xhat
        gx     = gamma * invstd / M * (M * gy - gbeta - xhat * ggamma)

    Returns ``(gx, ggamma, gbeta)`` with shapes ``(x.shape, (C,), (C,))``.
    """
    axes, bshape = _channel_axes_and_shape(x)
    M = x.size // x.shape[1]
    xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
    gbeta = gy.sum(axis=axes)
    ggamma = (gy * xhat).sum(axis=axes)
    scale = (gamma * invstd / M).reshape(bshape)
    gx = scale * (M * gy - gbeta.reshape(bshape) - xhat * ggamma.reshape(bshape))
    return gx, ggamma, gbeta


def batch_norm_inference(x, gamma, beta, mean, var, eps):
    """Inference-mode batch norm with running statistics.

    ``y = (x - mean) * (gamma / sqrt(var + eps)) + beta``, per channel (axis 1).
    """
    xp = get_array_module(x)
    _, bshape = _channel_axes_and_shape(x)
    scale = gamma / xp.sqrt(var + x.dtype.type(eps))
    return (x - mean.reshape(bshape)) * scale.reshape(bshape) + beta.reshape(bshape)


def dropout(x, u, p):
    """Inverted dropout with caller-drawn randomness.

    ``y = x / (1 - p)`` where ``u >= p``, else exactly 0 (even for non-finite x).
    ``u`` has x's shape, uniform on [0, 1); drawing it outside the kernel makes
    every backend produce the same mask.  Requires ``0 <= p < 1``.
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    xp = get_array_module(x)
    keep = u >= u.dtype.type(p)   # compare in u's dtype so all backends agree bit-for-bit
    return xp.where(keep, x * x.dtype.type(1 / (1 - p)), x.dtype.type(0))


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay):
    """One in-place Adam step with ``torch.optim.Adam`` semantics.

    ``step`` is 1-based (the count after this update). With ``g = grad + wd * param``::

        m     <- beta1 * m + (1 - beta1) * g
        v     <- beta2 * v + (1 - beta2) * g**2
        param <- param - lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    which is ``param -= lr * mhat / (sqrt(vhat) + eps)`` arranged as PyTorch does.
    ``param``, ``m``, ``v`` are updated in place; ``grad`` is not modified.
    """
    if step < 1:
        raise ValueError(f"Adam step is 1-based, got {step}")
    xp = get_array_module(param)
    t = param.dtype.type
    g = grad + t(weight_decay) * param if weight_decay else grad
    m *= t(beta1)
    m += t(1 - beta1) * g
    v *= t(beta2)
    v += t(1 - beta2) * (g * g)
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    denom = xp.sqrt(v) / t(bias_correction2_sqrt) + t(eps)
    param -= t(step_size) * m / denom


def rmsprop_update(param, grad, sq, lr, alpha, eps, weight_decay):
    """One in-place RMSprop step, ``torch.optim.RMSprop`` (non-centred, no momentum).

    With ``g = grad + wd * param``::

        sq    <- alpha * sq + (1 - alpha) * g**2
        param <- param - lr * g / (sqrt(sq) + eps)
    """
    xp = get_array_module(param)
    t = param.dtype.type
    g = grad + t(weight_decay) * param if weight_decay else grad
    sq *= t(alpha)
    sq += t(1 - alpha) * (g * g)
    param -= t(lr) * g / (xp.sqrt(sq) + t(eps))


def _depthwise_taps(H, W, kh, kw, stride, pads, dilation):
    """(OH, OW) and, per tap (i, j), the strided slice of the padded image it reads."""
    sh, sw, top, bottom, left, right, dh, dw, OH, OW = geometry(H, W, kh, kw, stride, pads,
                                                                dilation)
    taps = [(i, j, (slice(None), slice(None), slice(i * dh, i * dh + sh * (OH - 1) + 1, sh),
                    slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)))
            for i in range(kh) for j in range(kw)]
    return OH, OW, taps


def depthwise_conv2d(x, w, stride, pads, dilation):
    """Depthwise convolution (groups = C, one filter per channel), no bias.

    Parameters
    ----------
    x : (N, C, H, W);  w : (C, 1, kh, kw)

    Returns
    -------
    y : (N, C, OH, OW), ``y[n, c] = sum_{i, j} w[c, 0, i, j] xpad[n, c, oh*sh + i*dh,
        ow*sw + j*dw]``: one multiply-add of a strided view per tap (kh*kw passes), where
        a per-channel GEMM would pay C small calls.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    kh, kw = w.shape[2:]
    OH, OW, taps = _depthwise_taps(H, W, kh, kw, stride, pads, dilation)
    top, bottom, left, right = pads
    xpad = xp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    y = xp.zeros((N, C, OH, OW), dtype=x.dtype)
    for i, j, sl in taps:
        y += xpad[sl] * w[:, 0, i, j].reshape(1, C, 1, 1)
    return y


def depthwise_conv2d_grad_input(gy, w, x_shape, stride, pads, dilation):
    """The adjoint of ``depthwise_conv2d`` in x: each tap's ``gy * w[c, 0, i, j]`` added
    back onto the strided view it was read from (overlaps accumulate across taps).
    gy (N, C, OH, OW), w (C, 1, kh, kw) -> (N, C, H, W)."""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    kh, kw = w.shape[2:]
    OH, OW, taps = _depthwise_taps(H, W, kh, kw, stride, pads, dilation)
    top, bottom, left, right = pads
    gpad = xp.zeros((N, C, H + top + bottom, W + left + right), dtype=gy.dtype)
    for i, j, sl in taps:
        gpad[sl] += gy * w[:, 0, i, j].reshape(1, C, 1, 1)
    return xp.ascontiguousarray(gpad[:, :, top:top + H, left:left + W])


def depthwise_conv2d_grad_weight(x, gy, w_shape, stride, pads, dilation):
    """The weight gradient of ``depthwise_conv2d``: ``gw[c, 0, i, j] = sum_{n, oh, ow}
    gy[n, c, oh, ow] xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]``. x (N, C, H, W),
    gy (N, C, OH, OW) -> w_shape (C, 1, kh, kw)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    kh, kw = w_shape[2:]
    _, _, taps = _depthwise_taps(H, W, kh, kw, stride, pads, dilation)
    top, bottom, left, right = pads
    xpad = xp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    gw = xp.empty(tuple(w_shape), dtype=x.dtype)
    for i, j, sl in taps:
        gw[:, 0, i, j] = (xpad[sl] * gy).sum(axis=(0, 2, 3))
    return gw
