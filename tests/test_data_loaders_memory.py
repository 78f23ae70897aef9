"""Loading with a target size keeps no image at full resolution longer than it takes
to read it: each file is converted, squared and resized as it is read, so a folder of
large photographs costs memory for the small images only."""
import tracemalloc

import imageio.v3 as iio
import numpy as np
import pytest

from refgan.data import load_dataset

SIDE, N = 700, 24  # 1.5 MB of pixels per image, 35 MB in all


def test_large_images_are_resized_as_they_are_read(tmp_path):
    ramp = np.linspace(0, 255, SIDE, dtype=np.float32)
    for i in range(N):
        cls = tmp_path / ("a" if i % 2 else "b")
        cls.mkdir(exist_ok=True)
        column = (ramp[:, None, None] * np.array([1, (i + 1) / N, 0.5])).astype(np.uint8)  # (SIDE, 1, 3)
        iio.imwrite(cls / f"{i}.png", np.ascontiguousarray(np.broadcast_to(column, (SIDE, SIDE, 3))))
    tracemalloc.start()
    try:
        ds = load_dataset(tmp_path, size=16, workers=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ds.images.shape == (N, 3, 16, 16) and ds.meta["report"].resized == N
    whole = N * SIDE * SIDE * 3
    assert peak < whole / 3, f"peak {peak / 1e6:.0f} MB while reading {whole / 1e6:.0f} MB of pixels"


def test_sixteen_bit_images_are_read_twice_but_scaled_as_one_dataset(tmp_path):
    """A 12-bit set stored in 16 bits: the depth is the dataset's (max 4095), though
    each image is resized as it is read."""
    for cls, top in (("a", 4095), ("b", 1000)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            img = np.full((64, 64), top, np.uint16)
            img[:32] = 0
            iio.imwrite(tmp_path / cls / f"{i}.png", img)
    with pytest.warns(UserWarning, match="read as 12-bit data"):
        ds = load_dataset(tmp_path, size=16)
    assert ds.meta["report"].bit_depth == 12
    u8 = ds.uint8()
    assert u8[ds.labels == 0].max() == 255 and u8[ds.labels == 1].max() == round(1000 * 255 / 4095)
