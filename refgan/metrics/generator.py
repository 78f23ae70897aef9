"""One call for a generator's image-quality numbers: SSIM always, FID and KID when
pytorch-fid's InceptionV3 weights are at hand, each beside its real-vs-real floor.

:func:`generator_metrics` is the entry a training run's summary uses::

    m = generator_metrics(real_images, fake_images, weights_dir="weights")
    m.ssim["mean"], m.ssim_floor["mean"], m.fid_kid.fid, m.fid_kid.fid_floor

Floors (what a generator indistinguishable from the real data would score, at the
same sample size): with ``held_out`` real images (ones the generator never saw), the
floor compares them with ``real_images``; without, ``real_images`` is split into two
disjoint random halves A and B, the generated images are compared with A and the floor
is B against A. For SSIM the number is the mean SSIM of each image with its nearest
reference image (pixel L2): a generated image far below the floor has structure unlike
any real image; far above it, it is (nearly) a copy of one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from refgan import backend
from refgan.metrics.fid import FidKid, fid_kid, load_fid_network
from refgan.metrics.ssim import ssim_to_nearest


@dataclass
class GeneratorMetrics:
    """ssim, ssim_floor : ``dict(mean, median, n)`` of SSIM to the nearest reference
    image, for the generated images and for the floor's real images; fid_kid :
    :class:`~refgan.metrics.fid.FidKid` or None; fid_skipped : why FID/KID are absent
    (None when present); n_real, n_fake : the sizes given; floor : how the floor's real
    images were found; value_range : the pixel range the images were read in."""

    ssim: dict
    ssim_floor: dict
    fid_kid: FidKid | None
    fid_skipped: str | None
    n_real: int
    n_fake: int
    floor: str
    value_range: tuple

    def to_dict(self) -> dict:
        return asdict(self)


def _summary(r: dict) -> dict:
    return dict(mean=r["mean"], median=r["median"], n=len(r["per_image"]))


def generator_metrics(real_images, fake_images, weights_dir=None, held_out=None, network=None,
                      value_range=(-1.0, 1.0), seed=0, n_boot: int = 200) -> GeneratorMetrics:
    """Image-quality numbers of ``fake_images`` against ``real_images`` (N, 3, H, W), both
    with pixel values in ``value_range`` (refgan's GANs: (-1, 1)).

    FID and KID are computed with pytorch-fid's InceptionV3 when ``weights_dir`` is
    given (its file found by :func:`refgan.classifiers.backbone_files.find_weights`; a
    missing file is a :class:`~refgan.errors.UserError`, never a silent substitute) or
    on ``network`` (any backbone with refgan.backbones' API; not FID proper unless it is
    that InceptionV3: the result names it). With neither, only SSIM is computed.
    """
    real = np.asarray(backend.to_numpy(real_images), np.float64)
    fake = np.asarray(backend.to_numpy(fake_images), np.float64)
    lo, hi = value_range
    rng = np.random.default_rng(seed)
    if held_out is not None:
        ref, other = real, np.asarray(backend.to_numpy(held_out), np.float64)
        floor = "held-out real images"
    else:
        if len(real) < 4:
            raise ValueError(f"the real-vs-real floor splits the real images in two: give at least 4, "
                             f"got {len(real)} (or pass held_out)")
        perm = rng.permutation(len(real))
        ref, other = real[perm[:len(real) // 2]], real[perm[len(real) // 2:2 * (len(real) // 2)]]
        floor = "disjoint halves of the real images"
    ssim = _summary(ssim_to_nearest(fake, ref, data_range=hi - lo))
    ssim_floor = _summary(ssim_to_nearest(other, ref, data_range=hi - lo))
    if weights_dir is not None:
        network = load_fid_network(weights_dir)
    fk, skipped = None, "no weights_dir (pytorch-fid's InceptionV3) given"
    if network is not None:
        fk = fid_kid(real, fake, network, held_out=held_out, value_range=value_range, seed=seed,
                     n_boot=n_boot)
        skipped = None
    return GeneratorMetrics(ssim=ssim, ssim_floor=ssim_floor, fid_kid=fk, fid_skipped=skipped,
                            n_real=len(real), n_fake=len(fake), floor=floor,
                            value_range=(float(lo), float(hi)))
