#!/usr/bin/env python3
"""Throughput of the embedded dataset and of classic augmentation.

    python bench/bench_data.py [--n 2000] [--size 64] [--repeat 3]

Prints images/s for the generator (smear and segmented, all worker threads)
and for each augmentation on a float32 (N, 3, size, size) batch.  The best of
``--repeat`` runs is reported (the first call also compiles the Numba kernel,
so a warm-up run is made first).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from refgan import augment as A  # noqa: E402
from refgan.data import make_blood_cells  # noqa: E402


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, numpy {np.__version__}")
    make_blood_cells(8, size=args.size)  # warm-up (Numba compile or cache load)
    for style in ("smear", "segmented"):
        for workers in (1, None):
            dt = best_of(lambda: make_blood_cells(args.n // 2, size=args.size, style=style, workers=workers),
                         args.repeat)
            w = workers or min(2, os.cpu_count() or 1)
            print(f"generator {style:9s} {args.size}x{args.size}, {w} thread(s): {args.n / dt:8.0f} images/s")
    x = make_blood_cells(args.n // 2, size=args.size).images
    transforms = [A.HorizontalFlip(p=1), A.Rotate90(p=1), A.Rotate45(p=1), A.Rotate(limit=45, p=1),
                  A.Affine(rotate=15, scale=(0.9, 1.1), translate=0.1, p=1), A.RandomCrop(p=1),
                  A.GaussianBlur(p=1), A.GaussianNoise(p=1), A.BrightnessContrast(p=1), A.HueSaturation(p=1),
                  A.StainJitter(p=1)]
    for t in transforms:
        dt = best_of(lambda: t(x, seed=0), args.repeat)
        print(f"augment {type(t).__name__:18s}: {len(x) / dt:9.0f} images/s")
    dt = best_of(lambda: A.rotations45(make_ds(x)), args.repeat)
    print(f"augment rotations45 (8x expand): {len(x) / dt:9.0f} source images/s")


def make_ds(x):
    from refgan.data import Dataset

    return Dataset(images=x, labels=np.zeros(len(x), np.int64), class_names=["a"])


if __name__ == "__main__":
    main()
