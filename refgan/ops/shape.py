"""Shape ops: reshape, transpose, broadcasting, concat/stack/split and indexing.

They move values without changing them, so each backward is the inverse movement
(reshape back, transpose back, sum over broadcast axes, scatter into zeros), itself an
op, which makes every order of derivative available.
"""
from __future__ import annotations

import numpy as np

from refgan.autograd import Function, Tensor, as_tensor
from refgan.backend import get_array_module


class Reshape(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.in_shape)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = None if axes is None else tuple(axes)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy)
        return transpose(gy, tuple(np.argsort(self.axes)))


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        # a broadcast view is read-only; copy so later ops may own their result
        return get_array_module(x).broadcast_to(x, self.shape).copy()

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


class SumTo(Function):
    """Sum over the axes that NumPy broadcasting would expand ``shape`` along."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(self.shape) if n == 1 and x.shape[lead + i] != 1)
        y = x.sum(axis=axes, keepdims=True)
        return y.reshape(self.shape) if lead else y

    def backward(self, gy):
        return broadcast_to(gy, self.in_shape)


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    x = as_tensor(x)
    shape = tuple(int(s) for s in shape)
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        shape = tuple(x.size // known if s == -1 else s for s in shape)
    return x if x.shape == shape else Reshape(shape)(x)


def flatten(x, start_dim: int = 1):
    """Merge the axes from ``start_dim`` on (nn.Flatten's default keeps the batch axis)."""
    return reshape(x, x.shape[:start_dim] + (-1,))


def transpose(x, axes=None):
    return Transpose(axes)(x)


def permute(x, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    return Transpose(axes)(x)


def broadcast_to(x, shape):
    x = as_tensor(x)
    return x if x.shape == tuple(shape) else BroadcastTo(shape)(x)


def sum_to(x, shape):
    return x if x.shape == tuple(shape) else SumTo(shape)(x)


def expand_dims(x, axis: int):
    shape = list(x.shape)
    shape.insert(axis if axis >= 0 else len(shape) + axis + 1, 1)
    return reshape(x, shape)


def squeeze(x, axis: int):
    if x.shape[axis] != 1:
        raise ValueError(f"cannot squeeze axis {axis} of size {x.shape[axis]}")
    shape = list(x.shape)
    del shape[axis]
    return reshape(x, shape)


# -------------------------------------------------------------- concat / split
class Concat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        return split(gy, self.sizes, axis=self.axis)


class Split(Function):
    """Cut ``x`` along ``axis`` into consecutive pieces of the given sizes."""

    def __init__(self, sizes, axis):
        self.sizes, self.axis = list(sizes), axis

    def forward(self, x):
        bounds = np.cumsum(self.sizes)[:-1]
        return tuple(get_array_module(x).split(x, bounds, axis=self.axis))

    def backward(self, *gys):
        return concat(gys, axis=self.axis)


def concat(xs, axis: int = 0):
    xs = [as_tensor(x) for x in xs]
    return xs[0] if len(xs) == 1 else Concat(axis)(*xs)


cat = concat


def stack(xs, axis: int = 0):
    return concat([expand_dims(as_tensor(x), axis) for x in xs], axis=axis)


def split(x, sizes_or_sections, axis: int = 0):
    """Split into pieces of the given sizes (a list) or into N equal sections (an int)."""
    n = x.shape[axis]
    if isinstance(sizes_or_sections, int):
        if n % sizes_or_sections:
            raise ValueError(f"axis of size {n} does not split into {sizes_or_sections} parts")
        sizes = [n // sizes_or_sections] * sizes_or_sections
    else:
        sizes = list(sizes_or_sections)
    if sum(sizes) != n:
        raise ValueError(f"split sizes {sizes} do not add up to {n}")
    out = Split(sizes, axis)(x)
    return out if isinstance(out, tuple) else (out,)


# --------------------------------------------------------------------- indexing
def _index_data(index):
    """Indices may be tensors; NumPy needs their arrays."""
    if isinstance(index, tuple):
        return tuple(_index_data(i) for i in index)
    return index.data if isinstance(index, Tensor) else index


class GetItem(Function):
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        y = x[self.index]
        return y.copy() if get_array_module(y).shares_memory(y, x) else y  # own the result (no view)

    def backward(self, gy):
        return GetItemGrad(self.index, self.in_shape)(gy)


class GetItemGrad(Function):
    """Scatter-add ``gy`` into zeros of the input's shape (repeated indices add up)."""

    def __init__(self, index, in_shape):
        self.index, self.in_shape = index, in_shape

    def forward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        xp.add.at(gx, self.index, gy)  # unbuffered: repeated indices accumulate
        return gx

    def backward(self, ggx):
        return getitem(ggx, self.index)


def getitem(x, index):
    return GetItem(_index_data(index))(x)


def take_rows(x, indices):
    """``x[indices]`` along axis 0 (embedding lookup)."""
    return getitem(x, _index_data(indices))
