"""The one home of the backend: its names, whether each runs here, how to install it,
the array module and the compiled kernels.

Three backends share one interface:

==========  ==========  ==========================================================
name        arrays      kernels
==========  ==========  ==========================================================
``numpy``   NumPy       ``kernels.reference``: the readable NumPy twin of everything
``numba``   NumPy       ``kernels.numba_cpu``: parallel Numba (CPU default)
``cupy``    CuPy        ``kernels.cupy_gpu``: RawKernel / ElementwiseKernel on CUDA
==========  ==========  ==========================================================

Ops never ask which backend is active: they call ``get_array_module(x)`` on the raw
arrays they are given (so one code path serves NumPy and CuPy, as in DeZero's
``cuda.py``) and ``kernels()`` for the fused / data-movement kernels. Code that makes
arrays from nothing (parameter initialisation, the classifiers) calls ``xp()``.

Choose with ``refgan.set_backend(name)``, the ``REFGAN_BACKEND`` environment variable,
or ``python cli.py --backend NAME``. The default is ``numba`` if it imports, else
``numpy``.
"""
from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from threadpoolctl import threadpool_limits  # comes with scikit-learn

from refgan.errors import UserError
from refgan.kernels import load as load_kernels
# The one definition lives with the raw kernels, which call it; this module imports the
# kernels, so they cannot import it from here without a cycle. refgan code reaches it here.
from refgan.kernels.reference import get_array_module

BACKENDS = ("numpy", "numba", "cupy")

#: How to make a backend that cannot run here run (numpy always runs).
INSTALL_HINTS = {
    "numba": "pip install numba",
    "cupy": "pip install '.[gpu]' (CuPy for CUDA 12) on a machine with a visible CUDA device",
}


def _check_name(name: str) -> None:
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")


def why_unavailable(name: str) -> str | None:
    """None when backend ``name`` can run on this machine, else a one-line reason.

    Numba and CuPy are imported here, on demand, never when refgan is imported: an
    ``import refgan`` must not pay for CUDA initialisation or Numba's start-up.
    """
    _check_name(name)
    if name == "numpy":
        return None
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        return f"{name} cannot be imported ({exc})"
    if name == "cupy":
        try:
            count = module.cuda.runtime.getDeviceCount()
        except Exception as exc:  # no driver, no runtime, ...: CuPy raises its own CUDA errors
            return f"CUDA is not usable ({type(exc).__name__}: {exc})"
        if count < 1:
            return "no CUDA device found"
    return None


def available(name: str) -> bool:
    """True when backend ``name`` ('numpy' | 'numba' | 'cupy') can run on this machine."""
    return why_unavailable(name) is None


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
    return get_array_module(a) is not np


def load(name: str) -> Backend:
    """Backend ``name`` with its kernels; a clear error when it is unknown or cannot run here."""
    why = why_unavailable(name)
    if why is not None:
        raise UserError(f"backend {name!r} is not available here: {why}; "
                        f"{INSTALL_HINTS[name]}, or choose numpy")
    K = load_kernels(name)
    return Backend(name, K.xp, K)


_current: Backend | None = None


def _default_name() -> str:
    env = os.environ.get("REFGAN_BACKEND")
    if env:
        return env
    return "numba" if available("numba") else "numpy"


def get_backend() -> Backend:
    """The active backend (loaded on first use)."""
    global _current
    if _current is None:
        _current = load(_default_name())
    return _current


def set_backend(name: str) -> Backend:
    """Make ``name`` ('numpy', 'numba' or 'cupy') the active backend and return it.

    Tensors made before the switch keep their arrays; on a switch between host and
    device, move them with ``tensor.to_backend()``.
    """
    global _current
    _current = load(name)
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


def available_cores() -> int:
    """The number of cores this process may run on (its CPU affinity, else cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_num_threads(n: int | None = None) -> int:
    """Run refgan's kernels on ``n`` threads (None: every core this process may use).

    One thread pool, never two. With the numba backend Numba's threads do all the
    parallel work: the convolution kernels call sgemm from inside them, one column
    tile per thread, so BLAS itself runs single-threaded (numpy's own matmuls are
    the small Linear layers). Two pools that spin-wait on the same cores -- OpenBLAS's
    and Numba's, which alternated at every conv before -- made 2 threads 3-6x slower
    than 1 on 2 cores. With the numpy backend BLAS is the only pool and gets ``n``.
    Returns the thread count set.
    """
    n = available_cores() if n is None else int(n)
    if n < 1:
        raise UserError(f"the number of threads must be >= 1, got {n}")
    if get_backend().name == "numba":
        import numba  # lazy: numba is optional and slow to import; it is the active backend here

        threadpool_limits(1, user_api="blas")
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    else:
        threadpool_limits(n)
    return n


def xp():
    """The array module of the active backend (numpy or cupy)."""
    return get_backend().xp


def kernels() -> SimpleNamespace:
    """The kernel namespace of the active backend."""
    return get_backend().kernels


def to_numpy(a) -> np.ndarray:
    """A host NumPy copy/view of any backend array."""
    return a.get() if _is_cupy(a) else np.asarray(a)
