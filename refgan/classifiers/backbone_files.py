"""Where the pretrained backbones' weight files live, and one in-process copy of each network.

Pretrained weights are never downloaded: the user puts the files into one folder and
passes it (``refgan study --weights DIR``, ``make_classifier('vgg16', weights=DIR)``,
``generator_metrics(..., weights_dir=DIR)``). In that folder a network's file is found
by name, first match wins:

===================  =================================================================
network              file names looked for in DIR
===================  =================================================================
vgg16                ``vgg16.safetensors``, ``vgg16.weights.h5``, ``vgg16.h5``,
                     ``vgg16-*.safetensors`` (torchvision's ``vgg16-397923af.pth``
                     converted), ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` (Keras)
resnet50             ``resnet50.safetensors``, ``resnet50.weights.h5``, ``resnet50.h5``,
                     ``resnet50-*.safetensors``,
                     ``resnet50_weights_tf_dim_ordering_tf_kernels.h5``, then its ``_notop``
inception_v3         ``inception_v3.safetensors``, ``inception_v3.weights.h5``,
                     ``inception_v3.h5``, ``inception_v3_google-*.safetensors``,
                     ``inception_v3_weights_tf_dim_ordering_tf_kernels.h5``, then its ``_notop``
efficientnet_b0      ``efficientnet_b0.safetensors``, ``efficientnet_b0.weights.h5``,
                     ``efficientnet_b0.h5``, ``efficientnet_b0_rwightman-*.safetensors``,
                     ``efficientnetb0.h5`` (Keras), then ``efficientnetb0_notop.h5``
inception_v3_fid     ``inception_v3_fid.safetensors``, ``pt_inception-2015-12-05-*.safetensors``
                     (pytorch-fid's ``.pth`` after ``refgan weights convert``)
===================  =================================================================

A headless (``_notop``) file serves the frozen features of ResNet50, InceptionV3 and
EfficientNet-B0 (the same pooled vector); not VGG16's, whose features are its ``fc2``
layer, which a headless file lacks.

A ``.pth`` file is converted first (``refgan weights convert FILE.pth --to
DIR/NAME.safetensors``); refgan never unpickles. ``weights`` may also name the file
itself. A missing file is a one-line :class:`~refgan.errors.UserError` saying which
file to put where.

:func:`load_backbone` keeps the last ``MAX_LOADED`` networks loaded in this process, so
a study's fits (and a worker's successive jobs) read a weight file once.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from refgan import backbones
from refgan.errors import UserError

# (exact names, then glob patterns of the published files), per network
WEIGHT_FILES = {
    "vgg16": ("vgg16-*.safetensors", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    "resnet50": ("resnet50-*.safetensors", "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                 "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "inception_v3": ("inception_v3_google-*.safetensors",
                     "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                     "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "efficientnet_b0": ("efficientnet_b0_rwightman-*.safetensors", "efficientnetb0.h5",
                        "efficientnetb0_notop.h5"),
    "inception_v3_fid": ("pt_inception-2015-12-05-*.safetensors",),
}
BACKBONES = ("vgg16", "resnet50", "inception_v3", "efficientnet_b0")


def weight_names(name: str) -> tuple:
    """The file names (and glob patterns) looked for, in order (see the module docstring)."""
    if name not in WEIGHT_FILES:
        raise UserError(f"no weight files are known for {name!r}; networks: {', '.join(WEIGHT_FILES)}")
    own = (f"{name}.safetensors",) if name == "inception_v3_fid" else (
        f"{name}.safetensors", f"{name}.weights.h5", f"{name}.h5")
    return own + WEIGHT_FILES[name]


def missing_message(name: str, weights) -> str:
    """One line: which file to put where."""
    where = "a folder passed as --weights DIR" if weights is None else str(weights)
    how = ("convert pytorch-fid's pt_inception-2015-12-05-6726825d.pth with `refgan weights convert "
           "FILE.pth --to DIR/inception_v3_fid.safetensors`" if name == "inception_v3_fid" else
           f"torchvision weights converted by `refgan weights convert FILE.pth --to DIR/{name}.safetensors`, "
           f"or the Keras file {WEIGHT_FILES[name][-1]}")
    return (f"{name} needs its pretrained weights: put {name}.safetensors ({how}) into {where}; "
            "nothing is downloaded")


def find_weights(name: str, weights) -> Path:
    """The weight file of network ``name`` in folder ``weights`` (or ``weights`` itself
    when it is a file). Refuses (UserError, one line) a missing folder or file, and a
    folder where one pattern matches several files."""
    names = weight_names(name)
    if weights is None:
        raise UserError(missing_message(name, None))
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise UserError(f"--weights {path} is neither a folder nor a file; " + missing_message(name, path))
    for pattern in names:
        found = sorted(p for p in path.glob(pattern) if p.is_file())
        if len(found) > 1:
            raise UserError(f"{path} holds several {name} weight files ({', '.join(p.name for p in found)}); "
                            f"keep one, or name the one to use {name}.safetensors")
        if found:
            return found[0]
    raise UserError(missing_message(name, path))


MAX_LOADED = 2  # networks kept loaded: VGG16's weights alone take about half a GiB
_LOADED: OrderedDict = OrderedDict()
_LOADING = threading.Lock()  # fits in threads (joblib's threading backend) load a file once


def file_key(name: str, path) -> str:
    """Identity of network ``name`` loaded from ``path``: the name, the resolved path, the
    file's size and modification time (a replaced file is another network)."""
    path = Path(path).resolve()
    st = path.stat()
    return f"{name}:{path}:{st.st_size}:{st.st_mtime_ns}"


def load_backbone(name: str, path):
    """``refgan.backbones.load(name, weights=path)`` (eval mode), once per process while
    among the ``MAX_LOADED`` most recently used."""
    key = file_key(name, path)
    with _LOADING:
        net = _LOADED.get(key)
        if net is None:
            net = backbones.load(name, weights=Path(path))
            _LOADED[key] = net
            while len(_LOADED) > MAX_LOADED:
                _LOADED.popitem(last=False)
        _LOADED.move_to_end(key)
        return net
