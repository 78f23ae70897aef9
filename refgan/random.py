"""refgan's random stream (dropout masks, initialisers, latent draws).

One seeded NumPy ``Generator`` serves every backend: masks are drawn on the host and
moved to the device, so numpy, numba and cupy runs with the same seed see the same
masks and weights (backends can then be compared exactly). Its state is saved in
checkpoints so a resumed run continues the same stream.
"""
from __future__ import annotations

import numpy as np

from refgan import backend

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reseed the global stream (PyTorch's torch.manual_seed)."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _rng


def get_state() -> dict:
    """JSON-serialisable state of the stream."""
    return _rng.bit_generator.state


def set_state(state: dict) -> None:
    _rng.bit_generator.state = state


def uniform(shape, dtype=np.float32):
    """U[0, 1) samples on the active backend (drawn in float32 for float32 data: half
    the memory traffic of a float64 draw, and the mask for p = k/2^24 is exact)."""
    draw_dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    return backend.get_backend().asarray(_rng.random(shape, dtype=draw_dtype).astype(dtype, copy=False))


def normal(shape, dtype=np.float32, std: float = 1.0):
    """N(0, std^2) samples on the active backend."""
    return backend.get_backend().asarray((_rng.standard_normal(shape) * std).astype(dtype))
