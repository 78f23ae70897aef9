"""InceptionV3 (Szegedy et al. 2016), as keras.applications.InceptionV3 builds it.

Every convolution is ``conv2d_bn``: a bias-free conv, a batch norm without scale
(scale=False, eps 1e-3) and ReLU. A five-conv stem with two 3x3/2 max pools, then the
mixed blocks ``mixed0`` to ``mixed10`` (35x35, 17x17 and 8x8 Inception modules and the
two grid reductions ``mixed3``, ``mixed8``), whose pooling branches average over 3x3
'same' windows without counting the padding. Global average pool (2048, the
penultimate vector) and the 1000-way ``predictions``. Input 299x299, 'tf'
preprocessing (2x - 1).
"""
from __future__ import annotations

from refgan import nn, ops
from refgan.backbones import graph
from refgan.backbones.base import ConvAct, DenseAct, KerasBackbone, TorchBackbone, relu
from refgan.nn.module import Module

KERAS_BN_EPS = 1e-3


def _conv_bn(m, x, cin, filters, kh, kw, stride=1, padding="same"):
    x = m.add("Conv2D", ConvAct(cin, filters, (kh, kw), stride=stride, padding=padding,
                                bias=False), x)
    x = m.add("BatchNormalization", nn.BatchNorm2d(filters, eps=KERAS_BN_EPS, scale=False), x)
    return m.add("Activation", relu, x)


def _block35(m, x, cin, pool_filters, name):
    b1 = _conv_bn(m, x, cin, 64, 1, 1)
    b5 = _conv_bn(m, x, cin, 48, 1, 1)
    b5 = _conv_bn(m, b5, 48, 64, 5, 5)
    b3 = _conv_bn(m, x, cin, 64, 1, 1)
    b3 = _conv_bn(m, b3, 64, 96, 3, 3)
    b3 = _conv_bn(m, b3, 96, 96, 3, 3)
    bp = m.add("AveragePooling2D", graph.avg_pool_same(3), x)
    bp = _conv_bn(m, bp, cin, pool_filters, 1, 1)
    return m.add("Concatenate", graph.concat_channels, [b1, b5, b3, bp], name), 224 + pool_filters


def _block17(m, x, c7, name):
    b1 = _conv_bn(m, x, 768, 192, 1, 1)
    b7 = _conv_bn(m, x, 768, c7, 1, 1)
    b7 = _conv_bn(m, b7, c7, c7, 1, 7)
    b7 = _conv_bn(m, b7, c7, 192, 7, 1)
    bd = _conv_bn(m, x, 768, c7, 1, 1)
    bd = _conv_bn(m, bd, c7, c7, 7, 1)
    bd = _conv_bn(m, bd, c7, c7, 1, 7)
    bd = _conv_bn(m, bd, c7, c7, 7, 1)
    bd = _conv_bn(m, bd, c7, 192, 1, 7)
    bp = m.add("AveragePooling2D", graph.avg_pool_same(3), x)
    bp = _conv_bn(m, bp, 768, 192, 1, 1)
    return m.add("Concatenate", graph.concat_channels, [b1, b7, bd, bp], name)


def _block8(m, x, cin, i):
    b1 = _conv_bn(m, x, cin, 320, 1, 1)
    b3 = _conv_bn(m, x, cin, 384, 1, 1)
    b3a = _conv_bn(m, b3, 384, 384, 1, 3)
    b3b = _conv_bn(m, b3, 384, 384, 3, 1)
    b3 = m.add("Concatenate", graph.concat_channels, [b3a, b3b], f"mixed9_{i}")
    bd = _conv_bn(m, x, cin, 448, 1, 1)
    bd = _conv_bn(m, bd, 448, 384, 3, 3)
    bda = _conv_bn(m, bd, 384, 384, 1, 3)
    bdb = _conv_bn(m, bd, 384, 384, 3, 1)
    bd = m.add("Concatenate", graph.concat_channels, [bda, bdb])
    bp = m.add("AveragePooling2D", graph.avg_pool_same(3), x)
    bp = _conv_bn(m, bp, cin, 192, 1, 1)
    return m.add("Concatenate", graph.concat_channels, [b1, b3, bd, bp], f"mixed{9 + i}")


def keras_inception_v3(include_top: bool = True, classes: int = 1000) -> KerasBackbone:
    """keras.applications.InceptionV3(include_top, classes) (headless: pooling='avg')."""
    m = KerasBackbone("inception_v3", 299, 2048, "tf", include_top)
    m.stage("stem")
    x = _conv_bn(m, graph.INPUT, 3, 32, 3, 3, stride=2, padding="valid")
    x = _conv_bn(m, x, 32, 32, 3, 3, padding="valid")
    x = _conv_bn(m, x, 32, 64, 3, 3)
    x = m.add("MaxPooling2D", graph.max_pool(3, 2), x)
    x = _conv_bn(m, x, 64, 80, 1, 1, padding="valid")
    x = _conv_bn(m, x, 80, 192, 3, 3, padding="valid")
    x = m.add("MaxPooling2D", graph.max_pool(3, 2), x)
    cin = 192
    for i, pool_filters in enumerate((32, 64, 64)):
        m.stage(f"mixed{i}")
        x, cin = _block35(m, x, cin, pool_filters, f"mixed{i}")
    m.stage("mixed3")
    b3 = _conv_bn(m, x, cin, 384, 3, 3, stride=2, padding="valid")
    bd = _conv_bn(m, x, cin, 64, 1, 1)
    bd = _conv_bn(m, bd, 64, 96, 3, 3)
    bd = _conv_bn(m, bd, 96, 96, 3, 3, stride=2, padding="valid")
    bp = m.add("MaxPooling2D", graph.max_pool(3, 2), x)
    x = m.add("Concatenate", graph.concat_channels, [b3, bd, bp], "mixed3")
    for i, c7 in zip((4, 5, 6, 7), (128, 160, 160, 192)):
        m.stage(f"mixed{i}")
        x = _block17(m, x, c7, f"mixed{i}")
    m.stage("mixed8")
    b3 = _conv_bn(m, x, 768, 192, 1, 1)
    b3 = _conv_bn(m, b3, 192, 320, 3, 3, stride=2, padding="valid")
    b7 = _conv_bn(m, x, 768, 192, 1, 1)
    b7 = _conv_bn(m, b7, 192, 192, 1, 7)
    b7 = _conv_bn(m, b7, 192, 192, 7, 1)
    b7 = _conv_bn(m, b7, 192, 192, 3, 3, stride=2, padding="valid")
    bp = m.add("MaxPooling2D", graph.max_pool(3, 2), x)
    x = m.add("Concatenate", graph.concat_channels, [b3, b7, bp], "mixed8")
    cin = 1280
    for i in range(2):
        m.stage(f"mixed{9 + i}")
        x = _block8(m, x, cin, i)
        cin = 2048
    x = m.add("GlobalAveragePooling2D", graph.global_avg_pool, x,
              "avg_pool" if include_top else None)
    m.mark_features()
    if include_top:
        m.stage("predictions")
        m.add("Dense", DenseAct(2048, classes), x, "predictions")
    return m.eval()


# ------------------------------------------------------------ torchvision / pytorch-fid
class BasicConv2d(Module):
    """torchvision's ``conv`` (no bias) + ``bn`` (eps 1e-3) + ReLU."""

    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        return ops.relu(self.bn(self.conv(x)))


def _avg3(x, count_include_pad):
    return ops.avg_pool2d(x, 3, 1, 1, count_include_pad=count_include_pad)


class InceptionA(Module):
    def __init__(self, cin, pool_features, fid=False):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)
        object.__setattr__(self, "fid", fid)

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg3(x, not self.fid))
        return ops.concat([self.branch1x1(x), b5, bd, bp], axis=1)


class InceptionB(Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return ops.concat([self.branch3x3(x), bd, ops.max_pool2d(x, 3, 2)], axis=1)


class InceptionC(Module):
    def __init__(self, cin, c7, fid=False):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)
        object.__setattr__(self, "fid", fid)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        bp = self.branch_pool(_avg3(x, not self.fid))
        return ops.concat([self.branch1x1(x), b7, bd, bp], axis=1)


class InceptionD(Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return ops.concat([b3, b7, ops.max_pool2d(x, 3, 2)], axis=1)


class InceptionE(Module):
    """``pool``: 'avg' (torchvision), 'avg_exclude_pad' (pytorch-fid's FIDInceptionE_1)
    or 'max' (FIDInceptionE_2: a 3x3/1 max pool padded 1)."""

    def __init__(self, cin, pool="avg"):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)
        object.__setattr__(self, "pool", pool)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = ops.concat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], axis=1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = ops.concat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], axis=1)
        if self.pool == "max":
            p = ops.max_pool2d(x, 3, 1, 1)
        else:
            p = _avg3(x, self.pool == "avg")
        return ops.concat([self.branch1x1(x), b3, bd, self.branch_pool(p)], axis=1)


class InceptionAux(Module):
    """The auxiliary classifier on Mixed_6e (training only; kept so that torchvision's
    state dict loads: its keys are in the published file)."""

    def __init__(self, cin, classes):
        super().__init__()
        self.conv0 = BasicConv2d(cin, 128, 1)
        self.conv1 = BasicConv2d(128, 768, 5)
        self.fc = nn.Linear(768, classes)

    def forward(self, x):
        x = self.conv1(self.conv0(ops.avg_pool2d(x, 5, 3)))
        return self.fc(ops.mean(x, axis=(2, 3)))


class TorchInceptionV3(TorchBackbone):
    """torchvision.models.inception_v3 (``fid=False``) or pytorch-fid's FID Inception
    (``fid=True``: FIDInceptionA/C average pools without the padding in the divisor,
    FIDInceptionE_1 likewise, E_2 a max pool; 1008 classes, no auxiliary head).

    The input is in [-1, 1] (torchvision's ``transform_input=True``, which the
    pretrained weights use, maps ImageNet-normalised input exactly there; pytorch-fid
    scales to [-1, 1] itself)."""

    def __init__(self, classes: int = 1000, fid: bool = False, aux_logits: bool = True):
        super().__init__("inception_v3_fid" if fid else "inception_v3", 299, 2048,
                         "fid" if fid else "tf")
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32, fid)
        self.Mixed_5c = InceptionA(256, 64, fid)
        self.Mixed_5d = InceptionA(288, 64, fid)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128, fid)
        self.Mixed_6c = InceptionC(768, 160, fid)
        self.Mixed_6d = InceptionC(768, 160, fid)
        self.Mixed_6e = InceptionC(768, 192, fid)
        self.AuxLogits = InceptionAux(768, classes) if aux_logits and not fid else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, "avg_exclude_pad" if fid else "avg")
        self.Mixed_7c = InceptionE(2048, "max" if fid else "avg")
        self.fc = nn.Linear(2048, 1008 if fid else classes)
        mixed = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                 "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
        object.__setattr__(self, "stages", [("stem", ["Conv2d_1a_3x3", "Conv2d_2a_3x3",
                                                      "Conv2d_2b_3x3", "Conv2d_3b_1x1",
                                                      "Conv2d_4a_3x3"])]
                           + [(m, [m]) for m in mixed] + [("predictions", ["fc"])])

    def forward_features(self, x):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = ops.max_pool2d(x, 3, 2)
        x = ops.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, 2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                     "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return ops.mean(x, axis=(2, 3))

    def head(self, f):
        return self.fc(f)


def torchvision_inception_v3(classes: int = 1000, aux_logits: bool = True) -> TorchInceptionV3:
    return TorchInceptionV3(classes, aux_logits=aux_logits).eval()


def fid_inception_v3() -> TorchInceptionV3:
    return TorchInceptionV3(fid=True).eval()
