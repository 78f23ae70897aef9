"""``python cli.py reproduce {gaur,saquib,georgiev,nizam,guruswamy}``: rerun a source paper.

Each paper's protocol end to end on the embedded cells (``--data`` for the paper's
dataset in one of refgan's layouts, or any labelled folder / .npz): its training sets,
classifiers and GANs under repeated cross-validation, then ``report.html`` and
``reproduce.json`` with the paper's tables in its form, its published numbers beside
refgan's, the decisions by the corrected repeated k-fold t, its figures, and which of
its claims the run supports. Every number is recomputable from ``predictions.json``.

``--quick``: a pipeline check in about a minute (numbers that mean nothing). The
default fits 2 cores in under an hour and the report says what it scales down;
``--full``: the paper's own scale. The deep classifiers (VGG16, InceptionV3, ResNet50,
EfficientNet-B0) need their pretrained weights in ``--weights DIR``; without them
their rows say which file is missing and the rest of the paper still runs.
Manual: docs/reproduce.md.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from refgan.errors import UserError

PAPERS = ("gaur", "saquib", "georgiev", "nizam", "guruswamy")


def add_parser(sub):
    p = sub.add_parser("reproduce", help="rerun one of the five source papers and report which claims hold",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paper", choices=PAPERS, help="the paper to rerun")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_true", help="pipeline check (about a minute)")
    scale.add_argument("--full", action="store_true", help="the paper's own scale (hours; a GPU helps)")
    p.add_argument("--data", default="synthetic",
                   help="'synthetic' (the embedded cells, default) or a dataset folder / .npz")
    p.add_argument("--weights", default=None, metavar="DIR",
                   help="folder of the deep classifiers' pretrained weights (<name>.*)")
    p.add_argument("--jobs", type=int, default=1, help="folds run in parallel (default 1)")
    p.add_argument("--out", default=None, help="report folder (default runs/<time>-reproduce-PAPER)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    # lazy: refgan.reproduce imports the study (scikit-learn, SciPy, matplotlib), and
    # cli.py imports every command module to build its parser
    from refgan.reproduce import PAPERS as MODULES
    from refgan.reproduce import run_paper

    if args.jobs < 1 and args.jobs != -1:
        raise UserError(f"--jobs must be >= 1 (or -1: all cores), got {args.jobs}")
    if args.data != "synthetic" and not Path(args.data).exists():
        raise UserError(f"--data {args.data} does not exist; give a dataset folder or .npz, or leave it out")
    if args.weights is not None and not Path(args.weights).is_dir():
        raise UserError(f"--weights {args.weights} is not a folder")
    scale = "quick" if args.quick else "full" if args.full else "default"
    module = MODULES[args.paper]
    plan = module.plan(scale, args.data, args.weights)
    out = Path(args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-reproduce-{args.paper}")
    results = run_paper(module, plan, out, n_jobs=args.jobs)
    print(f"report: {out / 'report.html'}  ({results['seconds']:.0f} s)")
    for c in results["claims"]:
        print(f"  [{c['verdict']}] {c['claim']}")
    return 0
