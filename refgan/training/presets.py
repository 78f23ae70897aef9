"""Every training option, its default, and the named presets.

Resolution order (later wins): the defaults of :class:`refgan.training.config.TrainConfig`
-> the model's ``MODEL_DEFAULTS`` -> the preset -> options given on the command line.
The resolved config is written to ``config.json`` in the run folder, so a run records
everything it depended on.

Presets
-------
``cpu`` (the default, the main job): Gaur et al.'s protocol at 64 x 64, scaled so
that ``python cli.py train --model wgan-gp`` trains both per-class generators and
computes the quality figures in under 10 minutes on 2 CPU cores (numba backend, the
two classes' models side by side, one core each): training stops after
``time_budget`` = 540 s (at most 6,000 steps), the rest is data, checkpoints and the
closing figures. Deviations from Gaur et al., all for the time budget: narrow
networks (critic 16-32-64-128, generator 128-64-32-16), batch 16, 1 critic step per
generator step instead of 5 with the critic's learning rate 5x the generator's
(TTUR, Heusel et al. 2017: lr_G 2e-4 as the paper, lr_D 1e-3), no critic dropout and
no DiffAugment (Zhao et al. 2020): in so short a run the critic does not yet memorise
the grown training set, the failure both exist to prevent, and they slowed G instead.
The critic reads a minibatch-standard-deviation feature map before its last conv
(groups of 4, Karras et al. 2018): a critic that judges one image at a time cannot
object to a generator that draws every cell at the average stain. Samples come from
an EMA of G (0.999 with warm-up; within the budget the warm-up alone sets the
average, ``GAN.update_ema``) whose batch-norm statistics are recomputed for the
averaged weights at each sample grid and checkpoint (copied from G they belong to
other weights). The run ends with the checkpoint that the classifier two-sample
test tells least well from freshly rendered cells (``best_metric`` c2st,
``use_best``): KID on simple features reaches its noise floor early in the run and
then ties, while the two-sample test keeps falling. The runs behind each choice and
their figures: docs/main-job.md and the records in docs/log/.

``paper``: Gaur et al.'s configuration: 64 x 64, batch 64, critic 64-128-256-512
(5x5, stride 2, 'same', LeakyReLU 0.2, dropout 0.3), generator from 4 x 4 x 512,
latent 128, lambda 10, 5 critic steps, Adam 2e-4 with betas (0.5, 0.9), training
data grown by 45-degree rotations and flips (~3,300 images). The paper gives no
iteration count; 5,000 generator iterations per class is our choice. Meant for
``--backend cupy`` (or a long CPU run).

``smoke``: tiny networks and 16 x 16 images for tests.
"""
from __future__ import annotations

from refgan.errors import UserError
from refgan.gans import MODEL_CLASSES
from refgan.training.config import TrainConfig

# Per-model defaults (Gaur et al. for WGAN-GP; DCGAN practice for the BCE models).
MODEL_DEFAULTS = {
    "wgan-gp": dict(n_disc=5, beta1=0.5, beta2=0.9),
    "dcgan": dict(n_disc=1, beta1=0.5, beta2=0.999),
    "infogan": dict(n_disc=1, beta1=0.5, beta2=0.999),
    "infowgan-gp": dict(n_disc=5, beta1=0.5, beta2=0.9),
    "cgan": dict(n_disc=1, beta1=0.5, beta2=0.999),
    "acgan": dict(n_disc=1, beta1=0.5, beta2=0.999),
    "ali": dict(n_disc=1, beta1=0.5, beta2=0.999),
    "acgan-ali": dict(n_disc=1, beta1=0.5, beta2=0.999),
}

PRESETS = {
    "cpu": dict(size=64, width_g=16, width_d=16, batch=16, steps=6000, time_budget=540.0,
                n_disc=1, lr_g=2e-4, lr_d=1e-3, dropout=0.0, diffaugment="", ema=0.999,
                minibatch_std=4, best_metric="c2st", use_best=True, sample_every=100,
                ckpt_every=100, log_every=10),
    "paper": dict(size=64, width_g=64, width_d=64, latent_dim=128, batch=64, steps=5000,
                  n_disc=5, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.9, ema=0.0,
                  grow="rot45flip", sample_every=250, ckpt_every=500, log_every=25),
    "smoke": dict(size=16, width_g=4, width_d=4, latent_dim=8, batch=8, steps=3, n_disc=2,
                  n_per_class=12, grow="none", log_every=1, sample_every=2, ckpt_every=2,
                  n_fixed=4, quality=False, progress=False, embed_dim=4, n_cat=2, n_cont=1),
}
# Presets tune WGAN-GP's critic steps and learning rates; other models keep their own.
PRESET_MODEL_KEYS = {"n_disc", "beta1", "beta2", "lr_g", "lr_d"}

MODELS = tuple(MODEL_DEFAULTS)


def resolve(model: str = "wgan-gp", preset: str = "cpu", **overrides) -> TrainConfig:
    """The validated config for ``model`` under ``preset`` with ``overrides``
    (TrainConfig field names; None = not given)."""
    if model not in MODEL_DEFAULTS:
        raise UserError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    tuned = dict(PRESETS[preset])
    if model != "wgan-gp":
        tuned = {k: v for k, v in tuned.items() if k not in PRESET_MODEL_KEYS}
    given = {k: v for k, v in overrides.items() if v is not None}
    cfg = TrainConfig().replace(**{**MODEL_DEFAULTS[model], **tuned, **given,
                                   "model": model, "preset": preset})
    conditional = MODEL_CLASSES[model].conditional
    if cfg.per_class is None:
        cfg.per_class = not conditional
    if conditional and cfg.per_class:
        raise UserError(f"{model} is a conditional model (one model for all classes); "
                        "drop --per-class")
    return cfg.validate()
