"""refgan: reference GANs in NumPy, with a double-backprop autograd.

Tour: ``autograd`` (Tensor, Function, backward/grad), ``ops`` (every differentiable op),
``nn`` (modules with PyTorch names and layouts), ``optim`` (optimisers, schedules),
``backend`` (numpy / numba / cupy selection), ``gradcheck`` (finite-difference checks
of first and second derivatives).
"""
from refgan.errors import UserError
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
