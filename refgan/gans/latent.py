"""WGAN-GP in an autoencoder's latent space (``--latent-ae N``): two stages, one run.

Every design of the main-job records trains G to draw pixels from the critic's
gradients alone, and at the main job's 2,000-odd steps every one draws the red cells
as mottled rings (docs/main-job.md). An autoencoder learns to redraw the real cells
from a dense, per-pixel signal, and fast: its decoder's redrawings of fresh cells are
hard to tell from them by the colour test after a minute or two of training. So the
run is split in two (l-GAN, Achlioptas et al. 2018; a spatial latent as in latent
diffusion, Rombach et al. 2022):

1. steps 0 .. N-1 train the autoencoder on the real training images (with a time
   budget, fewer when they would spend more than AE_BUDGET_SHARE of it),

       h = enc(x)                    (N, C, S/f, S/f): f = FACTOR = 8, three stride-2 convs
       L_AE = mean |dec(h + sigma eps) - x| + beta mean(h^2),   eps ~ N(0, I)

   The noise (sigma = LATENT_NOISE) makes the decoder draw a plausible image from a
   code near a real one, which is what the latent GAN hands it; the L2 term
   (beta = LATENT_L2) keeps the codes' scale where the noise means something. The
   updates take the critic's slots: ``--n-disc k`` makes k of them per step.
2. steps N .. train WGAN-GP (the critic's loss and penalty of
   :mod:`refgan.gans.wgan_gp`) on the codes: the critic judges enc(x) of the real
   images against G_lat(z), both (N, C, S/f, S/f), and the encoder and decoder stay
   as the first stage left them. A step of the latent networks costs a fraction of
   the image networks' (they end at S/f instead of S), so the budget buys more.

Why f = 8: at 64 x 64 a red cell's diameter is about 14 pixels, two codes at S/8. The
latent GAN then says where a cell is and what it is like, and the decoder, which has
only ever drawn real cells, draws it: round, evenly filled, without the mottling and the
pale halo round the nucleus that every pixel generator drew. With f = 4 (a cell four
codes wide) the latent GAN drew the cells' outlines itself, as blotches
(docs/log/2026-12-07-0518-main-job-latent-gan.md).

The generator the run samples from is ``dec(G_lat(z))`` (:class:`LatentGenerator`):
sample grids, checkpoints, ``generate`` and ``--appearance`` see images as with any
other generator. The latent networks are the image networks' small end: G_lat is Gaur
et al.'s upsample generator for a side of S/f with f times the channel width, the
critic the 'wgan' trunk of the same side, f times as wide. The EMA generator averages
G_lat and copies the decoder, which no longer changes after the first stage.

G's options that act on its output act on the codes: ``--mode-seeking W`` (the preset's
weight is in ``LATENT_DESIGN``, refgan/training/presets.py;
:func:`refgan.gans.regularizers.mode_seeking`) divides W by how far apart the
codes of the batch's two halves are per unit of latent distance, which widens the
per-image variety the latent GAN draws (docs/main-job.md).

What the critic reads are codes, not images, so the options that augment or inspect
its input as an image (DiffAugment, ADA, the colour, low-resolution and patch critics,
FastGAN's decoders) and those that change G (``--generator``, ``--progressive``,
``--vae``) are refused with it (refgan/training/config.py).

The decoder, trained by L1, draws the median image of a code, without the camera's
noise that every real image carries, and the colour statistics give its samples away
by that; ``--appearance stain-noise`` or ``stain-peak-noise`` (the preset's;
:mod:`refgan.gans.appearance`) measures the noise on the training images and draws it
on the samples.
"""
from __future__ import annotations

import math

from refgan import nn, ops, random
from refgan.gans.architectures import Generator, Trunk
from refgan.gans.base import mean_of

__all__ = ["Autoencoder", "LatentGenerator", "LATENT_CHANNELS", "FACTOR", "AE_BUDGET_SHARE",
           "latent_networks", "critic_input"]

LATENT_CHANNELS = 8     # C: a 64 x 64 x 3 image becomes 8 x 8 x 8 codes (a 24th of the numbers)
FACTOR = 8              # f: the codes' side is S / f (log2 f stride-2 stages)
LATENT_NOISE = 0.1      # sigma: the noise on the codes the decoder learns from
LATENT_L2 = 0.01        # beta: the weight of mean(h^2), which fixes the codes' scale
AE_LR, AE_BETAS = 1e-3, (0.9, 0.99)   # Adam for the autoencoder
# The first stage ends after N steps or, with a time budget, once it has spent this share
# of the budget, whichever comes first: on a slow machine N fixed steps would take the
# whole budget and leave the latent GAN untrained (the trainer ends it, Trainer.ae_end).
AE_BUDGET_SHARE = 0.25


class Autoencoder(nn.Module):
    """x (N, 3, S, S) -> h (N, C, S/f, S/f) -> x' (N, 3, S, S) in [-1, 1], f = 2^n.

    With w the autoencoder's width (:func:`latent_networks` gives half the image
    generator's, so that the decoder's convs at S/4 and S/2 have the image generator's
    channels there):

        enc: [Conv4x4 s2, LReLU] x n (3 -> 2w -> 4w ...), Conv3x3 (-> C)
        dec: Conv3x3 (C -> 2^n w), LReLU, [Up x2, Conv3x3, LReLU] x n (-> ... 2w -> w),
             Conv3x3 (w -> 3), tanh

    No batch norm: a code must decode the same whatever else is in the batch.
    """

    def __init__(self, width: int, channels: int = LATENT_CHANNELS, factor: int = FACTOR):
        super().__init__()
        n = int(math.log2(factor))
        ch = [width * 2 ** i for i in range(n + 1)]          # w, 2w, ... 2^n w
        enc = []
        for i in range(n):
            enc += [nn.Conv2d(3 if i == 0 else ch[i], ch[i + 1], 4, 2, 1), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*enc, nn.Conv2d(ch[n], channels, 3, 1, "same"))
        dec = [nn.Conv2d(channels, ch[n], 3, 1, "same"), nn.LeakyReLU(0.2)]
        for i in range(n, 0, -1):
            dec += [nn.Upsample(2), nn.Conv2d(ch[i], ch[i - 1], 3, 1, "same"), nn.LeakyReLU(0.2)]
        self.decoder = nn.Sequential(*dec, nn.Conv2d(width, 3, 3, 1, "same"), nn.Tanh())

    def forward(self, x):
        """The redrawing dec(enc(x)), without the training noise."""
        return self.decoder(self.encoder(x))

    def loss(self, x, eps=None):
        """``(L_AE, logs)`` for the real batch ``x``: mean|dec(h + sigma eps) - x| +
        beta mean(h^2), h = enc(x); ``eps`` (the shape of h) fixes the noise, drawn
        from refgan's stream otherwise."""
        h = self.encoder(x)
        if eps is None:
            eps = random.normal(h.shape, dtype=h.dtype)
        l1 = ops.mean(ops.abs(self.decoder(h + LATENT_NOISE * eps) - x))
        l2 = ops.mean(h * h)
        return l1 + LATENT_L2 * l2, {"ae_l1": mean_of(l1), "ae_code_rms": mean_of(l2) ** 0.5}


class LatentGenerator(nn.Module):
    """z -> dec(G_lat(z)): the run's generator. ``latent(z)`` is G_lat(z), what the
    critic judges; ``decoder`` is the autoencoder's (the same module, not a copy, in
    the trained model; the EMA copy has its own, kept equal to it)."""

    def __init__(self, latent: Generator, decoder: nn.Module):
        super().__init__()
        self.latent_g = latent
        self.decoder = decoder

    def latent(self, z):
        return self.latent_g(z)

    def forward(self, z):
        return self.decoder(self.latent_g(z))


def latent_networks(c):
    """``(autoencoder, generator, critic trunk)`` for the config ``c`` (image side
    ``c.size``, widths ``c.width_g`` and ``c.width_d``). The autoencoder has half the
    image generator's width: its decoder then costs about what the image generator
    does; at the full width each update of the first stage cost far more, and the
    main job scored no better with it (docs/log/2026-12-07-0518-main-job-latent-gan.md)."""
    side = c.size // FACTOR
    ae = Autoencoder(max(1, c.width_g // 2), factor=FACTOR)
    g_lat = Generator(c.latent_dim, side, FACTOR * c.width_g, channels=LATENT_CHANNELS,
                      tanh=False, upsample=c.upsample)
    trunk = Trunk(side, FACTOR * c.width_d, style="wgan", in_channels=LATENT_CHANNELS,
                  dropout=c.dropout, minibatch_std=c.minibatch_std)
    return ae, LatentGenerator(g_lat, ae.decoder), trunk


def critic_input(config: dict) -> tuple[int, int]:
    """``(channels, side)`` of what the critic of a run with config ``config`` (its
    config.json) reads: codes with ``--latent-ae``, images otherwise (the exporters)."""
    if config.get("latent_ae"):
        return LATENT_CHANNELS, config["size"] // FACTOR
    return 3, config["size"]
