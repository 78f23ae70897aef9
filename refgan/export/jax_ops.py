"""The one table that maps every refgan op to its JAX twin.

A twin is ``twin(fn, *arrays) -> array or tuple of arrays``: ``fn`` is the refgan
:class:`~refgan.autograd.Function` instance (it carries the op's attributes: stride,
pads, dilation, out_size, slope, axis, shape, index, eps, p ...) and ``arrays`` are its
inputs as JAX arrays (or tracers). A twin computes what ``fn.forward`` computes, with
``jax.numpy`` / ``jax.lax``, and never writes into its inputs. Twins define forwards
only: under ``jax.grad`` JAX differentiates them itself, which is what makes JAX an
independent oracle for refgan's hand-written backwards.

Adding an op to refgan means adding one entry here; ``tests/test_jax_ops.py`` fails
for any ``Function`` subclass in ``refgan.ops`` that has no twin
(:func:`refgan_ops` lists them).

Two twins do more than compute:

* ``BatchNormTrain`` also sets ``fn.mean`` and ``fn.invstd`` (as JAX values), because
  ``refgan.ops.batch_norm`` updates the running statistics from them;
* ``Dropout`` takes its uniform noise ``u`` from the active :class:`Noise` (a PRNG key,
  or the exact arrays refgan drew, so both engines can drop the same units).

Matrix products and convolutions run at ``lax.Precision.HIGHEST``: on GPU (TF32) and
TPU (bfloat16 passes) the default precision would break float32 agreement with refgan.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import pkgutil

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import refgan.ops
from refgan.autograd import Function
from refgan.ops import conv, math, norm, reduce, shape

PRECISION = lax.Precision.HIGHEST

TWINS: dict[type, object] = {}


def twin(*op_types):
    """Register the decorated function as the JAX twin of ``op_types``."""
    def register(f):
        for t in op_types:
            if t in TWINS:
                raise ValueError(f"{t.__name__} already has a JAX twin")
            TWINS[t] = f
        return f
    return register


def refgan_ops() -> list[type]:
    """Every concrete ``Function`` subclass defined in a ``refgan.ops`` module."""
    pkg = refgan.ops
    found = []
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if (issubclass(cls, Function) and cls.__module__ == mod.__name__
                    and cls.forward is not Function.forward):
                found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


# ----------------------------------------------------------------------- noise
class Noise:
    """Where train-mode dropout gets its uniform noise ``u`` (kept where ``u >= p``).

    ``source`` is one of

    * a JAX PRNG key: the i-th dropout call of a forward draws
      ``jax.random.uniform(fold_in(key, i), shape, dtype)``;
    * a sequence of arrays: the i-th dropout call uses ``source[i]`` -- pass the
      arrays refgan drew (``refgan.random.uniform``) to reproduce its masks exactly;
    * None: a train-mode dropout is an error.
    """

    def __init__(self, source):
        self.source, self.calls = source, 0

    def uniform(self, shape, dtype):
        i, self.calls = self.calls, self.calls + 1
        if self.source is None:
            raise ValueError("dropout in training mode needs rng= (a PRNG key or the "
                             "dropout noise arrays)")
        if isinstance(self.source, (list, tuple)):
            if i >= len(self.source):
                raise ValueError(f"dropout call {i + 1} but only {len(self.source)} noise "
                                 "arrays were given")
            u = jnp.asarray(self.source[i])
            if u.shape != tuple(shape):
                raise ValueError(f"dropout call {i + 1}: noise shape {u.shape}, input "
                                 f"shape {tuple(shape)}")
            return u.astype(dtype)
        return jax.random.uniform(jax.random.fold_in(self.source, i), shape, dtype)


_noise_stack: list[Noise] = []


@contextlib.contextmanager
def using_noise(noise: Noise):
    _noise_stack.append(noise)
    try:
        yield noise
    finally:
        _noise_stack.pop()


def _noise() -> Noise:
    return _noise_stack[-1] if _noise_stack else Noise(None)


# ------------------------------------------------------------------ math.py
@twin(math.Add)
def _add(fn, a, b):
    return a + b


@twin(math.Sub)
def _sub(fn, a, b):
    return a - b


@twin(math.Mul)
def _mul(fn, a, b):
    return a * b


@twin(math.Div)
def _div(fn, a, b):
    return a / b


@twin(math.Neg)
def _neg(fn, a):
    return -a


@twin(math.PowScalar)
def _pow_scalar(fn, x):
    c = fn.c
    # an integral exponent becomes lax.integer_pow (exact, differentiable for x <= 0)
    return x ** (int(c) if float(c).is_integer() else c)


@twin(math.Pow)
def _pow(fn, a, b):
    return a ** b


@twin(math.Exp)
def _exp(fn, x):
    return jnp.exp(x)


@twin(math.Log)
def _log(fn, x):
    return jnp.log(x)


@twin(math.Sqrt)
def _sqrt(fn, x):
    return jnp.sqrt(x)


@twin(math.Abs)
def _abs(fn, x):
    return jnp.abs(x)


@twin(math.Tanh)
def _tanh(fn, x):
    return jnp.tanh(x)


@twin(math.Sigmoid)
def _sigmoid(fn, x):
    return jax.nn.sigmoid(x)


@twin(math.Softplus)
def _softplus(fn, x):
    return jnp.logaddexp(x, jnp.zeros((), x.dtype))


@twin(math.ReLU)
def _relu(fn, x):
    return jax.nn.relu(x)


@twin(math.LeakyReLU)
def _leaky_relu(fn, x):
    return jnp.where(x > 0, x, x * jnp.asarray(fn.slope, x.dtype))


@twin(math.LeakyReLUGrad)
def _leaky_relu_grad(fn, gy):
    return jnp.where(jnp.asarray(fn.x) > 0, gy, gy * jnp.asarray(fn.slope, gy.dtype))


@twin(math.AsType)
def _astype(fn, x):
    fn.src = x.dtype
    return x.astype(fn.dtype)


# ----------------------------------------------------------------- shape.py
@twin(shape.Reshape)
def _reshape(fn, x):
    fn.in_shape = x.shape
    return jnp.reshape(x, fn.shape)


@twin(shape.Transpose)
def _transpose(fn, x):
    return jnp.transpose(x, fn.axes)


@twin(shape.BroadcastTo)
def _broadcast_to(fn, x):
    fn.in_shape = x.shape
    return jnp.broadcast_to(x, fn.shape)


@twin(shape.SumTo)
def _sum_to(fn, x):
    fn.in_shape = x.shape
    lead = x.ndim - len(fn.shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(fn.shape) if n == 1 and x.shape[lead + i] != 1)
    return jnp.reshape(jnp.sum(x, axis=axes, keepdims=True), fn.shape)


@twin(shape.Concat)
def _concat(fn, *xs):
    fn.sizes = [x.shape[fn.axis] for x in xs]
    return jnp.concatenate(xs, axis=fn.axis)


@twin(shape.Split)
def _split(fn, x):
    return tuple(jnp.split(x, np.cumsum(fn.sizes)[:-1], axis=fn.axis))


@twin(shape.GetItem)
def _getitem(fn, x):
    fn.in_shape = x.shape
    return x[fn.index]


@twin(shape.GetItemGrad)
def _getitem_grad(fn, gy):
    return jnp.zeros(fn.in_shape, gy.dtype).at[fn.index].add(gy)  # repeated indices add


# ---------------------------------------------------------------- reduce.py
@twin(reduce.Sum)
def _sum(fn, x):
    fn.in_shape = x.shape
    return jnp.sum(x, axis=fn.axis, keepdims=fn.keepdims)


@twin(reduce.Max)
def _max(fn, x):
    return jnp.max(x, axis=fn.axis, keepdims=fn.keepdims)


@twin(reduce.LogSumExp)
def _logsumexp(fn, x):
    m = lax.stop_gradient(jnp.max(x, axis=fn.axis, keepdims=True))
    return m + jnp.log(jnp.sum(jnp.exp(x - m), axis=fn.axis, keepdims=True))


@twin(reduce.MatMul)
def _matmul(fn, a, b):
    return jnp.matmul(a, b, precision=PRECISION)


# ------------------------------------------------------------------ conv.py
_NCHW = ("NCHW", "OIHW", "NCHW")


# How Conv2d's twin convolves: "xla" (lax.conv_general_dilated: cuDNN on GPU, the MXU
# on TPU), "gemm" (im2col + one matmul, as refgan does), or "auto": gemm on CPU, xla
# elsewhere. On CPU, XLA runs the dilated convolutions that autodiff makes of a
# strided conv (and the penalty's second order makes more) on a slow generic path;
# the GEMM form differentiates into pads and matmuls: a WGAN-GP step at the cpu
# preset took 0.67 s instead of 4 s. Both are tested against each other.
CONV_IMPL = "auto"


def _conv(x, W, stride, pads, dilation):
    """refgan's Conv2d (no bias): x (N,C,H,W), W (O,C,kh,kw), pads (top,bottom,left,right)."""
    impl = CONV_IMPL
    if impl == "auto":
        impl = "gemm" if jax.default_backend() == "cpu" else "xla"
    if impl == "gemm":
        N, O = x.shape[0], W.shape[0]
        cols, (OH, OW) = _im2col(x, W.shape[2:], stride, pads, dilation)
        y = jnp.matmul(jnp.reshape(W, (O, -1)), cols, precision=PRECISION)
        return jnp.reshape(y, (N, O, OH, OW))
    return lax.conv_general_dilated(
        x, W, window_strides=stride, padding=((pads[0], pads[1]), (pads[2], pads[3])),
        rhs_dilation=dilation, dimension_numbers=_NCHW, precision=PRECISION)


def _conv_transpose(x, W, stride, pads, dilation, out_size):
    """The adjoint of ``_conv`` in its input, W (Cin,Cout,kh,kw) -> (N,Cout,*out_size).

    The textbook construction: dilate x by the stride, pad by d*(k-1) - pad_lo on the
    low side (the high side is whatever makes the output ``out_size``; negative pads
    crop), and correlate with the spatially flipped, in/out-swapped kernel."""
    kh, kw = W.shape[2:]
    pad = []
    for n, o, s, lo, d, k in zip(x.shape[2:], out_size, stride, pads[0::2], dilation,
                                 (kh, kw)):
        pad.append((d * (k - 1) - lo, o - (n - 1) * s - 1 + lo))
    return lax.conv_general_dilated(
        x, W[:, :, ::-1, ::-1], window_strides=(1, 1), padding=pad, lhs_dilation=stride,
        rhs_dilation=dilation, dimension_numbers=("NCHW", "IOHW", "NCHW"),
        precision=PRECISION)


def _conv_grad_w(x, gy, w_shape, stride, pads, dilation):
    """gW[o,c,i,j] = sum_{n,p,q} gy[n,o,p,q] xpad[n,c,p*s+i*d,q*s+j*d]: a convolution of
    x with gy in which the batch axis is contracted (x's N is the feature axis, its C
    the batch axis), the conv's stride becomes the kernel dilation and its dilation
    the stride. A stride that skips the last rows gives extra taps: cut to (kh, kw)."""
    kh, kw = w_shape[2:]
    gw = lax.conv_general_dilated(
        x, gy, window_strides=dilation, padding=((pads[0], pads[1]), (pads[2], pads[3])),
        rhs_dilation=stride, dimension_numbers=("CNHW", "IOHW", "CNHW"),
        precision=PRECISION)
    return gw[:, :, :kh, :kw]


def _bias(y, b):
    return y if b is None else y + jnp.reshape(b, (1, -1, 1, 1))


def _grouped(f, groups, a, b, out_axis, b_axis):
    """f(a_k, b_k) over ``groups`` consecutive channel blocks (refgan's grouped conv:
    ``a`` cut along axis 1, ``b`` along ``b_axis``), joined along ``out_axis``."""
    if groups == 1:
        return f(a, b)
    na, nb = a.shape[1] // groups, b.shape[b_axis] // groups
    parts = [f(a[:, k * na:(k + 1) * na],
               b[:, k * nb:(k + 1) * nb] if b_axis == 1 else b[k * nb:(k + 1) * nb])
             for k in range(groups)]
    return jnp.concatenate(parts, axis=out_axis)


@twin(conv.Conv2d)
def _conv2d(fn, x, W, b=None):
    return _bias(_grouped(lambda xk, wk: _conv(xk, wk, fn.stride, fn.pads, fn.dilation),
                          fn.groups, x, W, 1, 0), b)


@twin(conv.ConvTranspose2d)
def _conv_transpose2d(fn, x, W, b=None):
    return _bias(_grouped(lambda xk, wk: _conv_transpose(xk, wk, fn.stride, fn.pads,
                                                         fn.dilation, fn.out_size),
                          fn.groups, x, W, 1, 0), b)


@twin(conv.Conv2dGradW)
def _conv2d_grad_w(fn, x, gy):
    g = fn.groups
    shape_k = (fn.w_shape[0] // g,) + tuple(fn.w_shape[1:])
    return _grouped(lambda xk, gk: _conv_grad_w(xk, gk, shape_k, fn.stride, fn.pads,
                                                fn.dilation), g, x, gy, 0, 1)


@twin(conv.Pad2d)
def _pad2d(fn, x):
    t, b, l, r = fn.pads
    widths = ((0, 0),) * (x.ndim - 2) + ((t, b), (l, r))
    return jnp.pad(x, widths, constant_values=jnp.asarray(fn.value, x.dtype))


def _taps(H, W, k_hw, stride, pads, dilation):
    """(OH, OW) and, per kernel tap (i, j), the strided slice of the padded image."""
    (kh, kw), (sh, sw), (dh, dw) = k_hw, stride, dilation
    top, bottom, left, right = pads
    OH = (H + top + bottom - dh * (kh - 1) - 1) // sh + 1
    OW = (W + left + right - dw * (kw - 1) - 1) // sw + 1
    taps = [(i, j, (slice(None), slice(None), slice(i * dh, i * dh + sh * (OH - 1) + 1, sh),
                    slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)))
            for i in range(kh) for j in range(kw)]
    return OH, OW, taps


def _im2col(x, k_hw, stride, pads, dilation):
    """cols[n, c*kh*kw + i*kw + j, oh*OW + ow] = xpad[n, c, oh*sh+i*dh, ow*sw+j*dw]:
    one strided slice per kernel tap. Returns (cols, (OH, OW))."""
    N, C, H, W = x.shape
    top, bottom, left, right = pads
    OH, OW, taps = _taps(H, W, tuple(k_hw), stride, pads, dilation)
    xpad = jnp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    cols = jnp.stack([xpad[sl] for _, _, sl in taps], axis=2)  # (N, C, kh*kw, OH, OW)
    return jnp.reshape(cols, (N, C * len(taps), OH * OW)), (OH, OW)


@twin(conv.Unfold)
def _unfold(fn, x):
    fn.in_shape = x.shape
    return _im2col(x, fn.k_hw, fn.stride, fn.pads, fn.dilation)[0]


@twin(conv.Fold)
def _fold(fn, cols):
    """col2im, the adjoint of im2col: overlapping taps add up."""
    N, C, H, W = fn.x_shape
    top, bottom, left, right = fn.pads
    OH, OW, taps = _taps(H, W, fn.k_hw, fn.stride, fn.pads, fn.dilation)
    cols = jnp.reshape(cols, (N, C, len(taps), OH, OW))
    xpad = jnp.zeros((N, C, H + top + bottom, W + left + right), cols.dtype)
    for t, (_, _, sl) in enumerate(taps):
        xpad = xpad.at[sl].add(cols[:, :, t])
    return xpad[:, :, top:top + H, left:left + W]


@twin(conv.UpsampleNearest)
def _upsample_nearest(fn, x):
    return jnp.repeat(jnp.repeat(x, fn.s, axis=2), fn.s, axis=3)


@twin(conv.SumPool2d)
def _sum_pool2d(fn, x):
    N, C, Hs, Ws = x.shape
    s = fn.s
    return jnp.sum(jnp.reshape(x, (N, C, Hs // s, s, Ws // s, s)), axis=(3, 5))


# ------------------------------------------------------------------ norm.py
@twin(norm.BatchNormTrain)
def _batch_norm_train(fn, x, gamma, beta):
    """Batch statistics over every axis but 1 (two-pass variance, as the kernels)."""
    axes = (0,) + tuple(range(2, x.ndim))
    cshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean = jnp.mean(x, axis=axes)
    xc = x - jnp.reshape(mean, cshape)
    invstd = 1 / jnp.sqrt(jnp.mean(xc * xc, axis=axes) + jnp.asarray(fn.eps, x.dtype))
    fn.mean, fn.invstd = mean, invstd  # ops.batch_norm updates running stats from these
    return xc * jnp.reshape(invstd, cshape) * jnp.reshape(gamma, cshape) + jnp.reshape(
        beta, cshape)


@twin(norm.DropoutGrad)
def _dropout_grad(fn, gy):
    keep = jnp.asarray(fn.u) >= jnp.asarray(fn.p, jnp.asarray(fn.u).dtype)
    return jnp.where(keep, gy * jnp.asarray(1 / (1 - fn.p), gy.dtype), jnp.zeros((), gy.dtype))


@twin(norm.Dropout)
def _dropout(fn, x):
    fn.u = _noise().uniform(x.shape, x.dtype)
    keep = fn.u >= jnp.asarray(fn.p, fn.u.dtype)
    return jnp.where(keep, x * jnp.asarray(1 / (1 - fn.p), x.dtype), jnp.zeros((), x.dtype))
