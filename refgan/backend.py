"""The one place that chooses the array module and the compiled kernels.

Ops call ``xp()`` for array functions and ``kernels()`` for the fused / data-movement
kernels; they never ask which backend is active. Three backends share one interface:

==========  ==========  ==========================================================
name        arrays      kernels
==========  ==========  ==========================================================
``numpy``   NumPy       ``kernels.reference``: the readable NumPy twin of everything
``numba``   NumPy       ``kernels.numba_cpu``: parallel Numba (CPU default)
``cupy``    CuPy        ``kernels.cupy_gpu``: RawKernel / ElementwiseKernel on CUDA
==========  ==========  ==========================================================

Choose with ``refgan.set_backend(name)``, the ``REFGAN_BACKEND`` environment variable,
or ``python cli.py --backend NAME``. The default is ``numba`` if it imports, else
``numpy``.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from refgan.errors import UserError

BACKENDS = ("numpy", "numba", "cupy")


@dataclass(frozen=True)
class Backend:
    name: str
    xp: object  # numpy or cupy module
    kernels: SimpleNamespace

    def asarray(self, data, dtype=None):
        """Move ``data`` (anything array-like, host or device) onto this backend."""
        if self.xp is np and _is_cupy(data):
            data = data.get()
        return self.xp.asarray(data, dtype=dtype)


def _is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


def _load(name: str) -> Backend:
    import kernels

    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if not kernels.available(name):
        hint = "pip install '.[gpu]' on a CUDA machine" if name == "cupy" else "pip install numba"
        raise UserError(f"backend {name!r} is not available here: {hint}, or choose numpy")
    if name == "cupy":
        import cupy

        xp = cupy
    else:
        xp = np
    return Backend(name, xp, kernels.load(name))


_current: Backend | None = None


def _default_name() -> str:
    import kernels

    env = os.environ.get("REFGAN_BACKEND")
    if env:
        return env
    return "numba" if kernels.available("numba") else "numpy"


def get_backend() -> Backend:
    """The active backend (loaded on first use)."""
    global _current
    if _current is None:
        _current = _load(_default_name())
    return _current


def set_backend(name: str) -> Backend:
    """Make ``name`` ('numpy', 'numba' or 'cupy') the active backend and return it.

    Tensors made before the switch keep their arrays; on a switch between host and
    device, move them with ``tensor.to_backend()``.
    """
    global _current
    _current = _load(name)
    return _current


@contextlib.contextmanager
def using_backend(name: str):
    """Temporarily switch backend (tests compare backends with this)."""
    global _current
    saved = _current
    set_backend(name)
    try:
        yield _current
    finally:
        _current = saved


def set_num_threads(n: int) -> None:
    """Run BLAS and Numba kernels on ``n`` threads (refgan's training commands use 1).

    Why 1 by default: at refgan's CPU sizes (32x32 images, batch 32, 16-64 channels)
    each GEMM and kernel call is short, and two thread pools (OpenBLAS and Numba)
    that spin-wait for each other's cores cost more than they give. Measured on
    2 cores, the main job's 40 generator iterations took 21.7 s on one thread and
    83.6 s on two; a WGAN-GP critic step at the paper's widths is at best 12% faster
    on two. Raise it for large batches or widths on an idle many-core machine.
    """
    if int(n) < 1:
        raise UserError(f"the number of threads must be >= 1, got {n}")
    from threadpoolctl import threadpool_limits  # comes with scikit-learn

    threadpool_limits(int(n))
    if get_backend().name == "numba":
        import numba

        numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))


def xp():
    """The array module of the active backend (numpy or cupy)."""
    return get_backend().xp


def kernels() -> SimpleNamespace:
    """The kernel namespace of the active backend."""
    return get_backend().kernels


def to_numpy(a) -> np.ndarray:
    """A host NumPy copy/view of any backend array."""
    return a.get() if _is_cupy(a) else np.asarray(a)


def get_array_module(a):
    """numpy or cupy, whichever ``a`` belongs to (DeZero's/CuPy's idiom)."""
    if _is_cupy(a):
        import cupy

        return cupy
    return np
