"""Weight initialisers: PyTorch's defaults and DCGAN's N(0, 0.02).

All draw from :mod:`refgan.random`, so ``refgan.manual_seed`` makes a model's initial
weights identical on every backend.
"""
from __future__ import annotations

import math

import numpy as np

from refgan import random


def fan_in(shape) -> int:
    """PyTorch's fan-in: shape[1] * receptive field (for a transposed conv's
    (in, out, kh, kw) weight that is out * kh * kw, exactly as PyTorch computes it)."""
    return int(shape[1] * np.prod(shape[2:])) if len(shape) > 1 else int(shape[0])


def uniform_(p, bound: float):
    p.data = random.uniform(p.shape, p.dtype) * p.dtype.type(2 * bound) - p.dtype.type(bound)
    return p


def normal_(p, mean: float = 0.0, std: float = 1.0):
    p.data = random.normal(p.shape, p.dtype, std) + p.dtype.type(mean)
    return p


def constant_(p, value: float):
    p.data = p.data * 0 + p.dtype.type(value)
    return p


def default_(weight, bias=None):
    """PyTorch's Linear/Conv default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in))
    for the weight, U(+-1/sqrt(fan_in)) for the bias."""
    bound = 1.0 / math.sqrt(fan_in(weight.shape))
    uniform_(weight, bound)
    if bias is not None:
        uniform_(bias, bound)


def dcgan_(module) -> None:
    """Radford et al. (2016): conv weights ~ N(0, 0.02); batch-norm gamma ~ N(1, 0.02),
    beta = 0. Apply to a whole network: ``dcgan_(generator)``.

    Each layer class names its rule in ``dcgan_rule`` ('weight': Linear, Conv2d,
    ConvTranspose2d; 'batch_norm': the batch norms; other layers, embeddings included,
    keep their own initialisation), so this module needs no import of the layers that
    are built on it.
    """
    for m in module.modules():
        rule = getattr(m, "dcgan_rule", None)
        if rule == "weight":
            normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                constant_(m.bias, 0.0)
        elif rule == "batch_norm":
            normal_(m.weight, 1.0, 0.02)
            constant_(m.bias, 0.0)
