"""Shared test configuration: hypothesis profile and backend fixtures."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import refgan
from refgan import backend

settings.register_profile(
    "refgan", max_examples=int(os.environ.get("REFGAN_HYPOTHESIS_EXAMPLES", 15)),
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], derandomize=True)
settings.load_profile("refgan")

CPU_BACKENDS = [b for b in ("numpy", "numba") if backend.available(b)]


@pytest.fixture(params=CPU_BACKENDS)
def cpu_backend(request):
    """Run a test on every CPU backend."""
    with refgan.using_backend(request.param):
        yield request.param


@pytest.fixture
def numpy_backend():
    with refgan.using_backend("numpy"):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
