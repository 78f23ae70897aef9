"""Loaders for real layouts, on small fake datasets written to tmp_path."""
import warnings

import imageio.v3 as iio
import numpy as np
import pytest

from refgan.data import detect_layout, load_dataset
from refgan.data.loaders import parse_cnmc_patient
from refgan.data.preprocess import center_crop, to_rgb8
from refgan.errors import UserError


def _img(rng, h=20, w=20, c=3, dtype=np.uint8):
    hi = 65535 if dtype == np.uint16 else 255
    shape = (h, w) if c == 0 else (h, w, c)
    return rng.integers(0, hi + 1, shape).astype(dtype)


def _write(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, arr)
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_folder_layout_all_formats_and_conversions(tmp_path, rng):
    root = tmp_path / "cells"
    _write(root / "a" / "x1.png", _img(rng))
    _write(root / "a" / "sub" / "x2.jpg", _img(rng))
    _write(root / "a" / "x3.bmp", _img(rng))
    _write(root / "b" / "y1.tif", _img(rng, c=0, dtype=np.uint16))    # 16-bit grey
    _write(root / "b" / "y2.png", _img(rng, c=4))                     # RGBA
    _write(root / "b" / "y3.tiff", _img(rng, c=0))                    # grey
    (root / "b" / "notes.txt").write_text("not an image")
    ds = load_dataset(root)
    assert ds.meta["layout"] == "folder"
    assert ds.class_names == ["a", "b"] and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.images.shape == (6, 3, 20, 20) and ds.images.dtype == np.float32
    assert -1 <= ds.images.min() and ds.images.max() <= 1
    rep = ds.meta["report"]
    assert rep.conversions["16bit->8bit"] == 1 and rep.conversions["rgba->rgb"] == 1
    assert rep.conversions["gray->rgb"] == 2
    assert any("notes.txt" in p for p, _ in rep.ignored)
    assert all(p.startswith(str(root)) for p in ds.paths)


def test_uint8_roundtrip_is_exact(tmp_path, rng):
    a, b = _img(rng), _img(rng)
    _write(tmp_path / "c0" / "a.png", a)
    _write(tmp_path / "c1" / "b.png", b)
    ds = load_dataset(tmp_path)
    np.testing.assert_array_equal(ds.uint8()[0], a)
    np.testing.assert_array_equal(ds.uint8()[1], b)


def test_sixteen_bit_scaling_and_rgba_composite():
    g16 = np.array([[0, 257, 65535]], np.uint16)
    assert to_rgb8(g16)[0, :, 0].tolist() == [0, 1, 255]
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = [200, 100, 50, 255]  # opaque keeps colour
    rgba[0, 1] = [200, 100, 50, 0]    # transparent -> background
    out = to_rgb8(rgba, alpha_bg=0)
    assert out[0, 0].tolist() == [200, 100, 50] and out[0, 1].tolist() == [0, 0, 0]
    assert to_rgb8(rgba, alpha_bg=255)[0, 1].tolist() == [255, 255, 255]
    assert to_rgb8(np.ones((3, 3), np.float32))[0, 0].tolist() == [255, 255, 255]


def test_mixed_sizes_reported_and_resized(tmp_path, rng):
    _write(tmp_path / "p" / "a.png", _img(rng, 20, 20))
    _write(tmp_path / "p" / "b.png", _img(rng, 20, 20))
    _write(tmp_path / "q" / "c.png", _img(rng, 30, 40))
    ds = load_dataset(tmp_path)
    assert ds.images.shape[2:] == (20, 20)   # most common size wins
    rep = ds.meta["report"]
    assert rep.resized == 1 and len(rep.sizes) == 2
    assert any("mixed sizes" in line for line in rep.lines())
    ds = load_dataset(tmp_path, size=16)
    assert ds.images.shape[2:] == (16, 16)
    assert ds.meta["report"].cropped_to_square == 1


def test_center_crop_georgiev():
    a = np.arange(450 * 450 * 3, dtype=np.uint32).reshape(450, 450, 3)
    c = center_crop(a, 300)
    assert c.shape == (300, 300, 3) and c[0, 0, 0] == a[75, 75, 0]
    assert center_crop(a, 0.5).shape == (225, 225, 3)


def test_crop_option_before_resize(tmp_path, rng):
    _write(tmp_path / "a" / "x.png", _img(rng, 45, 45))
    _write(tmp_path / "b" / "y.png", _img(rng, 45, 45))
    ds = load_dataset(tmp_path, crop=30, size=15)
    assert ds.images.shape == (2, 3, 15, 15)


def test_truncated_and_garbage_files_error_names_file(tmp_path, rng):
    _write(tmp_path / "a" / "good.png", _img(rng))
    _write(tmp_path / "b" / "good.png", _img(rng))
    full = _write(tmp_path / "b" / "trunc.png", _img(rng, 64, 64))
    data = full.read_bytes()
    full.write_bytes(data[: len(data) // 2])
    (tmp_path / "b" / "junk.jpg").write_bytes(b"definitely not a jpeg")
    (tmp_path / "b" / "empty.png").write_bytes(b"")
    with pytest.raises(UserError, match=r"(trunc|junk|empty)\.(png|jpg).*--skip-bad"):
        load_dataset(tmp_path)
    with pytest.warns(UserWarning, match="skipped 3 unreadable"):
        ds = load_dataset(tmp_path, skip_bad=True)
    assert len(ds) == 2
    skipped = dict(ds.meta["report"].skipped)
    assert {p.split("/")[-1] for p in skipped} == {"trunc.png", "junk.jpg", "empty.png"}
    assert "0 bytes" in skipped[str(tmp_path / "b" / "empty.png")]
    assert "skipped (bad): 3" in ds.meta["report"].lines()[0]


def test_class_left_empty_after_skipping_is_an_error(tmp_path, rng):
    _write(tmp_path / "a" / "good.png", _img(rng))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bad.png").write_bytes(b"xx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserError, match="no images left"):
            load_dataset(tmp_path, skip_bad=True)


def test_empty_class_folder_one_class_unknown_layout(tmp_path, rng):
    _write(tmp_path / "a" / "x.png", _img(rng))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty.*no images"):
        load_dataset(tmp_path)
    (tmp_path / "empty").rmdir()
    with pytest.raises(UserError, match="one class only"):
        load_dataset(tmp_path)
    flat = tmp_path / "flat"
    _write(flat / "x.png", _img(rng))
    with pytest.raises(UserError, match="cannot tell the layout"):
        load_dataset(flat)
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(UserError, match="unknown layout"):
        load_dataset(tmp_path, layout="bogus")


def test_allidb2(tmp_path, rng):
    for i, lab in enumerate([1, 0, 1, 0, 0]):
        _write(tmp_path / "ALL_IDB2" / "img" / f"Im{i + 1:03d}_{lab}.tif", _img(rng, 25, 25))
    (tmp_path / "ALL_IDB2" / "readme.txt").write_text("x")
    assert detect_layout(tmp_path) == "allidb2"
    ds = load_dataset(tmp_path, size=16)
    assert ds.class_names == ["healthy", "blast"]
    assert ds.labels.tolist() == [1, 0, 1, 0, 0]
    assert ds.groups is None and ds.images.shape == (5, 3, 16, 16)


def test_cnmc_patient_groups(tmp_path, rng):
    assert parse_cnmc_patient("UID_11_10_1_all.bmp") == "11"
    assert parse_cnmc_patient("UID_H10_43_1_hem.bmp") == "H10"
    assert parse_cnmc_patient("cell.bmp") is None
    for fold in ("fold_0", "fold_1"):
        _write(tmp_path / fold / "all" / f"UID_11_{fold[-1]}_1_all.bmp", _img(rng, 45, 45))
        _write(tmp_path / fold / "all" / f"UID_12_{fold[-1]}_1_all.bmp", _img(rng, 45, 45))
        _write(tmp_path / fold / "hem" / f"UID_H3_{fold[-1]}_1_hem.bmp", _img(rng, 45, 45))
    _write(tmp_path / "fold_1" / "hem" / "odd_name.bmp", _img(rng, 45, 45))
    assert detect_layout(tmp_path) == "cnmc"
    ds = load_dataset(tmp_path, crop=30, size=16)
    assert ds.class_names == ["healthy", "blast"]
    assert ds.class_counts() == {"healthy": 3, "blast": 4}
    assert sorted(set(ds.groups[ds.labels == 1])) == ["11", "12"]
    assert "H3" in set(ds.groups) and "?odd_name" in set(ds.groups)
    assert any("patient id not found in 1" in n for n in ds.meta["report"].notes)


def test_pbc_and_idc_and_npz(tmp_path, rng):
    pbc = tmp_path / "PBC"
    for c in ("neutrophil", "Eosinophil", "platelet"):
        _write(pbc / c / "a.jpg", _img(rng, 36, 36))
    assert detect_layout(pbc) == "pbc"
    ds = load_dataset(pbc, size=12)
    assert ds.class_names == ["eosinophil", "neutrophil", "platelet"]

    idc = tmp_path / "IDC"
    for pid in ("10253", "10254"):
        for lab in ("0", "1"):
            _write(idc / pid / lab / f"{pid}_idx5_x1_y1_class{lab}.png", _img(rng, 50, 50))
    assert detect_layout(idc) == "idc"
    ds = load_dataset(idc)
    assert ds.class_names == ["non-IDC", "IDC"] and len(ds) == 4
    assert sorted(set(ds.groups)) == ["10253", "10254"]

    npz = tmp_path / "bloodmnist.npz"
    np.savez(npz, train_images=rng.integers(0, 256, (4, 28, 28, 3), dtype=np.uint8),
             train_labels=np.array([[0], [1], [7], [2]]),
             val_images=rng.integers(0, 256, (2, 28, 28, 3), dtype=np.uint8), val_labels=np.array([[3], [4]]),
             test_images=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), test_labels=np.array([[5], [6]]))
    assert detect_layout(npz) == "npz"
    ds = load_dataset(npz)
    assert len(ds) == 8 and ds.class_names[7] == "platelet"
    assert ds.meta["npz_split"].tolist() == ["train"] * 4 + ["val"] * 2 + ["test"] * 2
    ds = load_dataset(npz, npz_split="val", size=14)
    assert len(ds) == 2 and ds.images.shape[2:] == (14, 14)
    bad = tmp_path / "bad.npz"
    np.savez(bad, foo=np.zeros(3))
    with pytest.raises(UserError, match="expected train_images"):
        load_dataset(bad)
