"""``python cli.py train``: train a GAN of the zoo (refgan/gans) and report on it.

With no option it runs the main job: WGAN-GP, one generator per class, on the
embedded blood-cell dataset (Gaur et al.'s protocol, the ``cpu`` preset), then prints
the run folder and the quality figures (refgan/training/quality.py).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from refgan import backend
from refgan.errors import UserError
from refgan.training import config as train_config
from refgan.training import data as gan_data
from refgan.training import presets, quality, run_folder
from refgan.training import checkpoint
from refgan.training.checkpoint import atomic_write_json
from refgan.training.presets import MODELS, PRESETS
from refgan.training.trainer import Trainer, new_run_dir


def add_parser(sub):
    p = sub.add_parser("train", help="train a GAN (default: the WGAN-GP main job)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODELS, default=None, help="default wgan-gp")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="cpu (default: the 10-minute CPU job), paper (Gaur et al.'s full "
                        "configuration, for a GPU), smoke (tests)")
    p.add_argument("--engine", choices=["refgan", "jax"], default=None,
                   help="refgan (default) or jax: the WGAN-GP step jitted by JAX/XLA, "
                        "data-parallel over all local devices (pip install '.[jax]'); "
                        "either engine can resume the other's run: --resume continues on the "
                        "run's recorded engine unless --engine is given, and config.json "
                        "records the engine each session used")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its checkpoint")
    p.add_argument("--run-dir", help="run folder (default runs/<time>-<model>; must not exist)")
    p.add_argument("--out", default="runs", help="parent of new run folders (default runs)")
    p.add_argument("--fid-weights", metavar="DIR", default=None,
                   help="folder holding pytorch-fid's InceptionV3 weights (docs/backbones.md): "
                        "the run summary then gives FID and KID beside SSIM, each with its "
                        "real-vs-real floor")
    train_config.add_arguments(p)  # one option per field of TrainConfig
    p.set_defaults(run=run)
    return p


def trainer_class(engine: str) -> type[Trainer]:
    """The training loop of ``--engine``: refgan's, or its subclass whose step runs on
    JAX (imported only when asked for: JAX is an optional extra)."""
    if engine == "refgan":
        return Trainer
    try:
        from refgan.jax_engine import JaxWganGpTrainer
    except ModuleNotFoundError as err:
        raise UserError(f"--engine jax needs {err.name}: pip install '.[jax]'") from None
    return JaxWganGpTrainer


def _not_a_file(path: Path, option: str) -> None:
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file; give a folder")


def _check_data_options(given: dict, c) -> None:
    """Refuse data options that contradict --data (the config's own rules are in
    TrainConfig.validate)."""
    if "n_per_class" in given and c.data != "synthetic":
        raise UserError(f"--n-per-class sizes the embedded cells only; leave it out with --data "
                        f"{c.data} (its images are all used)")


def _check_batch(c, data) -> None:
    """A batch larger than a model's images would only repeat images within it (the
    study's small folds may; a user asking for it has mistyped)."""
    sets = ({name: (data.gan_set.labels == i).sum() for i, name in enumerate(data.class_names)}
            if c.per_class else {"all": len(data.gan_set)})
    name, n = min(sets.items(), key=lambda kv: kv[1])
    if n < c.batch:
        raise UserError(f"--batch {c.batch} is larger than the {n} training images of {name!r} "
                        f"(grown by '{c.grow}'); use --batch {n} or less, or more data")


def _restart_unsaved(run_dir: Path):
    """The recorded config of a run killed before its first checkpoint, or None.
    Such a run has nothing to resume, so it starts again from step 0 (the same seed
    gives the same run)."""
    if (run_dir / "checkpoints" / "latest.json").exists() or not (run_dir / "config.json").is_file():
        return None
    saved = sorted((run_dir / "checkpoints").glob("*.npz"))
    if saved:  # saved work without its record: never start again over it
        raise UserError(f"{run_dir / 'checkpoints' / 'latest.json'} is missing but the run has saved "
                        f"checkpoints ({', '.join(p.name for p in saved)}); refgan will not restart "
                        "over them: restore latest.json from a backup, or start a new run")
    record = run_folder.read_config_record(run_dir / "config.json")
    return train_config.TrainConfig.from_json(record).validate()


def _recorded_engine(run_dir: Path) -> str:
    """The engine the run's latest checkpoint was trained with (refgan when unrecorded)."""
    config = checkpoint.read_record(run_dir / "checkpoints").get("config")
    return config.get("engine", "refgan") if isinstance(config, dict) else "refgan"


def run(args) -> int:
    with contextlib.ExitStack() as hold:  # a resumed run folder stays locked to the end
        return _train(args, hold)


def _train(args, hold: contextlib.ExitStack) -> int:
    t0 = time.perf_counter()
    given = train_config.given_options(args)
    if args.fid_weights:
        quality.check_fid_weights(args.fid_weights)
    for path, option in ((args.resume, "--resume"), (args.run_dir, "--run-dir"), (args.out, "--out")):
        if path:
            _not_a_file(Path(path), option)
    if args.resume:
        extra = set(given) - {"steps", "progress", "quality"}
        if extra or args.model or args.preset or args.run_dir:
            raise UserError("--resume continues the run's recorded config; only --steps, "
                            "--engine, --no-progress and --no-quality may be given with it")
    if args.resume and not (Path(args.resume) / "config.json").is_file() and not (
            Path(args.resume) / "checkpoints").is_dir():  # a typo must not create a folder tree
        raise UserError(f"--resume {args.resume}: no run folder there (no config.json or "
                        "checkpoints/); give the folder 'train' printed")
    if args.resume:  # before reading it: another process may be writing it
        hold.enter_context(run_folder.locked(args.resume))
    restart = _restart_unsaved(Path(args.resume)) if args.resume else None
    if args.engine is None:  # a resume goes on where the run was trained
        args.engine = (restart.engine if restart is not None else
                       _recorded_engine(Path(args.resume)) if args.resume else "refgan")
    engine = trainer_class(args.engine)
    if restart is not None:
        print(f"{args.resume} has no checkpoint (it stopped before its first one): starting it again "
              "from step 0 with its recorded config", file=sys.stderr)
        for k in ("steps", "progress", "quality"):
            if k in given:
                setattr(restart, k, given[k])
    if args.resume and restart is None:
        trainer = engine.resume(args.resume, gan_data.run_data(args.resume),
                                steps=given.get("steps"))
        for k in ("progress", "quality"):
            if k in given:
                setattr(trainer.config, k, given[k])
        trainer.config.engine = args.engine  # config.json records the engine this session uses
        trainer.config.backend = "jax" if args.engine == "jax" else backend.get_backend().name
        print(f"resuming {args.resume} at step {trainer.step}/{trainer.config.steps}",
              file=sys.stderr)
    else:
        c = restart or presets.resolve(args.model or "wgan-gp", args.preset or "cpu", strict=True,
                                       engine=args.engine, **given)
        if restart is None and (note := presets.pixel_design_note(c, given)):
            print(note, file=sys.stderr)
        _check_data_options(given, c)
        c.engine = args.engine
        if c.engine == "jax" and (why := train_config.jax_engine_refusal(c)):
            raise UserError(why)
        c.backend = "jax" if c.engine == "jax" else backend.get_backend().name
        if restart is not None:
            run_dir = Path(args.resume)
        elif args.run_dir:
            run_dir = Path(args.run_dir)
            if run_dir.exists() and any(run_dir.iterdir()):
                raise UserError(f"run folder {run_dir} exists and is not empty; refgan never "
                                "overwrites a run: choose a new --run-dir or --resume it")
        else:
            run_dir = None  # made once the data are known good, so a refusal leaves no folder
        data = gan_data.prepare(c)
        c = data.record(c)
        _check_batch(c, data)
        run_dir = run_dir or new_run_dir(args.out, c.model)
        print(f"GAN-set growth: {c.grow} ({c.grow_why})", file=sys.stderr)
        trainer = engine(c, data, run_dir).setup()
        models = ("one model per class: " + ", ".join(trainer.keys) if c.per_class
                  else "one conditional model")
        print(f"training {c.model} ({models}) on {len(data.gan_set)} images of {c.size}x{c.size} "
              f"({len(data.train)} real training images grown by '{c.grow}'), "
              f"{c.steps} steps, backend {c.backend}; run folder {trainer.run_dir}",
              file=sys.stderr)
    code = trainer.run()
    if code:
        return code
    c, data, flagged = trainer.config, trainer.data, trainer.monitor.flagged
    result = {"run_dir": str(trainer.run_dir), "steps": trainer.step}
    if trainer.ae_end is not None:   # --latent-ae: the autoencoder's share
        result["latent_ae_steps"] = trainer.ae_end
    if c.quality:
        try:
            gen = {name: trainer.sample_class(name, c.quality_n, seed=c.seed + 1000 + i)
                   for i, name in enumerate(data.class_names)}
            ref = quality.reference_images(c, data.train, data.test)
            result["quality"] = quality.evaluate(data.train, data.test, gen, reference=ref)
            result["generator_metrics"] = quality.generator_figures(gen, data.train, ref,
                                                                    args.fid_weights)
        except KeyboardInterrupt:
            print(f"interrupted (Ctrl-C) during the closing quality figures; the run itself is complete "
                  f"(checkpoint of step {trainer.step} in {trainer.run_dir}): compute them again with "
                  f"'refgan train --resume {trainer.run_dir}'", file=sys.stderr)
            return 130
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    atomic_write_json(trainer.run_dir / "summary.json", result)
    print(f"\nrun folder: {trainer.run_dir}")
    print(f"  samples: {trainer.run_dir / 'samples.png'}  animation: "
          f"{trainer.run_dir / 'progress.gif'}")
    if flagged:
        print("  flags: " + "; ".join(f"{k}: {kind}" for kind, k in sorted(flagged)))
    if c.quality:
        print("quality of the generated images:")
        print(quality.table(result["quality"]))
        print(quality.generator_table(result["generator_metrics"]))
    print(f"wall time: {result['wall_s']:.0f} s")
    return 0
