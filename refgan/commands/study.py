"""``python cli.py study``: does GAN augmentation help a classifier? (issue 5)

Runs Gaur et al.'s Table 2 protocol over k folds (see :mod:`refgan.study.protocol`) and
writes ``report.html``, ``results.json`` and ``results.csv`` into the run folder.
"""
from __future__ import annotations

import time
from pathlib import Path

from refgan import backend
from refgan.errors import UserError


def _list(s):
    return tuple(x.strip() for x in s.split(",") if x.strip())


def add_parser(sub):
    p = sub.add_parser("study", help="GAN augmentation study with an HTML report",
                       description="Train GANs on each fold's training split, train classifiers "
                       "on real / real+classic / real+generated / real+classic+generated, test on "
                       "real images; tables with 95% intervals, paired tests, report.html.")
    p.add_argument("--quick", action="store_true",
                   help="small, fast configuration for CI and a first look (a few minutes)")
    p.add_argument("--gan", default=None,
                   help="GAN model (wgan-gp, dcgan, infogan, cgan, acgan, ali, acgan-ali) or an "
                   "existing run folder to sample (default wgan-gp)")
    p.add_argument("--gan-preset", default=None, help="GAN preset: cpu (default), paper, smoke")
    p.add_argument("--gan-steps", type=int, default=None, help="GAN generator steps per fold")
    p.add_argument("--classifiers", type=_list, default=None,
                   help="comma list of lr, svm, linear-svm, cnn (default lr,svm; quick adds cnn)")
    p.add_argument("--conditions", type=_list, default=None,
                   help="comma list of real, real+classic, real+gen, real+classic+gen (default all)")
    p.add_argument("--n-generated", type=int, default=None,
                   help="generated images per class (default 200, Gaur et al.)")
    p.add_argument("--no-rotate-generated", action="store_true",
                   help="do not expand generated images by 45-degree rotations")
    p.add_argument("--ratios", type=_list, default=None,
                   help="ratio sweep, generated per real image, e.g. 0.5,1,2,4")
    p.add_argument("--balance", action="store_true",
                   help="also run the balancing mode (class weights / over- / under-sampling / GAN fill)")
    p.add_argument("--minority-fraction", type=float, default=None,
                   help="balancing mode: fraction of the minority class kept (default 0.5)")
    p.add_argument("--folds", type=int, default=None, help="k of k-fold cross-validation (default 5)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--data", default=None, help="dataset path (default: the embedded synthetic set)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable image files of --data (they are listed in the load report)")
    p.add_argument("--n-per-class", type=int, default=None, help="synthetic images per class (130)")
    p.add_argument("--size", type=int, default=None, help="image size (default 32)")
    p.add_argument("--features", choices=["cnn", "pixels"], default=None,
                   help="feature extractor for KID/PRDC (default: CNN trained on real training images)")
    p.add_argument("--out", default=None, help="run folder (default runs/<time>-study)")
    p.set_defaults(run=run)
    return p


def config_from_args(args):
    # lazy, as in run(): importing refgan.study or refgan.classifiers loads scikit-learn and
    # SciPy (about 1 s), and cli.py imports every command module to build its parser
    from refgan.study.config import TABLE2, StudyConfig, quick_config

    cfg = quick_config() if args.quick else StudyConfig()
    if args.gan:
        cfg.gan = args.gan
    if args.gan_preset:
        cfg.gan_preset = args.gan_preset
    if args.gan_steps is not None:
        if args.gan_steps < 1:
            raise UserError("--gan-steps must be >= 1")
        cfg.gan_options = dict(cfg.gan_options, steps=args.gan_steps)
    if args.classifiers:
        from refgan.classifiers import CLASSIFIERS  # lazy: see above

        bad = [c for c in args.classifiers if c not in CLASSIFIERS]
        if bad:
            raise UserError(f"unknown classifier(s) {', '.join(bad)}; choose from {', '.join(CLASSIFIERS)}")
        cfg.classifiers = args.classifiers
    if args.conditions:
        bad = [c for c in args.conditions if c not in TABLE2]
        if bad:
            raise UserError(f"unknown condition(s) {', '.join(bad)}; choose from {', '.join(TABLE2)}")
        cfg.conditions = args.conditions
    if args.n_generated is not None:
        if args.n_generated < 1:
            raise UserError("--n-generated must be >= 1")
        cfg.n_generated = args.n_generated
    if args.no_rotate_generated:
        cfg.rotate_generated = False
    if args.ratios:
        try:
            cfg.ratios = tuple(float(r) for r in args.ratios)
        except ValueError:
            raise UserError(f"--ratios must be numbers like 0.5,1,2, got {','.join(args.ratios)}") from None
        if any(r <= 0 for r in cfg.ratios):
            raise UserError("--ratios must be positive")
    if args.balance:
        cfg.balance = True
    if args.skip_bad:
        cfg.skip_bad = True
    if args.minority_fraction is not None:
        if not 0 < args.minority_fraction < 1:
            raise UserError("--minority-fraction must lie in (0, 1)")
        cfg.minority_fraction = args.minority_fraction
    for name in ("folds", "seed", "data", "n_per_class", "size", "features"):
        v = getattr(args, name)
        if v is not None:
            setattr(cfg, name, v)
    if cfg.folds < 2:
        raise UserError("--folds must be >= 2")
    if cfg.n_per_class < 1:
        raise UserError(f"--n-per-class {cfg.n_per_class}: give at least 1 synthetic image per class "
                        "(the default 130 is ALL-IDB2's count)")
    if cfg.seed < 0:
        raise UserError(f"--seed {cfg.seed}: seeds are whole numbers >= 0")
    return cfg


def check_out_dir(out: Path) -> None:
    """A study never overwrites another: ``out`` must be new or an empty folder."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a new folder for the study")
    if out.is_dir() and any(out.iterdir()):
        earlier = [n for n in ("results.json", "report.html") if (out / n).exists()]
        what = f" (it holds an earlier study: {', '.join(earlier)})" if earlier else ""
        raise UserError(f"--out {out} is not empty{what}; refgan never overwrites a study: choose a new --out")


def run(args) -> int:
    from refgan.study import run_study  # lazy: see config_from_args

    # The study's networks are small: one BLAS/Numba thread is fastest (see
    # refgan.backend.set_num_threads); the backend is the global default or --backend.
    backend.set_num_threads(1)

    cfg = config_from_args(args)
    out = Path(args.out) if args.out else Path("runs") / (time.strftime("%Y%m%d-%H%M%S") + "-study")
    check_out_dir(out)
    run_study(cfg, out)
    return 0
