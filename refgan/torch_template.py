"""PyTorch versions of networks exported by refgan (``refgan export RUN_DIR --to torch``).

Needs only torch (and numpy, which torch brings along). Next to this file::

    manifest.json             each network's architecture, input shape and kind
    <model>.<net>.safetensors its weights, PyTorch names (``project.0.weight`` ...)

Use::

    import refgan_torch
    refgan_torch.names()                      # ['blast.D', 'blast.G', 'healthy.D', ...]
    G = refgan_torch.load("healthy.G")        # torch.nn.Module in eval mode
    images = G(torch.randn(16, G.in_dim))     # (16, 3, S, S) in [-1, 1]
    score = refgan_torch.load("healthy.D")(images)

A generator of a run trained with ``--appearance white|stain[-peak][-noise]`` draws cells with their
appearance (white point, stain strength) taken off; ``load`` returns it followed by
``WithAppearance``, which puts on each image the appearance refgan draws for its row of
z (``appearance.py`` beside this file, numpy), so ``G(z)`` is what ``refgan generate``
draws for the same z.

Layers are torch's own, with refgan's layouts (they are PyTorch's). One difference
needs care: refgan's ``padding='same'`` follows TensorFlow, which puts the odd extra
row and column of padding at the bottom and right (a 5x5 stride-2 convolution of an
even-sized image pads (top, bottom) = (1, 2)); torch's ``padding=2`` would pad (2, 2)
and shift every output. ``Conv2d`` below pads explicitly with ``F.pad``.

Weights are read from the safetensors format (an 8-byte little-endian header length,
a JSON header of dtype, shape and byte offsets, then the raw little-endian buffers)
without the ``safetensors`` package, and never with pickle.
"""
from __future__ import annotations

import importlib.util
import json
import math
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}


# This file runs where refgan is not installed, so it carries its own copy of
# refgan.safetensors.safetensors_header (tests/test_export_safetensors_hostile.py keeps
# the two identical).
def safetensors_header(raw: bytes, path, itemsizes: dict) -> tuple[dict, int]:
    """The checked JSON header of a .safetensors file's bytes and where its data start.

    A hostile or damaged file (short, a header length past the end, not UTF-8 JSON,
    an entry without dtype / shape / data_offsets, an unknown dtype, offsets outside
    the data or not matching the shape) raises ValueError naming the file and the fault."""
    def bad(why):
        return ValueError(f"{path} is not a valid safetensors file: {why}")

    if len(raw) < 8:
        raise bad(f"{len(raw)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise bad(f"its header length {n} runs past the end of the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise bad(f"its header is not UTF-8 JSON ({err})") from None
    if not isinstance(header, dict):
        raise bad(f"its header is a JSON {type(header).__name__}, not an object")
    size = len(raw) - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise bad("__metadata__ is not an object")
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise bad(f"entry {name!r} lacks dtype, shape or data_offsets")
        shape, offsets = info["shape"], info["data_offsets"]
        if info["dtype"] not in itemsizes:
            raise bad(f"entry {name!r} has dtype {info['dtype']!r}; known: {', '.join(itemsizes)}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise bad(f"entry {name!r} has shape {shape!r}, not a list of sizes")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= size):
            raise bad(f"entry {name!r} has data_offsets {offsets!r} outside the {size} data bytes")
        count = 1
        for d in shape:
            count *= d
        if offsets[1] - offsets[0] != count * itemsizes[info["dtype"]]:
            raise bad(f"entry {name!r}: {offsets[1] - offsets[0]} bytes for shape {shape} of "
                      f"{info['dtype']}")
    return header, 8 + n


def read_safetensors(path) -> dict:
    """{name: tensor} of a .safetensors file (ValueError for a damaged or hostile one)."""
    raw = Path(path).read_bytes()
    header, start = safetensors_header(raw, path, {k: v.itemsize for k, v in DTYPES.items()})
    body = raw[start:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        flat = (torch.frombuffer(bytearray(body[begin:end]), dtype=dtype) if end > begin
                else torch.empty(0, dtype=dtype))
        out[name] = flat.reshape(info["shape"])
    return out


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` with refgan's paddings: int, (ph, pw), (top, bottom, left, right),
    'valid' or 'same' (TensorFlow's rule: output ceil(H / stride), the odd extra row
    and column at the bottom and right)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, bias):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, bias=bias)
        self.refgan_padding = padding

    def pads(self, h: int, w: int) -> tuple:
        """(left, right, top, bottom) for ``F.pad``."""
        p = self.refgan_padding
        if p == "valid":
            return (0, 0, 0, 0)
        if p == "same":
            out = []
            for n, k, s, d in zip((h, w), self.kernel_size, self.stride, self.dilation):
                total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
                out.append((total // 2, total - total // 2))
            (top, bottom), (left, right) = out
            return (left, right, top, bottom)
        if isinstance(p, (list, tuple)) and len(p) == 4:
            top, bottom, left, right = p
            return (left, right, top, bottom)
        ph, pw = _pair(p)
        return (pw, pw, ph, ph)

    def forward(self, x):
        return super().forward(F.pad(x, self.pads(*x.shape[-2:])))

    def extra_repr(self):
        return super().extra_repr() + f", refgan_padding={self.refgan_padding!r}"


class MinibatchStd(nn.Module):
    """refgan.nn.MinibatchStd (Karras et al. 2018): appends, as one more channel, the
    mean over (c, h, w) of the standard deviation (biased, + 1e-8 under the root) over
    groups of consecutive samples; a group is the largest divisor of N up to group_size."""

    def __init__(self, group_size):
        super().__init__()
        self.group_size = group_size

    def forward(self, x):
        n, c, h, w = x.shape
        g = max(k for k in range(1, min(self.group_size, n) + 1) if n % k == 0)
        y = x.reshape(n // g, g, c, h, w)
        std = torch.sqrt(y.var(dim=1, unbiased=False) + 1e-8)
        s = std.mean(dim=(1, 2, 3)).reshape(n // g, 1, 1, 1, 1).expand(n // g, g, 1, h, w)
        return torch.cat([x, s.reshape(n, 1, h, w)], dim=1)


class WithAppearance(nn.Module):
    """A generator followed by the appearance refgan puts on its images
    (``refgan.gans.appearance``). For each row of z a training image's appearance
    a' = (ln w', ln s') is drawn by ``appearance.draw``, in numpy, from z's float32 bytes
    (a fixed z gives a fixed image); G's output y in [-1, 1] is then mapped, per channel
    c, with the training images' geometric means (w_bar, s_bar) = exp(reference), to::

        u = clip((y + 1) / 2, floor, 1)          (floor = 1/255, appearance.FLOOR)
        x = 2 clip(w'_c (u / w_bar_c) ^ (s'_c / s_bar_c), 0, 1) - 1

    in float64, as refgan computes it, and in torch, so gradients reach G. A run of
    ``--appearance stain-noise`` also draws each row's sensor noise (``appearance.noise``,
    numpy, seeded by z's row) and adds it inside the outer clip."""

    def __init__(self, generator: nn.Module, appearance):
        super().__init__()
        self.generator, self.appearance = generator, appearance

    def forward(self, z):
        y = self.generator(z)
        z_rows = z.detach().cpu().numpy().astype(np.float32)
        drawn = self.appearance.draw(z_rows)
        a = torch.from_numpy(drawn).to(y.device)                             # (N, d) float64
        ref = torch.from_numpy(np.asarray(self.appearance.reference)).to(y.device)
        w, s = a[:, :3].exp()[..., None, None], a[:, 3:6].exp()[..., None, None]
        w_bar, s_bar = ref[:3].exp()[:, None, None], ref[3:6].exp()[:, None, None]
        u = ((y.double() + 1) / 2).clamp(self.appearance.floor, 1.0)
        x = w * torch.exp(torch.log(u / w_bar) * s / s_bar)
        noise = self.appearance.noise(z_rows, drawn, tuple(y.shape))
        if noise is not None:
            x = x + torch.from_numpy(noise).to(y.device)
        return (2 * x.clamp(0.0, 1.0) - 1).to(y.dtype)


def build(spec: dict) -> nn.Module:
    """The torch module of one architecture node of manifest.json."""
    kind, a = spec["layer"], spec.get("args", {})
    if kind == "Chain":       # children applied in order, under refgan's names
        return nn.Sequential(OrderedDict((name, build(child)) for name, child in spec["children"]))
    if kind == "Linear":
        return nn.Linear(a["in_features"], a["out_features"], bias=a["bias"])
    if kind == "Conv2d":
        return Conv2d(a["in_channels"], a["out_channels"], a["kernel_size"], a["stride"],
                      a["padding"], a["dilation"], a["bias"])
    if kind == "ConvTranspose2d":
        return nn.ConvTranspose2d(a["in_channels"], a["out_channels"], a["kernel_size"],
                                  a["stride"], a["padding"], a["output_padding"],
                                  bias=a["bias"], dilation=a["dilation"])
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        return getattr(nn, kind)(a["num_features"], eps=a["eps"], momentum=a["momentum"])
    if kind == "LeakyReLU":
        return nn.LeakyReLU(a["negative_slope"])
    if kind == "Dropout":
        return nn.Dropout(a["p"])
    if kind == "MinibatchStd":
        return MinibatchStd(a["group_size"])
    if kind == "Upsample":
        if a.get("mode", "nearest") == "bilinear":     # refgan's bilinear: half-pixel centres
            return nn.Upsample(scale_factor=a["scale_factor"], mode="bilinear", align_corners=False)
        return nn.Upsample(scale_factor=a["scale_factor"], mode="nearest")
    if kind == "Flatten":
        return nn.Flatten(a["start_dim"])
    if kind == "Unflatten":
        return nn.Unflatten(1, tuple(a["shape"]))
    if kind in ("ReLU", "Tanh", "Sigmoid", "Softplus", "Identity"):
        return getattr(nn, kind)()
    raise ValueError(f"unknown layer {kind!r} in the architecture")


def manifest(directory=HERE) -> dict:
    return json.loads((Path(directory) / "manifest.json").read_text())


def names(directory=HERE) -> list:
    """The exported networks, ``<model>.<net>`` (model: a class name, or ``all``)."""
    return sorted(manifest(directory)["networks"])


def load(name: str, directory=HERE) -> nn.Module:
    """Network ``name`` (see ``names()``) with its weights, in eval mode.

    ``module.in_dim`` is the size of z for generators; ``module.input_shape`` is the
    input shape the network was exported with (batch first; any batch size works).
    """
    info = manifest(directory)["networks"][name]
    module = build(info["architecture"])
    module.load_state_dict(read_safetensors(Path(directory) / f"{name}.safetensors"))
    if "appearance" in info:
        module = WithAppearance(module, _appearance(directory, info["appearance"]))
    module.input_shape = tuple(info["input_shape"])
    module.in_dim = info["input_shape"][1] if info["kind"] == "generator" else None
    return module.eval()


def _appearance(directory, filename):
    """The run's measured appearances, saved in ``filename`` (refgan.gans.appearance,
    copied beside this file as ``appearance.py``)."""
    spec = importlib.util.spec_from_file_location("refgan_torch_appearance",
                                                  Path(directory) / "appearance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Appearance.load(Path(directory) / filename,
                                  manifest(directory)["config"]["appearance"])
