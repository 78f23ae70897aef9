"""Loaded images are the images a viewer shows, read on one scale per dataset: float
images share one value range, palette transparency and EXIF orientation are applied,
and duplicate images (in two classes, or twice in one) are reported by name."""
import imageio.v3 as iio
import numpy as np
from PIL import Image

import cli
from refgan.data import load_dataset
from refgan.data.loaders import load_reported


def _folder(root, images: dict):
    """``{class: {file name: array or PIL image}}`` written under ``root``."""
    for cls, files in images.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for name, img in files.items():
            if isinstance(img, Image.Image):
                img.save(root / cls / name, **img.info.get("save", {}))
            else:
                iio.imwrite(root / cls / name, img)
    return root


def _u8(ds, name):
    i = next(k for k, p in enumerate(ds.paths) if p.endswith(name))
    return ds.uint8()[i]


def test_float_tiffs_share_one_value_range_per_dataset(tmp_path):
    ramp = np.linspace(0, 250, 256, dtype=np.float32).reshape(16, 16)
    dark = np.full((16, 16), 0.9, np.float32)  # a dark image of a [0, 255] set
    root = _folder(tmp_path / "d", {"a": {"bright.tif": ramp, "dark.tif": dark},
                                    "b": {"x.tif": ramp[::-1].copy(), "y.tif": ramp.T.copy()}})
    ds = load_dataset(root)
    assert _u8(ds, "dark.tif").max() <= 1  # was 229: read as [0, 1] on its own
    assert abs(int(_u8(ds, "bright.tif").max()) - 250) <= 1
    report = ds.meta["report"]
    assert report.float_range == (0.0, 255.0)
    assert any("all read as [0, 255]" in line for line in report.lines())


def test_palette_transparency_is_composited_and_exif_orientation_applied(tmp_path):
    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([255, 0, 0] + [0, 255, 0] + [0, 0, 0] * 254)
    pal.paste(0, (0, 0, 8, 16))  # left half: colour 0, red, which is the transparent one
    pal.info["save"] = {"transparency": 0}
    upright = np.zeros((16, 16, 3), np.uint8)
    upright[:2, :, 0] = 255  # a red band on top
    turned = Image.fromarray(np.rot90(upright, 1).copy())  # stored turned; EXIF 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    turned.info["save"] = {"exif": exif}
    plain = np.full((16, 16, 3), 90, np.uint8)
    root = _folder(tmp_path / "d", {"a": {"pal.png": pal, "exif.png": turned},
                                    "b": {"p.png": plain, "q.png": plain + 10}})
    ds = load_dataset(root)
    p = _u8(ds, "pal.png")
    assert (p[:, :8] == 0).all() and (p[:, 8:] == [0, 255, 0]).all()  # transparent: the background
    np.testing.assert_array_equal(_u8(ds, "exif.png"), upright)
    conv = ds.meta["report"].conversions
    assert conv["palette+transparency->rgba"] == 1 and conv["exif orientation 6->upright"] == 1


def test_duplicate_images_are_named_in_data_info_and_train(tmp_path, capsys):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(12)]
    root = _folder(tmp_path / "d", {
        "healthy": {f"h{i}.png": imgs[i] for i in range(6)},
        "blast": {**{f"b{i}.png": imgs[6 + i] for i in range(5)}, "copy_of_h0.png": imgs[0],
                  "again_b1.png": imgs[7]}})
    lines = []
    load_reported(root, lines.append, size=16)
    text = "\n".join(lines)
    assert "1 pair(s) of the same image in two classes" in text
    assert "h0.png" in text and "copy_of_h0.png" in text
    assert "1 pair(s) of the same image twice in one class" in text and "again_b1.png" in text
    assert cli.main(["data", "info", str(root), "--size", "16"]) == 0
    assert "copy_of_h0.png" in capsys.readouterr().out
    assert cli.main(["--backend", "numpy", "train", "--preset", "smoke", "--steps", "1",
                     "--batch", "4", "--data", str(root), "--run-dir", str(tmp_path / "run")]) == 0
    assert "same image in two classes" in capsys.readouterr().err
