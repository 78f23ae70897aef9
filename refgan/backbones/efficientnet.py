"""EfficientNet-B0 (Tan and Le 2019), as keras.applications.EfficientNetB0 builds it.

The model holds its input normalisation: Rescaling(1/255) and a Normalization layer
(per-channel mean and variance, saved with the weights), so its input is 0-255 RGB.
A 3x3/2 stem conv, sixteen MBConv blocks in seven stages, a 1x1 conv to 1280
channels, global average pool (1280, the penultimate vector) and the 1000-way
``predictions``. An MBConv block: 1x1 expansion (ratio 6; none in stage 1), a
depthwise kxk conv (stride 2 behind a ZeroPadding2D that pads the odd pixel at the
top/left, else 'same'), squeeze-and-excite (SiLU, then a sigmoid gate; squeezed to a
quarter of the block's input channels), a 1x1 projection and, where shapes allow, the
residual add. Batch norms use Keras' eps 1e-3, activations are SiLU (swish).

The published ImageNet weights were computed with the variance in the Normalization
layer set to the standard deviations; keras.applications then adds a
Rescaling(1/sqrt(std)) that restores (x - mean) / std. :func:`keras_efficientnet_b0`
adds it with ``imagenet_fix=True`` (the loader decides from the saved variance).
"""
from __future__ import annotations

import math

from refgan import nn, ops
from refgan.backbones import graph
from refgan.backbones.base import (IMAGENET_STD, ConvAct, DenseAct, KerasBackbone,
                                   Normalization, Rescaling, sigmoid, silu)

#: (kernel, repeats, filters_in, filters_out, expand_ratio, stride) per stage
B0_STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2),
             (3, 3, 40, 80, 6, 2), (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2),
             (3, 1, 192, 320, 6, 1))
KERAS_BN_EPS = 1e-3
DROP_CONNECT_RATE = 0.2


def correct_pad(k):
    """Keras' ``imagenet_utils.correct_pad`` for the input at hand: pad k//2 on each
    side, one less at the top/left for an even size, as (top, bottom, left, right)."""
    def pad(x):
        h, w = x.shape[2:]
        return ops.pad2d(x, (k // 2 - (1 - h % 2), k // 2, k // 2 - (1 - w % 2), k // 2))
    return pad


def _bn(c):
    return nn.BatchNorm2d(c, eps=KERAS_BN_EPS)


def _mbconv(m, x, k, cin, cout, expand, stride, drop_rate, name):
    filters = cin * expand
    h = x
    if expand != 1:
        h = m.add("Conv2D", ConvAct(cin, filters, 1, padding="same", bias=False), h,
                  f"{name}expand_conv")
        h = m.add("BatchNormalization", _bn(filters), h, f"{name}expand_bn")
        h = m.add("Activation", silu, h, f"{name}expand_activation")
    if stride == 2:
        h = m.add("ZeroPadding2D", correct_pad(k), h, f"{name}dwconv_pad")
        padding = "valid"
    else:
        padding = "same"
    h = m.add("DepthwiseConv2D", ConvAct(filters, filters, k, stride=stride, padding=padding,
                                         bias=False, groups=filters), h, f"{name}dwconv")
    h = m.add("BatchNormalization", _bn(filters), h, f"{name}bn")
    h = m.add("Activation", silu, h, f"{name}activation")
    se_filters = max(1, int(cin * 0.25))
    se = m.add("GlobalAveragePooling2D", graph.global_avg_pool, h, f"{name}se_squeeze")
    se = m.add("Reshape", graph.channel_vector, se, f"{name}se_reshape")
    se = m.add("Conv2D", ConvAct(filters, se_filters, 1, padding="same", activation=silu), se,
               f"{name}se_reduce")
    se = m.add("Conv2D", ConvAct(se_filters, filters, 1, padding="same", activation=sigmoid),
               se, f"{name}se_expand")
    h = m.add("Multiply", graph.multiply, [h, se], f"{name}se_excite")
    h = m.add("Conv2D", ConvAct(filters, cout, 1, padding="same", bias=False), h,
              f"{name}project_conv")
    h = m.add("BatchNormalization", _bn(cout), h, f"{name}project_bn")
    if stride == 1 and cin == cout:
        if drop_rate > 0:  # stochastic depth: the identity at inference
            h = m.add("Dropout", nn.Dropout(0.0), h, f"{name}drop")
        h = m.add("Add", graph.add, [h, x], f"{name}add")
    return h


def keras_efficientnet_b0(include_top: bool = True, classes: int = 1000,
                          imagenet_fix: bool = False) -> KerasBackbone:
    """keras.applications.EfficientNetB0(include_top, classes) (headless: pooling='avg');
    ``imagenet_fix`` adds the Rescaling that weights='imagenet' adds (module docstring)."""
    m = KerasBackbone("efficientnet_b0", 224, 1280, "raw255", include_top)
    m.stage("stem")
    x = m.add("Rescaling", Rescaling(1.0 / 255.0), graph.INPUT)
    x = m.add("Normalization", Normalization(3), x)
    if imagenet_fix:
        x = m.add("Rescaling", Rescaling([1.0 / math.sqrt(s) for s in IMAGENET_STD]), x)
    x = m.add("ZeroPadding2D", correct_pad(3), x, "stem_conv_pad")
    x = m.add("Conv2D", ConvAct(3, 32, 3, stride=2, padding="valid", bias=False), x,
              "stem_conv")
    x = m.add("BatchNormalization", _bn(32), x, "stem_bn")
    x = m.add("Activation", silu, x, "stem_activation")
    total = sum(s[1] for s in B0_STAGES)
    b = 0
    for i, (k, repeats, cin, cout, expand, stride) in enumerate(B0_STAGES):
        m.stage(f"block{i + 1}")
        for j in range(repeats):
            x = _mbconv(m, x, k, cin if j == 0 else cout, cout, expand,
                        stride if j == 0 else 1, DROP_CONNECT_RATE * b / total,
                        f"block{i + 1}{chr(j + 97)}_")
            b += 1
    m.stage("top")
    x = m.add("Conv2D", ConvAct(320, 1280, 1, padding="same", bias=False), x, "top_conv")
    x = m.add("BatchNormalization", _bn(1280), x, "top_bn")
    x = m.add("Activation", silu, x, "top_activation")
    x = m.add("GlobalAveragePooling2D", graph.global_avg_pool, x, "avg_pool")
    m.mark_features()
    if include_top:
        m.stage("predictions")
        x = m.add("Dropout", nn.Dropout(0.2), x, "top_dropout")
        m.add("Dense", DenseAct(1280, classes), x, "predictions")
    return m.eval()
