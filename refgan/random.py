"""refgan's random stream (dropout masks, initialisers, latent draws).

One seeded NumPy ``Generator`` serves every backend: masks are drawn on the host and
moved to the device, so numpy, numba and cupy runs with the same seed see the same
masks and weights (backends can then be compared exactly). Its state is saved in
checkpoints so a resumed run continues the same stream.

A thread may draw from a stream of its own instead (:func:`using`): the per-class
models of a run train side by side in threads, each on its own stream, so that
neither the thread schedule nor the other model changes a model's draws.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from refgan import backend

_rng = np.random.default_rng(0)
_local = threading.local()  # .rng: this thread's stream while inside using()


def manual_seed(seed: int) -> None:
    """Reseed the global stream (PyTorch's torch.manual_seed)."""
    global _rng
    _rng = np.random.default_rng(seed)


@contextlib.contextmanager
def using(rng: np.random.Generator):
    """Draw from ``rng`` instead of the global stream, in this thread only."""
    saved = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = saved


def generator() -> np.random.Generator:
    """The stream this thread draws from: its own inside :func:`using`, else the global one."""
    own = getattr(_local, "rng", None)
    return _rng if own is None else own


def get_state() -> dict:
    """JSON-serialisable state of the stream."""
    return generator().bit_generator.state


def set_state(state: dict) -> None:
    generator().bit_generator.state = state


def uniform(shape, dtype=np.float32):
    """U[0, 1) samples on the active backend (drawn in float32 for float32 data: half
    the memory traffic of a float64 draw, and the mask for p = k/2^24 is exact)."""
    draw_dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    return backend.get_backend().asarray(generator().random(shape, dtype=draw_dtype).astype(dtype, copy=False))


def normal(shape, dtype=np.float32, std: float = 1.0):
    """N(0, std^2) samples on the active backend."""
    return backend.get_backend().asarray((generator().standard_normal(shape) * std).astype(dtype))
