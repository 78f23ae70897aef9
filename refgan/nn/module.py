"""``Module`` and ``Parameter``: PyTorch's names, so weights and code move across.

A module registers, in assignment order, its parameters (trainable leaf tensors), its
buffers (state such as batch-norm running statistics) and its sub-modules. The
``state_dict`` keys are PyTorch's (``0.weight``, ``bn.running_mean`` ...), the arrays
are NumPy, and the layouts are PyTorch's (NCHW images, conv weight (out, in, kh, kw),
transposed-conv weight (in, out, kh, kw)), so a state dict can be saved as ``.npz`` and
loaded into the same network in PyTorch, or the other way round.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from refgan import backend
from refgan.autograd import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module registers as trainable (requires_grad=True)."""

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and network."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("call super().__init__() before assigning attributes")
        if name in self._buffers:  # updating state, e.g. batch-norm running statistics
            object.__setattr__(self, name, value)
            return
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, array) -> None:
        """Non-trainable state saved in the state dict (a raw array)."""
        self._buffers[name] = None
        object.__setattr__(self, name, array)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    # ---- traversal
    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return list(self._modules.values())

    def named_parameters(self):
        for prefix, m in self.named_modules():
            for name, p in m._parameters.items():
                yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        for prefix, m in self.named_modules():
            for name in m._buffers:
                yield (f"{prefix}.{name}" if prefix else name), getattr(m, name)

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    # ---- modes
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = flag
        return self

    # ---- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Parameters then buffers of each module, as host NumPy copies."""
        out = OrderedDict()
        for prefix, m in self.named_modules():
            for name, p in m._parameters.items():
                out[f"{prefix}.{name}" if prefix else name] = backend.to_numpy(p.data).copy()
            for name in m._buffers:
                out[f"{prefix}.{name}" if prefix else name] = np.array(
                    backend.to_numpy(getattr(m, name)))
        return out

    def load_state_dict(self, state, strict: bool = True) -> None:
        """Copy arrays into this module; shapes must match. With ``strict``, the key sets
        must be equal (missing and unexpected keys are listed in the error)."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        be = backend.get_backend()
        targets = dict(self._state_slots())
        for key, value in state.items():
            if key not in targets:
                continue
            value = np.asarray(value)
            if value.shape != own[key].shape:
                raise ValueError(f"{key}: shape {value.shape} in the state dict, "
                                 f"{own[key].shape} in the model")
            module, name, is_param = targets[key]
            if is_param:
                getattr(module, name).data = be.asarray(value, dtype=own[key].dtype)
            else:
                object.__setattr__(module, name, be.asarray(value, dtype=own[key].dtype))

    def _state_slots(self):
        for prefix, m in self.named_modules():
            for name in m._parameters:
                yield (f"{prefix}.{name}" if prefix else name), (m, name, True)
            for name in m._buffers:
                yield (f"{prefix}.{name}" if prefix else name), (m, name, False)

    def to_backend(self) -> "Module":
        """Move every parameter and buffer to the active backend (host <-> GPU)."""
        self.load_state_dict(self.state_dict())
        return self

    def astype(self, dtype) -> "Module":
        """Cast parameters and float buffers (float64 for gradient checks)."""
        for m in self.modules():
            for p in m._parameters.values():
                p.data = p.data.astype(dtype)
            for name in m._buffers:
                buf = getattr(m, name)
                if buf.dtype.kind == "f":
                    object.__setattr__(m, name, buf.astype(dtype))
        return self

    # ---- display
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + ("\n)" if self._modules else ")")
