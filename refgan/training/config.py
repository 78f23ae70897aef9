"""Every training option in one place: its type, default, help and checks.

:class:`TrainConfig` is the one description of a training run. Everything else is
derived from its fields:

* the ``train`` command's options (:func:`add_arguments`): field ``lr_g`` is
  ``--lr-g``, its type is the field's type, its help the field's help;
* the presets (:mod:`refgan.training.presets`): named sets of field values;
* ``config.json`` in the run folder (:meth:`TrainConfig.to_json`) and resume
  (:meth:`TrainConfig.from_json`, which also reads the older names of a field).

A field is declared with :func:`option`: ``checks`` are functions ``value -> str |
None`` returning what is wrong with a value (``None``: nothing), so a new rule is one
more function in one field's tuple; :meth:`TrainConfig.validate` runs them all, then
the rules that tie several fields together.

Names: one per idea, and the command line's: ``n_disc`` (discriminator or critic
steps per generator step; Gulrajani et al.'s n_critic) and ``gp_lambda`` (the
gradient-penalty weight lambda).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from refgan.backend import available_cores
from refgan.data.loaders import NPZ_SPLITS
from refgan.data.names import check_class_names
from refgan.errors import UserError
from refgan.gans import appearance as appearance_module
from refgan.gans.architectures import stages
from refgan.gans.diffaugment import POLICIES
from refgan.gans.latent import FACTOR as LATENT_FACTOR
from refgan.gans.multiscale import pools_to_a_critic
from refgan.gans.regularizers import LOSSES
from refgan.gans.styled import GENERATORS, UPSAMPLING_GENERATORS

Check = Callable[[Any], "str | None"]

# What config.json records besides the options (refgan/training/run_folder.py): not options.
RECORD_ONLY = ("provenance", "history")
# How the GAN set can be grown (refgan.training.data.grow); 'auto' chooses by the data.
GROWTHS = ("none", "dihedral", "rot45flip", "affine")
# Older names of a field, still read from the config.json of existing runs.
# The limited-data toolkit's options: (off value, the models that read them).
_CRITIC_MODELS = ("wgan-gp", "dcgan", "cgan")
TOOLKIT = dict(generator=("upsample", ("wgan-gp",)), loss=("wgan", _CRITIC_MODELS),
               r1=(0.0, _CRITIC_MODELS), lecam=(0.0, _CRITIC_MODELS),
               ada_target=(0.0, _CRITIC_MODELS), spectral_norm=(False, _CRITIC_MODELS),
               critic=("concat", ("cgan",)), mode_seeking=(0.0, ("wgan-gp", "dcgan", "cgan")),
               appearance=("generator", _CRITIC_MODELS), progressive=(0, ("wgan-gp",)),
               colour_critic=(0, ("wgan-gp", "dcgan")), recon=(0.0, ("wgan-gp", "dcgan")),
               low_res_critic=(0, ("wgan-gp", "dcgan")),
               upsample=("nearest", ("wgan-gp",)), vae=(0.0, ("wgan-gp",)),
               patch_critic=(False, ("wgan-gp", "dcgan")), latent_ae=(0, ("wgan-gp",)))
# What --latent-ae refuses: options that read the critic's input as an image, or change G.
LATENT_CLASHES = ("diffaugment", "ada_target", "colour_critic", "low_res_critic",
                  "patch_critic", "recon", "vae", "progressive")
OLD_NAMES = {"n_critic": "n_disc", "gp_weight": "gp_lambda", "lam": "gp_lambda"}


# ----------------------------------------------------------------------- checks
def at_least(low, why: str = "") -> Check:
    """value >= low."""
    note = f" ({why})" if why else ""
    return lambda v: None if v >= low else f"must be >= {low}{note}, got {v}"


def one_of(*choices) -> Check:
    """value is one of ``choices``."""
    said = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    return lambda v: None if v in choices else f"must be {said}, got {v!r}"


def image_side(v) -> str | None:
    """A side the architectures can build (a power of two >= 8)."""
    try:
        stages(int(v))
    except ValueError as err:
        return str(err)
    return None


def ema_decay(v) -> str | None:
    return None if 0.0 <= float(v) < 1.0 else f"must be a decay in [0, 1) (0 = off), got {v}"


def positive_rate(v) -> str | None:
    """A learning rate: finite and > 0 (NaN, inf, 0 and negatives would only show as
    'diverged' or a frozen network later)."""
    return None if math.isfinite(v) and v > 0 else f"must be a positive finite rate such as 2e-4, got {v}"


def finite_at_least(low) -> Check:
    """A finite value >= low."""
    return lambda v: None if math.isfinite(v) and v >= low else f"must be a finite number >= {low}, got {v}"


def in_range(low, high, why: str = "") -> Check:
    """low <= value < high."""
    note = f" ({why})" if why else ""
    return lambda v: None if low <= v < high else f"must lie in [{low}, {high}){note}, got {v}"


def real_share(v) -> str | None:
    """AC-GAN's real share of D's batch: plain, v1, v2, v3 or a number in (0, 1]."""
    if v in ("plain", "v1", "v2", "v3"):
        return None
    try:
        share = float(v)
    except (TypeError, ValueError):
        share = math.nan
    return None if 0 < share <= 1 else f"must be plain, v1, v2, v3 or a share in (0, 1], got {v!r}"


def _type_complaint(value, hint) -> str | None:
    """What is wrong with the JSON type of a field's value (config.json is edited by
    hand, and a resume must check it as strictly as the command line does)."""
    allowed = [a for a in (typing.get_args(hint) or (hint,))]
    if value is None:
        return None if type(None) in allowed else "must be given, got null"
    for a in allowed:
        if a is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        if a is int and isinstance(value, int) and not isinstance(value, bool):
            return None
        if a in (str, bool, list, dict) and isinstance(value, a):
            return None
    said = " or ".join({int: "a whole number", float: "a number", str: "text", bool: "true or false",
                        list: "a list", dict: "an object"}.get(a, a.__name__) for a in allowed
                       if a is not type(None))
    return f"must be {said}, got {value!r}"


def diffaugment_policy(v) -> str | None:
    unknown = [p for p in str(v or "").split(",") if p.strip() not in ("", "none", *POLICIES)]
    return f"has unknown transform {unknown[0]!r} (use {', '.join(POLICIES)})" if unknown else None


# ------------------------------------------------------------------------ fields
def option(default, help: str = "", *, checks: tuple = (), cli: str | None = "value"):
    """A :class:`TrainConfig` field.

    help : the option's help (a pair ``(on, off)`` for a ``switch``).
    checks : functions ``value -> complaint or None`` run by ``validate``.
    cli : how the command line sets it: ``"value"`` (``--name VALUE``), ``"switch"``
        (``--name`` / ``--no-name``), ``"on"`` (``--name``), ``"off"`` (``--no-name``),
        or None (not a command-line option).
    """
    meta = dict(help=help, checks=tuple(checks), cli=cli)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """The options of one training run (defaults: the ``cpu`` preset before presets).

    Presets and the command line override fields by name (:func:`refgan.training.presets.
    resolve`); models read them as attributes.
    """

    model: str = option("wgan-gp", "the GAN of the zoo", cli=None)
    preset: str = option("cpu", "named set of options (refgan.training.presets)", cli=None)
    # data
    data: str = option("synthetic", "'synthetic' (embedded dataset) or a dataset folder / .npz")
    crop: float = option(0.0, "centre crop of --data images before resizing: pixels (e.g. 300) "
                         "or a fraction in (0, 1) (0 = none)", checks=(finite_at_least(0),))
    skip_bad: bool = option(False, "skip unreadable image files of --data (listed in the load report)",
                            cli="on")
    n_per_class: int = option(130, "synthetic images per class before the split",
                              checks=(at_least(1),))
    classes: list = option(["healthy", "blast"], "class names (synthetic data); recorded "
                           "from the dataset otherwise", cli=None)
    npz_split: str = option("auto", "part of a .npz --data the GAN trains on: auto (its official "
                            "train part; all its images if it has no partition), train, val, "
                            "test or all", checks=(one_of(*NPZ_SPLITS),))
    test_frac: float = option(0.2, "held-out share of the real images used (after --npz-split)",
                              checks=(lambda v: None if 0 < v < 1 else f"must lie in (0, 1), got {v}",))
    data_seed: int = option(0, "seed of the synthetic images and of the held-out split",
                            checks=(at_least(0),))
    grow: str = option("auto", "GAN-set growth: auto (dihedral for cell images, affine for other "
                       "data, which may carry its class in its orientation), dihedral (8x, "
                       "exact), rot45flip (16x, Gaur et al.), affine (8x, Guruswamy et al., no "
                       "flip), none", checks=(one_of("auto", *GROWTHS),))
    grow_why: str | None = option(None, "why the GAN set was grown so (recorded by train)",
                                  cli=None)
    # networks
    size: int = option(32, "image side: 8, 16, 32, 64, 128 (power of two)",
                       checks=(image_side,))
    width_g: int = option(16, "generator channels at full resolution (doubling towards 4x4)",
                          checks=(at_least(1),))
    width_d: int = option(16, "discriminator channels at full resolution",
                          checks=(at_least(1),))
    latent_dim: int = option(128, "size of z", checks=(at_least(1),))
    dropout: float = option(0.3, "critic dropout (WGAN-GP), in [0, 1)",
                            checks=(in_range(0.0, 1.0, "1 would drop every unit"),))
    minibatch_std: int = option(0, "WGAN-GP critic: minibatch standard deviation over groups "
                                "of this many samples, read by its last conv (Karras et al. "
                                "2018; 0 = off)", checks=(at_least(0),))
    # optimisation
    batch: int = option(32, "batch size (at most the smallest class's training images)",
                        checks=(at_least(2, "batch norm needs two samples"),))
    steps: int = option(300, "generator iterations per model", checks=(at_least(1),))
    epochs: float = option(0.0, "train this many passes over the GAN set instead of --steps "
                           "(steps = ceil(epochs x images / batch), images of the largest "
                           "model's set; 0 = use --steps)", checks=(finite_at_least(0),))
    n_disc: int = option(2, "discriminator (critic) steps per generator step",
                         checks=(at_least(1),))
    optimizer: str = option("adam", "adam or rmsprop", checks=(one_of("adam", "rmsprop"),))
    lr_g: float = option(2e-4, "generator learning rate", checks=(positive_rate,))
    lr_d: float = option(2e-4, "discriminator learning rate (TTUR: may differ from --lr-g)",
                         checks=(positive_rate,))
    beta1: float = option(0.5, "Adam beta1, in [0, 1)", checks=(in_range(0.0, 1.0),))
    beta2: float = option(0.9, "Adam beta2, in [0, 1)", checks=(in_range(0.0, 1.0),))
    schedule: str = option("constant", "learning-rate schedule: constant, cosine, step",
                           checks=(one_of("constant", "cosine", "step"),))
    ema: float = option(0.0, "EMA decay of the generator weights for sampling (0 = off)",
                        checks=(ema_decay,))
    gp_lambda: float = option(10.0, "WGAN-GP penalty weight lambda", checks=(finite_at_least(0),))
    gp_every: int = option(1, "WGAN-GP: the gradient penalty on every k-th critic update, "
                           "weighted k * lambda (lazy regularisation, Karras et al. 2020; "
                           "1 = every update)", checks=(at_least(1),))
    diffaugment: str = option("", "WGAN-GP, DCGAN, CGAN: DiffAugment policy for the critic, a "
                              "comma-separated subset of color,translation,cutout ('' or none = off)",
                              checks=(diffaugment_policy,))
    # the limited-data toolkit (docs/toolkit.md)
    generator: str = option("upsample", "WGAN-GP generator: upsample (Gaur et al.), styled "
                            "(StyleGAN2 skip generator: mapping network, modulated convs, noise, "
                            "RGB from every resolution) or stain (the upsample generator drawing "
                            "stain densities and a light field, rendered by Beer-Lambert), "
                            "fastgan (skip-layer excitation and GLU, Liu et al. 2021) or discs "
                            "(the upsample generator seen through learnt soft absorbing discs, "
                            "the red cells; refgan/gans/disc_generator.py)",
                            checks=(one_of(*GENERATORS),))
    loss: str = option("wgan", "WGAN-GP, DCGAN, CGAN: D's loss, the model's own (wgan: "
                       "Wasserstein for WGAN-GP, BCE for the others) or hinge (Lim & Ye 2017)",
                       checks=(one_of(*LOSSES),))
    r1: float = option(0.0, "WGAN-GP, DCGAN, CGAN: R1 penalty gamma on real images (Mescheder "
                       "et al. 2018; lazy with --gp-every; 0 = off)", checks=(finite_at_least(0),))
    lecam: float = option(0.0, "WGAN-GP, DCGAN, CGAN: LeCam regularisation weight (Tseng et al. "
                          "2021; 0 = off)", checks=(finite_at_least(0),))
    ada_target: float = option(0.0, "WGAN-GP, DCGAN, CGAN: adaptive augmentation (ADA, Karras et "
                               "al. 2020) with this target of E[sign D(real)], applying the "
                               "--diffaugment policy (all transforms if none) with probability "
                               "p (0 = off)", checks=(in_range(0.0, 1.0),))
    spectral_norm: bool = option(False, "WGAN-GP, DCGAN, CGAN: spectral normalisation of every "
                                 "layer of D (Miyato et al. 2018)", cli="on")
    mode_seeking: float = option(0.0, "WGAN-GP, DCGAN, CGAN: mode-seeking weight, lambda / "
                                 "(mean|G(z1) - G(z2)| / mean|z1 - z2|) added to G's loss (Mao "
                                 "et al. 2019; CGAN: each pair of one class; with --latent-ae: "
                                 "on G's codes, as in the cpu preset's main job; needs an even "
                                 "--batch; 0 = off)", checks=(finite_at_least(0),))
    appearance: str = option("generator", "WGAN-GP, DCGAN, CGAN: where a sample's global appearance "
                             "comes from: generator (learnt from z), white (each training image's "
                             "white point measured and removed before training, drawn from the "
                             "training images' when sampling), stain (white point and per-channel "
                             "stain strength, the mean optical density), stain-peak (the same, "
                             "the strength read where the stain is densest), stain-noise or "
                             "stain-peak-noise (and each image's sensor noise, drawn on the "
                             "samples; for --latent-ae, whose decoder draws none; "
                             "refgan/gans/appearance.py)",
                             checks=(one_of("generator", *appearance_module.KINDS),))
    progressive: int = option(0, "WGAN-GP: progressive growing (Karras et al. 2018): train from "
                              "16x16 up, holding each resolution PROGRESSIVE steps and fading the "
                              "next one in over as many (refgan/gans/progressive.py; 0 = off)",
                              checks=(at_least(0),))
    colour_critic: int = option(0, "WGAN-GP, DCGAN: a second critic branch of this width that "
                                "sees each image's pixels as a set, rho(mean_p phi(x_p)) added to "
                                "D (Deep Sets, Zaheer et al. 2017; refgan/gans/colour_critic.py; "
                                "0 = off)", checks=(at_least(0),))
    low_res_critic: int = option(0, "WGAN-GP, DCGAN: a second critic, Gaur et al.'s at the side "
                                 "S / F, that judges each image average-pooled by this factor F "
                                 "and adds its output to D's (multi-scale critics, Wang et al. "
                                 "2018; refgan/gans/multiscale.py; 0 = off)",
                                 checks=(at_least(0),))
    patch_critic: bool = option(False, "WGAN-GP, DCGAN: a head on the critic's 16x16 features "
                                "that scores every patch (13x13 pixels at 64x64); the mean "
                                "score is added to D's output (PatchGAN, Isola et al. 2017; "
                                "refgan/gans/patch_critic.py)", cli="on")
    upsample: str = option("nearest", "WGAN-GP: how the " + ", ".join(UPSAMPLING_GENERATORS[:-1])
                           + f" and {UPSAMPLING_GENERATORS[-1]} generators "
                           "double their features, nearest (Gaur et al.) or bilinear",
                           checks=(one_of("nearest", "bilinear"),))
    recon: float = option(0.0, "WGAN-GP, DCGAN: FastGAN's self-supervised critic (Liu et al. "
                          "2021): this weight times the error of two decoders redrawing each real "
                          "image from D's 8x8 features (refgan/gans/fastgan.py; 0 = off)",
                          checks=(finite_at_least(0),))
    vae: float = option(0.0, "WGAN-GP: VAE-GAN (Larsen et al. 2016): an encoder q(z|x), and G "
                        "also redraws each real batch from codes drawn from it; this weight times "
                        "mean|G(z_x) - x| + KL(q || N(0, I)) / (10 pixels) is added to G's loss "
                        "(refgan/gans/vae.py; 0 = off)", checks=(finite_at_least(0),))
    latent_ae: int = option(0, "WGAN-GP: two stages in one run: the first N steps train an "
                            "autoencoder on the real images, the rest WGAN-GP on its codes "
                            "(S/8 x S/8 x 8); samples are the decoder's drawings of G's codes "
                            "(l-GAN, Achlioptas et al. 2018; refgan/gans/latent.py; 0 = off)",
                            checks=(at_least(0),))
    critic: str = option("concat", "CGAN: how D reads the label, concat (a label plane, Mirza & "
                         "Osindero 2014) or projection (Miyato & Koyama 2018)",
                         checks=(one_of("concat", "projection"),))
    per_class: bool | None = option(
        None, ("one model per class (default for unconditional models)",
               "one model for all classes (conditional models always)"), cli="switch")
    # model-specific
    n_cat: int = option(2, "InfoGAN categorical code size")
    n_cont: int = option(2, "InfoGAN continuous codes")
    info_lambda: float = option(1.0, "InfoGAN mutual-information weight", checks=(finite_at_least(0),))
    embed_dim: int = option(16, "CGAN label-embedding size for G", checks=(at_least(1),))
    real_fraction: str = option("plain", "AC-GAN real share of D's batch: plain (Odena et al.'s "
                                "AC-GAN, 0.5), Guruswamy et al.'s v1 (0.25), v2 (0.75), v3 (0.75, "
                                "0.5 every third epoch) or a number",
                                checks=(real_share,))
    ali: str | None = option(None, "ACGAN-ALI: the ALI run folder providing the encoder")
    finetune: bool = option(False, "ACGAN-ALI: start G from the ALI generator", cli="on")
    ali_loss: str = option("masked", "ACGAN-ALI: the real/fake term for the encoder codes' images, "
                           "masked (Guruswamy et al.'s L_C - L_S 1(S = fake): they need only carry "
                           "their class) or unmasked (L_C - L_S for every image)",
                           checks=(one_of("masked", "unmasked"),))
    # bookkeeping
    seed: int = option(0, "seed of weights, latents and batches (>= 0)", checks=(at_least(0),))
    log_every: int = option(10, "steps between metrics-log lines", checks=(at_least(1),))
    sample_every: int = option(50, "steps between sample grids", checks=(at_least(1),))
    ckpt_every: int = option(100, "steps between checkpoints", checks=(at_least(1),))
    keep_every: int = option(0, "also keep every checkpoint whose step is a multiple of N "
                             "(0: only the latest and the best)", checks=(at_least(0),))
    n_fixed: int = option(16, "fixed-z samples per class in the grids", checks=(at_least(1),))
    collapse_threshold: float = option(0.25, "flag mode collapse below this diversity ratio",
                                       checks=(finite_at_least(0),))
    explode_threshold: float = option(1e5, "stop when a loss exceeds this magnitude",
                                      checks=(lambda v: None if v > 0 else f"must be > 0, got {v}",))
    quality: bool = option(True, ("compute the closing quality figures (default except "
                                  "--preset smoke)", "skip the closing quality figures"),
                           cli="switch")
    best_metric: str = option("kid_simple", "what chooses checkpoints/best.npz at each checkpoint: "
                              "kid_simple (KID on simple features vs the training images, "
                              "cheap) or c2st (classifier two-sample test vs fresh cells, "
                              "seconds)", checks=(one_of("kid_simple", "c2st"),))
    use_best: bool = option(False, ("end the run with the best checkpoint's generators (the final "
                                    "grid, quality figures and generate use them)",
                                    "end the run with the last generators"), cli="switch")
    time_budget: float = option(0.0, "stop training after this many seconds and finish the run "
                                "normally (0 = off: train all --steps)", checks=(at_least(0.0),))
    quality_n: int = option(200, "generated images per class for the quality figures",
                            checks=(at_least(1),))
    progress: bool = option(True, "no progress bar", cli="off")
    threads: int = option(available_cores(), "kernel threads (default: every core this "
                          "process may use)", checks=(at_least(1),))
    parallel_classes: str = option("auto", "train the per-class models side by side, each in a thread "
                                   "of its own with --threads split between them: on, off, or auto "
                                   "(on with 2+ models and --threads 2+)",
                                   checks=(one_of("auto", "on", "off"),))
    # recorded by the train command
    backend: str | None = option(None, "array backend the run trained on", cli=None)
    engine: str = option("refgan", "training engine: refgan or jax", cli=None)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes``; an unknown name is a UserError."""
        unknown = set(changes) - set(field_names())
        if unknown:
            raise UserError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def validate(self) -> "TrainConfig":
        """Raise UserError naming the first option with a bad value; return self."""
        hints = typing.get_type_hints(TrainConfig)
        for f in fields(self):
            value = getattr(self, f.name)
            complaint = _type_complaint(value, hints[f.name])
            for check in () if complaint or value is None else f.metadata["checks"]:
                complaint = complaint or check(value)
            if complaint and f.metadata.get("cli") is None:  # only ever read from a record
                example = json.dumps(getattr(TrainConfig(), f.name))
                raise UserError(f"the run's recorded option {f.name!r} {complaint}: it is no "
                                "command-line option but read from the run's config.json or "
                                f"checkpoint, which were edited or damaged; restore it in the "
                                f"form \"{f.name}\": {example}")
            if complaint:
                raise UserError(f"--{f.name.replace('_', '-')} {complaint}")
        check_class_names(self.classes, "--classes")
        if self.npz_split != "auto" and not str(self.data).lower().endswith(".npz"):
            raise UserError(f"--npz-split {self.npz_split} applies to a .npz --data only; leave it "
                            f"out for --data {self.data}")
        if self.crop and self.data == "synthetic":
            raise UserError("--crop crops images of a dataset on disk; leave it out for the embedded cells")
        if self.mode_seeking and self.batch % 2:
            raise UserError(f"--mode-seeking {self.mode_seeking:g} pairs the batch's halves: give "
                            f"an even --batch (got {self.batch}) or --mode-seeking 0")
        if self.upsample != "nearest" and self.generator not in UPSAMPLING_GENERATORS:
            said = ", ".join(UPSAMPLING_GENERATORS[:-1]) + f" and {UPSAMPLING_GENERATORS[-1]}"
            raise UserError(f"--upsample applies to the {said} generators; "
                            f"leave it out for --generator {self.generator}")
        if self.upsample != "nearest" and self.progressive:
            raise UserError("--progressive grows the nearest-neighbour generator; leave out "
                            "--upsample or --progressive")
        if self.progressive and self.generator != "upsample":
            raise UserError(f"--progressive grows Gaur et al.'s upsample generator; leave out "
                            f"--generator {self.generator} or --progressive")
        if self.vae and self.progressive:
            raise UserError("--vae encodes full-size images, which a growing generator does not "
                            "draw until its last level; leave out --vae or --progressive")
        if self.latent_ae:
            self._check_latent_ae()
        if self.recon and self.size < 16:
            raise UserError(f"--recon decodes the critic's 8x8 features: it needs --size 16 or "
                            f"more (got {self.size}); leave out --recon")
        if self.recon and self.progressive:
            raise UserError("--recon reads Gaur et al.'s fixed critic, not a growing one; leave out "
                            "--recon or --progressive")
        if self.low_res_critic and not pools_to_a_critic(self.size, self.low_res_critic):
            fix = (f"e.g. --low-res-critic {max(2, self.size // 16)}" if self.size >= 16
                   else "no factor does at this size: leave it out")
            raise UserError(f"--low-res-critic {self.low_res_critic} must be a factor >= 2 of "
                            f"--size {self.size} that leaves a side of 8 or more (the critic's "
                            f"smallest); {fix}")
        if self.low_res_critic and (self.recon or self.progressive):
            raise UserError("--low-res-critic adds a second fixed critic, which --recon and "
                            "--progressive do not read; leave out --low-res-critic or "
                            + ("--recon" if self.recon else "--progressive"))
        if self.patch_critic and self.size < 32:
            raise UserError(f"--patch-critic reads the critic's 16x16 features: it needs --size "
                            f"32 or more (got {self.size}); leave out --patch-critic")
        if self.patch_critic and (self.recon or self.low_res_critic or self.progressive):
            other = ("--recon" if self.recon else "--low-res-critic" if self.low_res_critic
                     else "--progressive")
            raise UserError(f"--patch-critic reads one fixed critic's features, which {other} "
                            f"changes; leave out --patch-critic or {other}")
        if self.progressive and self.size < 32:
            raise UserError(f"--progressive starts at 16x16 and doubles from there: it needs "
                            f"--size 32 or more (got {self.size}); leave out --progressive")
        if self.model in ("infogan", "infowgan-gp") and (int(self.n_cat) < 1
                                                         or int(self.n_cont) < 1):
            raise UserError(f"{self.model} needs --n-cat >= 1 and --n-cont >= 1")
        return self

    def _check_latent_ae(self) -> None:
        """--latent-ae's critic reads codes and its G is the latent generator: refuse
        the options that read the critic's input as an image or change G."""
        misfit = self.latent_ae_misfit()
        if misfit:
            raise UserError("; ".join(misfit))

    def latent_ae_misfit(self) -> tuple[str, str] | None:
        """``(problem, fix)`` when this config cannot train ``--latent-ae``: images too
        small for its codes, no steps left after its first stage, or options that read
        the critic's input as an image or change G; None when it can."""
        if self.size // LATENT_FACTOR < 8:
            return (f"--latent-ae trains on codes of side --size / {LATENT_FACTOR}, which must "
                    f"be 8 or more: it needs --size {8 * LATENT_FACTOR} or more (got "
                    f"{self.size})", "leave out --latent-ae")
        if self.latent_ae >= self.steps:
            return (f"--latent-ae {self.latent_ae} leaves none of --steps {self.steps} to the GAN "
                    "on its codes", "give fewer autoencoder steps or more --steps")
        off = {f.name: f.default for f in fields(self)}
        clash = [f"--{name.replace('_', '-')}" for name in LATENT_CLASHES
                 if getattr(self, name) != off[name]]
        if self.generator != "upsample":
            clash.append(f"--generator {self.generator}")
        if clash:
            return (f"--latent-ae trains its critic on codes and draws with its own generator, "
                    f"which {', '.join(clash)} cannot act on",
                    f"leave out --latent-ae or {' and '.join(clash)}")
        return None

    # -- config.json ---------------------------------------------------------------
    def to_json(self) -> dict:
        """Every option, as written to config.json."""
        return {f.name: _copy(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, record: dict) -> "TrainConfig":
        """The config a run recorded (config.json, or a checkpoint's), older names
        included."""
        values = {OLD_NAMES.get(k, k): v for k, v in record.items() if k not in RECORD_ONLY}
        if "npz_split" not in values and str(values.get("data", "")).lower().endswith(".npz"):
            values["npz_split"] = "all"  # recorded before --npz-split: the file was read whole
        unknown = set(values) - set(field_names())
        if unknown:
            raise UserError(f"the run's config has unknown option(s) "
                            f"{', '.join(sorted(unknown))}; was it made by a newer refgan?")
        return cls(**values)


def crop_arg(crop: float):
    """``--crop`` as :func:`refgan.data.loaders.load_dataset` takes it: None (0),
    whole pixels (>= 1) or a fraction (< 1)."""
    if not crop:
        return None
    return int(crop) if crop >= 1 else float(crop)


def _copy(v):
    return list(v) if isinstance(v, (list, tuple)) else v


# The toolkit options the JAX engine trains with: they change only the critic's forward,
# which its step runs through the JAX twins of refgan's ops, or the images the models
# learn from, which both engines prepare alike. The others change the losses or the
# loop, which its step does not implement, or the generator, which its step was checked
# with for Gaur et al.'s generator only.
JAX_ENGINE_TOOLKIT = ("appearance", "colour_critic", "low_res_critic")


def jax_engine_refusal(c: TrainConfig) -> str | None:
    """Why ``--engine jax`` cannot train ``c``, or None: the one check of a new run (before
    its folder is made) and of a resumed one (the JAX trainer's setup)."""
    if c.model != "wgan-gp":
        return f"--engine jax trains wgan-gp only, not {c.model}"
    if c.optimizer != "adam":
        return f"--engine jax implements Adam only; drop --optimizer {c.optimizer}"
    if c.gp_every != 1:
        return ("--engine jax applies the gradient penalty on every critic update; "
                f"drop --gp-every {c.gp_every} or use --engine refgan")
    unread = [k for k, (off, _) in TOOLKIT.items()
              if getattr(c, k) != off and k not in JAX_ENGINE_TOOLKIT]
    if unread:
        return (f"--engine jax does not implement --{unread[0].replace('_', '-')}; train this "
                "run on the refgan engine (--engine refgan)")
    return None


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


# ------------------------------------------------------------------ command line
def command_line_fields() -> list[dataclasses.Field]:
    return [f for f in fields(TrainConfig) if f.metadata["cli"]]


def _value_type(name: str):
    """int / float / str of a field (the non-None member of ``X | None``)."""
    hint = typing.get_type_hints(TrainConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def parse_value(name: str, text: str):
    """``text`` as a value of field ``name`` (``--set KEY=VALUE`` style)."""
    if name not in field_names():
        raise UserError(f"unknown training option {name!r}")
    typ = _value_type(name)
    if typ is bool:
        return text.lower() in ("1", "true", "yes", "on")
    if typ in (int, float):
        try:
            return typ(text)
        except ValueError:
            raise UserError(f"--{name.replace('_', '-')} expects {typ.__name__}, "
                            f"got {text!r}") from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per command-line field; each defaults to None = not given (the
    presets decide)."""
    for f in command_line_fields():
        flag, how, help_ = "--" + f.name.replace("_", "-"), f.metadata["cli"], f.metadata["help"]
        off = "--no-" + f.name.replace("_", "-")
        if how == "value":
            parser.add_argument(flag, type=_value_type(f.name), default=None, help=help_)
        elif how == "switch":
            parser.add_argument(flag, dest=f.name, action="store_true", default=None,
                                help=help_[0])
            parser.add_argument(off, dest=f.name, action="store_false", help=help_[1])
        elif how == "on":
            parser.add_argument(flag, dest=f.name, action="store_true", default=None,
                                help=help_)
        elif how == "off":
            parser.add_argument(off, dest=f.name, action="store_false", default=None,
                                help=help_)
        else:
            raise ValueError(f"{f.name}: unknown cli kind {how!r}")


def given_options(args: argparse.Namespace) -> dict:
    """The command-line fields the user gave (not None)."""
    return {f.name: getattr(args, f.name) for f in command_line_fields()
            if getattr(args, f.name, None) is not None}
