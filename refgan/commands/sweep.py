"""refgan sweep: short training runs over a learning-rate search, or over designs at
several seeds, ranked by a generator-quality metric (the classifier two-sample test;
lower is better).

Gaur et al. drew (lr_G, lr_D) log-uniformly, G in [1e-5, 1e-3] and D in [1e-4, 1e-2]
(--search log-uniform, the default); Nizam and Md Ali swept a (G, D) grid
(--search grid; without --lr-g/--lr-d their four pairs). Each trial is an ordinary
run folder under --out; the sweep writes trials.csv, trials.json, settings.csv (one
row per setting) and best.json (the best setting's full config).

--design 'KEY=VALUE ...' (repeatable; 'preset' for the preset as it is) compares
designs instead of rates, each at every seed of --seeds (e.g. --seeds 0,1,2): the
settings table (settings.csv) gives each design's mean and worst score over its seeds
and the range of each class's figures. For the main job's own setting (both classes
side by side, one per core) run the trials one after another: --jobs 1.

Trials run in parallel through joblib: by default with loky on all local cores
(--jobs -1), one single-threaded process per trial. On a cluster, name another
joblib backend, e.g. --joblib-backend dask with --dask-scheduler HOST:8786 (a
dask.distributed scheduler; pip install 'dask[distributed]'), or ray.
"""
from __future__ import annotations

import argparse
import sys
import time

from refgan.errors import UserError
from refgan.training import presets
from refgan.training import sweep as sweeps
from refgan.training.config import parse_value


def _pair(text):
    lo, hi = (float(v) for v in text.split(","))
    if not 0 < lo < hi:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH with 0 < LOW < HIGH, got {text!r}")
    return lo, hi


def _floats(text):
    return [float(v) for v in text.split(",")]


def _seeds(text):
    try:
        seeds = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds as A,B,..., got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds repeat in {text!r}")
    return seeds


def _option(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.replace("-", "_"), value


def add_parser(sub):
    p = sub.add_parser("sweep", help="learning-rate search: short runs ranked by sample quality",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=presets.MODELS, default="wgan-gp")
    p.add_argument("--preset", default="cpu",
                   help="training preset of every trial (default cpu)")
    p.add_argument("--search", choices=["log-uniform", "grid"], default=None,
                   help="learning-rate search (default log-uniform; not with --design)")
    p.add_argument("--design", action="append", default=[], metavar="'KEY=VALUE ...'",
                   help="compare designs instead of rates: the options of one design, space-"
                        "separated ('preset' = the preset as it is); repeat for each design")
    p.add_argument("--seeds", type=_seeds, default=None, metavar="A,B,...",
                   help="run every design (or rate pair) at each of these seeds (default: once, "
                        "at the options' seed)")
    p.add_argument("--trials", type=int, default=8, help="log-uniform: number of draws (default 8)")
    p.add_argument("--lr-g-range", type=_pair, default=sweeps.GAUR_G, metavar="LO,HI",
                   help="log-uniform range of lr_G (default 1e-5,1e-3: Gaur et al.)")
    p.add_argument("--lr-d-range", type=_pair, default=sweeps.GAUR_D, metavar="LO,HI",
                   help="log-uniform range of lr_D (default 1e-4,1e-2: Gaur et al.)")
    p.add_argument("--lr-g", type=_floats, default=None, metavar="A,B,...",
                   help="grid: lr_G values (default: Nizam and Md Ali's four (G, D) pairs)")
    p.add_argument("--lr-d", type=_floats, default=None, metavar="A,B,...", help="grid: lr_D values")
    p.add_argument("--steps", type=int, default=None, help="generator steps per trial")
    p.add_argument("--set", dest="options", type=_option, action="append", default=[],
                   metavar="KEY=VALUE", help="any train option for every trial, e.g. --set n_disc=2")
    p.add_argument("--seed", type=int, default=0, help="seed of the log-uniform draws")
    p.add_argument("--jobs", type=int, default=-1, help="parallel trials (default -1: all cores)")
    p.add_argument("--joblib-backend", default="loky",
                   help="joblib backend: loky (default, local processes), threading, dask, ray")
    p.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                   help="with --joblib-backend dask: the scheduler (default: a running Client, "
                        "else a local cluster)")
    p.add_argument("--out", default=None, help="sweep folder (default runs/sweep-<time>-<model>)")
    p.add_argument("--resume", metavar="OUT", default=None,
                   help="continue an interrupted sweep: its finished trials are kept, the rest run "
                        "(model, preset, options and trials as recorded in OUT/sweep.json)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    if args.resume:
        if args.out or args.options or args.steps is not None:
            raise UserError("--resume continues the sweep as recorded in its sweep.json; leave out "
                            "--out, --set and --steps")
        trials = sweeps.sweep(None, None, {}, [], args.resume, n_jobs=args.jobs,
                              joblib_backend=args.joblib_backend, scheduler=args.dask_scheduler,
                              log=lambda m: print(m, file=sys.stderr), resume=True)
        return _report(trials, args.resume)
    options = {k: parse_value(k, v) for k, v in args.options}
    if args.steps is not None:
        options["steps"] = args.steps
    if args.design:
        if args.search or args.lr_g or args.lr_d:
            raise UserError("--design compares designs at the preset's rates; leave out --search, "
                            "--lr-g and --lr-d (or give every design its rates with --set lr_g=...)")
        pairs = sweeps.designs(args.design)
    elif (args.search or "log-uniform") == "log-uniform":
        if args.lr_g or args.lr_d:
            raise UserError("--lr-g/--lr-d list grid values; with --search log-uniform give "
                            "--lr-g-range/--lr-d-range")
        if args.trials < 1:
            raise UserError(f"--trials must be >= 1, got {args.trials}")
        pairs = sweeps.log_uniform(args.trials, args.lr_g_range, args.lr_d_range, seed=args.seed)
    else:
        pairs = sweeps.grid(args.lr_g, args.lr_d)
    out = args.out or f"runs/sweep-{time.strftime('%Y%m%d-%H%M%S')}-{args.model}"
    trials = sweeps.sweep(args.model, args.preset, options, sweeps.plan(pairs, args.seeds), out,
                          n_jobs=args.jobs,
                          joblib_backend=args.joblib_backend, scheduler=args.dask_scheduler,
                          log=lambda m: print(m, file=sys.stderr))
    return _report(trials, out)


def _report(trials, out) -> int:
    """Print the ranked table; 130 when a trial was interrupted (it says how to resume)."""
    print(sweeps.table(trials))
    print(f"\nranked by c2st (classifier two-sample test, mean over classes and classifiers; "
          f"ties by kid, KID on simple features; "
          f"0.5 = indistinguishable from real, lower is better)")
    if len(sweeps.summarise(trials)) < len(trials):     # settings run at several seeds
        print("\n" + sweeps.settings_table(trials))
        print("\nsettings ranked by c2st_mean over their seeds, then c2st_worst; worst_figure: "
              "the largest two-sample figure of any class, test and seed")
    print(f"sweep folder: {out}  (trials.csv, settings.csv, trials.json, best.json)")
    return 0 if all(t["status"] in sweeps.FINISHED for t in trials) else 130
