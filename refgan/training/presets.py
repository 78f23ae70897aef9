"""Every training option, its default, and the named presets.

Resolution order (later wins): the defaults of :class:`refgan.training.config.TrainConfig`
-> the model's ``MODEL_DEFAULTS`` -> the preset -> the preset's entry for the model
(``PRESET_MODELS``) -> options given on the command line. An option given for a model
that does not read it (``MODEL_OPTIONS``) is refused: it would be recorded in
config.json as if it had been used. The per-model table is in docs/models.md.
The resolved config is written to ``config.json`` in the run folder, so a run records
everything it depended on.

Presets
-------
``cpu`` (the default, the main job): for WGAN-GP, Gaur et al.'s protocol at 64 x 64, scaled so
that ``python cli.py train --model wgan-gp`` trains both per-class generators and
computes the quality figures in under 10 minutes on 2 CPU cores (numba backend, the
two classes' models side by side, one core each): training stops after
``time_budget`` = 540 s, the rest is data, checkpoints and the closing figures.

The design is two-stage (``LATENT_DESIGN``, refgan/gans/latent.py): the first 1,200
steps (at most a quarter of the budget) train an autoencoder on the real cells, the
rest WGAN-GP on its 8 x 8 x 8 codes; samples are the decoder's drawings of G's codes.
Each training image's white point, stain strength (read where the stain is densest)
and sensor noise are measured and taken off before training, and a training image's,
drawn for each z, put back on the samples (``--appearance stain-peak-noise``,
refgan/gans/appearance.py): G learns the cells, not the spread of slides. G's loss
carries the mode-seeking term on its codes (``--mode-seeking 1``, Mao et al. 2019): two
latents far apart must give codes far apart, which widens the variety of the cells it
draws (docs/main-job.md). Where a run cannot train on codes (images under 64 x 64, the
JAX engine, an option that reads the critic's input as an image, too few steps) or
``--latent-ae 0`` is given, the preset trains the pixel generator that the latent
design replaced on 2026-12-07 (``PIXEL_DESIGN``: ``--appearance stain``, no mode-seeking
term, at most 6,000 steps, a checkpoint every 100), and ``train`` says so.

Deviations from Gaur et al., all for the time budget: narrow networks (critic
16-32-64-128, generator 128-64-32-16; on codes, 8 times as wide at their 8 x 8 side),
batch 16, 1 critic step per generator step instead of 5 with the critic's learning
rate 5x the generator's (TTUR, Heusel et al. 2017: lr_G 2e-4 as the paper, lr_D
1e-3), no critic dropout and no DiffAugment (Zhao et al. 2020): in so short a run the
critic does not yet memorise the grown training set, the failure both exist to
prevent, and they slowed G instead.
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
their figures: docs/main-job.md and the records in docs/log/. These extras (the
latent design, EMA, minibatch-std, the measured appearance, the two-sample checkpoint
choice, the time budget, TTUR) belong to
WGAN-GP's main job only. The other models keep their papers' plain setting under
``cpu``: no EMA, no time budget, the last checkpoint (the collapse Nizam and Md Ali
studied stays visible), 1,500 steps at width 16 (the width is for CPU time; the
``paper`` preset has 64); DCGAN with Nizam and Md Ali's first pair (2e-4, 2e-4) and
Adam (0.5, 0.999).

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
from refgan.training.config import TOOLKIT, TrainConfig

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
    "cpu": dict(size=64, batch=16, sample_every=100, ckpt_every=100, log_every=10),
    "paper": dict(size=64, width_g=64, width_d=64, latent_dim=128, batch=64, steps=5000,
                  n_disc=5, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.9, ema=0.0,
                  grow="rot45flip", sample_every=250, ckpt_every=500, log_every=25),
    "smoke": dict(size=16, width_g=4, width_d=4, latent_dim=8, batch=8, steps=3, n_disc=2,
                  n_per_class=12, grow="none", log_every=1, sample_every=2, ckpt_every=2,
                  n_fixed=4, quality=False, progress=False, embed_dim=4, n_cat=2, n_cont=1),
}
# Presets tune WGAN-GP's critic steps and learning rates; other models keep their own.
PRESET_MODEL_KEYS = {"n_disc", "beta1", "beta2", "lr_g", "lr_d"}

# The cpu preset per model: WGAN-GP's main job, and the plain setting of the others.
_CPU_PLAIN = dict(width_g=16, width_d=16, steps=1500, time_budget=0.0, ema=0.0,
                  best_metric="kid_simple", use_best=False)
# The main job's two designs (docs/main-job.md). The cpu preset trains WGAN-GP on an
# autoencoder's codes, with each training image's appearance and sensor noise drawn on
# the samples (refgan/gans/latent.py, --appearance stain-peak-noise); the steps are a cap for
# the time budget, and a checkpoint every 200 steps leaves more of it to training (each
# is scored); the mode-seeking term acts on the latent GAN's codes. Where a run cannot
# train that (TrainConfig.latent_ae_misfit: images under 64 x 64, as the study's and
# reproduce gaur's GANs; too few steps; an option that reads the critic's input as an
# image) or on the JAX engine, it trains the pixel generator that the latent design
# replaced (:func:`pixel_design_reason`), as it does when --latent-ae 0 is given: the
# preset of the records up to 2026-12-07.
LATENT_DESIGN = dict(latent_ae=1200, appearance="stain-peak-noise", mode_seeking=1.0, steps=20000,
                     ckpt_every=200)
PIXEL_DESIGN = dict(latent_ae=0, appearance="stain", mode_seeking=0.0, steps=6000, ckpt_every=100)
PRESET_MODELS = {
    "cpu": {"wgan-gp": dict(width_g=16, width_d=16, time_budget=540.0, n_disc=1,
                            lr_g=2e-4, lr_d=1e-3, dropout=0.0, diffaugment="", ema=0.999,
                            minibatch_std=4, best_metric="c2st", use_best=True,
                            **LATENT_DESIGN),
            **{m: dict(_CPU_PLAIN) for m in MODEL_DEFAULTS if m != "wgan-gp"}},
}

# The options only some models read, and which models read them; every other option
# applies to every model.
MODEL_OPTIONS = {
    "dropout": ("wgan-gp", "infowgan-gp"),
    "minibatch_std": ("wgan-gp", "infowgan-gp"),
    "gp_lambda": ("wgan-gp", "infowgan-gp"),
    "gp_every": ("wgan-gp", "infowgan-gp", "dcgan", "cgan"),  # R1 is lazy by it too
    "diffaugment": ("wgan-gp", "dcgan", "cgan"),
    "n_cat": ("infogan", "infowgan-gp"),
    "n_cont": ("infogan", "infowgan-gp"),
    "info_lambda": ("infogan", "infowgan-gp"),
    "embed_dim": ("cgan",),
    "real_fraction": ("acgan", "acgan-ali"),
    "ali": ("acgan-ali",),
    "finetune": ("acgan-ali",),
    "ali_loss": ("acgan-ali",),
    # the limited-data toolkit (docs/toolkit.md): which models read each option
    **{name: models for name, (_, models) in TOOLKIT.items()},
}

MODELS = tuple(MODEL_DEFAULTS)


def own_options(model: str) -> list[str]:
    """The model-specific options ``model`` reads (``MODEL_OPTIONS``)."""
    return [k for k, users in MODEL_OPTIONS.items() if model in users]


def check_model_options(model: str, given: dict) -> None:
    """Refuse options given for ``model`` that it does not read (one UserError line)."""
    unused = [k for k in given if k in MODEL_OPTIONS and model not in MODEL_OPTIONS[k]]
    if unused:
        flag = lambda k: "--" + k.replace("_", "-")  # noqa: E731
        own = own_options(model)
        raise UserError(f"{model} does not use {', '.join(map(flag, unused))}; its own options are "
                        + (", ".join(map(flag, own)) if own else "none (only the common ones)")
                        + " (see docs/models.md)")


def resolve(model: str = "wgan-gp", preset: str = "cpu", strict: bool = False,
            **overrides) -> TrainConfig:
    """The validated config for ``model`` under ``preset`` with ``overrides``
    (TrainConfig field names; None = not given). ``strict`` (the command line): an
    override ``model`` does not read is a UserError (:func:`check_model_options`);
    otherwise such overrides are dropped, so that one set of options can serve
    several models and config.json never records an option as if it were used."""
    if model not in MODEL_DEFAULTS:
        raise UserError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    tuned = dict(PRESETS[preset])
    if model != "wgan-gp":
        tuned = {k: v for k, v in tuned.items() if k not in PRESET_MODEL_KEYS}
    tuned.update(PRESET_MODELS.get(preset, {}).get(model, {}))
    given = {k: v for k, v in overrides.items() if v is not None}
    if strict:
        check_model_options(model, given)
        if given.get("epochs") and "steps" in given:
            raise UserError("give --steps or --epochs, not both (--epochs sets the steps from the data)")
    given = {k: v for k, v in given.items() if k not in MODEL_OPTIONS or model in MODEL_OPTIONS[k]}
    def config(tuned):
        return TrainConfig().replace(**{**MODEL_DEFAULTS[model], **tuned, **given,
                                        "model": model, "preset": preset})
    cfg = config(tuned)
    if tuned.get("latent_ae") and (given.get("latent_ae") == 0 or (
            "latent_ae" not in given and pixel_design_reason(cfg))):
        cfg = config({**tuned, **PIXEL_DESIGN})   # what the options given still change
    conditional = MODEL_CLASSES[model].conditional
    if cfg.per_class is None:
        cfg.per_class = not conditional
    if conditional and cfg.per_class:
        raise UserError(f"{model} is a conditional model (one model for all classes); "
                        "drop --per-class")
    return cfg.validate()


def pixel_design_reason(c: TrainConfig) -> str | None:
    """Why the config ``c`` cannot train WGAN-GP on an autoencoder's codes (the cpu
    preset's ``LATENT_DESIGN``), or None when it can."""
    if c.engine == "jax":
        return "the JAX engine does not train --latent-ae"
    misfit = c.latent_ae_misfit()
    return misfit[0] if misfit else None


def pixel_design_note(c: TrainConfig, given: dict) -> str | None:
    """The line that tells a run of the cpu preset's WGAN-GP that it trains the pixel
    generator, not the preset's latent design, and why; None otherwise."""
    if c.preset != "cpu" or c.model != "wgan-gp" or c.latent_ae or "latent_ae" in given:
        return None
    reason = pixel_design_reason(c.replace(**{k: v for k, v in LATENT_DESIGN.items()
                                               if k not in given}))
    if reason is None:
        return None
    return (f"note: the cpu preset trains WGAN-GP on an autoencoder's codes (--latent-ae "
            f"{LATENT_DESIGN['latent_ae']}), which this run cannot ({reason}); it trains the "
            f"pixel generator (--latent-ae 0 --appearance {PIXEL_DESIGN['appearance']})")
