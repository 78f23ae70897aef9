"""The GAN zoo: one module per model (the networks and their losses).

===============  ==============================  =================================================================
model            module                          loss (see the module docstring)
===============  ==============================  =================================================================
``wgan-gp``      :mod:`refgan.gans.wgan_gp`      Wasserstein + gradient penalty (Gaur et al.)
``dcgan``        :mod:`refgan.gans.dcgan`        binary cross-entropy (Nizam and Md Ali)
``infogan``      :mod:`refgan.gans.infogan`      BCE + mutual-information term
``infowgan-gp``  :mod:`refgan.gans.infowgan_gp`  Wasserstein + penalty + mutual information (Gaur et al.'s wish)
``cgan``         :mod:`refgan.gans.cgan`         BCE, label embedding in G and D (Guruswamy et al.)
``acgan``        :mod:`refgan.gans.acgan`        source + class log-likelihoods (Guruswamy et al.)
``ali``          :mod:`refgan.gans.ali`          BCE on (image, code) pairs, stochastic encoder (Guruswamy et al.)
``acgan-ali``    :mod:`refgan.gans.ali`          AC-GAN fed encoder codes (Guruswamy et al.)
===============  ==============================  =================================================================

The zoo stands alone (``tests/test_imports.py`` holds it to that): the machinery that
trains, loads and saves the models lives in :mod:`refgan.training` (one training loop
for all of them, their options and presets, checkpoints and the run folder).
"""
from refgan.gans.acgan import ACGAN
from refgan.gans.ali import ALI, ACGANALI
from refgan.gans.base import GAN
from refgan.gans.cgan import CGAN
from refgan.gans.dcgan import DCGAN
from refgan.gans.infogan import InfoGAN
from refgan.gans.infowgan_gp import InfoWGANGP
from refgan.gans.wgan_gp import WGANGP

MODEL_CLASSES = {"wgan-gp": WGANGP, "dcgan": DCGAN, "infogan": InfoGAN,
                 "infowgan-gp": InfoWGANGP, "cgan": CGAN, "acgan": ACGAN, "ali": ALI,
                 "acgan-ali": ACGANALI}

__all__ = ["GAN", "WGANGP", "DCGAN", "InfoGAN", "InfoWGANGP", "CGAN", "ACGAN", "ALI", "ACGANALI",
           "MODEL_CLASSES"]
