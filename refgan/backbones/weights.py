"""Weight files: reading them and mapping their keys onto the backbones.

Keras ``.h5`` files, read with h5py (optional: ``pip install '.[weights]'``), in two layouts:

* Keras 3 ``model.save_weights("x.weights.h5")``: ``layers/<class>_<k>/vars/<i>``, a
  layer named by its class and rank in ``model.layers`` (``KerasGraph.keras3_keys``);
* legacy HDF5 (Keras 2 ``save_weights``, the published keras.applications files such as
  ``vgg16_weights_tf_dim_ordering_tf_kernels.h5``): one group per layer name with a
  ``weight_names`` attribute (``block1_conv1/kernel:0``, ...). Layers are matched by
  name; a file whose names differ (automatic names such as ``conv2d_93``) is matched by
  the order of its layers that hold weights, shapes checked.

``.safetensors`` files hold a torchvision state dict under torchvision's names (the
torchvision family loads them by name; refgan's own reader, no ``safetensors`` package).

Keras layouts are converted to refgan's (PyTorch's): conv kernel (kh, kw, in, out) ->
(out, in, kh, kw), depthwise kernel (kh, kw, C, m) -> (C m, 1, kh, kw), dense kernel
(in, out) -> (out, in). Nothing is unpickled: ``.pth`` files are converted to
safetensors first (``refgan weights convert``).

Any mismatch -- a missing or unexpected layer or array, a wrong shape -- is a one-line
:class:`~refgan.errors.UserError` naming the first offending key and what was expected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refgan.errors import UserError
from refgan.safetensors import read_safetensors

#: Keras variable names of each weighted layer class, in the order Keras creates them.
KERAS_VARS = {
    "Conv2D": ("kernel", "bias"),
    "DepthwiseConv2D": ("depthwise_kernel", "bias"),
    "Dense": ("kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "Normalization": ("mean", "variance", "count"),
}


#: Other names an array has in some Keras versions (Keras 3 calls the depthwise kernel
#: 'kernel'; Keras 2, and the published files, 'depthwise_kernel').
ALIASES = {"depthwise_kernel": ("kernel",)}


def _h5py():
    try:
        import h5py  # lazy: optional dependency, only for Keras files
    except ModuleNotFoundError:
        raise UserError("reading Keras .h5 weights needs h5py: pip install h5py "
                        "(or pip install '.[weights]')") from None
    return h5py


@dataclass
class KerasFile:
    """The layers of a Keras weight file: ``layers[key] = [(var name, array), ...]`` in
    file order; ``layout`` 'keras3' (keys like ``conv2d_3``) or 'legacy' (layer names)."""
    path: str
    layout: str
    layers: dict = field(default_factory=dict)


def _natural(key):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def read_keras_h5(path) -> KerasFile:
    """Read a Keras 3 ``.weights.h5`` or a legacy HDF5 weight file (module docstring)."""
    h5py = _h5py()
    path = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise UserError(f"{path}: not a readable HDF5 file ({exc})") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in root.attrs:
            out = KerasFile(path, "legacy")
            for raw in root.attrs["layer_names"]:
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                g = root[name]
                names = [n.decode() if isinstance(n, bytes) else str(n)
                         for n in g.attrs.get("weight_names", [])]
                if names:
                    out.layers[name] = [(n.split("/")[-1].split(":")[0], np.asarray(g[n]))
                                        for n in names]
            return out
        if "layers" not in root:
            raise UserError(f"{path}: neither a Keras 3 .weights.h5 (no 'layers' group) nor "
                            "a legacy Keras weight file (no 'layer_names')")
        out = KerasFile(path, "keras3")
        for key in sorted(root["layers"].keys(), key=_natural):
            g = root["layers"][key]
            if "vars" in g and len(g["vars"]):
                out.layers[key] = [(str(i), np.asarray(g["vars"][str(i)]))
                                   for i in range(len(g["vars"]))]
        return out


def read_torch_safetensors(path) -> dict:
    """{torchvision state-dict key: array} of a .safetensors file (refgan's reader, which
    refuses a damaged or hostile file in one line)."""
    state, _ = read_safetensors(path)
    return state


# ------------------------------------------------------------- mapping onto refgan
def expected_vars(node) -> list:
    """[(keras var name, keras shape, state key suffix, to_refgan)] of one graph node."""
    m, cls = node.fn, node.keras_class
    if cls == "Conv2D":
        out = [("kernel", tuple(m.weight.shape[2:]) + (m.weight.shape[1], m.weight.shape[0]),
                "weight", lambda a: a.transpose(3, 2, 0, 1))]
    elif cls == "DepthwiseConv2D":
        C = m.in_channels
        mult = m.out_channels // C
        out = [("depthwise_kernel", tuple(m.weight.shape[2:]) + (C, mult), "weight",
                lambda a: a.transpose(2, 3, 0, 1).reshape(-1, 1, *a.shape[:2]))]
    elif cls == "Dense":
        out = [("kernel", (m.in_features, m.out_features), "weight", lambda a: a.T)]
    elif cls == "BatchNormalization":
        C = m.num_features
        out = ([("gamma", (C,), "weight", None)] if m.weight is not None else []) + [
            ("beta", (C,), "bias", None), ("moving_mean", (C,), "running_mean", None),
            ("moving_variance", (C,), "running_var", None)]
        return out
    elif cls == "Normalization":
        C = m.mean.shape[0]
        return [("mean", (C,), "mean", None), ("variance", (C,), "variance", None),
                ("count", (), "count", None)]
    else:
        return []
    if getattr(m, "bias", None) is not None:
        out.append(("bias", (m.weight.shape[0],), "bias", None))
    return out


def _convert(arr, shape, to_refgan, where, var):
    arr = np.asarray(arr)
    if arr.ndim == 1 and shape == () and arr.size == 1:
        arr = arr.reshape(())
    if tuple(arr.shape) != tuple(shape):
        raise UserError(f"{where}: {var} has shape {tuple(arr.shape)}, the model expects "
                        f"{tuple(shape)} (Keras layout); is this the right architecture?")
    return to_refgan(arr) if to_refgan else arr


def keras_state_dict(model, kf: KerasFile) -> dict:
    """The refgan state dict of ``model`` (a KerasBackbone) from a Keras file."""
    weighted = [n for n in (model.node(k) for k in model.keras_order()) if expected_vars(n)]
    if kf.layout == "keras3":
        keys = model.keras3_keys()
        pairs = [(n, keys[n.name]) for n in weighted]
    elif all(n.name in kf.layers for n in weighted):
        pairs = [(n, n.name) for n in weighted]
    else:  # automatic layer names differ between Keras versions: match by order
        file_keys = list(kf.layers)
        pairs = [(n, file_keys[i] if i < len(file_keys) else None)
                 for i, n in enumerate(weighted)]
    used = set()
    state = {}
    for node, key in pairs:
        where = f"{Path(kf.path).name}: layer {key or node.name!r} ({node.keras_class} " \
                f"{node.name!r})"
        if key is None or key not in kf.layers:
            raise UserError(f"{where} is missing from the file; expected "
                            f"{[v for v, *_ in expected_vars(node)]} for {model.name}")
        used.add(key)
        have = kf.layers[key]
        want = expected_vars(node)
        if len(have) != len(want):
            raise UserError(f"{where}: the file has {len(have)} arrays "
                            f"({[v for v, _ in have]}), the model expects {len(want)} "
                            f"({[v for v, *_ in want]})")
        for (vname, arr), (wname, shape, suffix, conv) in zip(have, want):
            if kf.layout == "legacy" and vname != wname and vname not in ALIASES.get(wname, ()):
                raise UserError(f"{where}: array {vname!r} where the model expects {wname!r}")
            state[f"{node.name}.{suffix}"] = _convert(arr, shape, conv, where, wname)
    extra = [k for k in kf.layers if k not in used]
    if extra:
        raise UserError(f"{Path(kf.path).name}: unexpected layer {extra[0]!r} with weights "
                        f"({len(extra)} in all) that {model.name} "
                        f"(include_top={model.include_top}) does not have")
    return state


def load_state(model, state: dict, source: str) -> None:
    """Copy ``state`` into ``model`` strictly (BN counters excepted): a missing, extra or
    mis-shaped key is a one-line UserError naming it."""
    own = model.state_dict()
    state = dict(state)
    for key, value in own.items():
        if key.endswith("num_batches_tracked"):  # a counter: optional, any 1-element shape
            if key in state and np.size(state[key]) == 1:
                state[key] = np.reshape(state[key], ())
            continue
        if key not in state:
            raise UserError(f"{source}: missing key {key!r} (expected shape {value.shape}) "
                            f"for {model.name}")
        if tuple(np.shape(state[key])) != tuple(value.shape):
            raise UserError(f"{source}: {key!r} has shape {tuple(np.shape(state[key]))}, "
                            f"{model.name} expects {tuple(value.shape)}")
    for key in state:
        if key not in own:
            raise UserError(f"{source}: unexpected key {key!r}: not a weight of {model.name}")
    full = {k: (state[k] if k in state else v) for k, v in own.items()}
    model.load_state_dict({k: np.asarray(v) for k, v in full.items()})
