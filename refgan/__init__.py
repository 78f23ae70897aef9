"""refgan: reference GANs in NumPy, with a double-backprop autograd.

Tour: ``autograd`` (Tensor, Function, backward/grad), ``ops`` (every differentiable op),
``nn`` (modules with PyTorch names and layouts), ``optim`` (optimisers, schedules),
``backend`` (numpy / numba / cupy selection), ``gradcheck`` (finite-difference checks
of first and second derivatives).
"""
import importlib.util
import sys
from pathlib import Path


def _map_checkout_kernels():
    """Make ``refgan.kernels`` importable from an uninstalled source checkout.

    Installed, setup.cfg's ``package_dir`` maps the top-level ``kernels/`` folder to
    ``refgan.kernels``. Run from a checkout (``python cli.py`` with no install),
    ``kernels/`` sits beside ``refgan/`` and this does the same mapping, and only that
    one: ``import kernels`` still finds nothing of ours.
    """
    if importlib.util.find_spec("refgan.kernels") is not None:
        return
    folder = Path(__file__).resolve().parent.parent / "kernels"
    if not (folder / "__init__.py").is_file():
        return  # neither installed nor a checkout: the import below names what is missing
    spec = importlib.util.spec_from_file_location(
        "refgan.kernels", folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["refgan.kernels"] = module
    spec.loader.exec_module(module)


_map_checkout_kernels()

from refgan.errors import UserError  # noqa: E402  (after the kernels mapping above)
from refgan.backend import get_backend, set_backend, set_num_threads, using_backend
from refgan.autograd import (Function, Tensor, enable_grad, grad, is_grad_enabled,
                             no_grad, tensor)
from refgan.random import manual_seed
from refgan import ops
from refgan import ops as functional
from refgan import nn, optim

ops.setup_tensor()  # Tensor's operators and methods (x + y, x.sum(), ...): one explicit call

__version__ = "0.1.0"

__all__ = ["Function", "Tensor", "UserError", "enable_grad", "functional", "get_backend",
           "grad", "is_grad_enabled", "manual_seed", "no_grad", "ops", "set_backend", "set_num_threads",
           "tensor", "using_backend"]
