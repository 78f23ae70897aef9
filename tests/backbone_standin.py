"""A tiny network with refgan.backbones' API, for the tests of what uses a backbone.

It stands in for VGG16 / ResNet50 / InceptionV3 / EfficientNet-B0 (no pretrained weights
exist on the test machines, and the real networks are slow on a CPU): three blocks,
``features`` (N, 6), logits (N, 10), ``preprocess`` to 8 x 8 with a fixed
normalisation, and a counter of the images ``features`` has seen.
"""
import numpy as np

from refgan import nn
from refgan import random as rrandom
from refgan.data.imops import resize


class StandIn(nn.Module):
    """stem (1x1 conv, ReLU) -> stage (3x3 conv, ReLU) -> pool (average, linear to 6)."""

    family = "torchvision"
    input_size = 8
    feature_dim = 6

    def __init__(self, seed: int = 0, name: str = "standin"):
        super().__init__()
        with rrandom.using(np.random.default_rng(seed)):
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU())
            self.stage = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
            self.pool = nn.Sequential(nn.AvgPool2d(8), nn.Flatten(), nn.Linear(8, 6))
            self.fc = nn.Linear(6, 10)
        self.name = name
        self.blocks = [self.stem, self.stage, self.pool]
        self.calls = 0  # images run through features()

    def preprocess(self, images):
        """[0, 1] images (N, 3, H, W) -> (N, 3, 8, 8), normalised as (x - 0.5) / 0.25."""
        return (resize(np.asarray(images, np.float32), self.input_size) - 0.5) / 0.25

    def features(self, x):
        self.calls += len(x)
        return self.pool(self.stage(self.stem(x)))

    def forward(self, x):
        return self.fc(self.features(x))


def two_class_images(n: int = 60, size: int = 16, seed: int = 0):
    """Images (n, 3, size, size) in [-1, 1] whose class shifts the colour, labels (n,)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    tint = np.array([1.0, -1.0, 0.5])[None, :, None, None]
    x = rng.uniform(-0.5, 0.5, (n, 3, size, size)) + (y[:, None, None, None] - 0.5) * tint
    return x.astype(np.float32), y
