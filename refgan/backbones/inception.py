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

from refgan import nn
from refgan.backbones import graph
from refgan.backbones.base import ConvAct, DenseAct, KerasBackbone, relu

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
