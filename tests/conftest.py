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


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """A small study with the stub GAN (study_helpers): ``(config, out folder,
    StudyResults, the GAN that recorded what it was handed)``, run once a session."""
    # here, not at the top: refgan.study loads scikit-learn and SciPy (~1 s), which
    # most test files never need
    from refgan.study import quick_config, run_study
    from study_helpers import SMALL, RecordingGan

    out = tmp_path_factory.mktemp("study")
    cfg = quick_config(**SMALL)
    gan = RecordingGan()
    with refgan.using_backend("numpy"):
        res = run_study(cfg, out, gan_step=gan, log=lambda m: None)
    return cfg, out, res, gan
