"""Loaders for real datasets a user already has on disk.

Layouts (``layout=`` or detected with ``'auto'``):

``folder``   ``ROOT/<class>/**/*.{png,jpg,jpeg,bmp,tif,tiff}``, one folder per class.
``allidb2``  ALL-IDB2: ``ROOT/**/ImNNN_L.tif`` with ``L = 1`` blast, ``0`` healthy.
``cnmc``     C-NMC 2019: ``**/all/*`` (blast) and ``**/hem/*`` (healthy); the
             patient id is parsed from names like ``UID_11_10_1_all.bmp`` /
             ``UID_H10_43_1_hem.bmp`` (second field) into ``groups``, so
             :func:`refgan.data.split` keeps each patient in one split.
``pbc``      Barcelona PBC: a ``folder`` layout whose folder names are PBC
             cell types (basophil, eosinophil, erythroblast, ig, lymphocyte,
             monocyte, neutrophil, platelet).
``idc``      IDC breast histopathology: ``ROOT/<patient>/{0,1}/*.png``, patient
             folders become ``groups``.
``npz``      ``.npz`` with an official partition, MedMNIST's
             ``{train,val,test}_{images,labels}`` or Keras's ``{x,y}_{train,val,test}``,
             or without one, ``images``/``labels``; ``npz_split`` picks one part
             (default all; ``auto``: the train part when the file has one, else all).
             The part of each image is kept in ``meta['npz_split']``, the part loaded
             in ``meta['npz_part']``, the official parts' sizes in ``meta['npz_parts']``.

Every loader returns a :class:`~refgan.data.Dataset` (images float32
``(N, 3, H, W)`` in [-1, 1], ``paths`` the source files) with a
:class:`~refgan.data.preprocess.Report` in ``meta['report']``.  Errors name the
file or folder and say what to do; ``skip_bad=True`` skips unreadable files but
lists and counts them in the report and in a warning.
"""
from __future__ import annotations

import errno
import os
import re
import stat
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image

from refgan.data.dataset import Dataset
from refgan.data.preprocess import (Report, center_crop, colour_max, is_high_depth, resize_rgb8, square_crop, to_hwc,
                                    to_rgb8, used_bit_depth)
from refgan.data.names import check_class_names
from refgan.data.splits import find_duplicates
from refgan.errors import UserError

__all__ = ["load_dataset", "load_reported", "describe", "detect_layout", "LAYOUTS", "NPZ_SPLITS", "IMAGE_EXTS", "PBC_FOLDERS",
           "parse_cnmc_patient"]

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
LAYOUTS = ("auto", "folder", "allidb2", "cnmc", "pbc", "idc", "npz")
NPZ_PARTS = ("train", "val", "test")  # an npz's official parts, in the order they are read
NPZ_SPLITS = ("auto", *NPZ_PARTS, "all")
PBC_FOLDERS = ("basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil", "platelet")
_ALLIDB2 = re.compile(r"^Im(\d+)_(\d)\.(tif|tiff|jpg|png|bmp)$", re.IGNORECASE)
_CNMC = re.compile(r"^UID_(H?\d+)_", re.IGNORECASE)
_MEDMNIST_NAMES = {
    "bloodmnist": ["basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte",
                   "monocyte", "neutrophil", "platelet"],
    "breastmnist": ["malignant", "normal, benign"],
}


MIN_SIDE = 16  # below this many pixels a side, resizing invents most of what a model sees


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")


def _has_image_ext(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTS


def _subdirs(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan(root: Path, report: Report) -> list[Path]:
    """Every regular file under ``root`` (sorted), as the user sees its path.

    Symlinked folders are followed once, unless they point back into the tree
    (a loop, or a second route to files read anyway); dangling and looping
    symlinks, hidden files and non-regular files go to ``report.ignored`` with
    their reason, so each entry seen is accounted for."""
    inside = set()
    for d, _, _ in os.walk(root):
        st = os.stat(d)
        inside.add((st.st_dev, st.st_ino))
    followed, files = set(), []

    def walk(d: Path):
        for e in sorted(os.scandir(d), key=lambda e: e.name):
            p = d / e.name
            try:
                st = os.stat(p)
            except OSError as err:
                why = "symlink loop" if err.errno == errno.ELOOP else "dangling symlink (its target is missing)"
                report.ignored.append((str(p), why if e.is_symlink() else f"cannot stat: {err.strerror}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if e.is_symlink():
                    if key in inside or key in followed:
                        report.ignored.append((str(p), "symlink to a folder read elsewhere (a loop or a duplicate)"))
                        continue
                    followed.add(key)
                walk(p)
            elif not stat.S_ISREG(st.st_mode):
                report.ignored.append((str(p), "not a regular file"))
            elif any(part.startswith(".") for part in p.relative_to(root).parts):
                report.ignored.append((str(p), "hidden file"))
            else:
                files.append(p)

    walk(root)
    return sorted(files)


def _not_image(p: Path) -> str:
    return f"not an image ({p.suffix or 'no extension'}; images are {', '.join(sorted(IMAGE_EXTS))})"


def parse_cnmc_patient(name: str) -> str | None:
    """Patient id of a C-NMC file name (``UID_H10_43_1_hem.bmp`` -> ``'H10'``)."""
    m = _CNMC.match(name)
    return m.group(1) if m else None


def detect_layout(path) -> str:
    """Guess the layout of ``path`` (see module doc) or raise ``UserError``."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p} does not exist; give a folder of images or a .npz file")
    if p.is_file():
        if p.suffix.lower() == ".npz":
            return "npz"
        raise UserError(f"{p} is a file, not a dataset; give its folder or a .npz file")
    files = [q for q in p.rglob("*") if q.is_file()]
    if any(_ALLIDB2.match(q.name) for q in files):
        return "allidb2"
    dirs = {q.name.lower() for q in p.rglob("*") if q.is_dir()}
    if {"all", "hem"} & dirs and any(parse_cnmc_patient(q.name) for q in files):
        return "cnmc"
    if {"all", "hem"} <= dirs:
        return "cnmc"
    subs = _subdirs(p)
    if subs and all({c.name for c in _subdirs(s)} & {"0", "1"} for s in subs):
        return "idc"
    if subs:
        if all(s.name.lower() in PBC_FOLDERS for s in subs):
            return "pbc"
        return "folder"
    raise UserError(f"cannot tell the layout of {p}: expected class folders of images, ALL-IDB2 ImNNN_L.tif files, "
                    "C-NMC all/hem folders, IDC <patient>/0|1 folders or a .npz file; pass --layout")


# ---------------------------------------------------------------------------
# file lists per layout: (paths, labels, groups, class_names)
# ---------------------------------------------------------------------------
def _check_classes(class_names, labels, root, where, min_classes: int = 2):
    present = np.unique(labels)
    if len(labels) == 0:
        raise UserError(f"no images found in {root} ({where}); supported files: {', '.join(sorted(IMAGE_EXTS))}")
    if len(present) < min_classes:
        only = class_names[int(present[0])]
        raise UserError(f"{root} has images of one class only ({only!r}); a classifier or conditional GAN needs "
                        "at least two classes: add the other class folder")


def _list_folder(root: Path, report: Report, pbc: bool = False):
    subs = _subdirs(root)
    if pbc:
        subs = [s for s in subs if s.name.lower() in PBC_FOLDERS]
    if not subs:
        raise UserError(f"{root} has no class folders; put each class's images in its own sub-folder")
    by_class = {s.name: [] for s in subs}
    for q in _scan(root, report):
        rel = q.relative_to(root).parts
        if not _has_image_ext(q):
            report.ignored.append((str(q), _not_image(q)))
        elif len(rel) == 1:
            report.ignored.append((str(q), "image in the dataset root, not in a class folder"))
        elif rel[0] not in by_class:
            report.ignored.append((str(q), f"folder {rel[0]!r} is not a PBC class ({', '.join(PBC_FOLDERS)})"))
        else:
            by_class[rel[0]].append(q)
    paths, labels, names = [], [], []
    for s in subs:
        imgs = by_class[s.name]
        if not imgs:
            raise UserError(f"class folder {s} has no images ({', '.join(sorted(IMAGE_EXTS))}); "
                            "add images or remove the folder")
        labels += [len(names)] * len(imgs)
        names.append(s.name.lower() if pbc else s.name)
        paths += imgs
    return paths, np.array(labels), None, names


def _list_allidb2(root: Path, report: Report):
    paths, labels = [], []
    for q in _scan(root, report):
        m = _ALLIDB2.match(q.name)
        if m and m.group(2) in ("0", "1"):
            paths.append(q)
            labels.append(int(m.group(2)))
        elif not _has_image_ext(q):
            report.ignored.append((str(q), _not_image(q)))
        elif m:
            report.ignored.append((str(q), f"ALL-IDB2 label digit {m.group(2)} (only _0 healthy and _1 blast)"))
        else:
            report.ignored.append((str(q), "image name is not ALL-IDB2's ImNNN_L (L: 0 healthy, 1 blast)"))
    names = ["healthy", "blast"]
    _check_classes(names, np.array(labels), root, "ALL-IDB2 ImNNN_L.tif files")
    return paths, np.array(labels), None, names


def _list_cnmc(root: Path, report: Report):
    paths, labels, groups = [], [], []
    unparsed = 0
    for q in _scan(root, report):
        # the innermost all/ or hem/ folder gives the label
        key = next((d.lower() for d in reversed(q.relative_to(root).parts[:-1]) if d.lower() in ("all", "hem")), None)
        if not _has_image_ext(q):
            report.ignored.append((str(q), _not_image(q)))
            continue
        if key is None:
            report.ignored.append((str(q), "C-NMC image outside all/ and hem/ (its label is unknown)"))
            continue
        pid = parse_cnmc_patient(q.name)
        if pid is None:
            unparsed += 1
            pid = f"?{q.stem}"  # unknown patient: its own group
        paths.append(q)
        labels.append(1 if key == "all" else 0)
        groups.append(pid)
    if unparsed:
        report.notes.append(f"patient id not found in {unparsed} file name(s) (expected UID_<patient>_...); "
                            "each such image is its own group")
    names = ["healthy", "blast"]  # hem -> healthy, all -> blast
    _check_classes(names, np.array(labels), root, "C-NMC all/ and hem/ folders")
    order = sorted(range(len(paths)), key=lambda i: (labels[i], paths[i]))  # hem first, as before
    return ([paths[i] for i in order], np.array(labels)[order], np.array(groups)[order], names)


def _list_idc(root: Path, report: Report):
    paths, labels, groups = [], [], []
    for q in _scan(root, report):
        rel = q.relative_to(root).parts
        if not _has_image_ext(q):
            report.ignored.append((str(q), _not_image(q)))
        elif len(rel) < 3 or rel[1] not in ("0", "1"):
            report.ignored.append((str(q), "IDC image outside <patient>/0/ and <patient>/1/"))
        else:
            paths.append(q)
            labels.append(int(rel[1]))
            groups.append(rel[0])
    names = ["non-IDC", "IDC"]
    _check_classes(names, np.array(labels), root, "IDC <patient>/0|1/*.png")
    return paths, np.array(labels), np.array(groups), names


def _warn_ignored_images(report: Report, root: Path) -> None:
    """Image files left out are almost always a surprise: say so beyond the report."""
    missed = [(p, why) for p, why in report.ignored if _has_image_ext(Path(p)) and not why.startswith("hidden")]
    if missed:
        reasons = "; ".join(f"{why}: {k}" for why, k in Counter(w for _, w in missed).most_common())
        warnings.warn(f"{len(missed)} image file(s) under {root} not loaded ({reasons}), e.g. {missed[0][0]}; "
                      "move them where the layout expects them, or ignore this", stacklevel=4)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
# EXIF orientation tag -> the array operation an image viewer applies to show it upright
_EXIF_ORIENTATION = 0x0112
_UPRIGHT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
            7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a, 1)}


def _decode(path: Path, conv: Counter) -> np.ndarray:
    """The file's pixels as an image viewer shows them.  CMYK goes through Pillow's
    conversion (which knows Adobe's inverted CMYK JPEGs): read raw, its four channels
    would pass for RGBA with K as alpha. A palette image with a transparent colour
    becomes RGBA (then composited like any RGBA image), not its palette colour. An
    EXIF orientation other than upright is applied (rotation / mirror)."""
    orientation, a = 1, None
    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
            if im.mode == "CMYK":
                conv["cmyk->rgb"] += 1
                a = np.asarray(im.convert("RGB"))
            elif im.mode in ("P", "PA") and (im.mode == "PA" or "transparency" in im.info):
                conv["palette+transparency->rgba"] += 1
                a = np.asarray(im.convert("RGBA"))
    except Exception:  # not Pillow's: let imageio try (and raise its reason)
        pass
    if a is None:
        a = iio.imread(path)
    if orientation in _UPRIGHT and a.ndim in (2, 3):
        conv[f"exif orientation {orientation}->upright"] += 1
        a = np.ascontiguousarray(_UPRIGHT[orientation](a))
    return a


def _extremes(a: np.ndarray) -> np.ndarray:
    """A ``(1, 2)`` grey image of ``a``'s dtype holding its colour minimum and maximum:
    all that the dataset's bit depth and float range read of an image."""
    colour = a[:, :, :-1] if a.ndim == 3 and a.shape[2] in (2, 4) else a
    return np.array([[np.nanmin(colour), np.nanmax(colour)]], a.dtype)


def _read_sized(path: Path, crop, size, alpha_bg, bits=None, float_range=None):
    """Decode one file and, with ``size``, bring it to its final form at once: uint8
    RGB, square, ``size`` pixels (so a folder of huge images never sits in memory whole).
    ``(image, error, conversions, original (h, w), squared, resized, pending)``: an image
    whose scale depends on the whole dataset (> 8-bit integers, floats), read before
    ``bits`` / ``float_range`` are known, is ``pending``: only its :func:`_extremes`
    are kept, and it is read again once they are."""
    a, err, conv, orig = _read_one(path, crop)
    if err is not None or size is None:
        return a, err, conv, orig, False, False, False
    if (is_high_depth(a) and bits is None) or (a.dtype.kind == "f" and float_range is None):
        return _extremes(a), None, conv, orig, False, False, True
    try:
        a = to_rgb8(a, alpha_bg, conv, bits=bits, float_range=float_range)
    except ValueError as e:
        return None, f"ValueError: {e}", conv, orig, False, False, False
    squared = a.shape[0] != a.shape[1]
    a = square_crop(a) if squared else a
    resized = a.shape[:2] != (size, size)
    return (resize_rgb8(a, size) if resized else a), None, conv, orig, squared, resized, False


def _read_one(path: Path, crop):
    """Decode and crop one file: ``(hwc array, error, conversions, original (h, w))``.
    Pixel values stay as decoded: the bit depth is chosen for the whole dataset."""
    conv = Counter()
    try:
        if path.stat().st_size == 0:
            raise ValueError("empty file (0 bytes)")
        a = to_hwc(_decode(path, conv), conv)
        if a.dtype.kind not in "biuf" or a.ndim == 3 and a.shape[2] > 4:
            raise ValueError(f"unsupported pixels (dtype {a.dtype}, shape {a.shape})")
    except Exception as err:  # decoders raise many types; the reason is kept
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return None, f"{type(err).__name__}: {reason}", conv, None
    orig = a.shape[:2]
    if crop is not None:
        a = center_crop(a, crop)
    return a, None, conv, orig


def _dataset_bit_depth(arrays, report: Report, where) -> int | None:
    """One bit depth for all >8-bit integer images (see ``used_bit_depth``),
    recorded in the report; ``None`` when there are none."""
    high = [a for a in arrays if is_high_depth(a)]
    if not high:
        return None
    top = max(colour_max(a) for a in high)
    bits = used_bit_depth(top)
    report.bit_depth = bits
    if bits < 16:
        msg = (f"{len(high)} image(s) of {where} are stored in 16 bits but reach only {top}: read as "
               f"{bits}-bit data ({2 ** bits - 1} -> 255), not 16-bit (which would make them "
               f"{2 ** (16 - bits)}x darker)")
        report.notes.append(msg)
        warnings.warn(msg, stacklevel=4)
    return bits


FLOAT_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))


def _dataset_float_range(arrays, report: Report, where):
    """One value range (``FLOAT_RANGES``) for every float image of the dataset, from
    their joint minimum and maximum (alpha excluded), recorded in the report; as with
    the bit depth, a dark image of a [0, 255] set is not read as [0, 1] on its own.
    ``None`` when there are no float images."""
    floats = [a for a in arrays if a.dtype.kind == "f" and a.size]
    if not floats:
        return None
    colour = [np.asarray(a[:, :, :-1] if a.ndim == 3 and a.shape[2] in (2, 4) else a) for a in floats]
    lo, hi = min(float(np.nanmin(a)) for a in colour), max(float(np.nanmax(a)) for a in colour)
    chosen = next((r for r in FLOAT_RANGES if r[0] - 1e-6 <= lo and hi <= r[1] + 1e-6), None)
    if chosen is None:
        raise UserError(f"{where}: float images range over [{lo:g}, {hi:g}]; expected [0, 1], [-1, 1] or "
                        "[0, 255]: rescale them or save 8- or 16-bit integers")
    report.float_range = chosen
    report.notes.append(f"{len(floats)} float image(s) of {where}: values [{lo:g}, {hi:g}] over the "
                        f"dataset, all read as [{chosen[0]:g}, {chosen[1]:g}] -> 0..255")
    return chosen


def _warn_tiny(report: Report, where, size) -> None:
    tiny = {hw: k for hw, k in report.sizes.items() if min(hw) < MIN_SIDE}
    if tiny:
        (h, w) = min(tiny, key=min)
        msg = (f"{sum(tiny.values())} image(s) of {where} are smaller than {MIN_SIDE}x{MIN_SIDE} (smallest {h}x{w})"
               + (f"; resizing them to {size}x{size} invents most of their pixels" if size else "")
               + ": check that these files are the images you meant")
        report.notes.append(msg)
        warnings.warn(msg, stacklevel=4)


def _assemble(paths, labels, groups, names, root, report, size, crop, skip_bad, alpha_bg, workers, layout,
              min_classes: int = 2):
    report.files = len(paths)
    _warn_ignored_images(report, root)
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as ex:
        results = list(ex.map(lambda q: _read_sized(q, crop, size, alpha_bg), paths))
        bits = _dataset_bit_depth([r[0] for r in results if r[0] is not None], report, root)
        float_range = _dataset_float_range([r[0] for r in results if r[0] is not None], report, root)
        again = [i for i, r in enumerate(results) if r[6]]  # pending: read now, on the dataset's scale
        for i, r in zip(again, ex.map(lambda i: _read_sized(paths[i], crop, size, alpha_bg, bits,
                                                            float_range), again)):
            results[i] = r
    keep, imgs = [], []
    for i, (raw, err, conv, orig, squared, resized, _) in enumerate(results):
        if err is None and size is not None:  # already in its final form
            img = raw
            report.cropped_to_square += squared
            report.resized += resized
        elif err is None:
            try:
                img = to_rgb8(raw, alpha_bg, conv, bits=bits, float_range=float_range)
            except ValueError as e:
                err = f"ValueError: {e}"
        if err is not None:
            if not skip_bad:
                raise UserError(f"cannot read {paths[i]} ({err}); fix or delete the file, "
                                "or pass --skip-bad (skip_bad=True) to skip unreadable files")
            report.skipped.append((str(paths[i]), err))
            continue
        report.conversions.update(conv)
        report.sizes[orig] += 1
        keep.append(i)
        imgs.append(img)
    if report.skipped:
        warnings.warn(f"skipped {len(report.skipped)} unreadable file(s) of {report.files}: "
                      + "; ".join(p for p, _ in report.skipped[:5]) + (" ..." if len(report.skipped) > 5 else ""),
                      stacklevel=3)
    labels = labels[keep]
    if len(keep) and len(np.unique(labels)) < len(names):
        empty = [names[c] for c in range(len(names)) if not (labels == c).any()]
        raise UserError(f"after skipping bad files, class(es) {empty} in {root} have no images left; "
                        "fix the files or remove the class")
    _check_classes(names, labels, root, layout, min_classes)
    shapes = Counter(a.shape[:2] for a in imgs)
    if size is not None:
        out = []
        for a in imgs:
            if a.shape[0] != a.shape[1]:
                report.cropped_to_square += 1
                a = square_crop(a)
            if a.shape[:2] != (size, size):
                report.resized += 1
                a = resize_rgb8(a, size)
            out.append(a)
        imgs = out
    elif len(shapes) > 1:
        target = shapes.most_common(1)[0][0]
        report.notes.append(f"mixed sizes: resized {sum(k for s, k in shapes.items() if s != target)} image(s) "
                            f"to the most common size {target[0]}x{target[1]}; pass size= to choose")
        imgs = [a if a.shape[:2] == target else resize_rgb8(a, target) for a in imgs]
        report.resized += sum(k for s, k in shapes.items() if s != target)
    report.loaded = len(imgs)
    _warn_tiny(report, root, size)
    u8 = np.stack(imgs)
    return Dataset(
        images=(u8.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0),
        labels=labels, class_names=names,
        groups=None if groups is None else groups[keep],
        paths=[str(paths[i]) for i in keep],
        name=f"{layout} {root}", meta=dict(layout=layout, root=str(root), report=report),
    )


def _npz_array(z, key: str, path: Path) -> np.ndarray:
    try:
        return z[key]
    except ValueError as err:  # object arrays need pickle, which we never allow (it runs code)
        if "allow_pickle" in str(err):
            want = ("whole-number labels 0..K-1 of shape (N,), e.g. np.asarray(labels, dtype=np.int64)"
                    if "label" in key or key.startswith("y_") else
                    "the names as a string array, e.g. np.array(['healthy', 'blast'])"
                    if key == "class_names" else
                    "a numeric array of shape (N, H, W) or (N, H, W, C)")
            raise UserError(f"{path}: {key!r} is an object array (ragged rows or Python objects), which "
                            f"would need pickle to read; save {want}") from None
        raise UserError(f"cannot read {key!r} from {path} ({err})") from None


def _npz_labels(y: np.ndarray, n: int, key: str, path: Path) -> np.ndarray:
    """Labels ``(N,)`` or ``(N, 1)`` of whole numbers >= 0, checked."""
    if y.dtype.kind not in "biuf":
        raise UserError(f"{path}: {key!r} has dtype {y.dtype}; labels must be whole numbers 0..K-1")
    if len(y) != n:
        raise UserError(f"{path}: {key!r} has {len(y)} labels for {n} images; give one label per image")
    if y.ndim > 2 or y.ndim == 2 and y.shape[1] != 1:
        raise UserError(f"{path}: {key!r} has shape {y.shape}: one label per image expected, (N,) or (N, 1) "
                        "(multi-label data such as ChestMNIST is not supported)")
    y = y.reshape(n)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise UserError(f"{path}: {key!r} holds {int(bad.sum())} non-integer label(s) (first "
                            f"{float(y[bad][0]):g} at index {int(np.flatnonzero(bad)[0])}); labels must be whole "
                            "numbers 0..K-1")
    if n and y.min() < 0:
        raise UserError(f"{path}: {key!r} holds negative label(s) (first {float(y.min()):g}); labels must be 0..K-1")
    return y.astype(np.int64)


def _npz_images(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    """Images ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``, checked."""
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: {key!r} has dtype {x.dtype}; images must be numbers")
    if x.ndim == 2:
        raise UserError(f"{path}: {key!r} has shape {x.shape}: flat images; reshape them to (N, H, W) or "
                        "(N, H, W, C) before saving")
    if x.ndim not in (3, 4) or 0 in x.shape[1:]:
        raise UserError(f"{path}: {key!r} has shape {x.shape}; images must be (N, H, W) or (N, H, W, C)")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            first = int(np.flatnonzero(bad.reshape(len(x), -1).any(1))[0])
            raise UserError(f"{path}: {key!r} holds {int(bad.sum())} NaN/inf pixel value(s) (first in image "
                            f"{first}); replace them (np.nan_to_num) or drop those images")
    return x


def _npz_float_range(xs, path: Path):
    """One value range for all float images of the file: [0, 1], [-1, 1] or [0, 255]."""
    floats = [x for x in xs if x.dtype.kind == "f" and x.size]
    if not floats:
        return None
    lo, hi = min(float(x.min()) for x in floats), max(float(x.max()) for x in floats)
    for rng in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        if rng[0] - 1e-6 <= lo and hi <= rng[1] + 1e-6:
            return rng
    raise UserError(f"{path}: float images range over [{lo:g}, {hi:g}]; expected [0, 1], [-1, 1] or [0, 255]: "
                    "rescale them or save uint8")


def _npz_official_parts(keys) -> dict:
    """``{part: (images key, labels key)}`` of the official parts a file holds
    (MedMNIST's ``train_images``, Keras's ``x_train``); ``{}``: no partition."""
    found = {}
    for part in NPZ_PARTS:
        for pair in ((f"{part}_images", f"{part}_labels"), (f"x_{part}", f"y_{part}")):
            if set(pair) <= keys:
                found[part] = pair
                break
    return found


def _npz_length(z, key: str) -> int:
    """Images in array ``key`` of an open npz, read from its header (the pixels stay on disk)."""
    with z.zip.open(f"{key}.npy") as f:
        version = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape = read(f)[0]
    return int(shape[0]) if shape else 0


def _load_npz(path: Path, size, npz_split, report, min_classes: int = 2):
    try:
        z = np.load(path, allow_pickle=False)
        keys = set(z.files)
    except Exception as err:
        raise UserError(f"cannot read {path} ({type(err).__name__}: {err}); is it a MedMNIST-style .npz?") from None
    official = _npz_official_parts(keys)
    if official:
        pairs = dict(official)
    elif {"images", "labels"} <= keys:
        pairs = {"all": ("images", "labels")}
    else:
        raise UserError(f"{path} has arrays {sorted(keys)}; expected train_images/train_labels "
                        "(and val_, test_), x_train/y_train (and _val, _test) or images/labels")
    if npz_split == "auto":  # the official test images stay out unless asked for
        npz_split = "train" if "train" in official else "all"
    if npz_split != "all":
        if not official:
            raise UserError(f"{path} has no official train/test partition (arrays images/labels only): "
                            f"leave out --npz-split {npz_split} to use all its images")
        if npz_split not in official:
            raise UserError(f"{path} has no {npz_split!r} part; it has {', '.join(official)}")
        pairs = {npz_split: official[npz_split]}
    parts = list(pairs)
    xs, ys = [], []
    for image_key, label_key in pairs.values():
        x = _npz_images(_npz_array(z, image_key, path), image_key, path)
        xs.append(x)
        ys.append(_npz_labels(_npz_array(z, label_key, path), len(x), label_key, path))
    bits = _dataset_bit_depth([x for x in xs if x.size], report, path)
    float_range = _npz_float_range(xs, path)
    imgs, which = [], []
    for s, x in zip(parts, xs):
        conv = Counter()
        for a in x:
            rgb = to_rgb8(a, 0, conv, bits=bits, float_range=float_range)
            report.sizes[rgb.shape[:2]] += 1
            if size is not None and rgb.shape[:2] != (size, size):
                rgb = resize_rgb8(square_crop(rgb), size)
                report.resized += 1
            imgs.append(rgb)
        report.conversions.update(conv)
        which += [s] * len(x)
    labels = np.concatenate(ys)
    if len(labels) == 0:
        raise UserError(f"{path} holds no images in {', '.join(pairs[p][0] for p in parts)}")
    stem = path.stem.lower().split("_")[0]
    n_cls = int(labels.max()) + 1
    if "class_names" in keys:
        names = [str(c) for c in _npz_array(z, "class_names", path)]
        if len(names) < n_cls:
            raise UserError(f"{path}: class_names has {len(names)} name(s) but the labels reach {n_cls - 1}; "
                            "give one name per class")
    elif stem in _MEDMNIST_NAMES and len(_MEDMNIST_NAMES[stem]) >= n_cls:
        names = _MEDMNIST_NAMES[stem]
    else:
        names = [f"class_{i}" for i in range(n_cls)]
    names = check_class_names(names, path)
    empty = [c for c in range(len(names)) if not (labels == c).any()]
    if empty and npz_split == "all":
        raise UserError(f"{path}: class(es) {', '.join(f'{c} ({names[c]!r})' for c in empty)} have no images "
                        f"(labels used: {np.unique(labels).tolist()}); renumber the labels 0..K-1 without gaps")
    if empty:  # one part of a file need not hold every class
        report.notes.append(f"the {npz_split!r} part has no images of class(es) {[names[c] for c in empty]}")
    report.files = report.loaded = len(imgs)
    _check_classes(names, labels, path, "npz", min_classes)
    _warn_tiny(report, path, size)
    return Dataset(images=np.stack(imgs).transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0,
                   labels=labels, class_names=names, paths=[f"{path}[{i}]" for i in range(len(imgs))],
                   name=f"npz {path}", meta=dict(layout="npz", root=str(path), report=report,
                                                 npz_split=np.array(which), npz_part=npz_split,
                                                 npz_parts={p: _npz_length(z, k) for p, (k, _) in
                                                            official.items()}))


def _check_size_and_crop(size, crop) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise UserError(f"image size {size!r} is not a positive whole number of pixels; give e.g. 64 "
                        "(or None / --size 0 to keep the original size)")
    if crop is None:
        return
    if isinstance(crop, (float, np.floating)):
        if not 0 < crop <= 1:
            raise UserError(f"crop fraction {crop!r} must lie in (0, 1]; or give whole pixels, e.g. 300")
    elif isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or crop < 1:
        raise UserError(f"crop {crop!r} is not a positive number of pixels; give e.g. 300 (pixels kept "
                        "around the centre) or leave it out")


def load_dataset(path, layout: str = "auto", size: int | None = None, skip_bad: bool = False, crop=None,
                 npz_split: str = "all", alpha_bg: int = 0, workers: int | None = None,
                 min_classes: int = 2) -> Dataset:
    """Load a real dataset from disk.

    Parameters
    ----------
    path : folder (or ``.npz`` file)
    layout : one of ``LAYOUTS`` (module doc); ``'auto'`` detects it
    size : output side; non-square images are centre-cropped to a square first.
        ``None`` keeps the original size (mixed sizes -> the most common one).
    skip_bad : skip unreadable/truncated files (listed in the report and a
        warning) instead of raising ``UserError``
    crop : centre crop applied before resizing: pixels (``300``) or a fraction
    npz_split : ``'all'``, ``'train'``, ``'val'``, ``'test'`` or ``'auto'`` (the train
        part when the file has an official partition, else all) (npz only)
    alpha_bg : grey level (0-255) transparent pixels are composited over
    workers : decoding threads
    min_classes : fewest classes accepted (1 for an unconditional GAN's training set,
        e.g. Nizam and Md Ali's neutrophils; 2 for a classifier or a conditional GAN)

    Returns
    -------
    Dataset (``meta['report']`` is a :class:`~refgan.data.preprocess.Report`)
    """
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    _check_size_and_crop(size, crop)
    root = Path(path).expanduser()
    if layout == "auto":
        layout = detect_layout(root)
    elif not root.exists():
        raise UserError(f"{root} does not exist; give a folder of images or a .npz file")
    report = Report()
    if layout == "npz":
        return _load_npz(root, size, npz_split, report, min_classes)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; layout {layout!r} expects one")
    lister = {"folder": _list_folder, "pbc": lambda r, rep: _list_folder(r, rep, pbc=True),
              "allidb2": _list_allidb2, "cnmc": _list_cnmc, "idc": _list_idc}[layout]
    paths, labels, groups, names = lister(root, report)
    names = check_class_names(names, root)
    return _assemble(paths, labels, groups, names, root, report, size, crop, skip_bad, alpha_bg, workers, layout,
                     min_classes)


def describe(ds: Dataset) -> str:
    """The dataset's summary and its load report, as ``data info`` prints them."""
    report = ds.meta.get("report")
    return "\n".join([ds.summary()] + (["  " + line for line in report.lines()] if report else []))


def load_reported(path, log=print, **kw) -> Dataset:
    """:func:`load_dataset` for a command: the loader's warnings are left to the
    load report, which ``log`` prints whole (skipped, ignored and converted files,
    bit depth, tiny images), the same report for ``data info``, ``train`` and ``study``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset(path, **kw)
    report = ds.meta.get("report")
    if report is not None:
        report.notes.extend(duplicate_notes(ds))
    log(describe(ds))
    return ds


def duplicate_notes(ds: Dataset, show: int = 5) -> list[str]:
    """Report lines naming the exact and near-duplicate image pairs of ``ds``
    (:func:`refgan.data.splits.find_duplicates`): first the same image under two
    classes (a labelling error to fix), then the same image twice in one class, and for
    an npz read whole, copies across its official parts. The split keeps each pair on
    one side, so they do not leak; they still count twice."""
    pairs = find_duplicates(ds)
    if not pairs:
        return []
    names = ds.paths or [f"image {i}" for i in range(len(ds))]
    part = ds.meta.get("npz_split")

    def pair(i, j, kind):
        where = (f" (official parts {part[i]} and {part[j]})" if part is not None
                 and part[i] != part[j] else "")
        return f"{names[i]} = {names[j]} ({kind}){where}"

    lines = []
    across = [(i, j, k) for i, j, k, _ in pairs if ds.labels[i] != ds.labels[j]]
    within = [(i, j, k) for i, j, k, _ in pairs if ds.labels[i] == ds.labels[j]]
    for found, what in ((across, "the same image in two classes (check the labels)"),
                        (within, "the same image twice in one class")):
        if found:
            lines.append(f"duplicates: {len(found)} pair(s) of {what}; the split keeps each pair on "
                         f"one side: " + "; ".join(pair(*p) for p in found[:show])
                         + (f"; ... ({len(found) - show} more)" if len(found) > show else ""))
    return lines
