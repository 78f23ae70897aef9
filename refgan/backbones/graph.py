"""A Keras functional model in refgan: named layers applied to named tensors.

keras.applications builds its networks as graphs of named layers (``block1_conv1``,
``conv2_block1_0_conv``, ...). :class:`KerasGraph` keeps that shape: every node is one
Keras layer, with its Keras name, its Keras class and the refgan module or function
that computes it, applied to the outputs of earlier nodes. The weight files are then
read layer by layer:

* legacy ``.h5`` files (the published keras.applications weights) name each layer;
* Keras 3 ``.weights.h5`` files name a layer by its class and its rank among the
  model's layers of that class (``layers/conv2d_12``), in the order of
  ``model.layers``. :meth:`KerasGraph.keras_order` computes that order from the graph
  as Keras' ``map_graph`` does: layers by decreasing depth (longest path to the
  output), ties by the order a depth-first walk from the output first reaches them
  (inputs of a node in their listed order).

Images are NCHW here (refgan's layout); the Keras layers they stand for are NHWC. The
only places that differ are the channel axis of a concatenation (1 here) and
``Flatten`` (which flattens in NHWC order so that a Dense kernel reads the same way).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from refgan import ops
from refgan.nn.module import Module

INPUT = "input_layer"


@dataclass(frozen=True)
class Node:
    name: str           # the Keras layer name
    keras_class: str    # e.g. "Conv2D", "BatchNormalization", "Activation"
    inputs: tuple       # names of the nodes whose outputs it takes
    fn: object          # a refgan Module (registered as a child) or a function


def snake_case(class_name: str) -> str:
    """Keras' ``naming.to_snake_case`` of a class name: ``Conv2D`` -> ``conv2d``,
    ``BatchNormalization`` -> ``batch_normalization``, ``DepthwiseConv2D`` ->
    ``depthwise_conv2d``."""
    out = []
    for i, ch in enumerate(class_name):
        prev = class_name[i - 1] if i else ""
        nxt = class_name[i + 1] if i + 1 < len(class_name) else ""
        if ch.isupper() and i and (prev.islower() or (nxt.islower() and prev.isupper())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class KerasGraph(Module):
    """Nodes added in the order the Keras code creates its layers; ``forward`` runs them
    in that order (a valid topological order) and returns the output node's value."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "nodes", [Node(INPUT, "InputLayer", (), None)])
        object.__setattr__(self, "_by_name", {INPUT: self.nodes[0]})
        object.__setattr__(self, "output", INPUT)
        object.__setattr__(self, "_auto", {})

    def add(self, keras_class: str, fn, inputs, name: str | None = None) -> str:
        """Append a layer; ``inputs`` a node name or a list of them. ``name=None`` takes
        Keras' automatic name (class in snake case, then ``_1``, ``_2``, ...).
        Returns the node name (the handle of its output)."""
        if name is None:
            base = snake_case(keras_class)
            k = self._auto.get(base, 0)
            self._auto[base] = k + 1
            name = base if k == 0 else f"{base}_{k}"
        if name in self._by_name:
            raise ValueError(f"duplicate layer name {name!r}")
        inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        node = Node(name, keras_class, inputs, fn)
        if isinstance(fn, Module):
            setattr(self, name, fn)
        self.nodes.append(node)
        self._by_name[name] = node
        object.__setattr__(self, "output", name)
        return name

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def run(self, x, until: str | None = None):
        """Evaluate the graph on ``x`` up to node ``until`` (default: the output);
        each intermediate is dropped once its last consumer has run."""
        target = self.output if until is None else until
        needed = self._ancestors(target)
        uses = {}
        for node in self.nodes:
            if node.name in needed:
                for i in node.inputs:
                    uses[i] = uses.get(i, 0) + 1
        values = {INPUT: x}
        for node in self.nodes[1:]:
            if node.name not in needed:
                continue
            values[node.name] = node.fn(*(values[i] for i in node.inputs))
            for i in node.inputs:
                uses[i] -= 1
                if uses[i] == 0 and i != target:
                    del values[i]
            if node.name == target:
                break
        return values[target]

    def forward(self, x):
        return self.run(x)

    def _ancestors(self, name):
        seen, stack = set(), [name]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self._by_name[n].inputs)
        return seen

    def keras_order(self) -> list:
        """Node names in the order of Keras' ``model.layers`` (see the module docstring)."""
        consumers = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                consumers[i].append(n.name)
        # Depth-first from the output, a node's inputs in their listed order: the rank
        # at which each node is first reached (a stack pops the first input first).
        index, stack = {}, [self.output]
        while stack:
            n = stack.pop()
            if n not in index:
                index[n] = len(index)
                stack.extend(reversed(self._by_name[n].inputs))
        depth = {}
        for n in reversed(self._topological()):
            depth[n] = max((depth[c] + 1 for c in consumers[n] if c in depth), default=0)
        return sorted(index, key=lambda n: (-depth[n], index[n]))

    def _topological(self):
        return [n.name for n in self.nodes if n.name in self._ancestors(self.output)]

    def keras3_keys(self) -> dict:
        """{node name: its Keras 3 ``.weights.h5`` group name} (``conv2d``, ``conv2d_1``,
        ... counted per class in ``model.layers`` order)."""
        counts, keys = {}, {}
        for name in self.keras_order():
            base = snake_case(self._by_name[name].keras_class)
            k = counts.get(base, 0)
            counts[base] = k + 1
            keys[name] = base if k == 0 else f"{base}_{k}"
        return keys


# ------------------------------------------------- the stateless Keras layers
def concat_channels(*xs):
    """Keras Concatenate(axis=-1) on NHWC is axis 1 on NCHW."""
    return ops.concat(list(xs), axis=1)


def add(*xs):
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y


def multiply(a, b):
    return a * b


def global_avg_pool(x):
    """GlobalAveragePooling2D: (N, C, H, W) -> (N, C)."""
    return ops.mean(x, axis=(2, 3))


def flatten_nhwc(x):
    """Keras Flatten on an NHWC tensor: (N, C, H, W) -> (N, H*W*C) in (h, w, c) order,
    so a Dense kernel saved by Keras applies unchanged."""
    return ops.flatten(ops.transpose(x, (0, 2, 3, 1)))


def channel_vector(x):
    """Keras Reshape((1, 1, C)) of a pooled (N, C) vector: (N, C, 1, 1) here."""
    return ops.reshape(x, (x.shape[0], x.shape[1], 1, 1))


def max_pool(k, s, padding=0):
    """Keras MaxPooling2D((k, k), strides=s, padding) ('valid' is 0)."""
    return functools.partial(ops.max_pool2d, kernel_size=k, stride=s, padding=padding)


def avg_pool_same(k, s=1):
    """Keras AveragePooling2D((k, k), strides=s, padding='same'): the padding is not
    counted in the divisor."""
    return functools.partial(ops.avg_pool2d, kernel_size=k, stride=s, padding="same",
                             count_include_pad=False)


def zero_pad(pads):
    """Keras ZeroPadding2D(((top, bottom), (left, right))) as (top, bottom, left, right)."""
    return functools.partial(ops.pad2d, padding=tuple(pads))
