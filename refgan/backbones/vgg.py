"""VGG16 (Simonyan and Zisserman 2015), as keras.applications.VGG16 builds it.

Thirteen 3x3 'same' convolutions with ReLU in five blocks, each block closed by a 2x2
max pool; then Flatten, fc1 and fc2 (4096, ReLU) and the 1000-way ``predictions``.
The penultimate vector is fc2's output (4096). Gaur et al. train the last layer of it.
"""
from __future__ import annotations

from refgan.backbones import graph
from refgan.backbones.base import ConvAct, DenseAct, KerasBackbone, relu

#: (block, filters, convolutions)
VGG16_BLOCKS = ((1, 64, 2), (2, 128, 2), (3, 256, 3), (4, 512, 3), (5, 512, 3))


def keras_vgg16(include_top: bool = True, classes: int = 1000, grid: int = 7) -> KerasBackbone:
    """keras.applications.VGG16(include_top, classes) (headless: pooling='avg').

    ``grid``: the spatial size block5 ends at for the input the head was built for
    (7 for 224x224); fc1 reads grid*grid*512 values in Keras' NHWC flatten order."""
    m = KerasBackbone("vgg16", 224, 4096 if include_top else 512, "caffe", include_top)
    x, cin = graph.INPUT, 3
    for block, filters, n in VGG16_BLOCKS:
        m.stage(f"block{block}")
        for i in range(1, n + 1):
            x = m.add("Conv2D", ConvAct(cin, filters, 3, padding="same", activation=relu), x,
                      f"block{block}_conv{i}")
            cin = filters
        x = m.add("MaxPooling2D", graph.max_pool(2, 2), x,
                  f"block{block}_pool")
    if include_top:
        m.stage("fc1")
        x = m.add("Flatten", graph.flatten_nhwc, x, "flatten")
        x = m.add("Dense", DenseAct(grid * grid * 512, 4096, activation=relu), x, "fc1")
        m.stage("fc2")
        x = m.add("Dense", DenseAct(4096, 4096, activation=relu), x, "fc2")
        m.mark_features()
        m.stage("predictions")
        m.add("Dense", DenseAct(4096, classes), x, "predictions")
    else:
        m.add("GlobalAveragePooling2D", graph.global_avg_pool, x)
        m.mark_features()
    return m.eval()
