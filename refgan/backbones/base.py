"""What every backbone shares: the Keras-layer modules, stages, preprocessing.

A backbone is a :class:`KerasBackbone` (a :class:`~refgan.backbones.graph.KerasGraph`
with Keras' layer names, for Keras weight files) and offers

* ``forward(x)``: NCHW float32, preprocessed as the source model expects -> logits
  (no softmax) when the model has its classifier; a headless model (a ``_notop`` file)
  returns its pooled features;
* ``features(x)``: the penultimate vector (N, feature_dim);
* ``preprocess(images)``: images in [0, 1], NCHW RGB, any size -> the network's input
  (resized to ``input_size`` and normalised as the weight family expects);
* ``name``, ``family``, ``input_size``, ``feature_dim`` and ``blocks`` (the top-level
  stages in order, each a Module whose ``parameters()`` are its layers').
"""
from __future__ import annotations

import numpy as np

from refgan import backend, nn, ops
from refgan.autograd import Tensor
from refgan.backbones.graph import KerasGraph
from refgan.data.imops import resize
from refgan.nn.module import Module

#: ImageNet statistics of the RGB channels (torchvision, Keras EfficientNet).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Keras 'caffe' preprocessing: BGR channel means on the 0-255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


# ------------------------------------------------------------- Keras-layer modules
class _Activated:
    """A Keras layer's ``activation`` (a function, or None) applied after the layer it
    is mixed into, as Keras applies it inside the layer."""

    def __init__(self, *args, activation=None, **kw):
        super().__init__(*args, **kw)
        object.__setattr__(self, "activation", activation)

    def forward(self, x):
        y = super().forward(x)
        return y if self.activation is None else self.activation(y)


class ConvAct(_Activated, nn.Conv2d):
    """Keras Conv2D / DepthwiseConv2D with its ``activation``."""


class DenseAct(_Activated, nn.Linear):
    """Keras Dense with its ``activation`` (the classifier's softmax is left out: the
    backbones return logits)."""


class Normalization(Module):
    """Keras Normalization(axis=-1) after adapt: ``(x - mean) / max(sqrt(variance), 1e-7)``
    per channel; buffers ``mean``, ``variance`` (C,) and ``count`` (the samples adapt saw)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", np.zeros(channels, np.float32))
        self.register_buffer("variance", np.ones(channels, np.float32))
        self.register_buffer("count", np.zeros((), np.int64))

    def forward(self, x):
        xp = backend.get_array_module(x.data)
        mean = xp.asarray(self.mean, dtype=x.dtype).reshape(1, -1, 1, 1)
        inv = 1.0 / np.maximum(np.sqrt(backend.to_numpy(self.variance).astype(np.float64)),
                               1e-7)
        return (x - Tensor(mean)) * Tensor(xp.asarray(inv.astype(x.dtype)).reshape(1, -1, 1, 1))


class Rescaling(Module):
    """Keras Rescaling: ``x * scale + offset`` (scale a number or one per channel)."""

    def __init__(self, scale, offset=0.0):
        super().__init__()
        self.scale, self.offset = np.asarray(scale, np.float32), float(offset)

    def forward(self, x):
        scale = self.scale.reshape(1, -1, 1, 1) if self.scale.ndim else self.scale
        xp = backend.get_array_module(x.data)
        y = x * Tensor(xp.asarray(scale, dtype=x.dtype))
        return y + self.offset if self.offset else y


class Stage(Module):
    """A view on some of a backbone's layers (one top-level stage): its
    ``parameters()``, ``requires_grad_()``, ``train()``/``eval()`` act on them. Not a
    child of the backbone (the backbone's state dict is unchanged)."""

    def __init__(self, name: str, modules):
        super().__init__()
        object.__setattr__(self, "name", name)
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, *args):
        raise TypeError(f"stage {self.name!r} is a view for fine-tuning, not a callable "
                        "network: call the backbone")

    def extra_repr(self):
        return repr(self.name)


# ---------------------------------------------------------------- preprocessing
def _as_images(images) -> np.ndarray:
    data = images.numpy() if isinstance(images, Tensor) else np.asarray(images)
    if data.ndim != 4 or data.shape[1] != 3:
        raise ValueError(f"preprocess expects RGB images (N, 3, H, W), got shape {data.shape}")
    return data.astype(np.float32)


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of PyTorch's ``F.interpolate(mode='bilinear',
    align_corners=False)`` along one axis (no antialiasing when shrinking): output i
    samples the input at max((i + 0.5) n_in / n_out - 0.5, 0), linearly between the two
    nearest pixels (the last pixel repeated past the edge)."""
    m = np.zeros((n_out, n_in), np.float64)
    f32 = np.float32
    scale = f32(n_in) / f32(n_out)  # in float32 as PyTorch computes the source positions
    for i in range(n_out):
        src = max(scale * (f32(i) + f32(0.5)) - f32(0.5), f32(0.0))
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        w = float(src - f32(i0))
        m[i, i0] += 1.0 - w
        m[i, i1] += w
    return m.astype(np.float32)


def bilinear_resize(x: np.ndarray, size: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, size, size) with :func:`bilinear_matrix` on each axis."""
    h, w = x.shape[2:]
    y = np.matmul(bilinear_matrix(h, size), x)
    return np.matmul(y, bilinear_matrix(w, size).T)


def preprocess_images(images, size: int, mode: str) -> Tensor:
    """Images in [0, 1] (N, 3, H, W) RGB -> (N, 3, size, size) float32 network input.

    The resize is refgan's (area averaging down, bilinear up: ``refgan.data.imops``).
    ``mode``: 'torch' ((x - ImageNet mean) / std), 'caffe' (0-255, RGB -> BGR, minus the
    BGR means), 'tf' (2x - 1), 'raw255' (255 x; Keras EfficientNet normalises inside
    the model), 'fid' (bilinear resize, 2x - 1: pytorch-fid)."""
    x = _as_images(images)
    if mode == "fid":
        x = bilinear_resize(x, size)
    elif x.shape[2:] != (size, size):
        x = resize(x, size)
    if mode == "torch":
        x = (x - np.array(IMAGENET_MEAN, np.float32)[:, None, None]) / np.array(
            IMAGENET_STD, np.float32)[:, None, None]
    elif mode == "caffe":
        x = x[:, ::-1] * 255.0 - np.array(CAFFE_MEAN_BGR, np.float32)[:, None, None]
    elif mode in ("tf", "fid"):
        x = 2.0 * x - 1.0
    elif mode == "raw255":
        x = x * 255.0
    else:
        raise ValueError(f"unknown preprocessing mode {mode!r}")
    return Tensor(backend.get_backend().asarray(np.ascontiguousarray(x, dtype=np.float32)))


# -------------------------------------------------------------------- the model
class KerasBackbone(KerasGraph):
    """A keras.applications network as a :class:`KerasGraph` (Keras layer names)."""

    family = "keras"

    def __init__(self, name: str, input_size: int, feature_dim: int, preprocessing: str,
                 include_top: bool):
        super().__init__()
        for key, value in dict(name=name, input_size=input_size, feature_dim=feature_dim,
                               preprocessing=preprocessing, include_top=include_top,
                               feature_node=None, _stages=[], _stage_of={}).items():
            object.__setattr__(self, key, value)

    # ---- building
    def stage(self, name: str) -> None:
        """Layers added from now on belong to stage ``name``."""
        self._stages.append(name)

    def add(self, keras_class, fn, inputs, name=None):
        node = super().add(keras_class, fn, inputs, name)
        if isinstance(fn, Module) and fn.num_parameters():
            self._stage_of[node] = self._stages[-1]
        return node

    def mark_features(self) -> None:
        """The current output is the penultimate vector."""
        object.__setattr__(self, "feature_node", self.output)

    # ---- the API
    @property
    def blocks(self) -> list:
        mods = {s: [] for s in self._stages}
        for node, s in self._stage_of.items():
            mods[s].append(self.node(node).fn)
        return [Stage(s, mods[s]) for s in self._stages if mods[s]]

    def features(self, x):
        """(N, feature_dim): the penultimate vector (see the package docstring)."""
        return self.run(x, until=self.feature_node)

    def preprocess(self, images) -> Tensor:
        return preprocess_images(images, self.input_size, self.preprocessing)

    def num_weights(self) -> int:
        """Parameters plus statistics (Keras' ``count_params()`` counts both)."""
        return int(sum(np.size(v) for k, v in self.state_dict().items()
                       if not k.endswith("num_batches_tracked")))


def relu(x):
    return ops.relu(x)


def silu(x):
    return ops.silu(x)


def sigmoid(x):
    return ops.sigmoid(x)


class TorchBackbone(Module):
    """A torchvision network: children and state-dict keys are torchvision's, so a
    torchvision state dict (as safetensors) loads by name. Subclasses set ``stages``
    (``[(stage name, [child names])]``) and implement ``forward_features`` (input ->
    penultimate vector) and ``head`` (penultimate vector -> logits)."""

    family = "torchvision"

    def __init__(self, name: str, input_size: int, feature_dim: int, preprocessing: str):
        super().__init__()
        for key, value in dict(name=name, input_size=input_size, feature_dim=feature_dim,
                               preprocessing=preprocessing, include_top=True,
                               stages=[]).items():
            object.__setattr__(self, key, value)

    def forward(self, x):
        return self.head(self.features(x))

    def features(self, x):
        """(N, feature_dim): the penultimate vector."""
        return self.forward_features(x)

    @property
    def blocks(self) -> list:
        out = []
        for stage, children in self.stages:
            mods = [self._child(c) for c in children]
            out.append(Stage(stage, [m for m in mods if m.num_parameters()]))
        return [b for b in out if b.num_parameters()]

    def _child(self, dotted):
        m = self
        for part in dotted.split("."):
            m = m._modules[part]
        return m

    def preprocess(self, images) -> Tensor:
        return preprocess_images(images, self.input_size, self.preprocessing)

    def num_weights(self) -> int:
        """Parameters plus batch-norm statistics (the counters excluded)."""
        return int(sum(np.size(v) for k, v in self.state_dict().items()
                       if not k.endswith("num_batches_tracked")))


def conv_bn(cin, cout, k, stride=1, padding=0, eps=1e-5, groups=1):
    """torchvision's conv (no bias) + batch norm pair, children '0' and '1'
    (Conv2dNormActivation without its activation, which is applied by the caller)."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False,
                                   groups=groups),
                         nn.BatchNorm2d(cout, eps=eps))
