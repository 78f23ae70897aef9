"""Raw-array kernels behind refgan's ops, one interface, three implementations.

``load(name)`` returns a ``types.SimpleNamespace`` holding every function in
``KERNEL_NAMES`` for one backend:

* ``'numpy'`` -- ``kernels.reference``: readable vectorised NumPy (also runs on CuPy arrays);
* ``'numba'`` -- ``kernels.numba_cpu``: threaded Numba kernels;
* ``'cupy'``  -- ``kernels.cupy_gpu``: CUDA kernels through CuPy.

Compiled backends start from the reference functions and override those they
implement, so every name always exists.  The namespace also carries ``name`` and
``xp`` (the array module: numpy or cupy).  Numba and CuPy are imported only inside
``load`` / ``available``, never when ``kernels`` itself is imported.
"""
import importlib
import types

from kernels import reference

KERNEL_NAMES = [
    "conv_output_size",
    "im2col",
    "col2im",
    "leaky_relu",
    "leaky_relu_grad",
    "batch_norm_forward",
    "batch_norm_backward",
    "batch_norm_inference",
    "dropout",
    "adam_update",
    "rmsprop_update",
]

BACKENDS = ("numpy", "numba", "cupy")

_MODULES = {"numpy": "kernels.reference", "numba": "kernels.numba_cpu", "cupy": "kernels.cupy_gpu"}

_INSTALL_HINT = {
    "numba": "install numba (pip install numba)",
    "cupy": "install CuPy for your CUDA version (pip install cupy-cuda12x) and make sure "
            "a CUDA device is visible",
}


class BackendUnavailableError(RuntimeError):
    """The requested kernel backend cannot run on this machine."""


def _check_name(name):
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {', '.join(BACKENDS)}")


def _why_unavailable(name):
    """None when the backend can run here, else a one-line reason."""
    if name == "numpy":
        return None
    if name == "numba":
        try:
            importlib.import_module("numba")
        except ImportError as exc:
            return f"numba cannot be imported ({exc})"
        return None
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        return f"cupy cannot be imported ({exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no runtime, ...: CuPy raises its own CUDA errors
        return f"CUDA is not usable ({type(exc).__name__}: {exc})"
    if count < 1:
        return "no CUDA device found"
    return None


def available(name):
    """True when backend ``name`` ('numpy' | 'numba' | 'cupy') can run on this machine."""
    _check_name(name)
    return _why_unavailable(name) is None


def load(name):
    """Kernel functions of backend ``name`` as a ``SimpleNamespace``.

    Raises ``ValueError`` for an unknown name and ``BackendUnavailableError``
    (a ``RuntimeError``) when the backend cannot run here, with the reason.
    """
    _check_name(name)
    why = _why_unavailable(name)
    if why is not None:
        raise BackendUnavailableError(
            f"kernel backend {name!r} is unavailable: {why}; {_INSTALL_HINT[name]}, "
            f"or use load('numpy')")
    module = importlib.import_module(_MODULES[name])
    funcs = {k: getattr(reference, k) for k in KERNEL_NAMES}
    funcs.update({k: getattr(module, k) for k in KERNEL_NAMES if hasattr(module, k)})
    xp = importlib.import_module("cupy") if name == "cupy" else importlib.import_module("numpy")
    return types.SimpleNamespace(name=name, xp=xp, **funcs)
