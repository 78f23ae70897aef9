"""``cli.py data``: look at, load and calibrate datasets.

    python cli.py data preview [--style smear|segmented] [--classes healthy,blast|pbc] [--size 64] [--out PNG]
    python cli.py data info PATH [--layout auto] [--size 64] [--skip-bad]
    python cli.py data calibrate [--seeds 10] [--difficulty 0.6] [--n-per-class 130]
    python cli.py data speed [--n 2000] [--size 64]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from refgan.data import (DEFAULT_DIFFICULTY, lr_accuracy, make_blood_cells,
                         save_grid)
from refgan.data.loaders import LAYOUTS, load_reported
from refgan.errors import UserError

STYLE_HELP = "smear: a blood-smear field like ALL-IDB2; segmented: the cell alone on black, like C-NMC"


def add_parser(sub):
    p = sub.add_parser("data", help="embedded blood-cell dataset, real-data loaders, calibration",
                       description="Look at, load and calibrate datasets.",
                       epilog="examples:\n" + __doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    pv = dsub.add_parser("preview", help="write a labelled grid PNG of generated cells")
    pv.add_argument("--style", default="smear", choices=["smear", "segmented"], help=STYLE_HELP)
    pv.add_argument("--classes", default="healthy,blast", help="comma-separated class names or 'pbc'")
    pv.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    pv.add_argument("--per-class", type=int, default=8, help="images shown per class (one row each)")
    pv.add_argument("--difficulty", type=float, default=None,
                    help="0 (classes far apart) .. 1 (healthy and blast alike); default: the calibrated one")
    pv.add_argument("--seed", type=int, default=0, help="random seed of the generator (default 0)")
    pv.add_argument("--out", default=None, help="PNG path (default: preview_<style>.png)")

    info = dsub.add_parser("info", help="load a real dataset folder (or .npz) and print a summary")
    info.add_argument("path", help="dataset folder or MedMNIST-style .npz file")
    info.add_argument("--layout", default="auto", choices=LAYOUTS,
                      help="how the folder is organised (default: detected); see refgan/data/loaders.py")
    info.add_argument("--size", type=int, default=64, help="resize to SIZE x SIZE (0: keep original size)")
    info.add_argument("--crop", type=int, default=None, help="centre crop in pixels before resizing")
    info.add_argument("--skip-bad", action="store_true", help="skip unreadable files (they are listed)")
    info.add_argument("--grid", default=None, help="also write a grid PNG of a few images per class")

    cal = dsub.add_parser("calibrate", help="re-measure the logistic-regression accuracy on generated data")
    cal.add_argument("--seeds", type=int, default=10, help="datasets generated and scored per difficulty")
    cal.add_argument("--difficulty", type=float, nargs="+", default=None,
                     help="one or more difficulties in [0, 1] to measure (default: the calibrated one)")
    cal.add_argument("--n-per-class", type=int, default=130, help="images per class (ALL-IDB2 has 130)")
    cal.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    cal.add_argument("--style", default="smear", choices=["smear", "segmented"], help=STYLE_HELP)

    sp = dsub.add_parser("speed", help="measure generator throughput")
    sp.add_argument("--n", type=int, default=2000, help="images to generate (default 2000)")
    sp.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    p.set_defaults(run=run, _data_parser=p)
    return p


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def _picture_path(out, option: str, default_name: str) -> Path:
    """Where a grid picture goes: ``out`` itself (a new file with a picture suffix, or
    none: ``.png`` is added), or ``default_name`` inside ``out`` when it is a folder."""
    path = Path(out)
    if path.is_dir():
        return path / default_name
    if not path.suffix:
        return path.with_name(path.name + ".png")
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise UserError(f"{option} {out}: a picture file is written there; give a name ending in "
                        f"{', '.join(PICTURE_SUFFIXES)} (e.g. {path.with_suffix('.png')})")
    return path


def _save_grid(path: Path, option: str, *args, **kw) -> None:
    """save_grid, with a folder that cannot be written as one line."""
    try:
        save_grid(args[0], path, *args[1:], **kw)
    except OSError as err:
        raise UserError(f"{option}: cannot write {path} ({err.strerror or err}); choose a folder "
                        "you can write to") from None


def _classes(text: str):
    return "pbc" if text.strip() == "pbc" else tuple(c.strip() for c in text.split(",") if c.strip())


def run(args) -> int:
    cmd = getattr(args, "data_command", None)
    if cmd is None:
        args._data_parser.print_help()
        return 0
    return {"preview": _preview, "info": _info, "calibrate": _calibrate, "speed": _speed}[cmd](args)


def _preview(args) -> int:
    d = DEFAULT_DIFFICULTY if args.difficulty is None else args.difficulty
    ds = make_blood_cells(n_per_class=args.per_class, classes=_classes(args.classes), size=args.size,
                          style=args.style, difficulty=d, seed=args.seed)
    out = _picture_path(args.out or f"preview_{args.style}.png", "--out", f"preview_{args.style}.png")
    _save_grid(out, "--out", ds.images, labels=ds.labels, class_names=ds.class_names,
               nrow=args.per_class, title=f"refgan synthetic {args.style}, {args.size}x{args.size}, "
                                          f"difficulty {d:g}, seed {args.seed}")
    print(f"wrote {out} ({len(ds)} images: {ds.class_counts()})")
    return 0


def _info(args) -> int:
    if args.size < 0:
        raise UserError(f"--size {args.size}: give a positive side in pixels (e.g. 64), or 0 to keep each "
                        "image's own size")
    if args.crop is not None and args.crop < 1:
        raise UserError(f"--crop {args.crop}: give the side in pixels kept around the centre (e.g. 300), "
                        "or leave --crop out")
    grid = _picture_path(args.grid, "--grid", "grid.png") if args.grid else None
    ds = load_reported(args.path, layout=args.layout, size=args.size or None, skip_bad=args.skip_bad,
                       crop=args.crop)
    if grid:
        idx = np.concatenate([np.flatnonzero(ds.labels == c)[:8] for c in range(ds.n_classes)])
        _save_grid(grid, "--grid", ds.images[idx], labels=ds.labels[idx], class_names=ds.class_names,
                   nrow=8)
        print(f"wrote {grid}")
    return 0


def _calibrate(args) -> int:
    if args.seeds < 1:
        raise UserError("--seeds must be at least 1")
    diffs = args.difficulty or [DEFAULT_DIFFICULTY]
    print("LogisticRegression(C=1, max_iter=5000) on 25x25x3 flattened pixels, stratified 80/20 split, "
          f"{args.n_per_class}/{args.n_per_class} images of {args.size}x{args.size}, {args.style}")
    for d in diffs:
        accs = [lr_accuracy(make_blood_cells(args.n_per_class, size=args.size, style=args.style,
                                             difficulty=d, seed=s), seed=s) for s in range(args.seeds)]
        print(f"difficulty {d:.2f}: accuracy {100 * np.mean(accs):.1f} +/- {100 * np.std(accs):.1f} % "
              f"over {args.seeds} seeds (min {100 * min(accs):.1f}, max {100 * max(accs):.1f})")
    return 0


def _speed(args) -> int:
    if args.n < 2 or args.size < 1:
        raise UserError(f"--n {args.n} --size {args.size}: give at least 2 images (one per class) "
                        "of at least 1 pixel")
    make_blood_cells(8, size=args.size)  # JIT warm-up
    t = time.perf_counter()
    ds = make_blood_cells(args.n // 2, size=args.size)
    dt = time.perf_counter() - t
    print(f"{len(ds)} images of {args.size}x{args.size} in {dt:.2f} s: {len(ds) / dt:.0f} images/s")
    return 0
