"""The autograd core: ``Tensor``, ``Function`` and reverse-mode differentiation.

A computation builds a graph as it runs. Every op is a :class:`Function` with

* ``forward(*arrays)``: raw arrays in, raw arrays out (NumPy or CuPy);
* ``backward(*grad_outputs)``: ``Tensor`` in, ``Tensor`` out, written **only with refgan
  ops** (or dedicated ``*Grad`` functions that have a backward of their own).

Because backward is itself made of ops, running it with ``create_graph=True`` records
a graph of the gradient computation, and differentiating *that* gives second (and
higher) derivatives. WGAN-GP needs exactly this: its penalty is a function of
``grad(D(x_hat), x_hat)``, and the critic's update differentiates the penalty again.

With ``create_graph=False`` (ordinary training) backward runs with recording switched
off, so the same code computes plain arrays at the cost of a thin wrapper.

Graph bookkeeping follows DeZero/Chainer: a tensor points to its ``creator``; a function
holds its inputs and only *weak* references to its outputs (no reference cycles, so
unused branches are freed by reference counting the moment the user drops them). Each
function has a ``generation`` (one more than its newest input), and backward visits
functions newest-first, so a tensor's gradient is complete (all fan-out contributions
summed) before it is propagated further.
"""
from __future__ import annotations

import contextlib
import heapq
import threading
import weakref

import numpy as np

from refgan import backend as _backend


# ----------------------------------------------------------------------------- mode
class _Mode(threading.local):
    """Per thread (the per-class models of a run train in parallel threads: one
    thread's ``no_grad`` must not stop another's recording). The class attributes are
    every new thread's starting values."""
    grad_enabled = True
    interpreter = None  # when set, ops are evaluated by it instead of their forward


_mode = _Mode()


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    saved = _mode.grad_enabled
    _mode.grad_enabled = enabled
    try:
        yield
    finally:
        _mode.grad_enabled = saved


def no_grad():
    """Context manager: ops inside record no graph (inference, optimiser steps)."""
    return _grad_mode(False)


def enable_grad():
    """Context manager: switch recording back on inside a ``no_grad`` block."""
    return _grad_mode(True)


def is_grad_enabled() -> bool:
    return _mode.grad_enabled


@contextlib.contextmanager
def interpret(interpreter):
    """Evaluate every op with ``interpreter(function, inputs) -> outputs`` instead of
    its own forward, recording no graph. This is how a refgan graph is re-played on
    another engine (the JAX export): modules run unchanged while each op is mapped to
    its twin."""
    saved = _mode.interpreter, _mode.grad_enabled
    _mode.interpreter, _mode.grad_enabled = interpreter, False
    try:
        yield
    finally:
        _mode.interpreter, _mode.grad_enabled = saved


# --------------------------------------------------------------------------- tensor
class Tensor:
    """An array that remembers how it was computed.

    Attributes
    ----------
    data : ndarray
        The raw NumPy or CuPy array.
    grad : Tensor or None
        Accumulated gradient after ``backward()`` (leaves only, as in PyTorch).
    requires_grad : bool
        Whether gradients flow to (and through) this tensor.
    creator : Function or None
        The op that produced this tensor; None for leaves.
    """

    __array_priority__ = 1000  # make ndarray (op) Tensor defer to Tensor's operators

    def __init__(self, data, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data.data
        self.data = data
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self.creator: Function | None = None
        self.generation = 0

    # ---- array-like properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(_backend.to_numpy(self.data), prefix="tensor(", precision=4)
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{extra})"

    def numpy(self) -> np.ndarray:
        """A host NumPy array (copied from the GPU if needed)."""
        return _backend.to_numpy(self.data)

    def item(self):
        return self.numpy().item()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        self.requires_grad = flag
        return self

    def to_backend(self) -> "Tensor":
        """Move the data to the active backend's array module (host <-> device)."""
        self.data = _backend.get_backend().asarray(self.data)
        return self

    # ---- differentiation
    def backward(self, gradient=None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` defaults to ones for a scalar. ``retain_graph`` (default: the value
        of ``create_graph``) keeps the graph for another backward pass.
        """
        if gradient is None:
            if self.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            gradient = Tensor(_backend.get_array_module(self.data).ones_like(self.data))
        run_backward([self], [as_tensor(gradient, like=self)], inputs=None,
                     create_graph=create_graph,
                     retain_graph=create_graph if retain_graph is None else retain_graph)

    # Operators and methods (__add__, sum, reshape, astype, ...) are attached by
    # refgan.ops.setup_tensor(), called from refgan/__init__.py (DeZero's setup_variable).


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; a Python or NumPy scalar takes ``like``'s dtype and backend,
    so ``float32_tensor * 2.0`` stays float32."""
    if isinstance(x, Tensor):
        return x
    if like is not None and np.isscalar(x):
        xp = _backend.get_array_module(like.data)
        return Tensor(xp.asarray(x, dtype=like.dtype))
    return Tensor(_backend.get_backend().asarray(x))


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """Create a leaf tensor on the active backend (float data defaults to float32)."""
    if isinstance(data, Tensor):
        data = data.data
    arr = _backend.get_backend().asarray(data, dtype=dtype)
    if dtype is None and arr.dtype == np.float64 and not _is_float64_array(data):
        arr = arr.astype(np.float32)
    return Tensor(arr, requires_grad=requires_grad)


def _is_float64_array(data) -> bool:
    return hasattr(data, "dtype") and data.dtype == np.float64


# ------------------------------------------------------------------------- function
class Function:
    """One node of the graph: an op applied to some inputs.

    Subclasses implement ``forward(*arrays) -> array or tuple of arrays`` and
    ``backward(*grad_outputs: Tensor) -> Tensor or tuple (one per input, None for an
    input that needs no gradient)``. ``self.inputs`` holds the input Tensors and
    ``self.needs_input_grad`` says which of them need a gradient, so backward can skip
    work (a conv on the data batch needs no input gradient).
    """

    inputs: tuple
    generation: int = 0

    def __call__(self, *inputs):
        if _mode.interpreter is not None:  # foreign arrays (JAX tracers) stay as they are
            return _mode.interpreter(self, tuple(x if isinstance(x, Tensor) else Tensor(x)
                                                 for x in inputs))
        inputs = tuple(as_tensor(x) for x in inputs)
        outputs = self.forward(*(x.data for x in inputs))
        single = not isinstance(outputs, tuple)
        outputs = tuple(Tensor(y) for y in ((outputs,) if single else outputs))
        if _mode.grad_enabled and any(x.requires_grad for x in inputs):
            self.inputs = inputs
            self.needs_input_grad = tuple(x.requires_grad for x in inputs)
            self.generation = max(x.generation for x in inputs)
            for y in outputs:
                y.creator, y.requires_grad, y.generation = self, True, self.generation + 1
            self.outputs = tuple(weakref.ref(y) for y in outputs)
            self.output_meta = tuple((y.shape, y.dtype) for y in outputs)
        return outputs[0] if single else outputs

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def output(self, i: int = 0) -> Tensor:
        """The i-th output tensor (for backwards that reuse it, e.g. tanh' = 1 - y^2)."""
        y = self.outputs[i]()
        if y is None:  # cannot happen for an output on a path to the loss
            raise RuntimeError(f"{type(self).__name__}: output {i} was freed before backward")
        return y

    def release(self):
        """Drop references to inputs so their memory can be freed (after backward)."""
        self.inputs = ()
        self.outputs = ()
        self.released = True

    @property
    def name(self) -> str:
        return type(self).__name__


# ------------------------------------------------------------------ backward engine
def run_backward(outputs, grad_outputs, inputs, create_graph: bool, retain_graph: bool,
                 allow_unused: bool = False):
    """Reverse-mode sweep from ``outputs`` seeded with ``grad_outputs``.

    If ``inputs`` is None, gradients are accumulated into the ``.grad`` of every leaf
    that requires grad (``Tensor.backward``). Otherwise the gradients w.r.t. ``inputs``
    are returned and no ``.grad`` is touched (``refgan.grad``); only the part of the
    graph that leads to ``inputs`` is visited.
    """
    grads: dict[int, Tensor] = {}
    keep: dict[int, Tensor] = {}  # id -> tensor, keeps ids valid during the sweep

    def accumulate(t: Tensor, g: Tensor):
        key = id(t)
        if key in grads:
            grads[key] = grads[key] + g  # fan-out: contributions add (recorded if create_graph)
        else:
            grads[key], keep[key] = g, t

    for y, gy in zip(outputs, grad_outputs):
        if not y.requires_grad:
            raise RuntimeError("element of outputs does not require grad and has no creator")
        if gy.shape != y.shape:
            raise ValueError(f"grad_output shape {gy.shape} does not match output shape {y.shape}")
        accumulate(y, gy)

    targets = None if inputs is None else {id(t) for t in inputs}
    relevant = _functions_leading_to(outputs, targets)

    heap, seen = [], set()

    def push(f):
        if f is not None and id(f) not in seen and id(f) in relevant:
            seen.add(id(f))
            heapq.heappush(heap, (-f.generation, len(seen), f))  # push order: deterministic ties

    for y in outputs:
        push(y.creator)

    with _grad_mode(create_graph):
        while heap:
            f = heapq.heappop(heap)[2]
            gys = []
            for ref, (shape, dtype) in zip(f.outputs, f.output_meta):
                y = ref()
                g = grads.get(id(y)) if y is not None else None
                if g is None:  # an output off the path to the loss: zero gradient
                    g = Tensor(_backend.get_array_module(f.inputs[0].data).zeros(shape, dtype))
                gys.append(g)
            gxs = _backward_toward(f, gys, targets, relevant)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            if len(gxs) != len(f.inputs):
                raise RuntimeError(f"{f.name}.backward returned {len(gxs)} grads for "
                                   f"{len(f.inputs)} inputs")
            for x, gx in zip(f.inputs, gxs):
                if gx is None or not x.requires_grad:
                    continue
                if gx.shape != x.shape:
                    raise RuntimeError(f"{f.name}.backward: grad shape {gx.shape} != input "
                                       f"shape {x.shape}")
                accumulate(x, gx)
                push(x.creator)
            for ref in f.outputs:  # an intermediate gradient is consumed once: free it
                y = ref()
                if y is not None and (targets is None or id(y) not in targets):
                    grads.pop(id(y), None)
                    keep.pop(id(y), None)
            if not retain_graph:
                f.release()

    if inputs is None:
        for key, t in keep.items():
            if t.is_leaf and t.requires_grad:
                g = grads[key]
                g = g if create_graph else Tensor(g.data)
                t.grad = g if t.grad is None else t.grad + g
        return None

    result = []
    for t in inputs:
        g = grads.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError("one of the inputs is not reachable from the outputs; "
                               "pass allow_unused=True to get None for it")
        result.append(g)
    return tuple(result)


def _backward_toward(f, gys, targets, relevant):
    """``f.backward(*gys)``; for ``grad(outputs, inputs)`` (``targets`` given) only the
    gradients of inputs on a path to a target are asked for.

    ``needs_input_grad`` says which inputs require grad at all; a gradient towards
    ``x_hat`` does not need the weights' gradients although they require grad (WGAN-GP's
    penalty would otherwise compute every critic layer's weight gradient and drop it:
    7% of a WGAN-GP iteration). The flags are restored: a retained graph is walked again.
    """
    if targets is None:
        return f.backward(*gys)
    full = f.needs_input_grad
    f.needs_input_grad = tuple(
        need and (id(x) in targets or (x.creator is not None and id(x.creator) in relevant))
        for need, x in zip(full, f.inputs))
    try:
        return f.backward(*gys)
    finally:
        f.needs_input_grad = full


def _functions_leading_to(outputs, targets):
    """ids of the functions whose backward contributes to ``targets`` (all leaves if None).

    Pruning matters for WGAN-GP: grad(D(x_hat), x_hat) must not walk into the generator
    that produced x_hat.
    """
    memo: dict[int, bool] = {}
    order, stack = [], [y.creator for y in outputs if y.creator is not None]
    visited = set()
    # iterative DFS collecting functions, then evaluate leads-to in reverse generation order
    while stack:
        f = stack.pop()
        if id(f) in visited:
            continue
        if getattr(f, "released", False):
            raise RuntimeError(f"{f.name}: trying to backward through the graph a second "
                               "time; pass retain_graph=True the first time")
        visited.add(id(f))
        order.append(f)
        for x in f.inputs:
            if x.creator is not None and x.requires_grad:
                stack.append(x.creator)
    for f in sorted(order, key=lambda f: f.generation):
        leads = False
        for x in f.inputs:
            if not x.requires_grad:
                continue
            if targets is None:
                leads = leads or x.is_leaf or memo.get(id(x.creator), False)
            else:
                leads = leads or id(x) in targets or (x.creator is not None
                                                     and memo.get(id(x.creator), False))
        memo[id(f)] = leads
    return {k for k, v in memo.items() if v}


def grad(outputs, inputs, grad_outputs=None, create_graph: bool = False,
         retain_graph: bool | None = None, allow_unused: bool = False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, as a tuple (PyTorch's autograd.grad).

    Parameters
    ----------
    outputs : Tensor or sequence of Tensor
    inputs : Tensor or sequence of Tensor
        Leaves or intermediate tensors.
    grad_outputs : the vector in the vector-Jacobian product; ones for scalars.
    create_graph : record the gradient computation so it can be differentiated again
        (WGAN-GP's penalty). Implies ``retain_graph``.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    seeds = []
    for y, gy in zip(outputs, grad_outputs):
        if gy is None:
            if y.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            gy = Tensor(_backend.get_array_module(y.data).ones_like(y.data))
        seeds.append(as_tensor(gy, like=y))
    return run_backward(outputs, seeds, inputs, create_graph=create_graph,
                        retain_graph=create_graph if retain_graph is None else retain_graph,
                        allow_unused=allow_unused)
