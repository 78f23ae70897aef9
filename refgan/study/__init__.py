"""The augmentation study (``refgan study``): does GAN augmentation help?

:class:`StudyConfig` holds the settings (:func:`quick_config` the CI preset),
:func:`run_study` runs Gaur et al.'s protocol under repeated k-fold cross-validation with
several GANs per fold and writes ``report.html``, ``results.json`` and ``results.csv``;
:class:`StudyResults` is what it found (typed; :meth:`StudyResults.read` reads a
``results.json`` back). :mod:`refgan.study.splits` makes the folds,
:mod:`refgan.study.jobs` runs them, :mod:`refgan.study.summary` turns their records
into tables and comparisons, :mod:`refgan.study.report` and :mod:`refgan.study.figures`
draw the page; :mod:`refgan.study.gan` holds the GAN steps (train a zoo model per fold,
or sample an existing run); :mod:`refgan.study.conditions` the training sets.
"""
from refgan.study.config import BALANCE, CONDITIONS, TABLE2, StudyConfig, quick_config
from refgan.study.gan import GanOutput, refgan_gan_step, run_folder_step
from refgan.study.protocol import run_study
from refgan.study.results import StudyResults
from refgan.study.summary import summarise

__all__ = ["BALANCE", "CONDITIONS", "GanOutput", "StudyConfig", "StudyResults", "TABLE2",
           "quick_config", "refgan_gan_step", "run_folder_step", "run_study", "summarise"]
