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

from refgan import nn, ops
from refgan.backbones import graph
from refgan.backbones.base import ConvAct, DenseAct, KerasBackbone, TorchBackbone, relu
from refgan.nn.module import Module

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


class Bottleneck(Module):
    """torchvision's ResNet v1.5 bottleneck: conv1 1x1, conv2 3x3 (carries the stride),
    conv3 1x1 (4x out), no conv biases, batch norms eps 1e-5, ``downsample`` (conv 1x1
    strided + batch norm) on the shortcut of a stage's first block."""

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * width)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, 4 * width, 1, stride=stride, bias=False),
                                         nn.BatchNorm2d(4 * width)) if downsample else None)

    def forward(self, x):
        y = ops.relu(self.bn1(self.conv1(x)))
        y = ops.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        s = x if self.downsample is None else self.downsample(x)
        return ops.relu(y + s)


class TorchResNet50(TorchBackbone):
    """torchvision.models.resnet50: conv1 7x7/2 (no bias), bn1, ReLU, max pool 3x3/2
    padded 1 (-inf), layer1-4 of :class:`Bottleneck`, global average pool (2048), fc."""

    def __init__(self, classes: int = 1000):
        super().__init__("resnet50", 224, 2048, "torch")
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (_, width, blocks, stride) in enumerate(RESNET50_STAGES, start=1):
            layer = [Bottleneck(cin if b == 0 else 4 * width, width, stride if b == 0 else 1,
                                b == 0)
                     for b in range(blocks)]
            setattr(self, f"layer{i}", nn.Sequential(*layer))
            cin = 4 * width
        self.fc = nn.Linear(2048, classes)
        object.__setattr__(self, "stages", [("conv1", ["conv1", "bn1"])] + [
            (f"conv{i + 1}", [f"layer{i}"]) for i in range(1, 5)] + [("predictions", ["fc"])])

    def forward_features(self, x):
        x = self.maxpool(ops.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return ops.mean(x, axis=(2, 3))

    def head(self, f):
        return self.fc(f)


def torchvision_resnet50(classes: int = 1000) -> TorchResNet50:
    return TorchResNet50(classes).eval()
