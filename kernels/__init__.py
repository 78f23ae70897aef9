"""Raw-array kernels behind refgan's ops, one interface, three implementations.

``load(name)`` returns a ``types.SimpleNamespace`` holding every function in
``KERNEL_NAMES`` for one backend:

* ``'numpy'`` -- ``refgan.kernels.reference``: readable vectorised NumPy (also runs on CuPy arrays);
* ``'numba'`` -- ``refgan.kernels.numba_cpu``: threaded Numba kernels;
* ``'cupy'``  -- ``refgan.kernels.cupy_gpu``: CUDA kernels through CuPy.

Compiled backends start from the reference functions and override those they
implement, so every name always exists.  The namespace also carries ``name`` and
``xp`` (the array module: numpy or cupy).  Numba and CuPy are imported only inside
``load``, never when ``kernels`` itself is imported. The backend names, whether each
can run here and its install hint live in ``refgan/backend.py``.
"""
import importlib
import types

from . import reference

KERNEL_NAMES = [
    "im2col",
    "col2im",
    "conv2d",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "depthwise_conv2d",
    "depthwise_conv2d_grad_input",
    "depthwise_conv2d_grad_weight",
    "leaky_relu",
    "leaky_relu_grad",
    "batch_norm_forward",
    "batch_norm_backward",
    "batch_norm_inference",
    "dropout",
    "adam_update",
    "rmsprop_update",
]

# Relative names: installed, this package is ``refgan.kernels`` (setup.cfg maps the folder).
_MODULES = {"numpy": ".reference", "numba": ".numba_cpu", "cupy": ".cupy_gpu"}


def load(name):
    """Kernel functions of backend ``name`` as a ``SimpleNamespace``.

    Whether the backend can run on this machine, and how to install it, is
    ``refgan.backend``'s business (``available``, ``load``): ask it first.
    Raises ``ValueError`` for an unknown name.
    """
    if name not in _MODULES:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {', '.join(_MODULES)}")
    module = importlib.import_module(_MODULES[name], __name__)
    funcs = {k: getattr(reference, k) for k in KERNEL_NAMES}
    funcs.update({k: getattr(module, k) for k in KERNEL_NAMES if hasattr(module, k)})
    xp = importlib.import_module("cupy") if name == "cupy" else importlib.import_module("numpy")
    return types.SimpleNamespace(name=name, xp=xp, **funcs)
