"""ResNet50 (He et al. 2016), as keras.applications.ResNet50 builds it.

A 7x7/2 stem (ZeroPadding 3, conv with bias, batch norm, ReLU), ZeroPadding 1 and a
3x3/2 max pool, then four stages of bottleneck blocks (3, 4, 6, 3 blocks; 64, 128,
256, 512 bottleneck filters, 4x that out): 1x1 -> 3x3 -> 1x1 convolutions with batch
norm, added to the shortcut (a 1x1 conv + batch norm in a stage's first block), then
ReLU. Keras' v1 puts a stage's stride on the first 1x1 conv (torchvision's v1.5 on the
3x3), its convs carry biases and its batch norms use eps 1.001e-5. Global average pool
(2048, the penultimate vector) and the 1000-way ``predictions``.
"""
from __future__ import annotations

from refgan import nn
from refgan.backbones import graph
from refgan.backbones.base import ConvAct, DenseAct, KerasBackbone, relu

#: (stage, bottleneck filters, blocks, stride of the first block)
RESNET50_STAGES = ((2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2))
KERAS_BN_EPS = 1.001e-5


def _bn(c):
    return nn.BatchNorm2d(c, eps=KERAS_BN_EPS)


def _keras_block(m, x, cin, filters, stride, shortcut_conv, name):
    if shortcut_conv:
        s = m.add("Conv2D", ConvAct(cin, 4 * filters, 1, stride=stride), x, f"{name}_0_conv")
        s = m.add("BatchNormalization", _bn(4 * filters), s, f"{name}_0_bn")
    else:
        s = x
    y = m.add("Conv2D", ConvAct(cin, filters, 1, stride=stride), x, f"{name}_1_conv")
    y = m.add("BatchNormalization", _bn(filters), y, f"{name}_1_bn")
    y = m.add("Activation", relu, y, f"{name}_1_relu")
    y = m.add("Conv2D", ConvAct(filters, filters, 3, padding="same"), y, f"{name}_2_conv")
    y = m.add("BatchNormalization", _bn(filters), y, f"{name}_2_bn")
    y = m.add("Activation", relu, y, f"{name}_2_relu")
    y = m.add("Conv2D", ConvAct(filters, 4 * filters, 1), y, f"{name}_3_conv")
    y = m.add("BatchNormalization", _bn(4 * filters), y, f"{name}_3_bn")
    y = m.add("Add", graph.add, [s, y], f"{name}_add")
    return m.add("Activation", relu, y, f"{name}_out")


def keras_resnet50(include_top: bool = True, classes: int = 1000) -> KerasBackbone:
    """keras.applications.ResNet50(include_top, classes) (headless: pooling='avg')."""
    m = KerasBackbone("resnet50", 224, 2048, "caffe", include_top)
    m.stage("conv1")
    x = m.add("ZeroPadding2D", graph.zero_pad((3, 3, 3, 3)), graph.INPUT, "conv1_pad")
    x = m.add("Conv2D", ConvAct(3, 64, 7, stride=2), x, "conv1_conv")
    x = m.add("BatchNormalization", _bn(64), x, "conv1_bn")
    x = m.add("Activation", relu, x, "conv1_relu")
    x = m.add("ZeroPadding2D", graph.zero_pad((1, 1, 1, 1)), x, "pool1_pad")
    x = m.add("MaxPooling2D", graph.max_pool(3, 2), x, "pool1_pool")
    cin = 64
    for stage, filters, blocks, stride in RESNET50_STAGES:
        m.stage(f"conv{stage}")
        for b in range(1, blocks + 1):
            x = _keras_block(m, x, cin, filters, stride if b == 1 else 1, b == 1,
                             f"conv{stage}_block{b}")
            cin = 4 * filters
    x = m.add("GlobalAveragePooling2D", graph.global_avg_pool, x, "avg_pool")
    m.mark_features()
    if include_top:
        m.stage("predictions")
        m.add("Dense", DenseAct(2048, classes), x, "predictions")
    return m.eval()
