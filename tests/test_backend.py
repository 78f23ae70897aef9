"""refgan/backend.py is the one home of the backend: names, availability, array module."""
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # cli.py lives at the root

import cli  # noqa: E402
from refgan import kernels  # noqa: E402
from refgan.kernels import reference as ref  # noqa: E402
from refgan import backend  # noqa: E402
from refgan.errors import UserError  # noqa: E402
from refgan.ops.conv import conv_out_hw  # noqa: E402


def test_every_backend_name_has_kernels_and_the_cli_offers_exactly_those():
    for name in backend.BACKENDS:
        if backend.available(name):
            assert kernels.load(name).name == name
    with pytest.raises(ValueError, match="unknown kernel backend"):
        kernels.load("tpu")
    action = next(a for a in cli.build_parser()._actions if "--backend" in a.option_strings)
    assert tuple(action.choices) == backend.BACKENDS


def test_unavailable_backend_names_its_reason_and_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)   # `import numba` fails
    assert "numba cannot be imported" in backend.why_unavailable("numba")
    with pytest.raises(UserError, match="pip install numba"):
        backend.set_backend("numba")
    with pytest.raises(UserError, match="unknown backend 'tpu'"):
        backend.set_backend("tpu")


def test_xp_is_the_active_backends_array_module(cpu_backend):
    assert backend.xp() is np
    assert backend.xp() is backend.get_backend().xp is backend.kernels().xp
    assert backend.get_array_module(np.ones(2)) is np
    assert backend.get_array_module is ref.get_array_module   # one definition


def test_default_backend_follows_the_environment(monkeypatch):
    monkeypatch.setattr(backend, "_current", None)
    monkeypatch.setenv("REFGAN_BACKEND", "numpy")
    assert backend.get_backend().name == "numpy"


@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4),
       lo=st.integers(0, 4), hi=st.integers(0, 4), d=st.integers(1, 3))
def test_conv_out_hw_is_the_kernels_output_size(size, k, s, lo, hi, d):
    """ops compute geometry themselves; it must agree with the kernels' windows."""
    expected = ref.conv_output_size(size, k, s, lo, hi, d)
    assert conv_out_hw((size, size + 1), (k, k), (s, s), (lo, hi, hi, lo), (d, d))[0] == expected
    assert conv_out_hw((size + 1, size), (k, k), (s, s), (hi, lo, lo, hi), (d, d))[1] == expected
