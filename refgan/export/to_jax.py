"""``to_jax``: a refgan Module as a pure JAX function.

    apply, variables = to_jax(module)
    y, new_state = apply(variables, x, train=False, rng=None)

``variables = {"params": {...}, "state": {...}}`` holds the module's ``state_dict``
as JAX arrays under the same PyTorch names: trainable parameters in ``params`` (what
``jax.grad`` differentiates), buffers (batch-norm running statistics, the batch
counter) in ``state``. ``apply`` is pure: it returns the output and the new state
(running statistics updated in train mode, unchanged in eval mode) and can be
``jax.jit``-ed, ``jax.grad``-ed (to any order) and sharded.

How it works: ``apply`` runs the module's own ``forward`` -- the same Python code
refgan runs -- on a private copy of the module whose parameters and buffers hold the
JAX values, inside :func:`refgan.autograd.interpret`. There every op call is answered by
its twin from :mod:`refgan.export.jax_ops` instead of its NumPy forward, so the model
code is never duplicated and a new layer needs no export work (a new op needs one
twin).
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import jax.numpy as jnp
import numpy as np

from refgan import autograd
from refgan.autograd import Tensor
from refgan.export.jax_ops import TWINS, Noise, using_noise
from refgan.nn.module import Module


def interpret_with_jax(fn, inputs):
    """The interpreter given to ``refgan.autograd.interpret``: one op, evaluated by its
    JAX twin. Returns a Tensor (or a tuple of them) wrapping JAX values, as
    ``Function.__call__`` would."""
    twin = TWINS.get(type(fn))
    if twin is None:
        raise NotImplementedError(f"refgan op {type(fn).__module__}.{type(fn).__name__} has "
                                  "no JAX twin: add one to refgan/export/jax_ops.py")
    out = twin(fn, *(jnp.asarray(x.data) for x in inputs))
    return tuple(Tensor(y) for y in out) if isinstance(out, tuple) else Tensor(out)


def to_variables(state_dict, module: Module) -> dict:
    """``{"params": ..., "state": ...}`` of JAX arrays from a refgan state dict."""
    names = {name for name, _ in module.named_parameters()}
    params = {k: jnp.asarray(v) for k, v in state_dict.items() if k in names}
    state = {k: jnp.asarray(v) for k, v in state_dict.items() if k not in names}
    return {"params": params, "state": state}


def to_state_dict(variables, like: Module | None = None) -> "OrderedDict[str, np.ndarray]":
    """The NumPy state dict (``Module.load_state_dict``'s input) of ``variables``, in
    ``like.state_dict()``'s key order if a module is given."""
    merged = {**variables["params"], **variables["state"]}
    keys = list(like.state_dict()) if like is not None else list(merged)
    return OrderedDict((k, np.asarray(merged[k])) for k in keys)


def load_variables(module: Module, variables) -> Module:
    """Copy JAX ``variables`` into a refgan module (dtypes follow the module)."""
    module.load_state_dict(to_state_dict(variables, like=module))
    return module


class JaxModule:
    """A refgan module run by JAX; call it as ``apply(variables, x, *, train, rng)``."""

    def __init__(self, module: Module):
        self.module = copy.deepcopy(module)  # a private copy: apply swaps its arrays
        self.slots = dict(self.module._state_slots())  # name -> (module, attr, is_param)

    def __call__(self, variables, x, *, train: bool = False, rng=None):
        """Run the module on ``x``.

        Parameters
        ----------
        variables : {"params": {name: array}, "state": {name: array}}
        x : array (N, ...), the module's input
        train : training mode (batch statistics, dropout) or evaluation mode
        rng : dropout noise in training mode: a PRNG key, or the list of uniform arrays
            refgan drew, one per dropout call in call order (see ``jax_ops.Noise``)

        Returns
        -------
        (y, new_state): the output and the state after this call.
        """
        saved = {name: self._get(name) for name in self.slots}
        try:
            for name, value in {**variables["params"], **variables["state"]}.items():
                self._set(name, value)
            self.module.train(train)
            with using_noise(Noise(rng)), autograd.interpret(interpret_with_jax):
                y = self.module(Tensor(jnp.asarray(x)))
            new_state = {name: jnp.asarray(self._get(name)) for name in variables["state"]}
        finally:  # never leave JAX tracers in the module
            for name, value in saved.items():
                self._set(name, value)
        return y.data, new_state

    def _get(self, name):
        module, attr, is_param = self.slots[name]
        value = getattr(module, attr)
        return value.data if is_param else value

    def _set(self, name, value):
        if name not in self.slots:
            raise KeyError(f"{name!r} is not a parameter or buffer of the module")
        module, attr, is_param = self.slots[name]
        if is_param:
            getattr(module, attr).data = value
        else:
            object.__setattr__(module, attr, value)


def to_jax(module: Module, dtype=None):
    """``(apply, variables)`` for a refgan module (see the module docstring).

    ``dtype`` casts the floating-point variables (e.g. ``jnp.float64`` for gradient
    checks; needs ``jax_enable_x64``); by default they keep the module's dtypes.
    """
    variables = to_variables(module.state_dict(), module)
    if dtype is not None:
        variables = {group: {k: v.astype(dtype) if jnp.issubdtype(v.dtype, jnp.floating)
                             else v for k, v in vs.items()}
                     for group, vs in variables.items()}
    return JaxModule(module), variables
