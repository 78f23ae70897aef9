"""Settings of an augmentation study, with the defaults and the ``--quick`` preset."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

TABLE2 = ("real", "real+classic", "real+gen", "real+classic+gen")
INPLACE = ("real+inplace-flip", "real+inplace-rotate", "real+inplace-blur", "real+inplace-noise")
ON_THE_FLY = ("real+rotate-on-the-fly",)  # Georgiev; the CNN only
CONDITIONS = TABLE2 + INPLACE + ON_THE_FLY
BALANCE = ("imbalanced", "class-weights", "oversample", "undersample", "gan-balance")
BASELINES = ("real", "real+classic")


def positive_index(class_names) -> int:
    """The class whose recall is 'sensitivity': 'blast' when present, else the last."""
    return class_names.index("blast") if "blast" in class_names else len(class_names) - 1


def uses_gan(condition: str) -> bool:
    """Conditions whose training set holds generated images."""
    return "gen" in condition or condition == "gan-balance"


@dataclass
class StudyConfig:
    """Everything a study depends on (written to results.json, with 'auto' resolved).

    data : 'synthetic' (the embedded blood-cell generator), 'digits' (scikit-learn's
        8x8 handwritten digits, shipped with it) or a dataset path.
    skip_bad : skip unreadable files of ``data`` (listed in the load report).
    n_per_class, size, data_seed : the synthetic set (Gaur et al.: 130 + 130); for
        'digits', n_per_class caps the images per class (0: all 1,797).
    gan : a model of the zoo ('wgan-gp', 'dcgan', ...) or an existing run folder.
    gan_preset, gan_options : preset and overrides for the GAN trainer.
    gan_grow : how the GAN's training images are grown ('auto': dihedral for cells,
        affine otherwise, by :func:`refgan.training.data.auto_growth`; or one of
        ``refgan.training.config.GROWTHS``).
    classifiers : names from ``refgan.classifiers.CLASSIFIERS``.
    weights : the folder of the pretrained backbones' weight files (for vgg16, resnet50,
        inception_v3, efficientnet_b0 among ``classifiers``; see
        :mod:`refgan.classifiers.backbone_files`).
    conditions : training sets (any of ``CONDITIONS``; see refgan.study.conditions).
    augment : classic augmentation policy ('auto': rotations for cells, affine
        otherwise; or 'rotations', 'affine', 'affine-flip', 'none').
    n_generated : generated images per class (Gaur et al.: 200).
    augment_generated : expand generated images by the policy too (Gaur et al. rotated).
    ratios : sweep of generated:real per class (0.5 = half as many generated as real).
    balance : also run the balancing mode on a training split where the classes in
        ``imbalance`` keep the given fraction of their images ({} = the positive class
        at 50%; Guruswamy et al.: {'1': .5, '3': .65, '7': .8} on Fashion-MNIST).
    folds, repeats : repeated stratified k-fold cross-validation (every real image is
        tested once per repeat); gan_seeds : GANs trained per fold (different seeds).
        The unit of evidence is the fold: the corrected repeated k-fold t over the
        ``folds * repeats`` fold results, each averaged over the GAN seeds.
    n_jobs, joblib_backend : the fold x seed jobs run through joblib (-1: all cores;
        'loky' locally, any joblib backend such as 'dask' or 'ray' on a cluster).
    feature_size : side of the downsized images the linear models see (25).
    cnn : parameters of the CNN classifier; features : 'cnn' or 'pixels' for KID/PRDC.
    top_k : the k of top-k accuracy on data with more than k classes (Guruswamy et al.).
    """

    data: str = "synthetic"
    skip_bad: bool = False
    n_per_class: int = 130
    size: int = 32
    data_seed: int = 0
    gan: str = "wgan-gp"
    gan_preset: str = "cpu"
    # 1,200 steps per class at 32 x 32 (the cpu preset, one core per job, the classes in
    # turn): enough for GANs whose images do not harm the classifiers (400-step GANs did),
    # few enough that the default study runs on a two-core laptop (docs/study.md gives
    # the measured times next to the command)
    gan_options: dict = field(default_factory=lambda: dict(steps=1200))
    gan_grow: str = "auto"
    crop: float = 0.0  # centre crop of --data images before resizing: pixels or a fraction (0: none)
    gan_checkpoint: str | None = None  # with gan = a run folder: best, latest, a step (None: as reported)
    classifiers: tuple = ("lr", "svm")
    weights: str | None = None
    conditions: tuple = CONDITIONS
    augment: str = "auto"
    n_generated: int = 200
    augment_generated: bool = True
    ratios: tuple = ()
    balance: bool = False
    imbalance: dict = field(default_factory=dict)
    folds: int = 5
    repeats: int = 2
    gan_seeds: int = 2
    n_jobs: int = -1
    joblib_backend: str = "loky"
    seed: int = 0
    feature_size: int = 25
    cnn: dict = field(default_factory=lambda: dict(channels=(8, 16, 32), dense=32, max_epochs=20,
                                                   patience=4, image_size=32))
    features: str = "cnn"
    top_k: tuple = (2, 5)
    n_boot: int = 1000
    quick: bool = False
    progress: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


def quick_config(**overrides) -> StudyConfig:
    """A study that runs end to end in a few minutes on 2 cores (CI, first look):
    80 images of 32x32, 3 folds x 2 repeats x 2 GAN seeds, a tiny GAN (20 steps), 24
    generated per class, LR + SVM + a tiny CNN, a ratio sweep and the balancing mode -
    every report section, with numbers that mean nothing (a pipeline check)."""
    base = dict(n_per_class=40, size=32, folds=3, repeats=2, gan_seeds=2, n_generated=24,
                gan_options=dict(steps=20, width_g=4, width_d=4, latent_dim=16, batch=16,
                                 n_disc=2, log_every=2, sample_every=10, ckpt_every=20,
                                 n_fixed=4),
                gan_grow="none",
                classifiers=("lr", "svm", "cnn"), ratios=(0.5, 1.0), balance=True,
                cnn=dict(channels=(4, 8, 8), dense=16, lr=3e-3, max_epochs=6, patience=2, image_size=16),
                n_boot=200, quick=True)
    base.update(overrides)
    return StudyConfig(**base)
