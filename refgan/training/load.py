"""The networks of a run: built from a config, loaded from a checkpoint, sampled.

``load_models(run_dir)`` rebuilds a run's models from its latest checkpoint and the
config recorded with it, without rebuilding its training data: ``generate``, the
study's run-folder step and the exporters (JAX, PyTorch) start here. It needs only
refgan's core (no JAX, no torch).

A run holds one model per key: a class name (one unconditional model per class) or
``all`` (one conditional model that sees the labels).
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np

from refgan.data.names import inside
from refgan.errors import UserError
from refgan.gans import MODEL_CLASSES
from refgan.gans import appearance as appearance_module
from refgan.gans.ali import TrainedALI
from refgan.training import checkpoint
from refgan.gans.base import GAN
from refgan.training.config import TrainConfig


def model_keys(config: TrainConfig) -> list[str]:
    """Class names (one model per class) or ``["all"]``."""
    return list(config.classes) if config.per_class else ["all"]


def build_models(config: TrainConfig) -> dict[str, GAN]:
    """{key: freshly built model} (weights drawn from refgan's stream: seed it first),
    with an EMA copy ``G_ema`` of each generator when ``config.ema > 0``.

    ACGAN-ALI is handed the ALI model of the run named by ``config.ali``
    (:func:`load_ali`).
    """
    extra = {"ali": load_ali(config)} if config.model == "acgan-ali" else {}
    n_classes = 1 if config.per_class else len(config.classes)
    models = {}
    for key in model_keys(config):
        m = MODEL_CLASSES[config.model](n_classes, **extra).build(config)
        if config.ema > 0:
            m.nets["G_ema"] = copy.deepcopy(m.nets["G"])
        models[key] = m
    return models


def load_models(run_dir, which: str | None = None) -> tuple[dict[str, GAN], dict]:
    """``({model key: GAN}, meta)`` rebuilt from the checkpoint ``which`` chooses
    (:func:`refgan.training.checkpoint.choose`: None = the one the run reported,
    ``best``, ``latest`` or a step number).

    ``meta`` is ``checkpoints/latest.json`` (the run's config as recorded:
    ``TrainConfig.from_json(meta["config"])``) with ``step``, ``file`` and ``sha256``
    those of the checkpoint used, and ``checkpoint`` saying which (``best``,
    ``latest`` or ``step``) and why.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "checkpoints").is_dir():
        raise UserError(f"{run_dir} is not a run folder with checkpoints")
    arrays, meta = checkpoint.load(run_dir / "checkpoints")
    checkpoint.check_meta(meta, run_dir / "checkpoints" / checkpoint.LATEST)
    config = TrainConfig.from_json(meta["config"]).validate()
    chosen = checkpoint.choose(run_dir, which, use_best=config.use_best, latest=meta)
    path = run_dir / "checkpoints" / chosen["file"]
    if chosen["file"] != meta["file"]:
        arrays = checkpoint.load_file(path, chosen["sha256"], checkpoint.BEST_JSON)
    meta = dict(meta, step=chosen["step"], file=chosen["file"],
                sha256=chosen["sha256"] or checkpoint.sha256_file(path),
                checkpoint=chosen["kind"], checkpoint_why=chosen["why"])
    models = build_models(config)
    checkpoint.restore_models(models, arrays, run_dir / "checkpoints" / meta["file"])
    return models, meta


def write_appearances(models: dict[str, GAN], out) -> dict[str, str]:
    """The files an export of a ``--appearance white|stain[-peak][-noise]`` run carries: each model's
    measured appearances as ``<key>.appearance.npz`` (``Appearance.save``) and
    ``refgan/gans/appearance.py`` copied beside them as ``appearance.py`` (numpy
    only), which the exports' loaders import to put on each generated image the
    appearance ``GAN.sample`` would. Returns ``{key: file name}``, empty (and nothing
    written) for models without."""
    files = {}
    for key, m in models.items():
        if "appearance" in m.aux:
            files[key] = f"{key}.appearance.npz"
            m.aux["appearance"].save(inside(out, files[key]))
    if files:
        shutil.copyfile(appearance_module.__file__, Path(out) / "appearance.py")
    return files


def sample_class(models: dict[str, GAN], class_names, name: str, n: int,
                 seed: int) -> np.ndarray:
    """n images (n, 3, S, S) of class ``name``, z ~ N(0, I) drawn from ``seed``: the
    class's own generator, or the conditional model asked for that label."""
    names = list(class_names)
    if name not in names:
        raise UserError(f"unknown class {name!r}; this run has {', '.join(names)}")
    # a per-class run's keys are its class names, in order; anything else is the one
    # conditional model (key "all", which may also be the name of a class: ALL vs normal)
    m = models[name] if list(models) == names else models["all"]
    z = np.random.default_rng(seed).standard_normal((n, m.latent_dim)).astype(np.float32)
    if m.conditional:
        return m.sample(n, labels=np.full(n, names.index(name)), z=z)
    return m.sample(n, z=z)


def load_ali(c) -> TrainedALI:
    """The trained ALI of the run named by ``c.ali`` (its latest checkpoint), for
    ACGAN-ALI; this run's latent size and generator width are set to match it."""
    if not c.ali:
        raise UserError("acgan-ali needs a trained ALI encoder: first run "
                        "'train --model ali --no-per-class', then pass --ali RUN_DIR")
    arrays, meta = checkpoint.load(f"{c.ali}/checkpoints")
    ac = meta["config"]
    if ac["model"] != "ali" or ac["per_class"]:
        raise UserError(f"{c.ali} is not a single-model ALI run; train one with "
                        "'train --model ali --no-per-class'")
    if ac["size"] != c.size:
        raise UserError(f"the ALI run has {ac['size']} px images, this run {c.size} px; "
                        f"pass --size {ac['size']}")
    c.latent_dim, c.width_g = ac["latent_dim"], ac["width_g"]
    return TrainedALI(checkpoint.split_models(arrays)["all"],
                      {k: ac[k] for k in ("size", "width_g", "width_d", "latent_dim")})
