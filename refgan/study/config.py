"""Settings of an augmentation study, with the defaults and the ``--quick`` preset."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

TABLE2 = ("real", "real+classic", "real+gen", "real+classic+gen")
BALANCE = ("imbalanced", "class-weights", "oversample", "undersample", "gan-balance")
BASELINES = ("real", "real+classic")


def positive_index(class_names) -> int:
    """The class whose recall is 'sensitivity': 'blast' when present, else the last."""
    return class_names.index("blast") if "blast" in class_names else len(class_names) - 1


@dataclass
class StudyConfig:
    """Everything a study depends on (written to results.json).

    data : 'synthetic' (the embedded blood-cell generator) or a dataset path.
    skip_bad : skip unreadable files of ``data`` (listed in the load report).
    n_per_class, size, data_seed : the synthetic set (Gaur et al.: 130 + 130).
    gan : a model of the zoo ('wgan-gp', 'dcgan', ...) or an existing run folder.
    gan_preset, gan_options : preset and overrides for the GAN trainer.
    classifiers : names from ``refgan.classifiers.CLASSIFIERS``.
    conditions : Gaur et al.'s Table 2 training sets (any of ``TABLE2``).
    n_generated : generated images per class (Gaur et al.: 200).
    rotate_generated : expand generated images by 45-degree rotations (Gaur et al.).
    ratios : sweep of generated:real per class (0.5 = half as many generated as real).
    balance : also run Guruswamy et al.'s balancing mode on a training split made imbalanced
        by keeping ``minority_fraction`` of the ``minority`` class.
    folds : k of the stratified k-fold cross-validation (every real image is tested
        once; Gaur et al.'s 80/20 split per fold at k = 5).
    feature_size : side of the downsized images the linear models see (25).
    cnn : parameters of the CNN classifier; features : 'cnn' or 'pixels' for KID/PRDC.
    """

    data: str = "synthetic"
    skip_bad: bool = False
    n_per_class: int = 130
    size: int = 32
    data_seed: int = 0
    gan: str = "wgan-gp"
    gan_preset: str = "cpu"
    gan_options: dict = field(default_factory=dict)
    classifiers: tuple = ("lr", "svm")
    conditions: tuple = TABLE2
    n_generated: int = 200
    rotate_generated: bool = True
    ratios: tuple = ()
    balance: bool = False
    minority: str = "blast"
    minority_fraction: float = 0.5
    folds: int = 5
    seed: int = 0
    feature_size: int = 25
    cnn: dict = field(default_factory=lambda: dict(channels=(8, 16, 32), dense=32, max_epochs=20,
                                                   patience=4, image_size=32))
    features: str = "cnn"
    n_boot: int = 1000
    quick: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


def quick_config(**overrides) -> StudyConfig:
    """A study that runs end to end in a few minutes on 2 cores (CI, first look):
    80 images of 32x32, 3 folds, a tiny GAN (20 steps), 24 generated per class,
    LR + SVM + a tiny CNN, a ratio sweep and the balancing mode - every report
    section, with numbers that mean little."""
    base = dict(n_per_class=40, size=32, folds=3, n_generated=24,
                gan_options=dict(steps=20, width_g=4, width_d=4, latent_dim=16, batch=16,
                                 n_disc=2, log_every=2, sample_every=10, ckpt_every=20,
                                 n_fixed=4, grow="none"),
                classifiers=("lr", "svm", "cnn"), ratios=(0.5, 1.0), balance=True,
                cnn=dict(channels=(4, 8, 8), dense=16, lr=3e-3, max_epochs=6, patience=2, image_size=16),
                n_boot=200, quick=True)
    base.update(overrides)
    return StudyConfig(**base)
