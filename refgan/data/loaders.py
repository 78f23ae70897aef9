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
``npz``      MedMNIST-style ``.npz`` with ``{train,val,test}_{images,labels}``;
             ``npz_split`` picks one part (default all, the part of each image
             is kept in ``meta['npz_split']``).

Every loader returns a :class:`~refgan.data.Dataset` (images float32
``(N, 3, H, W)`` in [-1, 1], ``paths`` the source files) with a
:class:`~refgan.data.preprocess.Report` in ``meta['report']``.  Errors name the
file or folder and say what to do; ``skip_bad=True`` skips unreadable files but
lists and counts them in the report and in a warning.
"""
from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from refgan.data.dataset import Dataset
from refgan.data.preprocess import Report, center_crop, resize_rgb8, square_crop, to_rgb8
from refgan.errors import UserError

__all__ = ["load_dataset", "detect_layout", "LAYOUTS", "IMAGE_EXTS", "PBC_FOLDERS", "parse_cnmc_patient"]

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
LAYOUTS = ("auto", "folder", "allidb2", "cnmc", "pbc", "idc", "npz")
PBC_FOLDERS = ("basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil", "platelet")
_ALLIDB2 = re.compile(r"^Im(\d+)_([01])\.(tif|tiff|jpg|png|bmp)$", re.IGNORECASE)
_CNMC = re.compile(r"^UID_(H?\d+)_", re.IGNORECASE)
_MEDMNIST_NAMES = {
    "bloodmnist": ["basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte",
                   "monocyte", "neutrophil", "platelet"],
    "breastmnist": ["malignant", "normal, benign"],
}


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")


def _images_under(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if _is_image(p))


def _subdirs(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))


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
def _check_classes(class_names, labels, root, where):
    present = np.unique(labels)
    if len(labels) == 0:
        raise UserError(f"no images found in {root} ({where}); supported files: {', '.join(sorted(IMAGE_EXTS))}")
    if len(present) < 2:
        only = class_names[int(present[0])]
        raise UserError(f"{root} has images of one class only ({only!r}); a classifier or conditional GAN needs "
                        "at least two classes: add the other class folder")


def _list_folder(root: Path, report: Report, pbc: bool = False):
    subs = _subdirs(root)
    if pbc:
        subs = [s for s in subs if s.name.lower() in PBC_FOLDERS]
    if not subs:
        raise UserError(f"{root} has no class folders; put each class's images in its own sub-folder")
    paths, labels, names = [], [], []
    for s in subs:
        imgs = _images_under(s)
        report.ignored += [str(q) for q in s.rglob("*") if q.is_file() and not _is_image(q)]
        if not imgs:
            raise UserError(f"class folder {s} has no images ({', '.join(sorted(IMAGE_EXTS))}); "
                            "add images or remove the folder")
        labels += [len(names)] * len(imgs)
        names.append(s.name.lower() if pbc else s.name)
        paths += imgs
    report.ignored += [str(q) for q in root.iterdir() if q.is_file()]
    return paths, np.array(labels), None, names


def _list_allidb2(root: Path, report: Report):
    paths, labels = [], []
    for q in sorted(root.rglob("*")):
        if not q.is_file():
            continue
        m = _ALLIDB2.match(q.name)
        if m:
            paths.append(q)
            labels.append(int(m.group(2)))
        else:
            report.ignored.append(str(q))
    names = ["healthy", "blast"]
    _check_classes(names, np.array(labels), root, "ALL-IDB2 ImNNN_L.tif files")
    return paths, np.array(labels), None, names


def _list_cnmc(root: Path, report: Report):
    paths, labels, groups = [], [], []
    dirs = {"hem": [], "all": []}
    for d in sorted(q for q in root.rglob("*") if q.is_dir()):
        if d.name.lower() in dirs:
            dirs[d.name.lower()].append(d)
    unparsed = 0
    for label, key in ((0, "hem"), (1, "all")):
        for d in dirs[key]:
            imgs = _images_under(d)
            if not imgs:
                raise UserError(f"C-NMC folder {d} has no images; add the images or remove the folder")
            for q in imgs:
                pid = parse_cnmc_patient(q.name)
                if pid is None:
                    unparsed += 1
                    pid = f"?{q.stem}"  # unknown patient: its own group
                paths.append(q)
                labels.append(label)
                groups.append(pid)
    if unparsed:
        report.notes.append(f"patient id not found in {unparsed} file name(s) (expected UID_<patient>_...); "
                            "each such image is its own group")
    names = ["healthy", "blast"]  # hem -> healthy, all -> blast
    _check_classes(names, np.array(labels), root, "C-NMC all/ and hem/ folders")
    return paths, np.array(labels), np.array(groups), names


def _list_idc(root: Path, report: Report):
    paths, labels, groups = [], [], []
    for pdir in _subdirs(root):
        for cdir in _subdirs(pdir):
            if cdir.name not in ("0", "1"):
                report.ignored.append(str(cdir))
                continue
            imgs = _images_under(cdir)
            paths += imgs
            labels += [int(cdir.name)] * len(imgs)
            groups += [pdir.name] * len(imgs)
    names = ["non-IDC", "IDC"]
    _check_classes(names, np.array(labels), root, "IDC <patient>/0|1/*.png")
    return paths, np.array(labels), np.array(groups), names


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def _read_one(path: Path, crop, alpha_bg):
    import imageio.v3 as iio

    conv = Counter()
    try:
        if path.stat().st_size == 0:
            raise ValueError("empty file (0 bytes)")
        a = iio.imread(path)
        rgb = to_rgb8(a, alpha_bg, conv)
    except Exception as err:  # decoders raise many types; the reason is kept
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return None, f"{type(err).__name__}: {reason}", conv, None
    orig = rgb.shape[:2]
    if crop is not None:
        rgb = center_crop(rgb, crop)
    return rgb, None, conv, orig


def _assemble(paths, labels, groups, names, root, report, size, crop, skip_bad, alpha_bg, workers, layout):
    report.files = len(paths)
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as ex:
        results = list(ex.map(lambda q: _read_one(q, crop, alpha_bg), paths))
    keep, imgs = [], []
    for i, (img, err, conv, orig) in enumerate(results):
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
    _check_classes(names, labels, root, layout)
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
    u8 = np.stack(imgs)
    return Dataset(
        images=(u8.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0),
        labels=labels, class_names=names,
        groups=None if groups is None else groups[keep],
        paths=[str(paths[i]) for i in keep],
        name=f"{layout} {root}", meta=dict(layout=layout, root=str(root), report=report),
    )


def _load_npz(path: Path, size, npz_split, report):
    try:
        z = np.load(path, allow_pickle=False)
        keys = set(z.files)
    except Exception as err:
        raise UserError(f"cannot read {path} ({type(err).__name__}: {err}); is it a MedMNIST-style .npz?") from None
    parts = [s for s in ("train", "val", "test") if f"{s}_images" in keys and f"{s}_labels" in keys]
    if not parts and {"images", "labels"} <= keys:
        parts = [""]
    if not parts:
        raise UserError(f"{path} has arrays {sorted(keys)}; expected train_images/train_labels "
                        "(and val_, test_) or images/labels")
    if npz_split != "all":
        if npz_split not in parts:
            raise UserError(f"{path} has no {npz_split!r} part; it has {parts}")
        parts = [npz_split]
    imgs, labels, which = [], [], []
    for s in parts:
        pre = f"{s}_" if s else ""
        x, y = z[pre + "images"], z[pre + "labels"].reshape(len(z[pre + "images"]), -1)[:, 0]
        conv = Counter()
        for a in x:
            rgb = to_rgb8(a, 0, conv)
            report.sizes[rgb.shape[:2]] += 1
            if size is not None and rgb.shape[:2] != (size, size):
                rgb = resize_rgb8(square_crop(rgb), size)
                report.resized += 1
            imgs.append(rgb)
        report.conversions.update(conv)
        labels.append(y.astype(np.int64))
        which += [s or "all"] * len(x)
    labels = np.concatenate(labels)
    stem = path.stem.lower().split("_")[0]
    n_cls = int(labels.max()) + 1
    if "class_names" in keys:
        names = [str(c) for c in z["class_names"]]
    elif stem in _MEDMNIST_NAMES and len(_MEDMNIST_NAMES[stem]) >= n_cls:
        names = _MEDMNIST_NAMES[stem]
    else:
        names = [f"class_{i}" for i in range(n_cls)]
    report.files = report.loaded = len(imgs)
    _check_classes(names, labels, path, "npz")
    return Dataset(images=np.stack(imgs).transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0,
                   labels=labels, class_names=names, paths=[f"{path}[{i}]" for i in range(len(imgs))],
                   name=f"npz {path}", meta=dict(layout="npz", root=str(path), report=report,
                                                 npz_split=np.array(which)))


def load_dataset(path, layout: str = "auto", size: int | None = None, skip_bad: bool = False, crop=None,
                 npz_split: str = "all", alpha_bg: int = 0, workers: int | None = None) -> Dataset:
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
    npz_split : ``'all'``, ``'train'``, ``'val'`` or ``'test'`` (npz only)
    alpha_bg : grey level (0-255) transparent pixels are composited over
    workers : decoding threads

    Returns
    -------
    Dataset (``meta['report']`` is a :class:`~refgan.data.preprocess.Report`)
    """
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    root = Path(path).expanduser()
    if layout == "auto":
        layout = detect_layout(root)
    elif not root.exists():
        raise UserError(f"{root} does not exist; give a folder of images or a .npz file")
    report = Report()
    if layout == "npz":
        return _load_npz(root, size, npz_split, report)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; layout {layout!r} expects one")
    lister = {"folder": _list_folder, "pbc": lambda r, rep: _list_folder(r, rep, pbc=True),
              "allidb2": _list_allidb2, "cnmc": _list_cnmc, "idc": _list_idc}[layout]
    paths, labels, groups, names = lister(root, report)
    return _assemble(paths, labels, groups, names, root, report, size, crop, skip_bad, alpha_bg, workers, layout)
