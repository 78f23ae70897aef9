"""The GAN zoo: one module per model, one shared training loop.

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

``refgan.gans.trainer.Trainer`` runs any of them on the data ``refgan.gans.data``
prepares; ``refgan.gans.config`` holds the options (``TrainConfig``) and
``refgan.gans.presets`` their named sets; ``refgan.gans.monitor`` the sample grids and
failure flags; ``refgan.gans.load`` rebuilds a run's models from its checkpoint;
``refgan.gans.checkpoint`` the checkpoint files; ``refgan.gans.quality`` the closing
figures of the main job.
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
