"""Layers with PyTorch's names, arguments, parameter names and weight layouts."""
from __future__ import annotations

import numpy as np

from refgan import backend, ops
from refgan.nn import init
from refgan.nn.module import Module, Parameter


def _empty(shape, dtype=np.float32):
    return Parameter(backend.xp().zeros(shape, dtype=dtype))


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


class Linear(Module):
    """y = x W^T + b; weight (out_features, in_features)."""

    dcgan_rule = "weight"  # see init.dcgan_

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty((out_features, in_features))
        self.bias = _empty((out_features,)) if bias else None
        init.default_(self.weight, self.bias)

    def forward(self, x):
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution; weight (out, in / groups, kh, kw). ``padding`` may be 'same' (TF
    rule: output ceil(H / stride), valid for any stride), 'valid', an int, a pair or
    (top, bottom, left, right). ``groups`` = in_channels is a depthwise convolution."""

    dcgan_rule = "weight"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, groups: int = 1):
        super().__init__()
        kh, kw = _pair(kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.dilation, self.groups = dilation, groups
        self.weight = _empty((out_channels, in_channels // groups, kh, kw))
        self.bias = _empty((out_channels,)) if bias else None
        init.default_(self.weight, self.bias)

    def forward(self, x):
        return ops.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                          self.dilation, self.groups)

    def extra_repr(self):
        groups = f", groups={self.groups}" if self.groups != 1 else ""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}{groups}")


class ConvTranspose2d(Module):
    """Transposed convolution; weight (in, out, kh, kw) as in PyTorch."""

    dcgan_rule = "weight"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, dilation=1, bias: bool = True):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.output_padding, self.dilation = output_padding, dilation
        self.weight = _empty((in_channels, out_channels, kh, kw))
        self.bias = _empty((out_channels,)) if bias else None
        init.default_(self.weight, self.bias)

    def forward(self, x):
        return ops.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                    self.output_padding, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class _BatchNorm(Module):
    """Batch norm over axis 1 with running statistics (PyTorch's buffers and momentum:
    running = (1 - momentum) * running + momentum * batch statistic).

    ``scale=False`` drops the weight (gamma fixed at 1), as Keras'
    BatchNormalization(scale=False) that InceptionV3 uses."""

    expected_ndim: tuple = ()
    dcgan_rule = "batch_norm"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 scale: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        xp = backend.xp()
        self.weight = Parameter(xp.ones(num_features, dtype=np.float32)) if scale else None
        self.bias = Parameter(xp.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_mean", xp.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_var", xp.ones(num_features, dtype=np.float32))
        self.register_buffer("num_batches_tracked", xp.zeros((), dtype=np.int64))

    def forward(self, x):
        if x.ndim not in self.expected_ndim:
            raise ValueError(f"{type(self).__name__} expects {self.expected_ndim[0]}-D input, "
                             f"got shape {x.shape}")
        weight = self.weight
        if weight is None:  # scale=False: a constant gamma of ones
            weight = backend.get_array_module(x.data).ones(self.num_features, x.dtype)
        y, rm, rv = ops.batch_norm(x, self.running_mean, self.running_var, weight,
                                   self.bias, self.training, self.momentum, self.eps)
        if self.training:
            self.running_mean, self.running_var = rm.astype(x.dtype), rv.astype(x.dtype)
            self.num_batches_tracked = self.num_batches_tracked + 1
        return y

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    expected_ndim = (2,)


class BatchNorm2d(_BatchNorm):
    expected_ndim = (4,)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ReLU(Module):
    def forward(self, x):
        return ops.relu(x)


class SiLU(Module):
    """y = x sigmoid(x) (swish)."""

    def forward(self, x):
        return ops.silu(x)


class Tanh(Module):
    def forward(self, x):
        return ops.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return ops.sigmoid(x)


class Softplus(Module):
    def forward(self, x):
        return ops.softplus(x)


class Identity(Module):
    def forward(self, x):
        return x


class Dropout(Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return ops.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class MinibatchStd(Module):
    """Minibatch standard deviation (Karras et al. 2018, ProGAN section 3): one extra
    feature map telling the critic how varied the batch is.

    The batch (N, C, H, W) is cut into groups of ``g`` consecutive samples, ``g`` the
    largest divisor of N up to ``group_size``. Within a group j

        s_j = mean over (c, h, w) of sqrt(Var_group(x[., c, h, w]) + 1e-8)

    (biased variance), and every sample of group j gets s_j as channel C + 1 of every
    pixel: the output is (N, C + 1, H, W). A critic that sees s can score a batch of
    too-similar samples lower, which per-sample features cannot do: an image at the
    mode of the real distribution is a plausible image, a batch of them is not.

    Built from differentiable ops, so the gradient penalty's second derivative goes
    through it; the penalty's per-sample gradient then also carries the (small)
    terms coupling the samples of a group, as in ProGAN, which trained WGAN-GP so.
    Those terms are the cost: a cpu-preset WGAN-GP step takes 20% longer with the
    feature at 32x32 and 14% at 64x64 (one thread, interleaved repeats), mostly ~200
    more small ops per step in the penalty's double backward, and two more conv
    input-gradient and two more weight-gradient kernels per step (the square root's
    curvature reaches the earlier layers).
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        self.group_size = int(group_size)

    def group(self, n: int) -> int:
        """Samples per group for a batch of ``n``: the largest divisor of n <= group_size."""
        return max(g for g in range(1, min(self.group_size, n) + 1) if n % g == 0)

    def forward(self, x):
        n, c, h, w = x.shape
        g = self.group(n)
        y = ops.reshape(x, (n // g, g, c, h, w))
        centred = y - ops.mean(y, axis=1, keepdims=True)
        std = ops.sqrt(ops.mean(centred * centred, axis=1) + 1e-8)      # (n/g, c, h, w)
        s = ops.mean(std, axis=(1, 2, 3), keepdims=True)                 # (n/g, 1, 1, 1)
        plane = ops.reshape(ops.broadcast_to(ops.expand_dims(s, 1), (n // g, g, 1, h, w)),
                            (n, 1, h, w))
        return ops.concat([x, plane], axis=1)

    def extra_repr(self):
        return f"group_size={self.group_size}"


class Upsample(Module):
    """Upsampling by an integer factor: ``'nearest'`` (Keras UpSampling2D), or
    ``'bilinear'`` by 2 (PyTorch's ``align_corners=False``, :func:`refgan.ops.upsample_bilinear`)."""

    def __init__(self, scale_factor: int = 2, mode: str = "nearest"):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        if mode == "bilinear" and int(scale_factor) != 2:
            raise ValueError(f"bilinear upsampling is implemented for a factor of 2, got {scale_factor}")
        self.scale_factor, self.mode = int(scale_factor), mode

    def forward(self, x):
        if self.mode == "bilinear":
            return ops.upsample_bilinear(x)
        return ops.upsample_nearest(x, self.scale_factor)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"


class MaxPool2d(Module):
    """Max pooling; padded pixels are -inf (``padding`` as :func:`refgan.ops.max_pool2d`)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return ops.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"{self.kernel_size}, stride={self.stride}, padding={self.padding!r}"


class AvgPool2d(Module):
    """Average pooling; ``count_include_pad=False`` divides by the taps inside the image
    (Keras AveragePooling2D(padding='same') is ``padding='same',
    count_include_pad=False``)."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return ops.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                              self.count_include_pad)

    def extra_repr(self):
        return (f"{self.kernel_size}, stride={self.stride}, padding={self.padding!r}, "
                f"count_include_pad={self.count_include_pad}")


class AdaptiveAvgPool2d(Module):
    """Average over PyTorch's adaptive bins to ``output_size`` (1: global average)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return ops.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class ZeroPad2d(Module):
    """Zero padding of the last two axes by ``padding``: an int, (ph, pw) or (top,
    bottom, left, right) (Keras ZeroPadding2D(((top, bottom), (left, right))))."""

    def __init__(self, padding):
        super().__init__()
        self.padding = padding

    def forward(self, x):
        return ops.pad2d(x, self.padding)

    def extra_repr(self):
        return f"{self.padding!r}"


class SqueezeExcite(Module):
    """Squeeze-and-excitation (Hu et al. 2018), as in EfficientNet:

        s = mean_{h,w} x                      (N, C, 1, 1)
        e = gate(fc2(act(fc1(s))))            fc1: C -> R, fc2: R -> C (1x1 convs + bias)
        y = x * e

    ``act`` SiLU and ``gate`` sigmoid by default; the children are named ``fc1`` and
    ``fc2`` (torchvision's SqueezeExcitation)."""

    def __init__(self, channels: int, reduced: int, activation=None, gate=None):
        super().__init__()
        self.fc1 = Conv2d(channels, reduced, 1)
        self.fc2 = Conv2d(reduced, channels, 1)
        self.activation = activation if activation is not None else SiLU()
        self.gate = gate if gate is not None else Sigmoid()

    def forward(self, x):
        s = ops.mean(x, axis=(2, 3), keepdims=True)
        return x * self.gate(self.fc2(self.activation(self.fc1(s))))


class Flatten(Module):
    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim)


class Unflatten(Module):
    """Reshape axis 1 into ``shape`` (the generator's Dense -> (C, 4, 4) step)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return ops.reshape(x, (x.shape[0],) + self.shape)

    def extra_repr(self):
        return f"{self.shape}"


class Embedding(Module):
    """Lookup table: integer indices (...) -> rows of weight (num_embeddings, dim)."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = _empty((num_embeddings, embedding_dim))
        init.normal_(self.weight, 0.0, 1.0)

    def forward(self, indices):
        idx = indices.data if hasattr(indices, "data") else indices
        idx = backend.get_backend().asarray(idx).astype(np.int64)
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= self.num_embeddings):
            raise IndexError(f"embedding index out of range [0, {self.num_embeddings})")
        return ops.getitem(self.weight, idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Sequential(Module):
    """Modules applied in order; children named '0', '1', ... as in PyTorch."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)
