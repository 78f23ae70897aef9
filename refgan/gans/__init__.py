"""The GAN zoo: one module per model, one shared training loop.

=============  ==============================  =========================================
model          module                           loss (see the module docstring)
=============  ==============================  =========================================
``wgan-gp``    :mod:`refgan.gans.wgan_gp`       Wasserstein + gradient penalty (seed 000)
``dcgan``      :mod:`refgan.gans.dcgan`         binary cross-entropy (seed 003)
``infogan``    :mod:`refgan.gans.infogan`       BCE + mutual-information term
``cgan``       :mod:`refgan.gans.cgan`          BCE, label embedding in G and D (seed 004)
``acgan``      :mod:`refgan.gans.acgan`         source + class log-likelihoods (seed 004)
``ali``        :mod:`refgan.gans.ali`           BCE on (image, code) pairs (seed 004)
``acgan-ali``  :mod:`refgan.gans.ali`           AC-GAN fed encoder codes (seed 004)
=============  ==============================  =========================================

``refgan.gans.trainer.Trainer`` runs any of them; ``refgan.gans.presets`` holds the
options; ``refgan.gans.checkpoint`` the run-folder files; ``refgan.gans.quality``
the closing figures of the main job.
"""
from refgan.gans.acgan import ACGAN
from refgan.gans.ali import ALI, ACGANALI
from refgan.gans.base import GAN
from refgan.gans.cgan import CGAN
from refgan.gans.dcgan import DCGAN
from refgan.gans.infogan import InfoGAN
from refgan.gans.wgan_gp import WGANGP

MODEL_CLASSES = {"wgan-gp": WGANGP, "dcgan": DCGAN, "infogan": InfoGAN, "cgan": CGAN,
                 "acgan": ACGAN, "ali": ALI, "acgan-ali": ACGANALI}

__all__ = ["GAN", "WGANGP", "DCGAN", "InfoGAN", "CGAN", "ACGAN", "ALI", "ACGANALI",
           "MODEL_CLASSES"]
