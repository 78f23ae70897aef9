"""VGG16 (Simonyan and Zisserman 2015), as keras.applications.VGG16 builds it.

Thirteen 3x3 'same' convolutions with ReLU in five blocks, each block closed by a 2x2
max pool; then Flatten, fc1 and fc2 (4096, ReLU) and the 1000-way ``predictions``.
The penultimate vector is fc2's output (4096). Gaur et al. train the last layer of it.
"""
from __future__ import annotations

from refgan import nn, ops
from refgan.backbones import graph
from refgan.backbones.base import ConvAct, DenseAct, KerasBackbone, TorchBackbone, relu

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


class TorchVGG16(TorchBackbone):
    """torchvision.models.vgg16: ``features`` (convs at 0, 2, 5, ...; ReLU and max pools
    between), ``avgpool`` (adaptive 7x7, the identity at 224), ``classifier`` (Linear
    25088 -> 4096, ReLU, Dropout, Linear 4096 -> 4096, ReLU, Dropout, Linear -> 1000).
    The penultimate vector is classifier[4]'s output (fc2 after its ReLU)."""

    def __init__(self, classes: int = 1000):
        super().__init__("vgg16", 224, 4096, "torch")
        layers, cin, stages = [], 3, []
        for block, filters, n in VGG16_BLOCKS:
            children = []
            for _ in range(n):
                children.append(f"features.{len(layers)}")
                layers += [nn.Conv2d(cin, filters, 3, padding=1), nn.ReLU()]
                cin = filters
            layers.append(nn.MaxPool2d(2, 2))
            stages.append((f"block{block}", children))
        # "features" is the method (the penultimate vector): register the child by hand
        self._modules["features"] = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(nn.Linear(512 * 49, 4096), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(4096, classes))
        stages += [("fc1", ["classifier.0"]), ("fc2", ["classifier.3"]),
                   ("predictions", ["classifier.6"])]
        object.__setattr__(self, "stages", stages)

    def forward_features(self, x):
        x = ops.flatten(self.avgpool(self._modules["features"](x)))
        c = self.classifier
        return c[5](c[4](c[3](c[2](c[1](c[0](x))))))

    def head(self, f):
        return self.classifier[6](f)


def torchvision_vgg16(classes: int = 1000) -> TorchVGG16:
    return TorchVGG16(classes).eval()
