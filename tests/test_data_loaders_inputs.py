"""Dataset loading (refgan/data/loaders.py): damaged, odd or misplaced inputs are
converted right, refused with one clear line, or accounted for in the load
report; never silently wrong.

Each test writes small images with imageio/Pillow into tmp_path and compares the
loaded pixels with the source pixels."""
import os
import sys
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from refgan.data import load_dataset
from refgan.errors import UserError

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
cli = pytest.importorskip("cli")


def _rgb(rng, h=24, w=24):
    """A smooth colour image (JPEG keeps it within a few levels)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = rng.uniform(40, 200, 3)
    return np.clip(base + 50 * np.stack([yy, xx, yy * xx], -1), 0, 255).astype(np.uint8)


def _write(path: Path, arr) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, arr)
    return path


def _quiet_load(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(*args, **kw)


def _entries(root: Path) -> set[str]:
    """Every file and symlink under root, without following links."""
    out = set()
    for d, dirs, files in os.walk(root):
        out |= {os.path.join(d, f) for f in files}
        out |= {os.path.join(d, x) for x in dirs if os.path.islink(os.path.join(d, x))}
    return out


def _assert_accounted(ds, root: Path):
    rep = ds.meta["report"]
    known = set(ds.paths) | {p for p, _ in rep.skipped} | {p for p, _ in rep.ignored}
    missing = {p for p in _entries(root) if p not in known and not any(k.startswith(p + os.sep) for k in known)}
    assert not missing, f"files seen but not in the load report: {sorted(missing)}"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------- colour and bit depth
def test_cmyk_jpeg_and_tiff_are_converted_not_read_as_rgba(tmp_path, rng):
    src = {}
    for cls, ext in (("a", "jpg"), ("b", "tif")):
        src[cls] = _rgb(rng)
        (tmp_path / cls).mkdir()
        Image.fromarray(src[cls]).convert("CMYK").save(tmp_path / cls / f"x.{ext}", quality=100)
    ds = load_dataset(tmp_path)
    got = ds.uint8()
    assert np.abs(got[0].astype(int) - src["a"]).mean() < 3          # JPEG: within a few levels
    np.testing.assert_array_equal(got[1], src["b"])                  # TIFF: exact
    conv = ds.meta["report"].conversions
    assert conv["cmyk->rgb"] == 2 and conv["rgba->rgb"] == 0


def test_twelve_bit_data_in_uint16_uses_the_datasets_depth(tmp_path, rng):
    bright, dark = _rgb(rng)[:, :, 0], (_rgb(rng)[:, :, 0] // 4)     # dark: one image far below the top
    to12 = lambda u8: np.rint(u8.astype(float) * 4095 / 255).astype(np.uint16)  # noqa: E731
    _write(tmp_path / "a" / "bright.png", to12(bright))
    _write(tmp_path / "b" / "dark.png", to12(dark))
    with pytest.warns(UserWarning, match="12-bit"):
        ds = load_dataset(tmp_path)
    got = ds.uint8()[..., 0]
    np.testing.assert_array_equal(got[0], bright)
    np.testing.assert_array_equal(got[1], dark)      # scaled by the dataset's depth, not brightened alone
    rep = ds.meta["report"]
    assert rep.bit_depth == 12
    assert any("12 bits used" in line for line in rep.lines())


def test_true_sixteen_bit_and_eight_bit_in_uint16(tmp_path, rng):
    full = rng.integers(0, 65536, (20, 20)).astype(np.uint16)
    full[0, 0] = 65535
    _write(tmp_path / "a" / "x.tif", full)
    _write(tmp_path / "b" / "y.tif", rng.integers(0, 65536, (20, 20)).astype(np.uint16))
    ds = load_dataset(tmp_path)
    np.testing.assert_array_equal(ds.uint8()[0, ..., 0], np.rint(full / 257).astype(np.uint8))
    assert ds.meta["report"].bit_depth == 16
    low = tmp_path / "low"
    src = rng.integers(0, 256, (2, 20, 20)).astype(np.uint16)
    _write(low / "a" / "x.png", src[0])
    _write(low / "b" / "y.png", src[1])
    with pytest.warns(UserWarning, match="8-bit data"):
        ds = load_dataset(low)
    np.testing.assert_array_equal(ds.uint8()[..., 0], src)


def test_tiny_images_warn(tmp_path, rng):
    _write(tmp_path / "a" / "x.png", _rgb(rng, 1, 1))
    _write(tmp_path / "b" / "y.png", _rgb(rng, 4, 4))
    with pytest.warns(UserWarning, match=r"2 image\(s\) .* smaller than 16x16 \(smallest 1x1\).*64x64"):
        ds = load_dataset(tmp_path, size=64)
    assert any("smaller than 16x16" in n for n in ds.meta["report"].notes)


# --------------------------------------------------------------------- every file accounted for
def test_symlinks_dangling_looping_and_external_folders(tmp_path, rng):
    root, ext = tmp_path / "data", tmp_path / "elsewhere"
    a = _write(root / "a" / "x.png", _rgb(rng))
    _write(root / "b" / "y.png", _rgb(rng))
    ext_img = _write(ext / "z.png", _rgb(rng))
    os.symlink(tmp_path / "missing.png", root / "a" / "dangling.png")
    os.symlink(root / "a" / "loop.png", root / "a" / "loop.png")
    os.symlink(root, root / "b" / "back")                     # a folder loop
    os.symlink(ext, root / "a" / "more")                      # a folder outside: followed
    os.symlink(a, root / "b" / "same.png")                    # a file link: read as an image
    ds = _quiet_load(root)
    why = dict(ds.meta["report"].ignored)
    assert "dangling" in why[str(root / "a" / "dangling.png")]
    assert "loop" in why[str(root / "a" / "loop.png")]
    assert "read elsewhere" in why[str(root / "b" / "back")]
    assert str(root / "a" / "more" / "z.png") in ds.paths
    np.testing.assert_array_equal(ds.uint8()[ds.paths.index(str(root / "a" / "more" / "z.png"))],
                                  iio.imread(ext_img))
    assert ds.class_counts() == {"a": 2, "b": 2}
    _assert_accounted(ds, root)


def test_images_in_the_root_are_reported_and_warned(tmp_path, rng):
    _write(tmp_path / "a" / "x.png", _rgb(rng))
    _write(tmp_path / "b" / "y.png", _rgb(rng))
    _write(tmp_path / "stray.png", _rgb(rng))
    (tmp_path / "README.txt").write_text("x")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"x")
    with pytest.warns(UserWarning, match=r"1 image file\(s\) .* not loaded \(image in the dataset root"):
        ds = load_dataset(tmp_path)
    why = dict(ds.meta["report"].ignored)
    assert why[str(tmp_path / "stray.png")] == "image in the dataset root, not in a class folder"
    assert "not an image" in why[str(tmp_path / "README.txt")]
    assert why[str(tmp_path / "a" / ".DS_Store")] == "hidden file"
    assert any("image in the dataset root" in line for line in ds.meta["report"].lines())
    _assert_accounted(ds, tmp_path)


def test_cnmc_images_outside_all_and_hem(tmp_path, rng):
    for fold in ("fold_0", "fold_1"):
        _write(tmp_path / "train" / fold / "all" / f"UID_1_{fold[-1]}_1_all.bmp", _rgb(rng))
        _write(tmp_path / "train" / fold / "hem" / f"UID_H2_{fold[-1]}_1_hem.bmp", _rgb(rng))
    _write(tmp_path / "validation_data" / "1.bmp", _rgb(rng))
    _write(tmp_path / "validation_data" / "2.bmp", _rgb(rng))
    with pytest.warns(UserWarning, match=r"2 image file\(s\) .*outside all/ and hem/"):
        ds = load_dataset(tmp_path, layout="cnmc")
    assert ds.class_counts() == {"healthy": 2, "blast": 2}
    why = dict(ds.meta["report"].ignored)
    assert "label is unknown" in why[str(tmp_path / "validation_data" / "1.bmp")]
    _assert_accounted(ds, tmp_path)


def test_allidb2_unexpected_label_digit_and_names(tmp_path, rng):
    for i, lab in enumerate([1, 0, 1, 0]):
        _write(tmp_path / f"Im{i + 1:03d}_{lab}.tif", _rgb(rng))
    _write(tmp_path / "Im005_2.tif", _rgb(rng))
    _write(tmp_path / "extra.jpg", _rgb(rng))
    with pytest.warns(UserWarning, match="not loaded"):
        ds = load_dataset(tmp_path)
    assert len(ds) == 4
    why = dict(ds.meta["report"].ignored)
    assert "label digit 2" in why[str(tmp_path / "Im005_2.tif")]
    assert "not ALL-IDB2's ImNNN_L" in why[str(tmp_path / "extra.jpg")]
    _assert_accounted(ds, tmp_path)


def test_idc_files_outside_class_folders(tmp_path, rng):
    for pid in ("p1", "p2"):
        for lab in ("0", "1"):
            _write(tmp_path / pid / lab / "a.png", _rgb(rng))
    _write(tmp_path / "p1" / "2" / "odd.png", _rgb(rng))
    ds = _quiet_load(tmp_path, layout="idc")
    assert len(ds) == 4
    assert "outside <patient>/0/" in dict(ds.meta["report"].ignored)[str(tmp_path / "p1" / "2" / "odd.png")]
    _assert_accounted(ds, tmp_path)


# --------------------------------------------------------------------- npz validation
def _npz(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((4, 8, 8), np.uint8), np.array([0, 2, 0, 2]), r"class\(es\) 1 \('class_1'\) have no images"),
    (np.zeros((4, 8, 8), np.uint8), np.array([0, 1.5, 0, 1]), r"non-integer label.*1\.5 at index 1"),
    (np.zeros((4, 8, 8), np.uint8), np.array([0, -1, 0, 1]), "negative label"),
    (np.zeros((4, 8, 8), np.uint8), np.array([0, 1, 0]), "3 labels for 4 images"),
    (np.zeros((4, 64), np.uint8), np.array([0, 1, 0, 1]), r"shape \(4, 64\): flat images; reshape"),
    (np.zeros((4, 8, 8), np.uint8), np.zeros((4, 14)), "multi-label"),
    (np.where(np.arange(4)[:, None, None] == 2, np.nan, np.zeros((4, 8, 8))), np.array([0, 1, 0, 1]),
     r"64 NaN/inf pixel value\(s\) \(first in image 2\)"),
    (np.full((4, 8, 8), 300.0), np.array([0, 1, 0, 1]), r"float images range over \[300, 300\]"),
])
def test_npz_bad_arrays_are_one_clear_error(tmp_path, images, labels, message):
    path = _npz(tmp_path, images=images, labels=labels)
    with pytest.raises(UserError, match=message):
        load_dataset(path)


def test_npz_object_array_and_short_class_names(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((8, 8)), np.zeros((9, 9))
    path = _npz(tmp_path, images=ragged, labels=np.array([0, 1]))
    with pytest.raises(UserError, match="'images' is an object array"):
        load_dataset(path)
    path = _npz(tmp_path, "n.npz", images=np.zeros((2, 8, 8), np.uint8), labels=np.array([0, 2]),
                class_names=np.array(["x", "y"]))
    with pytest.raises(UserError, match="class_names has 2 name"):
        load_dataset(path)


def test_npz_float_labels_and_value_ranges_per_file(tmp_path, rng):
    src = rng.integers(0, 256, (4, 16, 16)).astype(np.uint8)
    src[0] = src[0] // 4                                  # one dark image must not be rescaled on its own
    path = _npz(tmp_path, images=src.astype(np.float32), labels=np.array([0.0, 1.0, 0.0, 1.0]))
    ds = load_dataset(path)
    np.testing.assert_array_equal(ds.uint8()[..., 0], src)
    assert ds.labels.tolist() == [0, 1, 0, 1]
    signed = _npz(tmp_path, "s.npz", images=src.astype(np.float32) / 127.5 - 1, labels=np.array([0, 1, 0, 1]))
    np.testing.assert_array_equal(load_dataset(signed).uint8()[..., 0], src)
    deep = _npz(tmp_path, "u.npz", images=np.rint(src * (4095 / 255)).astype(np.uint16),
                labels=np.array([0, 1, 0, 1]))
    with pytest.warns(UserWarning, match="12-bit"):
        np.testing.assert_array_equal(load_dataset(deep).uint8()[..., 0], src)


def test_npz_one_part_may_miss_a_class(tmp_path, rng):
    path = _npz(tmp_path, train_images=np.zeros((3, 8, 8), np.uint8), train_labels=np.array([0, 1, 2]),
                test_images=np.zeros((2, 8, 8), np.uint8), test_labels=np.array([0, 2]))
    ds = _quiet_load(path, npz_split="test")
    assert ds.n_classes == 3 and any("no images of class" in n for n in ds.meta["report"].notes)


# --------------------------------------------------------------------- options
@pytest.mark.parametrize("kw, message", [
    (dict(size=0), "image size 0"), (dict(size=-1), "image size -1"), (dict(size=2.5), "image size 2.5"),
    (dict(crop=0), "crop 0 is not a positive"), (dict(crop=1.5), r"crop fraction 1\.5"),
])
def test_load_dataset_refuses_bad_size_and_crop(tmp_path, rng, kw, message):
    _write(tmp_path / "a" / "x.png", _rgb(rng))
    _write(tmp_path / "b" / "y.png", _rgb(rng))
    with pytest.raises(UserError, match=message):
        load_dataset(tmp_path, **kw)


@pytest.mark.parametrize("argv, message", [
    (["--size", "-1"], "--size -1: give a positive side in pixels"),
    (["--crop", "0"], "--crop 0: give the side in pixels"),
])
def test_data_info_bad_size_and_crop_one_line(tmp_path, rng, capsys, argv, message):
    _write(tmp_path / "a" / "x.png", _rgb(rng))
    _write(tmp_path / "b" / "y.png", _rgb(rng))
    assert cli.main(["data", "info", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_every_data_option_has_help_and_the_examples_reach_argparse():
    import argparse

    parser = cli.build_parser()
    data = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["data"]
    assert "data info PATH [--layout auto]" in data.format_help()
    subs = next(a for a in data._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(subs) == {"preview", "info", "calibrate", "speed"}
    undocumented = [f"{name} {a.dest}" for name, p in subs.items() for a in p._actions
                    if not isinstance(a, argparse._HelpAction) and not a.help]
    assert undocumented == []
