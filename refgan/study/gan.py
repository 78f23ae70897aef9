"""The GAN step of the study, as a plain function the protocol calls once per fold.

A *GAN step* is any callable ::

    step(train: Dataset, n_per_class: dict[str, int], seed: int, workdir: Path) -> GanOutput

that trains on ``train`` (the real training split of one fold, never test images)
and returns ``n_per_class[c]`` generated images of each class ``c``. Two are built in:

* :func:`refgan_gan_step` - trains a model of :mod:`refgan.gans` (any of the zoo, one
  generator per class for unconditional models) with :class:`refgan.training.trainer.Trainer`;
* :func:`run_folder_step` - samples an already-trained run folder (``cli.py train``);
  the study then cannot retrain per fold, so it checks that the run never saw the
  fold's test images and refuses otherwise.

Tests swap in a stub, so the protocol is tested without training GANs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refgan.data import Dataset
from refgan.errors import UserError
from refgan.training import data as gan_data
from refgan.training.config import TrainConfig
from refgan.training.load import load_models, sample_class
from refgan.training.presets import resolve
from refgan.training.run_folder import read_config_record, read_metrics
from refgan.training.trainer import Trainer


@dataclass
class GanOutput:
    """What one GAN step returns.

    generated : Dataset made with ``Dataset.generated`` (origin -1, lineage = the real
        training images the model saw).
    losses : ``{model_key: {loss_name: [value per step]}}`` for the loss-curve figure.
    info : free-form description (model, steps, run folder, seconds).
    """

    generated: Dataset
    losses: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def refgan_gan_step(model: str = "wgan-gp", preset: str = "cpu", **overrides):
    """A GAN step training ``model`` of the refgan zoo under ``preset`` (see
    :mod:`refgan.training.presets`) with ``overrides`` (e.g. ``steps=100``)."""
    def step(train: Dataset, n_per_class: dict, seed: int, workdir: Path) -> GanOutput:
        size = train.image_size[0]
        # The checkpoint is chosen against the GAN's own training images (kid_simple):
        # a preset's c2st would compare it with freshly rendered cells, wrong for any
        # data but the embedded cells; the fold's test images play no part either way.
        cfg = resolve(model, preset, **{"best_metric": "kid_simple", **overrides,
                                        "size": size, "seed": seed,
                                        "classes": list(train.class_names), "quality": False,
                                        "progress": False})
        t0 = time.perf_counter()
        # each GAN its own affine copies (the growth's draws follow the GAN's seed)
        data = gan_data.from_split(train, how=cfg.grow, seed=seed)
        if (Path(workdir) / "checkpoints" / "latest.json").is_file():  # an interrupted study's
            tr = Trainer.resume(workdir, data, log=lambda msg: None)
        else:
            tr = Trainer(cfg, data, run_dir=Path(workdir), log=lambda msg: None).setup()
        code = tr.run()
        if code in (130, 143):  # Ctrl-C or SIGTERM: the study stops; its checkpoint is kept
            raise KeyboardInterrupt
        if code != 0:
            raise UserError(f"GAN training stopped early (code {code}); see {workdir}")
        gen = _sample(tr.models, train.class_names, n_per_class, seed, trained_on=train,
                      name=f"{model} samples")
        losses = {k: _columns(h) for k, h in tr.monitor.history.items()}
        return GanOutput(gen, losses, dict(model=model, preset=preset, steps=cfg.steps,
                                           run_dir=str(workdir),
                                           seconds=round(time.perf_counter() - t0, 1)))

    step.description = f"{model} ({preset} preset{', ' if overrides else ''}" + \
        ", ".join(f"{k}={v}" for k, v in overrides.items()) + ")"
    return step


def _columns(history: list[dict]) -> dict:
    cols: dict[str, list] = {}
    for rec in history:
        for k, v in rec.items():
            if isinstance(v, (int, float)):
                cols.setdefault(k, []).append(float(v))
    return cols


def _sample(models, class_names, n_per_class: dict, seed: int, trained_on: Dataset,
            name: str) -> Dataset:
    """``n_per_class[c]`` images of each class c from a trained run, as a generated
    Dataset whose lineage is the real images the GAN saw."""
    imgs, labels = [], []
    for i, cls in enumerate(class_names):
        n = int(n_per_class.get(cls, 0))
        if n:
            imgs.append(np.asarray(sample_class(models, class_names, cls, n, seed=seed * 1000 + i),
                                   np.float32))
            labels.append(np.full(n, i, np.int64))
    return Dataset.generated(np.concatenate(imgs), np.concatenate(labels), class_names,
                             trained_on=trained_on, name=name)


def run_folder_split(run_dir):
    """The (train, test) split an existing run folder was trained on, rebuilt from its
    recorded config (data, seed, test fraction) and checked against its data hash."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise UserError(f"{run_dir} is not a run folder (no config.json); train one with "
                        "`python cli.py train` or pass a model name to --gan")
    data = gan_data.run_data(run_dir)
    train, test = data.train, data.test
    train.role, test.role = "train", "test"
    return train, test


def run_folder_step(run_dir, which: str | None = None):
    """A GAN step that samples an existing run folder instead of training, from the
    checkpoint ``which`` chooses (:func:`refgan.training.checkpoint.choose`; None: the
    one the run reported).

    The run's training images must not overlap the fold's test split: the run's
    config (data, seed, test fraction) is compared with the study's data by the
    caller through the generated set's lineage, so a leak raises ``LeakError``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise UserError(f"{run_dir} is not a run folder (no config.json); train one with "
                        "`python cli.py train` or pass a model name to --gan")

    def step(train: Dataset, n_per_class: dict, seed: int, workdir: Path) -> GanOutput:
        cfg = TrainConfig.from_json(read_config_record(run_dir / "config.json"))
        run_train = gan_data.run_data(run_dir).train
        if list(run_train.class_names) != list(train.class_names):
            raise UserError(f"run {run_dir} has classes {run_train.class_names}, the study "
                            f"{train.class_names}")
        models, meta = load_models(run_dir, which)
        gen = _sample(models, train.class_names, n_per_class, seed, trained_on=run_train,
                      name=f"{cfg.model} run samples")
        losses = {}
        log = run_dir / "metrics.jsonl"
        if log.exists():
            for rec in read_metrics(log):  # a damaged line: one error naming it
                for k, v in rec.items():
                    if "/" in k and isinstance(v, (int, float)):
                        key, name = k.split("/", 1)
                        losses.setdefault(key, {}).setdefault(name, []).append(float(v))
        return GanOutput(gen, losses, dict(model=cfg.model, run_dir=str(run_dir),
                                           steps=cfg.steps, checkpoint_step=meta["step"],
                                           checkpoint=meta["checkpoint"]))

    step.description = f"existing run {run_dir}"
    return step
