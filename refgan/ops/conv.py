"""Convolution (grouped too), transposed convolution, unfold, padding, pooling
(average, max, adaptive average) and upsampling.

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

Grouped convolution (``groups=g``, depthwise when g equals the input channels) splits
the input channels and the output channels into g consecutive blocks; block k of the
output sees only block k of the input. Each of the three functions carries ``groups``
and runs its kernel once per block (:func:`_per_group`) -- or, for a depthwise
convolution with one filter per channel, the kernels' ``depthwise_conv2d*`` -- so the
closure above, and with it every order of derivative, holds unchanged for grouped
convolutions.

Padding is ``(top, bottom, left, right)`` internally. ``padding='same'`` follows
TensorFlow/Keras (the seed-000 reference): output size ceil(H / stride), the odd extra
pixel padded at the bottom/right. A transposed conv carries the exact ``out_size`` of
the conv it is the adjoint of, which removes PyTorch's ``output_padding`` ambiguity.
"""
from __future__ import annotations

import math

import numpy as np

from refgan import backend
from refgan.autograd import Function, Tensor
from refgan.ops.reduce import matmul
from refgan.ops.reduce import max as _max
from refgan.ops.reduce import mean as _mean
from refgan.ops.reduce import sum as _sum
from refgan.ops.shape import getitem, reshape, transpose


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


def _per_group(kernel, groups, a, b, out_axis, b_axis):
    """``kernel(a_k, b_k)`` for each of ``groups`` consecutive channel blocks, joined
    along ``out_axis``: ``a`` (an image batch) is cut along axis 1, ``b`` along
    ``b_axis`` (1 for an image batch, 0 for a weight). The blocks are made contiguous,
    as the compiled kernels expect."""
    xp = backend.get_array_module(a)
    na, nb = a.shape[1] // groups, b.shape[b_axis] // groups
    parts = []
    for k in range(groups):
        ak = xp.ascontiguousarray(a[:, k * na:(k + 1) * na])
        bk = xp.ascontiguousarray(b[:, k * nb:(k + 1) * nb] if b_axis == 1
                                  else b[k * nb:(k + 1) * nb])
        parts.append(kernel(ak, bk))
    return xp.concatenate(parts, axis=out_axis)


def _depthwise(groups, c_in, c_out):
    """One filter per channel (groups = in = out channels): the kernels' tap-by-tap
    ``depthwise_conv2d*`` instead of one GEMM per channel."""
    return groups > 1 and groups == c_in == c_out


class _ConvBase(Function):
    def __init__(self, stride, pads, dilation, groups=1):
        self.stride, self.pads, self.dilation = stride, pads, dilation
        self.groups = groups

    def _geom(self, kh, kw):
        return dict(kh=kh, kw=kw, stride=self.stride, pads=self.pads, dilation=self.dilation)


class Conv2d(_ConvBase):
    """y[n,o] = sum_c W[o,c] (*) x[n,c] + b[o];  x (N,C,H,W), W (O,C,kh,kw)."""

    def forward(self, x, W, b=None):
        O, Cg, kh, kw = W.shape
        g = self.groups
        if x.shape[1] != Cg * g or O % g:
            raise ValueError(f"conv2d: input has {x.shape[1]} channels, weight {W.shape} with "
                             f"groups={g} expects {Cg * g} (and out channels divisible by {g})")
        OH, OW = conv_out_hw(x.shape[2:], (kh, kw), self.stride, self.pads, self.dilation)
        if OH <= 0 or OW <= 0:
            raise ValueError(f"conv2d: input {x.shape[2:]} too small for kernel {(kh, kw)}")
        K = backend.kernels()
        if g == 1:
            return K.conv2d(x, W, b, self.stride, self.pads, self.dilation)
        if _depthwise(g, x.shape[1], O):
            y = K.depthwise_conv2d(x, W, self.stride, self.pads, self.dilation)
            return y if b is None else y + b.reshape(1, O, 1, 1)
        y = _per_group(lambda xk, wk: K.conv2d(xk, wk, None, self.stride, self.pads,
                                               self.dilation), g, x, W, 1, b_axis=0)
        return y if b is None else y + b.reshape(1, O, 1, 1)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        need = self.needs_input_grad
        gx = (ConvTranspose2d(self.stride, self.pads, self.dilation, x.shape[2:],
                              self.groups)(gy, W) if need[0] else None)
        gW = (Conv2dGradW(W.shape, self.stride, self.pads, self.dilation, self.groups)(x, gy)
              if need[1] else None)
        if len(self.inputs) == 2:
            return gx, gW
        gb = gy.sum(axis=(0, 2, 3)) if need[2] else None
        return gx, gW, gb


class ConvTranspose2d(_ConvBase):
    """The adjoint of Conv2d in its input: x (N,Cin,H,W), W (Cin,Cout/g,kh,kw) ->
    y (N,Cout,*out_size), where (H, W) is the conv output grid of ``out_size``."""

    def __init__(self, stride, pads, dilation, out_size, groups=1):
        super().__init__(stride, pads, dilation, groups)
        self.out_size = tuple(out_size)

    def forward(self, x, W, b=None):
        N, Cin, H, Wd = x.shape
        _, Coutg, kh, kw = W.shape
        g = self.groups
        if W.shape[0] != Cin or Cin % g:
            raise ValueError(f"conv_transpose2d: input has {Cin} channels, weight expects "
                             f"{W.shape[0]} (divisible by groups={g})")
        grid = conv_out_hw(self.out_size, (kh, kw), self.stride, self.pads, self.dilation)
        if grid != (H, Wd):
            raise ValueError(f"conv_transpose2d: input grid {(H, Wd)} does not match output "
                             f"size {self.out_size} (conv of it gives {grid})")
        # x plays the conv's output gradient and W the conv's (O=Cin, C=Cout) weight.
        K = backend.kernels()
        if _depthwise(g, Cin, Coutg * g):
            y = K.depthwise_conv2d_grad_input(x, W, (N, Cin) + self.out_size, self.stride,
                                              self.pads, self.dilation)
            return y if b is None else y + b.reshape(1, Cin, 1, 1)
        y = _per_group(lambda xk, wk: K.conv2d_grad_input(
            xk, wk, (N, Coutg) + self.out_size, self.stride, self.pads, self.dilation),
            g, x, W, 1, b_axis=0)
        return y if b is None else y + b.reshape(1, Coutg * g, 1, 1)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        need = self.needs_input_grad
        gx = (Conv2d(self.stride, self.pads, self.dilation, self.groups)(gy, W)
              if need[0] else None)
        gW = (Conv2dGradW(W.shape, self.stride, self.pads, self.dilation, self.groups)(gy, x)
              if need[1] else None)
        if len(self.inputs) == 2:
            return gx, gW
        gb = gy.sum(axis=(0, 2, 3)) if need[2] else None
        return gx, gW, gb


class Conv2dGradW(_ConvBase):
    """gW[o,c,i,j] = sum_{n,p} gy[n,o,p] * im2col(x)[n,(c,i,j),p]: bilinear in (x, gy);
    with groups, output block k's rows see only input block k's columns."""

    def __init__(self, w_shape, stride, pads, dilation, groups=1):
        super().__init__(stride, pads, dilation, groups)
        self.w_shape = tuple(w_shape)

    def forward(self, x, gy):
        K, g = backend.kernels(), self.groups
        if g == 1:
            return K.conv2d_grad_weight(x, gy, self.w_shape, self.stride, self.pads,
                                        self.dilation)
        if _depthwise(g, x.shape[1], self.w_shape[0]):
            return K.depthwise_conv2d_grad_weight(x, gy, self.w_shape, self.stride, self.pads,
                                                  self.dilation)
        shape_k = (self.w_shape[0] // g,) + self.w_shape[1:]
        return _per_group(lambda xk, gk: K.conv2d_grad_weight(
            xk, gk, shape_k, self.stride, self.pads, self.dilation), g, x, gy, 0, b_axis=1)

    def backward(self, ggW):
        x, gy = self.inputs
        need = self.needs_input_grad
        gx = (ConvTranspose2d(self.stride, self.pads, self.dilation, x.shape[2:],
                              self.groups)(gy, ggW) if need[0] else None)
        ggy = (Conv2d(self.stride, self.pads, self.dilation, self.groups)(x, ggW)
               if need[1] else None)
        return gx, ggy


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as every framework computes it).

    x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) -> (N, O, OH, OW) with
    OH = (H + pad_top + pad_bottom - dilation*(kh-1) - 1) // stride + 1.
    ``padding``: int, (ph, pw), (top, bottom, left, right), 'valid' or 'same' (TF rule).
    ``groups``: g divides C and O; output channels [k O/g, (k+1) O/g) are the conv of
    input channels [k C/g, (k+1) C/g) (g = C: depthwise, PyTorch's layout).
    """
    stride, dilation = _geometry(stride, dilation)
    if int(groups) < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    pads = resolve_padding(padding, x.shape[2:], weight.shape[2:], stride, dilation)
    args = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d(stride, pads, dilation, int(groups))(*args)


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


# ----------------------------------------------------------------------- padding
class Pad2d(Function):
    """Constant padding of the last two axes by ``pads = (top, bottom, left, right)``:
    (N, C, H, W) -> (N, C, H + top + bottom, W + left + right). Linear in x (the
    padding value is a constant), so its backward crops the gradient, and the crop's
    backward pads it again with zeros (GetItem / GetItemGrad)."""

    def __init__(self, pads, value=0.0):
        self.pads, self.value = tuple(int(p) for p in pads), float(value)

    def forward(self, x):
        t, b, l, r = self.pads
        xp = backend.get_array_module(x)
        widths = ((0, 0),) * (x.ndim - 2) + ((t, b), (l, r))
        return xp.pad(x, widths, constant_values=x.dtype.type(self.value))

    def backward(self, gy):
        t, b, l, r = self.pads
        H, W = gy.shape[-2] - t - b, gy.shape[-1] - l - r
        return getitem(gy, (Ellipsis, slice(t, t + H), slice(l, l + W)))


def pad2d(x, padding, value: float = 0.0):
    """Pad the last two axes: ``padding`` is an int, (ph, pw) or (top, bottom, left,
    right) (Keras ZeroPadding2D((top, bottom), (left, right)) is (top, bottom, left,
    right) here). The padded pixels hold ``value`` and get no gradient."""
    pads = resolve_padding(padding, (0, 0), (1, 1), (1, 1), (1, 1))
    if min(pads) < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return x if not any(pads) else Pad2d(pads, value)(x)


# ----------------------------------------------------------------------- pooling
def _pool_geometry(x, kernel_size, stride, padding):
    k = _pair(kernel_size)
    stride = k if stride is None else _pair(stride)
    pads = resolve_padding(padding, x.shape[2:], k, stride, (1, 1))
    if any(p > kk // 2 for p, kk in zip(pads, (k[0], k[0], k[1], k[1]))) and padding != "same":
        raise ValueError(f"pooling padding {padding!r} must be at most half the kernel {k}")
    return k, stride, pads


def _pool_windows(x, k, stride, pads):
    """(N, C, OH, OW, kh*kw) windows of x (zero padding by ``pads``)."""
    N, C, H, W = x.shape
    OH, OW = conv_out_hw((H, W), k, stride, pads, (1, 1))
    cols = Unfold(k, stride, pads, (1, 1))(reshape(x, (N * C, 1, H, W)))  # (NC, kk, L)
    return transpose(reshape(cols, (N, C, k[0] * k[1], OH, OW)), (0, 1, 3, 4, 2))


def _window_counts(size, k, s, lo, hi, out):
    """Per output position along one axis: how many window taps fall inside the image."""
    starts = np.arange(out) * s - lo
    return np.minimum(starts + k, size) - np.maximum(starts, 0)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
    """Mean over each window: (N, C, H, W) -> (N, C, OH, OW).

    ``padding`` as for :func:`conv2d` ('same' is the TF/Keras rule). The padded zeros
    count in the divisor with ``count_include_pad=True`` (PyTorch's default); with
    False the divisor is the number of taps inside the image (PyTorch's
    ``count_include_pad=False`` and Keras' AveragePooling2D(padding='same')).
    """
    k, stride, pads = _pool_geometry(x, kernel_size, stride, padding)
    windows = _pool_windows(x, k, stride, pads)
    if count_include_pad or not any(pads):
        return _mean(windows, axis=-1)
    OH, OW = windows.shape[2:4]
    counts = np.outer(_window_counts(x.shape[2], k[0], stride[0], pads[0], pads[1], OH),
                      _window_counts(x.shape[3], k[1], stride[1], pads[2], pads[3], OW))
    inv = backend.get_array_module(x.data).asarray((1.0 / counts).astype(x.dtype))
    return _sum(windows, axis=-1) * Tensor(inv)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over each window: (N, C, H, W) -> (N, C, OH, OW); padded pixels are -inf
    (never the maximum), as in PyTorch and Keras. ``padding``: int, pair, 4-tuple or
    'same'/'valid'. The gradient goes to the first maximum in the window."""
    k, stride, pads = _pool_geometry(x, kernel_size, stride, padding)
    if any(pads):
        x = Pad2d(pads, -np.inf)(x)
    return _max(_pool_windows(x, k, stride, (0, 0, 0, 0)), axis=-1)


def _adaptive_matrix(n_in, n_out, dtype):
    """(n_out, n_in) averaging matrix of PyTorch's adaptive pooling bins:
    bin i covers [floor(i n_in / n_out), ceil((i + 1) n_in / n_out))."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m.astype(dtype)


def adaptive_avg_pool2d(x, output_size):
    """Average over PyTorch's adaptive bins: (N, C, H, W) -> (N, C, oh, ow).

    Output pixel (i, j) is the mean of rows [floor(i H/oh), ceil((i+1) H/oh)) and
    columns [floor(j W/ow), ceil((j+1) W/ow)), i.e. ``A_h x A_w^T`` with the constant
    averaging matrices of :func:`_adaptive_matrix`; built from matmuls, so every
    derivative order follows. ``output_size`` (1, 1) is the global average pool.
    """
    oh, ow = _pair(output_size)
    H, W = x.shape[2:]
    if (oh, ow) == (1, 1):
        return _mean(x, axis=(2, 3), keepdims=True)
    xp = backend.get_array_module(x.data)
    ah = Tensor(xp.asarray(_adaptive_matrix(H, oh, x.dtype)))
    aw = Tensor(xp.asarray(_adaptive_matrix(W, ow, x.dtype).T))
    y = matmul(x, aw)                                     # (N, C, H, ow)
    return transpose(matmul(transpose(y, (0, 1, 3, 2)), transpose(ah)), (0, 1, 3, 2))


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


def upsample_bilinear(x):
    """Bilinear upsampling by 2: (N, C, H, W) -> (N, C, 2H, 2W), as PyTorch's
    ``mode='bilinear', align_corners=False`` (half-pixel centres, edges clamped).

    For a factor of 2 that is nearest-neighbour upsampling followed by the binomial
    filter [1, 2, 1] (x) [1, 2, 1] / 16 per channel: output 2i + 1 gets 3/4 x_i + 1/4
    x_{i+1}, as the interpolation at source coordinate i + 1/4 does. At the border the
    filter is renormalised over the taps inside the image, which is the clamping.
    Composed of :func:`upsample_nearest`, a depthwise :func:`conv2d` and a product, so
    every derivative order follows."""
    n, c, h, w = x.shape
    taps = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
    inside = np.pad(np.ones((2 * h, 2 * w)), 1)
    mass = sum(inside[i:i + 2 * h, j:j + 2 * w] * taps[i, j] for i in range(3) for j in range(3))
    xp = backend.get_backend()
    kernel = xp.asarray(np.broadcast_to(taps, (c, 1, 3, 3)).astype(x.dtype))
    y = conv2d(upsample_nearest(x, 2), kernel, None, 1, 1, groups=c)
    return y * xp.asarray((1.0 / mass).astype(x.dtype))


def sum_pool2d(x, s: int):
    """Sum over non-overlapping s x s blocks: (N, C, H s, W s) -> (N, C, H, W); the
    adjoint of :func:`upsample_nearest`."""
    return SumPool2d(int(s))(x)
