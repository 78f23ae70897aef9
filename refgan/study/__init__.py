"""The augmentation study (``refgan study``): does GAN augmentation help?

:class:`StudyConfig` holds the settings (:func:`quick_config` the CI preset),
:func:`run_study` runs Gaur et al.'s protocol under repeated k-fold cross-validation with
several GANs per fold and writes ``report.html``, ``results.json`` and ``results.csv``;
:mod:`refgan.study.gan` holds the GAN steps (train a zoo model per fold, or sample an
existing run); :mod:`refgan.study.conditions` the training sets.
"""
from refgan.study.config import BALANCE, CONDITIONS, TABLE2, StudyConfig, quick_config
from refgan.study.gan import GanOutput, refgan_gan_step, run_folder_step
from refgan.study.protocol import run_study, summarise

__all__ = ["BALANCE", "CONDITIONS", "GanOutput", "StudyConfig", "TABLE2", "quick_config",
           "refgan_gan_step", "run_folder_step", "run_study", "summarise"]
