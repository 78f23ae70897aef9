"""``python cli.py generate RUN_DIR --n 400 [--class blast] --out DIR``.

Loads the checkpoint the run reported (its best when it ended with ``--use-best``,
else its latest; ``--checkpoint best|latest|STEP`` to choose) and writes ``n`` PNG images per class
(or of one class) into ``DIR/<class>/`` plus ``DIR/manifest.json`` recording the
run, the checkpoint file and its hash, the step, the seed and the classes, so
every image can be traced to the weights that made it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import imageio.v3 as iio

from refgan.data import to_uint8
from refgan.data.names import inside
from refgan.errors import UserError
from refgan.training.config import TrainConfig
from refgan.training.load import load_models, sample_class
from refgan.training.run_folder import staged_output
from refgan.provenance import provenance


def add_parser(sub):
    p = sub.add_parser("generate", help="write generated images of a trained run",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder made by 'train'")
    p.add_argument("--n", type=int, default=400, help="images per class (default 400)")
    p.add_argument("--class", dest="cls", default=None, help="only this class")
    p.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent draws")
    p.add_argument("--checkpoint", default=None, metavar="best|latest|STEP",
                   help="checkpoint to sample (default: the one the run reported)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    # a link to an empty folder means that folder; 'new/..' means what it names
    out = Path(os.path.abspath(Path(args.out).resolve() if Path(args.out).is_symlink() else args.out))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder; choose a new --out "
                        "(generate never overwrites images)")
    if out.is_dir():
        try:
            out.rmdir()  # empty: staged_output puts the finished folder in its place
        except OSError as err:
            raise UserError(f"--out {out}: cannot replace the empty folder ({err.strerror}); "
                            "choose a new --out in a folder you can write to") from None
    if args.n < 1:
        raise UserError(f"--n must be >= 1, got {args.n}")
    run_dir = Path(args.run_dir)
    models, meta = load_models(run_dir, args.checkpoint)
    config = TrainConfig.from_json(meta["config"])
    names = list(config.classes)
    classes = names if args.cls is None else [args.cls]
    if args.cls is not None and args.cls not in names:
        raise UserError(f"unknown class {args.cls!r}; this run has {', '.join(names)}")
    manifest = dict(run_dir=str(run_dir.resolve()), checkpoint=meta["file"],
                    checkpoint_sha256=meta["sha256"], step=meta["step"],
                    checkpoint_kind=meta["checkpoint"], checkpoint_why=meta["checkpoint_why"],
                    model=config.model, seed=args.seed, n_per_class=args.n,
                    ema=config.ema > 0, provenance=provenance(), classes={}, files=[])
    try:
        _write(out, models, names, classes, args, manifest)
    except KeyboardInterrupt:  # staged_output removed the unfinished folder
        print(f"interrupted (Ctrl-C): no images were kept ({out} is written whole or not at all); "
              "run the command again", file=sys.stderr)
        return 130
    print(f"wrote {args.n * len(classes)} images and manifest.json to {out} "
          f"(checkpoint {meta['file']}, step {meta['step']}: {meta['checkpoint_why']})")
    return 0


def _write(out, models, names, classes, args, manifest) -> None:
    with staged_output(out) as partial:  # a killed generate leaves no half folder at --out
        for name in classes:
            seed = args.seed * 1000 + names.index(name)
            imgs = to_uint8(sample_class(models, names, name, args.n, seed))
            inside(partial, name).mkdir(parents=True, exist_ok=True)
            for j, img in enumerate(imgs):
                rel = f"{name}/{name}_{j:05d}.png"
                iio.imwrite(inside(partial, name, f"{name}_{j:05d}.png"), img)
                manifest["files"].append({"file": rel, "class": name, "index": j})
            manifest["classes"][name] = dict(n=args.n, latent_seed=seed)
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1))
