"""ImageNet backbones written with refgan's own layers: VGG16, ResNet50, InceptionV3 and
EfficientNet-B0 (and pytorch-fid's FID Inception), loading weights from local files
(never downloaded, never unpickled).

>>> model = load("vgg16", weights="vgg16_weights_tf_dim_ordering_tf_kernels.h5")  # doctest: +SKIP
>>> feats = model.features(model.preprocess(images))                               # doctest: +SKIP

``load(name, weights=PATH)`` builds the network the file was saved from (the family
-- 'keras' for ``.h5``, 'torchvision' for ``.safetensors`` with torchvision's state-dict
names -- and whether it has its classifier are read from the file) in eval mode;
``build(name, family, seed)`` makes one with random weights. The model API
(``forward``, ``features``, ``preprocess``, ``name``, ``family``, ``input_size``,
``feature_dim``, ``blocks``) is described in :mod:`refgan.backbones.base`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refgan import random as rrandom
from refgan.backbones.base import IMAGENET_STD, KerasBackbone, TorchBackbone
from refgan.backbones.efficientnet import keras_efficientnet_b0, torchvision_efficientnet_b0
from refgan.backbones.inception import (fid_inception_v3, keras_inception_v3,
                                        torchvision_inception_v3)
from refgan.backbones.resnet import keras_resnet50, torchvision_resnet50
from refgan.backbones.vgg import keras_vgg16, torchvision_vgg16
from refgan.backbones.weights import (KerasFile, keras_state_dict, load_state, read_keras_h5,
                                      read_torch_safetensors)
from refgan.errors import UserError

NAMES = ("vgg16", "resnet50", "inception_v3", "efficientnet_b0", "inception_v3_fid")
FAMILIES = ("keras", "torchvision")

_KERAS = {"vgg16": keras_vgg16, "resnet50": keras_resnet50,
          "inception_v3": keras_inception_v3, "efficientnet_b0": keras_efficientnet_b0}
_TORCH = {"vgg16": torchvision_vgg16, "resnet50": torchvision_resnet50,
          "inception_v3": torchvision_inception_v3,
          "efficientnet_b0": torchvision_efficientnet_b0,
          "inception_v3_fid": lambda classes=1008: fid_inception_v3()}


def _check_name(name, family=None):
    if name not in NAMES:
        raise UserError(f"unknown backbone {name!r}: choose one of {', '.join(NAMES)}")
    if family is not None and family not in FAMILIES:
        raise UserError(f"unknown weight family {family!r}: choose one of {', '.join(FAMILIES)}")
    if family == "keras" and name not in _KERAS:
        raise UserError(f"{name} exists only in the torchvision family (pytorch-fid's weights)")


def build(name: str, family: str = "keras", seed: int | None = None,
          include_top: bool = True, classes: int = 1000, **kw):
    """Backbone ``name`` of weight family ``family`` ('keras' or 'torchvision') with
    random weights (refgan's default initialisation, seeded by ``seed``), in eval mode.
    Keras family only: ``include_top=False`` (no classifier, ``forward`` returns the
    pooled features, as a ``_notop`` weight file)."""
    _check_name(name, family)
    if seed is not None:
        rrandom.manual_seed(seed)
    if family == "keras":
        return _KERAS[name](include_top=include_top, classes=classes, **kw)
    if not include_top:
        raise UserError("include_top=False exists for the keras family only")
    return _TORCH[name](classes=classes, **kw)


def _torch_options(name: str, state: dict) -> dict:
    """classes (and InceptionV3's auxiliary head) of a torchvision state dict."""
    head = {"vgg16": "classifier.6.weight", "resnet50": "fc.weight",
            "inception_v3": "fc.weight", "efficientnet_b0": "classifier.1.weight",
            "inception_v3_fid": None}[name]
    opts = {}
    if head is not None and head in state:
        opts["classes"] = int(state[head].shape[0])
    if name == "inception_v3":
        opts["aux_logits"] = any(k.startswith("AuxLogits.") for k in state)
    return opts


def _keras_options(name: str, kf: KerasFile) -> dict:
    """include_top / classes (and VGG16's head grid, EfficientNet's ImageNet Rescaling)
    of the network a Keras file was saved from."""
    dense = [arrs[0][1] for arrs in kf.layers.values() if arrs[0][1].ndim == 2]
    opts = {"include_top": bool(dense)}
    if dense:
        opts["classes"] = int(dense[-1].shape[1])
        if name == "vgg16":
            opts["grid"] = int(round(np.sqrt(dense[0].shape[0] / 512)))
    if name == "efficientnet_b0":
        norm = [a for arrs in kf.layers.values() for v, a in arrs[1:2]
                if len(arrs) == 3 and arrs[2][1].size == 1 and a.shape == (3,)]
        opts["imagenet_fix"] = bool(norm) and np.allclose(norm[0], IMAGENET_STD, atol=1e-4)
    return opts


def load(name: str, weights) -> KerasBackbone | TorchBackbone:
    """Backbone ``name`` with the weights of file ``weights`` (``.h5``: Keras 3 or
    legacy keras.applications layout; ``.safetensors``: a torchvision state dict, or
    pytorch-fid's for ``inception_v3_fid``), in eval mode. A file of another architecture,
    with missing or extra arrays or wrong shapes is refused with a one-line UserError."""
    _check_name(name)
    path = Path(weights)
    if name == "inception_v3_fid" and path.suffix == ".h5":
        raise UserError("inception_v3_fid loads pytorch-fid's weights converted to "
                        ".safetensors, not a Keras file")
    if not path.is_file():
        raise UserError(f"weights file {str(path)!r} not found (nothing is downloaded: "
                        "put the file there, see docs/backbones.md)")
    if path.suffix == ".h5":
        kf = read_keras_h5(path)
        model = _KERAS[name](**_keras_options(name, kf))
        load_state(model, keras_state_dict(model, kf), path.name)
        return model.eval()
    if path.suffix == ".safetensors":
        state = read_torch_safetensors(path)
        model = _TORCH[name](**_torch_options(name, state))
        load_state(model, state, path.name)
        return model.eval()
    if path.suffix in (".pth", ".pt"):
        raise UserError(f"{path.name}: refgan does not unpickle .pth files; convert it first: "
                        f"refgan weights convert {path} --to {path.with_suffix('.safetensors')}")
    raise UserError(f"{path.name}: unknown weight format {path.suffix!r}; expected a Keras "
                    ".h5 file or torchvision-named .safetensors")


__all__ = ["NAMES", "FAMILIES", "build", "load"]
