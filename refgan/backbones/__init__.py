"""ImageNet backbones written with refgan's own layers: VGG16, ResNet50, InceptionV3 and
EfficientNet-B0, loading weights from local files (never downloaded, never unpickled).

>>> model = load("vgg16", weights="vgg16_weights_tf_dim_ordering_tf_kernels.h5")  # doctest: +SKIP
>>> feats = model.features(model.preprocess(images))                               # doctest: +SKIP

``load(name, weights=PATH)`` builds the network the file was saved from (the family
-- 'keras' for ``.h5`` -- and whether it has its classifier are read from the file) in
eval mode; ``build(name, family, seed)`` makes one with random weights. The model API
(``forward``, ``features``, ``preprocess``, ``name``, ``family``, ``input_size``,
``feature_dim``, ``blocks``) is described in :mod:`refgan.backbones.base`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refgan import random as rrandom
from refgan.backbones.base import IMAGENET_STD, KerasBackbone
from refgan.backbones.efficientnet import keras_efficientnet_b0
from refgan.backbones.inception import keras_inception_v3
from refgan.backbones.resnet import keras_resnet50
from refgan.backbones.vgg import keras_vgg16
from refgan.backbones.weights import KerasFile, keras_state_dict, load_state, read_keras_h5
from refgan.errors import UserError

NAMES = ("vgg16", "resnet50", "inception_v3", "efficientnet_b0")
FAMILIES = ("keras",)

_KERAS = {"vgg16": keras_vgg16, "resnet50": keras_resnet50,
          "inception_v3": keras_inception_v3, "efficientnet_b0": keras_efficientnet_b0}


def _check_name(name):
    if name not in NAMES:
        raise UserError(f"unknown backbone {name!r}: choose one of {', '.join(NAMES)}")


def build(name: str, family: str = "keras", seed: int | None = None,
          include_top: bool = True, classes: int = 1000, **kw) -> KerasBackbone:
    """Backbone ``name`` with random weights (refgan's default initialisation, seeded
    by ``seed``), in eval mode. ``include_top=False``: no classifier, ``forward``
    returns the pooled features."""
    _check_name(name)
    if family not in FAMILIES:
        raise UserError(f"unknown weight family {family!r}: choose one of {', '.join(FAMILIES)}")
    if seed is not None:
        rrandom.manual_seed(seed)
    return _KERAS[name](include_top=include_top, classes=classes, **kw)


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


def load(name: str, weights) -> KerasBackbone:
    """Backbone ``name`` with the weights of file ``weights`` (``.h5``: Keras 3 or
    legacy keras.applications layout), in eval mode. A file of another architecture,
    with missing or extra arrays or wrong shapes is refused with a one-line UserError."""
    _check_name(name)
    path = Path(weights)
    if not path.is_file():
        raise UserError(f"weights file {str(path)!r} not found (nothing is downloaded: "
                        "put the file there, see docs/backbones.md)")
    if path.suffix == ".h5":
        kf = read_keras_h5(path)
        model = _KERAS[name](**_keras_options(name, kf))
        load_state(model, keras_state_dict(model, kf), path.name)
        return model.eval()
    raise UserError(f"{path.name}: unknown weight format {path.suffix!r}; expected a Keras "
                    ".h5 file")


__all__ = ["NAMES", "FAMILIES", "build", "load"]
