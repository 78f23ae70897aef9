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
                                   Normalization, Rescaling, TorchBackbone, conv_bn, sigmoid,
                                   silu)
from refgan.nn.module import Module

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


# ------------------------------------------------------------------ torchvision
class MBConv(Module):
    """torchvision's MBConv: ``block`` = [expand conv-bn (if ratio != 1)], depthwise
    conv-bn (symmetric padding (k-1)/2), ``SqueezeExcite`` (squeezed to input/4), project
    conv-bn; SiLU after expand and depthwise; residual add when the shapes allow
    (stochastic depth is the identity at inference). Batch norms eps 1e-5."""

    def __init__(self, k, cin, cout, expand, stride):
        super().__init__()
        filters = cin * expand
        layers = []
        if expand != 1:
            layers.append(conv_bn(cin, filters, 1))
        layers.append(conv_bn(filters, filters, k, stride, (k - 1) // 2, groups=filters))
        layers.append(nn.SqueezeExcite(filters, max(1, cin // 4)))
        layers.append(conv_bn(filters, cout, 1))
        self.block = nn.Sequential(*layers)
        object.__setattr__(self, "residual", stride == 1 and cin == cout)

    def forward(self, x):
        mods = list(self.block._modules.values())
        h = x
        for m in mods[:-2]:
            h = ops.silu(m(h))
        h = mods[-1](mods[-2](h))
        return h + x if self.residual else h


class TorchEfficientNetB0(TorchBackbone):
    """torchvision.models.efficientnet_b0: ``features`` 0 (stem conv-bn-SiLU), 1-7 (the
    MBConv stages), 8 (1x1 conv to 1280, bn, SiLU); global average pool (1280);
    ``classifier`` (Dropout, Linear)."""

    def __init__(self, classes: int = 1000):
        super().__init__("efficientnet_b0", 224, 1280, "torch")
        stages = [conv_bn(3, 32, 3, 2, 1)]
        for k, repeats, cin, cout, expand, stride in B0_STAGES:
            stages.append(nn.Sequential(*[MBConv(k, cin if j == 0 else cout, cout, expand,
                                                 stride if j == 0 else 1)
                                          for j in range(repeats)]))
        stages.append(conv_bn(320, 1280, 1))
        # "features" is the method (the penultimate vector): register the child by hand
        self._modules["features"] = nn.Sequential(*stages)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))
        object.__setattr__(self, "stages", [("stem", ["features.0"])] + [
            (f"block{i}", [f"features.{i}"]) for i in range(1, 8)] + [
            ("top", ["features.8"]), ("predictions", ["classifier.1"])])

    def forward_features(self, x):
        f = self._modules["features"]
        x = ops.silu(f[0](x))
        for i in range(1, 8):
            x = f[i](x)
        return ops.mean(ops.silu(f[8](x)), axis=(2, 3))

    def head(self, f):
        return self.classifier(f)


def torchvision_efficientnet_b0(classes: int = 1000) -> TorchEfficientNetB0:
    return TorchEfficientNetB0(classes).eval()
