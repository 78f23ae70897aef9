"""``python cli.py study``: does GAN augmentation help a classifier?

Runs Gaur et al.'s Table 2 protocol under repeated k-fold cross-validation with several
GANs per fold (see :mod:`refgan.study.protocol`) and writes ``report.html``,
``results.json`` and ``results.csv`` into the run folder.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from refgan import backend
from refgan.errors import UserError
from refgan.training.config import GROWTHS
from refgan.training.run_folder import read_config_record


def _list(s):
    return tuple(x.strip() for x in s.split(",") if x.strip())


def _fractions(s):
    """'1:0.5,3:0.65' -> {'1': 0.5, '3': 0.65}"""
    out = {}
    for part in _list(s):
        name, _, frac = part.rpartition(":")
        try:
            out[name] = float(frac)
        except ValueError:
            raise UserError(f"--imbalance wants CLASS:FRACTION pairs like 1:0.5,3:0.65, got {part!r}") from None
        if not name or not 0 < out[name] < 1:
            raise UserError(f"--imbalance wants CLASS:FRACTION with a fraction in (0, 1), got {part!r}")
    return out


def add_parser(sub):
    p = sub.add_parser("study", help="GAN augmentation study with an HTML report",
                       description="Train GANs on each fold's training split, train classifiers "
                       "on real / real+classic / real+generated / real+classic+generated (and "
                       "in-place / on-the-fly augmentation), test on real images; repeated k-fold "
                       "cross-validation with several GANs per fold, corrected repeated k-fold t "
                       "tests; 95% intervals per condition, Bonferroni-adjusted ones per comparison; "
                       "report.html.")
    p.add_argument("--quick", action="store_true",
                   help="small, fast configuration: a pipeline check, not evidence (a few minutes)")
    p.add_argument("--gan", default=None,
                   help="GAN model (wgan-gp, dcgan, infogan, cgan, acgan, ali, acgan-ali) or an "
                   "existing run folder to sample (default wgan-gp)")
    p.add_argument("--gan-checkpoint", default=None, metavar="best|latest|STEP",
                   help="with --gan RUN: the checkpoint to sample (default: the one the run reported)")
    p.add_argument("--gan-preset", default=None, help="GAN preset: cpu (default), paper, smoke")
    p.add_argument("--gan-steps", type=int, default=None,
                   help="GAN generator steps per fold (default 1200)")
    p.add_argument("--ali", default=None, help="acgan-ali: the ALI run folder to start from")
    p.add_argument("--gan-grow", choices=["auto", *GROWTHS], default=None,
                   help="grow each GAN's training images (auto: dihedral for cells, affine "
                   "without flips otherwise)")
    p.add_argument("--classifiers", type=_list, default=None,
                   help="comma list of lr, svm, linear-svm, cnn, and the pretrained vgg16, resnet50, "
                   "inception_v3, efficientnet_b0 (these need --weights) (default lr,svm; quick adds cnn)")
    p.add_argument("--weights", default=None,
                   help="folder holding the pretrained backbones' weight files (vgg16.safetensors, "
                   "... ; see docs/deep-classifiers.md); nothing is downloaded")
    p.add_argument("--conditions", type=_list, default=None,
                   help="comma list of real, real+classic, real+gen, real+classic+gen, "
                   "real+inplace-flip, real+inplace-rotate, real+inplace-blur, real+inplace-noise, "
                   "real+rotate-on-the-fly (default all)")
    p.add_argument("--augment", choices=["auto", "rotations", "affine", "affine-flip", "none"],
                   default=None, help="classic augmentation policy (auto: rotations for cells, "
                   "affine without flips otherwise)")
    p.add_argument("--n-generated", type=int, default=None,
                   help="generated images per class (default 200, Gaur et al.)")
    p.add_argument("--no-augment-generated", "--no-rotate-generated", action="store_true",
                   dest="no_augment_generated",
                   help="do not expand generated images by the augmentation policy")
    p.add_argument("--ratios", type=_list, default=None,
                   help="ratio sweep, generated per real image, e.g. 0.5,1,2,4")
    p.add_argument("--balance", action="store_true",
                   help="also run the balancing mode (class weights / over- / under-sampling / GAN fill)")
    p.add_argument("--imbalance", default=None,
                   help="balancing mode: classes cut to fractions, e.g. 1:0.5,3:0.65,7:0.8 "
                   "(default: the positive class to 0.5)")
    p.add_argument("--folds", type=int, default=None, help="k of k-fold cross-validation (default 5)")
    p.add_argument("--repeats", type=int, default=None,
                   help="repeats of the k-fold split (default 2)")
    p.add_argument("--gan-seeds", type=int, default=None, help="GANs trained per fold (default 2)")
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel jobs (default -1: all cores)")
    p.add_argument("--joblib-backend", default=None,
                   help="joblib backend for the fold x seed jobs: loky (default), threading, "
                   "sequential, or a registered cluster backend such as dask or ray")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--data", default=None,
                   help="synthetic (default: the embedded cells), digits (scikit-learn's 8x8 "
                   "digits) or a dataset path")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable image files of --data (they are listed in the load report)")
    p.add_argument("--n-per-class", type=int, default=None,
                   help="synthetic images per class (130); digits: images kept per class (0: all)")
    p.add_argument("--size", type=int, default=None, help="image size (default 32)")
    p.add_argument("--crop", type=float, default=None,
                   help="centre crop of --data images before resizing: pixels (e.g. 300) or a "
                        "fraction in (0, 1) (Georgiev: 300 of 450, then --size)")
    p.add_argument("--features", choices=["cnn", "pixels"], default=None,
                   help="feature space of KID/PRDC (default: the CNN trained on real training images)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", default=None, help="run folder (default runs/<time>-study)")
    p.add_argument("--resume", metavar="OUT", default=None,
                   help="continue an interrupted study: its finished folds (GAN and classifier "
                        "jobs) are kept, the rest run, with the settings recorded in OUT/study.json "
                        "(only --jobs, --joblib-backend and --no-progress may be given with it)")
    p.set_defaults(run=run)
    return p


def _check_run_folder(args, cfg):
    """With ``--gan RUN``, the data, size and split are the run's: refuse options that
    would silently say otherwise."""
    path = Path(cfg.gan)
    if not (path / "config.json").exists():
        raise UserError(f"{path} is not a run folder (no config.json); train one with "
                        "`python cli.py train` or pass a model name to --gan")
    rc = read_config_record(path / "config.json")
    conflicts = []
    for opt, key in (("data", "data"), ("size", "size"), ("n_per_class", "n_per_class")):
        v = getattr(args, opt)
        if v is not None and v != rc.get(key):
            conflicts.append(f"--{opt.replace('_', '-')} {v} (the run used {rc.get(key)})")
    for opt in ("folds", "repeats", "gan_seeds"):
        if getattr(args, opt) is not None:
            conflicts.append(f"--{opt.replace('_', '-')} (a run folder fixes one train/test split "
                             "and one generator)")
    if conflicts:
        raise UserError(f"--gan {path} is a trained run: its data and split are fixed, so "
                        + "; ".join(conflicts) + " cannot apply. Drop them, or pass a model name "
                        "to --gan to train GANs per fold.")
    cfg.data, cfg.size = rc["data"], rc["size"]
    cfg.n_per_class, cfg.data_seed = rc.get("n_per_class", cfg.n_per_class), rc["data_seed"]


def config_from_args(args):
    # lazy, as in run(): importing refgan.study or refgan.classifiers loads scikit-learn and
    # SciPy (about 1 s), and cli.py imports every command module to build its parser
    from refgan.study.config import CONDITIONS, StudyConfig, quick_config

    cfg = quick_config() if args.quick else StudyConfig()
    if args.gan:
        cfg.gan = args.gan
    if args.gan_checkpoint is not None:
        if not Path(cfg.gan).exists():
            raise UserError("--gan-checkpoint chooses a checkpoint of a trained run: give --gan RUN_DIR")
        cfg.gan_checkpoint = args.gan_checkpoint
    if args.gan_preset:
        cfg.gan_preset = args.gan_preset
    if args.gan_steps is not None:
        if args.gan_steps < 1:
            raise UserError("--gan-steps must be >= 1")
        cfg.gan_options = dict(cfg.gan_options, steps=args.gan_steps)
    if args.ali:
        if cfg.gan != "acgan-ali":
            raise UserError("--ali is for --gan acgan-ali")
        cfg.gan_options = dict(cfg.gan_options, ali=args.ali)
    if args.classifiers:
        from refgan.classifiers import CLASSIFIERS  # lazy: see above

        bad = [c for c in args.classifiers if c not in CLASSIFIERS]
        if bad:
            raise UserError(f"unknown classifier(s) {', '.join(bad)}; choose from {', '.join(CLASSIFIERS)}")
        cfg.classifiers = args.classifiers
    if args.weights:
        cfg.weights = args.weights
    if args.conditions:
        bad = [c for c in args.conditions if c not in CONDITIONS]
        if bad:
            raise UserError(f"unknown condition(s) {', '.join(bad)}; choose from {', '.join(CONDITIONS)}")
        cfg.conditions = args.conditions
    if args.n_generated is not None:
        if args.n_generated < 1:
            raise UserError("--n-generated must be >= 1")
        cfg.n_generated = args.n_generated
    if args.no_augment_generated:
        cfg.augment_generated = False
    if args.ratios:
        try:
            cfg.ratios = tuple(float(r) for r in args.ratios)
        except ValueError:
            raise UserError(f"--ratios must be numbers like 0.5,1,2, got {','.join(args.ratios)}") from None
        if any(r <= 0 for r in cfg.ratios):
            raise UserError("--ratios must be positive")
    if args.balance or args.imbalance:
        cfg.balance = True
    if args.imbalance:
        cfg.imbalance = _fractions(args.imbalance)
    if Path(cfg.gan).exists():
        _check_run_folder(args, cfg)
        # --quick turns the balancing mode on; a run folder's GAN cannot serve it (it saw the
        # images the imbalanced split drops), so it stays off unless asked for (then refused)
        cfg.balance = bool(args.balance or args.imbalance)
    for name in ("folds", "repeats", "gan_seeds", "seed", "data", "n_per_class", "size",
                 "features", "augment", "gan_grow", "joblib_backend"):
        v = getattr(args, name)
        if v is not None:
            setattr(cfg, name, v)
    if args.jobs is not None:
        cfg.n_jobs = args.jobs
    if args.skip_bad:
        cfg.skip_bad = True
    if args.crop is not None:
        cfg.crop = args.crop
    if args.no_progress:
        cfg.progress = False
    if cfg.n_per_class < 1 and cfg.data == "synthetic":
        raise UserError(f"--n-per-class {cfg.n_per_class}: give at least 1 synthetic image per class "
                        "(the default 130 is ALL-IDB2's count)")
    if cfg.n_per_class < 0:
        raise UserError(f"--n-per-class {cfg.n_per_class}: give a count >= 0 (0: every image)")
    if cfg.seed < 0:
        raise UserError(f"--seed {cfg.seed}: seeds are whole numbers >= 0")
    if cfg.folds < 2:
        raise UserError("--folds must be >= 2")
    if cfg.repeats < 1 or cfg.gan_seeds < 1:
        raise UserError("--repeats and --gan-seeds must be >= 1")
    return cfg


def check_out_dir(out: Path) -> None:
    """A study never overwrites another: ``out`` must be new or an empty folder."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a new folder for the study")
    if out.is_dir() and any(out.iterdir()):
        earlier = [n for n in ("results.json", "report.html") if (out / n).exists()]
        if not earlier and (out / "study.json").exists():
            raise UserError(f"--out {out} holds an unfinished study; continue it with: refgan study "
                            f"--resume {out} (or choose a new --out)")
        what = f" (it holds an earlier study: {', '.join(earlier)})" if earlier else ""
        raise UserError(f"--out {out} is not empty{what}; refgan never overwrites a study: choose a new --out")


def run(args) -> int:
    # The study's networks are small: one BLAS/Numba thread per job is fastest (see
    # refgan.backend.set_num_threads); the jobs themselves run in parallel.
    backend.set_num_threads(1)

    if args.resume:
        return _resume(args)
    cfg = config_from_args(args)
    out = Path(args.out) if args.out else Path("runs") / (time.strftime("%Y%m%d-%H%M%S") + "-study")
    check_out_dir(out)
    return _interruptible(cfg, out, resume_jobs=False)


def _resume(args) -> int:
    """``--resume OUT``: the recorded settings, with how the jobs run as given."""
    from refgan.study import resume

    free = {"jobs", "joblib_backend", "no_progress", "resume",  # and the global options:
            "command", "run", "verbosity", "backend"}
    given = [f"--{k.replace('_', '-')}" for k, v in vars(args).items()
             if k not in free and v not in (None, False)]
    if given:
        raise UserError(f"--resume continues the study as recorded in its {resume.RECORD}; leave out "
                        f"{', '.join(given)} (only --jobs, --joblib-backend and --no-progress may change)")
    out = Path(args.resume)
    if (out / "results.json").is_file() and (out / "report.html").is_file():
        raise UserError(f"the study in {out} is complete (results.json, report.html); nothing to resume")
    cfg = resume.read_config(out)
    if args.jobs is not None:
        cfg.n_jobs = args.jobs
    if args.joblib_backend is not None:
        cfg.joblib_backend = args.joblib_backend
    if args.no_progress:
        cfg.progress = False
    return _interruptible(cfg, out, resume_jobs=True)


def _interruptible(cfg, out: Path, resume_jobs: bool) -> int:
    """Run the study; on Ctrl-C or SIGTERM say how to continue it (exit 130)."""
    from refgan.study import run_study  # lazy: see config_from_args

    try:
        run_study(cfg, out, resume_jobs=resume_jobs)
    except KeyboardInterrupt:
        print(f"interrupted: the finished folds are kept in {out}; continue with: "
              f"refgan study --resume {out}", file=sys.stderr)
        return 130
    return 0
