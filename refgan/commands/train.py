"""``python cli.py train``: train a GAN of the zoo (refgan/gans) and report on it.

With no option it runs the main job: WGAN-GP, one generator per class, on the
embedded blood-cell dataset (Gaur et al.'s protocol, the ``cpu`` preset), then prints
the run folder and the quality figures (refgan/gans/quality.py).
"""
from __future__ import annotations

import argparse
import sys
import time

from refgan.errors import UserError

# option name -> (type, help); all default to None = "not given" (presets decide)
OPTIONS = {
    "steps": (int, "generator iterations per model"),
    "size": (int, "image side: 8, 16, 32, 64, 128 (power of two)"),
    "batch": (int, "batch size"),
    "width_g": (int, "generator channels at full resolution (doubling towards 4x4)"),
    "width_d": (int, "discriminator channels at full resolution"),
    "latent_dim": (int, "size of z"),
    "n_disc": (int, "discriminator (critic) steps per generator step"),
    "optimizer": (str, "adam or rmsprop"),
    "lr_g": (float, "generator learning rate"),
    "lr_d": (float, "discriminator learning rate (TTUR: may differ from --lr-g)"),
    "beta1": (float, "Adam beta1"),
    "beta2": (float, "Adam beta2"),
    "schedule": (str, "learning-rate schedule: constant, cosine, step"),
    "ema": (float, "EMA decay of the generator weights for sampling (0 = off)"),
    "gp_lambda": (float, "WGAN-GP penalty weight lambda"),
    "dropout": (float, "critic dropout (WGAN-GP)"),
    "data": (str, "'synthetic' (embedded dataset) or a dataset folder / .npz"),
    "n_per_class": (int, "synthetic images per class before the split"),
    "grow": (str, "GAN-set growth: dihedral (8x, exact), rot45flip (16x, Gaur et al.), none"),
    "seed": (int, "seed of weights, latents and batches"),
    "log_every": (int, "steps between metrics-log lines"),
    "sample_every": (int, "steps between sample grids"),
    "ckpt_every": (int, "steps between checkpoints"),
    "n_fixed": (int, "fixed-z samples per class in the grids"),
    "n_cat": (int, "InfoGAN categorical code size"),
    "n_cont": (int, "InfoGAN continuous codes"),
    "info_lambda": (float, "InfoGAN mutual-information weight"),
    "embed_dim": (int, "CGAN label-embedding size for G"),
    "real_fraction": (str, "AC-GAN real share of D's batch: v1, v2, v3 or a number"),
    "ali": (str, "ACGAN-ALI: the ALI run folder providing the encoder"),
    "quality_n": (int, "generated images per class for the quality figures"),
    "threads": (int, "BLAS/Numba threads (default 1: fastest on a shared machine)"),
    "collapse_threshold": (float, "flag mode collapse below this diversity ratio"),
    "explode_threshold": (float, "stop when a loss exceeds this magnitude"),
}


def add_parser(sub):
    from refgan.gans.presets import MODELS, PRESETS

    p = sub.add_parser("train", help="train a GAN (default: the WGAN-GP main job)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODELS, default=None, help="default wgan-gp")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="cpu (default: the 10-minute CPU job), paper (Gaur et al.'s full "
                        "configuration, for a GPU), smoke (tests)")
    p.add_argument("--engine", choices=["refgan", "jax"], default="refgan",
                   help="refgan (default) or jax: the WGAN-GP step jitted by JAX/XLA, "
                        "data-parallel over all local devices (pip install '.[jax]'); "
                        "either engine can resume the other's run")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its checkpoint")
    p.add_argument("--run-dir", help="run folder (default runs/<time>-<model>; must not exist)")
    p.add_argument("--out", default="runs", help="parent of new run folders (default runs)")
    for name, (typ, help_) in OPTIONS.items():
        p.add_argument("--" + name.replace("_", "-"), type=typ, default=None, help=help_)
    p.add_argument("--per-class", dest="per_class", action="store_true", default=None,
                   help="one model per class (default for unconditional models)")
    p.add_argument("--no-per-class", dest="per_class", action="store_false",
                   help="one model for all classes (conditional models always)")
    p.add_argument("--finetune", action="store_true", default=None,
                   help="ACGAN-ALI: start G from the ALI generator")
    p.add_argument("--quality", dest="quality", action="store_true", default=None,
                   help="compute the closing quality figures (default except --preset smoke)")
    p.add_argument("--no-quality", dest="quality", action="store_false",
                   help="skip the closing quality figures")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar")
    p.set_defaults(run=run)
    return p


def _given(args) -> dict:
    keys = list(OPTIONS) + ["per_class", "finetune", "quality", "progress"]
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


def run(args) -> int:
    from pathlib import Path

    from refgan import backend
    from refgan.gans import presets, quality
    from refgan.gans.checkpoint import atomic_write_json
    from refgan.gans.trainer import Trainer, new_run_dir

    t0 = time.perf_counter()
    given = _given(args)
    if args.engine == "jax":
        try:
            from refgan.export.engine import JaxWganGpTrainer as Trainer  # noqa: F811
        except ModuleNotFoundError as err:
            raise UserError(f"--engine jax needs {err.name}: pip install '.[jax]'") from None
    if args.resume:
        extra = set(given) - {"steps", "progress", "quality"}
        if extra or args.model or args.preset or args.run_dir:
            raise UserError("--resume continues the run's recorded config; only --steps, "
                            "--no-progress and --no-quality may be given with it")
        trainer = Trainer.resume(args.resume, steps=given.get("steps"))
        for k in ("progress", "quality"):
            if k in given:
                trainer.c[k] = given[k]
        print(f"resuming {args.resume} at step {trainer.step}/{trainer.c['steps']}",
              file=sys.stderr)
    else:
        c = presets.resolve(args.model or "wgan-gp", args.preset or "cpu", **given)
        c["backend"] = "jax" if args.engine == "jax" else backend.get_backend().name
        c["engine"] = args.engine
        if args.run_dir:
            run_dir = Path(args.run_dir)
            if run_dir.exists() and any(run_dir.iterdir()):
                raise UserError(f"run folder {run_dir} exists and is not empty; refgan never "
                                "overwrites a run: choose a new --run-dir or --resume it")
        else:
            run_dir = new_run_dir(args.out, c["model"])
        trainer = Trainer(c, run_dir)
        trainer.setup()
        print(f"training {c['model']} ({'one model per class: ' + ', '.join(trainer.keys) if c['per_class'] else 'one conditional model'}) "
              f"on {len(trainer.gan_set)} images of {c['size']}x{c['size']} "
              f"({len(trainer.train_set)} real training images grown by '{c['grow']}'), "
              f"{c['steps']} steps, backend {c['backend']}; run folder {trainer.run_dir}",
              file=sys.stderr)
    code = trainer.run()
    if code:
        return code
    c = trainer.c
    result = {"run_dir": str(trainer.run_dir), "steps": trainer.step}
    if c["quality"]:
        gen = {name: trainer.sample_class(name, c["quality_n"], seed=c["seed"] + 1000 + i)
               for i, name in enumerate(trainer.gan_set.class_names)}
        q = quality.evaluate(trainer.train_set, trainer.test_set, gen)
        result["quality"] = q
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    atomic_write_json(trainer.run_dir / "summary.json", result)
    print(f"\nrun folder: {trainer.run_dir}")
    print(f"  samples: {trainer.run_dir / 'samples.png'}  animation: "
          f"{trainer.run_dir / 'progress.gif'}")
    if trainer.flagged:
        print("  flags: " + "; ".join(f"{k}: {kind}" for kind, k in sorted(trainer.flagged)))
    if c["quality"]:
        print("quality of the generated images:")
        print(quality.table(result["quality"]))
    print(f"wall time: {result['wall_s']:.0f} s")
    return 0
