#!/usr/bin/env python3
"""What the frozen-feature cache saves: a BackboneClassifier fitted with a cold cache,
then the same training set refitted (another head, another fold's classifier) warm.

    python bench/deep_cache.py [--nets efficientnet_b0,resnet50] [--n 16] [--views 1]

Random-weight backbones (``refgan.backbones.build``: no pretrained weights are needed
to time them) on ``--n`` embedded blood-cell images of 32 x 32 (resized to the
network's input by its ``preprocess``); ``--views`` rotated views per image (1: no
rotation). Prints a Markdown table: seconds per image through the backbone (cold fit),
the cold fit, the warm refit, and the images the backbone saw in each.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from refgan import backbones  # noqa: E402
from refgan.classifiers.deep import FEATURE_CACHE, BackboneClassifier  # noqa: E402
from refgan.data import make_blood_cells  # noqa: E402


class Counting:
    """Wraps a backbone, counting the images its ``features`` sees."""

    def __init__(self, net):
        self.net, self.calls = net, 0

    def __getattr__(self, name):
        return getattr(self.net, name)

    def features(self, x):
        self.calls += len(x)
        return self.net.features(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="efficientnet_b0,resnet50")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--views", type=int, default=1)
    args = ap.parse_args(argv)
    ds = make_blood_cells(args.n // 2, size=32, seed=0)
    rot = dict(rotation=45.0, rotation_views=args.views) if args.views > 1 else {}
    print("| network | s / image (cold) | cold fit (s) | warm refit (s) | images through the backbone, cold / warm |")
    print("|---|---|---|---|---|")
    for name in args.nets.split(","):
        FEATURE_CACHE.clear()
        net = backbones.build(name, seed=0)
        counting = Counting(net)
        clf = BackboneClassifier(net, epochs=20, lr=1e-3, **rot)
        key = clf._network_key()
        clf._network_key = lambda: key  # the digest of the weights is not what is timed
        clf._network = lambda: counting
        t = time.perf_counter()
        clf.fit(ds.images, ds.labels)
        cold, n_cold = time.perf_counter() - t, counting.calls
        clf.set_params(head="fc320")
        t = time.perf_counter()
        clf.fit(ds.images, ds.labels)
        warm = time.perf_counter() - t
        print(f"| {name} | {cold / max(n_cold, 1):.3f} | {cold:.2f} | {warm:.3f} | {n_cold} / {counting.calls - n_cold} |")


if __name__ == "__main__":
    main()
