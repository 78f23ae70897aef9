"""Convolution, transposed convolution, unfold, pooling and upsampling.

The arithmetic lives in three kernels (``kernels``: ``conv2d``, ``conv2d_grad_input``,
``conv2d_grad_weight``). The NumPy reference runs each as one GEMM over im2col columns::

    cols = im2col(x)                    (C*kh*kw, N*OH*OW)   batch folded into columns
    y    = W.reshape(O, C*kh*kw) @ cols (O, N*OH*OW)  -> transposed to (N, O, OH, OW)

and the Numba kernels as cache-sized column tiles fed to sgemm, one image group per
thread. The three functions below close the graph under differentiation (as in Chainer):

* ``Conv2d(x, W)``            : backward  gx = ConvTranspose2d(gy, W),  gW = Conv2dGradW(x, gy)
* ``ConvTranspose2d(x, W)``   : backward  gx = Conv2d(gy, W),           gW = Conv2dGradW(gy, x)
* ``Conv2dGradW(x, gy)``      : backward  gx = ConvTranspose2d(gy, ggW), ggy = Conv2d(x, ggW)

so a conv's input gradient is a transposed conv and vice versa, and the weight-gradient
node's backward uses its incoming gradient ``ggW`` -- the second-order path WGAN-GP's
penalty takes through every critic layer.

Padding is ``(top, bottom, left, right)`` internally. ``padding='same'`` follows
TensorFlow/Keras (the seed-000 reference): output size ceil(H / stride), the odd extra
pixel padded at the bottom/right. A transposed conv carries the exact ``out_size`` of
the conv it is the adjoint of, which removes PyTorch's ``output_padding`` ambiguity.
"""
from __future__ import annotations

import math

from refgan import backend
from refgan.autograd import Function
from refgan.ops.reduce import max as _max
from refgan.ops.reduce import mean as _mean
from refgan.ops.shape import reshape, transpose


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _geometry(stride, dilation):
    return _pair(stride), _pair(dilation)


def resolve_padding(padding, in_hw, k_hw, stride, dilation):
    """(top, bottom, left, right) from an int, a pair, a 4-tuple, 'valid' or 'same'."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        pads = []
        for size, k, s, d in zip(in_hw, k_hw, stride, dilation):
            out = math.ceil(size / s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int, a pair, a 4-tuple, 'same' or 'valid', "
                         f"got {padding!r}")
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"padding must be an int, a pair, a 4-tuple, 'same' or 'valid', "
                     f"got {padding!r}")


def conv_out_hw(in_hw, k_hw, stride, pads, dilation):
    """(OH, OW) of a window layout; per axis ``(size + lo + hi - d*(k - 1) - 1) // s + 1``."""
    (H, W), (kh, kw), (sh, sw), (top, bottom, left, right), (dh, dw) = (
        in_hw, k_hw, stride, pads, dilation)
    return ((H + top + bottom - dh * (kh - 1) - 1) // sh + 1,
            (W + left + right - dw * (kw - 1) - 1) // sw + 1)


class _ConvBase(Function):
    def __init__(self, stride, pads, dilation):
        self.stride, self.pads, self.dilation = stride, pads, dilation

    def _geom(self, kh, kw):
        return dict(kh=kh, kw=kw, stride=self.stride, pads=self.pads, dilation=self.dilation)


class Conv2d(_ConvBase):
    """y[n,o] = sum_c W[o,c] (*) x[n,c] + b[o];  x (N,C,H,W), W (O,C,kh,kw)."""

    def forward(self, x, W, b=None):
        O, C, kh, kw = W.shape
        if x.shape[1] != C:
            raise ValueError(f"conv2d: input has {x.shape[1]} channels, weight expects {C}")
        OH, OW = conv_out_hw(x.shape[2:], (kh, kw), self.stride, self.pads, self.dilation)
        if OH <= 0 or OW <= 0:
            raise ValueError(f"conv2d: input {x.shape[2:]} too small for kernel {(kh, kw)}")
        return backend.kernels().conv2d(x, W, b, self.stride, self.pads, self.dilation)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        need = self.needs_input_grad
        gx = (ConvTranspose2d(self.stride, self.pads, self.dilation, x.shape[2:])(gy, W)
              if need[0] else None)
        gW = (Conv2dGradW(W.shape, self.stride, self.pads, self.dilation)(x, gy)
              if need[1] else None)
        if len(self.inputs) == 2:
            return gx, gW
        gb = gy.sum(axis=(0, 2, 3)) if need[2] else None
        return gx, gW, gb


class ConvTranspose2d(_ConvBase):
    """The adjoint of Conv2d in its input: x (N,Cin,H,W), W (Cin,Cout,kh,kw) ->
    y (N,Cout,*out_size), where (H, W) is the conv output grid of ``out_size``."""

    def __init__(self, stride, pads, dilation, out_size):
        super().__init__(stride, pads, dilation)
        self.out_size = tuple(out_size)

    def forward(self, x, W, b=None):
        N, Cin, H, Wd = x.shape
        _, Cout, kh, kw = W.shape
        if W.shape[0] != Cin:
            raise ValueError(f"conv_transpose2d: input has {Cin} channels, weight expects "
                             f"{W.shape[0]}")
        grid = conv_out_hw(self.out_size, (kh, kw), self.stride, self.pads, self.dilation)
        if grid != (H, Wd):
            raise ValueError(f"conv_transpose2d: input grid {(H, Wd)} does not match output "
                             f"size {self.out_size} (conv of it gives {grid})")
        # x plays the conv's output gradient and W the conv's (O=Cin, C=Cout) weight.
        y = backend.kernels().conv2d_grad_input(x, W, (N, Cout) + self.out_size, self.stride,
                                                self.pads, self.dilation)
        return y if b is None else y + b.reshape(1, Cout, 1, 1)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        need = self.needs_input_grad
        gx = Conv2d(self.stride, self.pads, self.dilation)(gy, W) if need[0] else None
        gW = (Conv2dGradW(W.shape, self.stride, self.pads, self.dilation)(gy, x)
              if need[1] else None)
        if len(self.inputs) == 2:
            return gx, gW
        gb = gy.sum(axis=(0, 2, 3)) if need[2] else None
        return gx, gW, gb


class Conv2dGradW(_ConvBase):
    """gW[o,c,i,j] = sum_{n,p} gy[n,o,p] * im2col(x)[n,(c,i,j),p]: bilinear in (x, gy)."""

    def __init__(self, w_shape, stride, pads, dilation):
        super().__init__(stride, pads, dilation)
        self.w_shape = tuple(w_shape)

    def forward(self, x, gy):
        return backend.kernels().conv2d_grad_weight(x, gy, self.w_shape, self.stride,
                                                    self.pads, self.dilation)

    def backward(self, ggW):
        x, gy = self.inputs
        need = self.needs_input_grad
        gx = (ConvTranspose2d(self.stride, self.pads, self.dilation, x.shape[2:])(gy, ggW)
              if need[0] else None)
        ggy = Conv2d(self.stride, self.pads, self.dilation)(x, ggW) if need[1] else None
        return gx, ggy


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation, as every framework computes it).

    x (N, C, H, W), weight (O, C, kh, kw), bias (O,) -> (N, O, OH, OW) with
    OH = (H + pad_top + pad_bottom - dilation*(kh-1) - 1) // stride + 1.
    ``padding``: int, (ph, pw), (top, bottom, left, right), 'valid' or 'same' (TF rule).
    """
    stride, dilation = _geometry(stride, dilation)
    pads = resolve_padding(padding, x.shape[2:], weight.shape[2:], stride, dilation)
    args = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d(stride, pads, dilation)(*args)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                     dilation=1):
    """Transposed convolution (PyTorch semantics), weight (Cin, Cout, kh, kw).

    OH = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1,
    with 0 <= output_padding < stride (it picks among the input sizes a stride-s conv
    maps to the same output size).
    """
    stride, dilation = _geometry(stride, dilation)
    pads = resolve_padding(padding, (0, 0), weight.shape[2:], stride, dilation)
    op = _pair(output_padding)
    if any(not 0 <= p < s for p, s in zip(op, stride)):
        raise ValueError(f"output_padding {output_padding} must be >= 0 and smaller than "
                         f"the stride {stride}")
    kh, kw = weight.shape[2:]
    out = tuple((n - 1) * s - lo - hi + d * (k - 1) + p + 1 for n, s, lo, hi, d, k, p in zip(
        x.shape[2:], stride, pads[0::2], pads[1::2], dilation, (kh, kw), op))
    args = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d(stride, pads, dilation, out)(*args)


# ------------------------------------------------------------------ unfold / fold
class Unfold(_ConvBase):
    """im2col as an op: (N,C,H,W) -> (N, C*kh*kw, L) (PyTorch's F.unfold); linear, so
    its backward is its adjoint Fold, and Fold's backward is Unfold."""

    def __init__(self, k_hw, stride, pads, dilation):
        super().__init__(stride, pads, dilation)
        self.k_hw = k_hw

    def forward(self, x):
        self.in_shape = x.shape
        cols = backend.kernels().im2col(x, **self._geom(*self.k_hw))  # (K, N*L)
        N = x.shape[0]
        return cols.reshape(cols.shape[0], N, -1).transpose(1, 0, 2).copy()

    def backward(self, gcols):
        return Fold(self.in_shape, self.k_hw, self.stride, self.pads, self.dilation)(gcols)


class Fold(_ConvBase):
    def __init__(self, x_shape, k_hw, stride, pads, dilation):
        super().__init__(stride, pads, dilation)
        self.x_shape, self.k_hw = tuple(x_shape), k_hw

    def forward(self, cols):  # (N, K, L) -> kernel layout (K, N*L)
        N, K, L = cols.shape
        cols2 = cols.transpose(1, 0, 2).reshape(K, N * L)
        return backend.kernels().col2im(cols2, self.x_shape, **self._geom(*self.k_hw))

    def backward(self, gx):
        return Unfold(self.k_hw, self.stride, self.pads, self.dilation)(gx)


def unfold(x, kernel_size, stride=1, padding=0, dilation=1):
    stride, dilation = _geometry(stride, dilation)
    k = _pair(kernel_size)
    pads = resolve_padding(padding, x.shape[2:], k, stride, dilation)
    return Unfold(k, stride, pads, dilation)(x)


# ----------------------------------------------------------------------- pooling
def _pool_windows(x, kernel_size, stride, padding):
    """(N, C, OH, OW, kh*kw) windows of x (zero padding)."""
    k = _pair(kernel_size)
    stride = k if stride is None else _pair(stride)
    N, C, H, W = x.shape
    pads = resolve_padding(padding, (H, W), k, stride, (1, 1))
    OH, OW = conv_out_hw((H, W), k, stride, pads, (1, 1))
    cols = Unfold(k, stride, pads, (1, 1))(reshape(x, (N * C, 1, H, W)))  # (NC, kk, L)
    return transpose(reshape(cols, (N, C, k[0] * k[1], OH, OW)), (0, 1, 3, 4, 2))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window (padding counts as zeros, PyTorch's count_include_pad)."""
    return _mean(_pool_windows(x, kernel_size, stride, padding), axis=-1)


def max_pool2d(x, kernel_size, stride=None):
    """Max over each window; the gradient goes to the first maximum in the window."""
    return _max(_pool_windows(x, kernel_size, stride, 0), axis=-1)


class UpsampleNearest(Function):
    """y[n, c, i, j] = x[n, c, i // s, j // s]: (N, C, H, W) -> (N, C, H s, W s).

    Linear; its adjoint (the backward) is :class:`SumPool2d`. ``repeat`` writes the
    output in one contiguous pass (a broadcast + reshape copies through a 6-D strided
    view, 4x slower at the main job's shapes)."""

    def __init__(self, s: int):
        self.s = s

    def forward(self, x):
        return x.repeat(self.s, axis=2).repeat(self.s, axis=3)

    def backward(self, gy):
        return SumPool2d(self.s)(gy)


class SumPool2d(Function):
    """y[n, c, i, j] = sum_{a, b < s} x[n, c, i s + a, j s + b]: (N, C, H s, W s) -> (N, C, H, W).

    The adjoint of :class:`UpsampleNearest` (its backward). The s^2 strided views are
    added in a fixed (a, b) order: one pass each, where a reduction over the two inner
    axes of the 6-D view (``sum_to``) ran ~30x slower at the main job's shapes."""

    def __init__(self, s: int):
        self.s = s

    def forward(self, x):
        N, C, Hs, Ws = x.shape
        s = self.s
        if Hs % s or Ws % s:
            raise ValueError(f"sum_pool2d: input {(Hs, Ws)} is not a multiple of {s}")
        blocks = x.reshape(N, C, Hs // s, s, Ws // s, s)
        y = blocks[:, :, :, 0, :, 0].copy()
        for a in range(s):
            for b in range(s):
                if a or b:
                    y += blocks[:, :, :, a, :, b]
        return y

    def backward(self, gy):
        return UpsampleNearest(self.s)(gy)


def upsample_nearest(x, scale_factor: int = 2):
    """Nearest-neighbour upsampling by an integer factor s: (N, C, H, W) -> (N, C, H s, W s);
    its gradient sums each s x s block (:func:`sum_pool2d`)."""
    return UpsampleNearest(int(scale_factor))(x)


def sum_pool2d(x, s: int):
    """Sum over non-overlapping s x s blocks: (N, C, H s, W s) -> (N, C, H, W); the
    adjoint of :func:`upsample_nearest`."""
    return SumPool2d(int(s))(x)
