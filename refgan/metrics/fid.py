"""FID on Inception features, with KID beside it and the real-vs-real floor of both.

The Frechet distance between two Gaussians fitted to feature sets (Heusel et al. 2017)::

    FD = ||mu_1 - mu_2||^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^(1/2))

with ``tr((S_1 S_2)^(1/2)) = sum_i sqrt(lambda_i)``, ``lambda_i`` the eigenvalues of
the symmetric positive semi-definite ``S_1^(1/2) S_2 S_1^(1/2)`` (similar to
``S_1 S_2``). Both square roots come from ``eigh`` with eigenvalues under the
round-off level set to 0, so singular covariances (fewer images than feature dimensions, the
usual case here) need no offset and no complex part is dropped.

FID proper is this distance on the 2048-d pool features of pytorch-fid's InceptionV3
(``refgan.backbones.load('inception_v3_fid', ...)``): :func:`fid_kid` computes it with
KID (:func:`refgan.metrics.generative._kid`, the one KID estimator) on the same features.
FID is biased upwards and noisy at small N (Chong and Forsyth 2020), and Gaur et al.
found it too noisy on ALL-IDB2's few images, so every score comes with its *floor*: the
same metric between two disjoint sets of real images at the same sample size. A
generator is read by how far it sits above that floor, never by its raw FID.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

import refgan
from refgan import backend
from refgan.classifiers.backbone_files import find_weights, load_backbone
from refgan.metrics.generative import _flat, _kid


def _clip_roundoff(lam: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with those below its round-off level set to 0.

    The level is numpy's numerical-rank tolerance, ``max|lambda| * D * eps``: below it
    an eigenvalue is noise of either sign, and its square root (about 1e-8 for a noise
    of 1e-16) would otherwise add up over the null space of a singular covariance.
    """
    tol = np.abs(lam).max(initial=0.0) * len(lam) * np.finfo(np.float64).eps
    return np.where(lam > tol, lam, 0.0)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix."""
    lam, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(_clip_roundoff(lam))) @ v.T


def trace_sqrt_product(sigma1, sigma2) -> float:
    """``tr((S_1 S_2)^(1/2))`` for symmetric PSD ``S_1``, ``S_2`` (D, D), as the sum of the
    square roots of the eigenvalues of ``S_1^(1/2) S_2 S_1^(1/2)``."""
    r = _psd_sqrt(np.asarray(sigma1, np.float64))
    m = r @ np.asarray(sigma2, np.float64) @ r
    return float(np.sqrt(_clip_roundoff(np.linalg.eigvalsh((m + m.T) / 2))).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2): means (D,),
    covariances (D, D); see the module docstring. Never negative."""
    mu1, mu2 = np.asarray(mu1, np.float64).ravel(), np.asarray(mu2, np.float64).ravel()
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if not (mu1.shape == mu2.shape and s1.shape == s2.shape == (len(mu1), len(mu1))):
        raise ValueError(f"frechet_distance: means {mu1.shape}, {mu2.shape} and covariances {s1.shape}, "
                         f"{s2.shape} must be (D,) and (D, D) of one D")
    d = mu1 - mu2
    fd = d @ d + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(s1, s2)
    return float(max(fd, 0.0))  # round-off can take an exact 0 a hair below


def feature_stats(feats):
    """Mean (D,) and covariance (D, D) of features (N, D), ``ddof=1`` (pytorch-fid's
    ``np.cov(rowvar=False)``)."""
    f = _flat(feats)
    if len(f) < 2:
        raise ValueError(f"FID needs at least 2 feature vectors per set, got {len(f)}")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def fid(real_feats, fake_feats) -> float:
    """FID between feature sets (N, D) and (M, D): the Frechet distance of their
    Gaussian fits. On features other than pytorch-fid's Inception pool features it is
    not comparable with published FIDs."""
    return frechet_distance(*feature_stats(real_feats), *feature_stats(fake_feats))


def network_features(images, network, value_range=(-1.0, 1.0), batch: int = 50) -> np.ndarray:
    """Penultimate features ``(N, D)`` float64 of images ``(N, 3, H, W)`` (values in
    ``value_range``) through a backbone with refgan.backbones' API: mapped to [0, 1],
    ``network.preprocess`` (resize and normalisation), ``network.features``; eval mode,
    no graph."""
    lo, hi = value_range
    x = np.asarray(backend.to_numpy(images), np.float32)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB images (N, 3, H, W), got shape {x.shape}")
    network.eval()
    out = []
    with refgan.no_grad():
        for i in range(0, len(x), batch):
            inp = network.preprocess((x[i:i + batch] - lo) / (hi - lo))
            f = network.features(inp if isinstance(inp, refgan.Tensor) else refgan.tensor(inp))
            out.append(np.asarray(backend.to_numpy(getattr(f, "data", f)), np.float64))
    return np.concatenate(out) if out else np.zeros((0, network.feature_dim))


@dataclass
class FidKid:
    """FID and KID of generated images, each beside its real-vs-real floor.

    fid, fid_floor : FID(real reference, generated) and FID(real reference, other real),
        both at ``n`` images per side; kid, kid_floor : the same for KID
        (``dict(kid, low, high, n_real, n_fake)``, 95% bootstrap interval);
    floor : how the second real set was found ('held-out real images' or 'disjoint
        halves of the real images'); network : the feature network's name (FID proper
        only for 'inception_v3_fid'); feature_dim : D.
    """

    fid: float
    fid_floor: float
    kid: dict
    kid_floor: dict
    n: int
    floor: str
    network: str
    feature_dim: int

    def to_dict(self) -> dict:
        return asdict(self)


def fid_kid_from_features(real, fake, held_out=None, seed=0, n_boot: int = 200,
                          network: str = "features") -> FidKid:
    """:class:`FidKid` from features (N, D). All sets are cut to one size ``n`` (random
    subsets): with ``held_out`` real features, ``n = min`` of the three sizes, the
    floor is FID(real, held_out); without, the real set is split into two disjoint
    random halves A and B, ``n = min(|real| // 2, |fake|)``, the score is FID(A, fake)
    and the floor FID(A, B). Same reference A, same n: the two numbers differ only by
    what is compared with it."""
    rng = np.random.default_rng(seed)
    r, f = _flat(real), _flat(fake)
    if held_out is not None:
        h = _flat(held_out)
        n = min(len(r), len(h), len(f))
        a, b = r[rng.permutation(len(r))[:n]], h[rng.permutation(len(h))[:n]]
        floor = "held-out real images"
    else:
        n = min(len(r) // 2, len(f))
        perm = rng.permutation(len(r))
        a, b = r[perm[:n]], r[perm[n:2 * n]]
        floor = "disjoint halves of the real images"
    if n < 2:
        raise ValueError(f"FID with its floor needs at least 2 images per set (4 real without held-out "
                         f"images); got {len(r)} real and {len(f)} generated")
    f = f[rng.permutation(len(f))[:n]]
    return FidKid(fid=fid(a, f), fid_floor=fid(a, b),
                  kid=_kid(a, f, n_boot=n_boot, seed=seed), kid_floor=_kid(a, b, n_boot=n_boot, seed=seed),
                  n=n, floor=floor, network=network, feature_dim=int(r.shape[1]))


def fid_kid(real_images, fake_images, network, held_out=None, value_range=(-1.0, 1.0), seed=0,
            n_boot: int = 200, batch: int = 50) -> FidKid:
    """FID and KID of ``fake_images`` against ``real_images`` (N, 3, H, W) on
    ``network``'s features, each with its floor (see :func:`fid_kid_from_features`).

    ``network``: a backbone with refgan.backbones' API - for FID proper pytorch-fid's
    InceptionV3, ``refgan.backbones.load('inception_v3_fid', weights=...)`` - or the
    weight file or folder to load it from (see
    :mod:`refgan.classifiers.backbone_files`; a missing file is refused with a
    UserError, never replaced by another network).
    """
    net = load_fid_network(network)
    feats = [network_features(x, net, value_range, batch) if x is not None else None
             for x in (real_images, fake_images, held_out)]
    return fid_kid_from_features(feats[0], feats[1], feats[2], seed=seed, n_boot=n_boot,
                                 network=getattr(net, "name", type(net).__name__))


def load_fid_network(network):
    """``network`` itself when it is a network (has ``features`` and ``preprocess``);
    pytorch-fid's InceptionV3 when it is a weight file or the folder holding one."""
    if hasattr(network, "features") and hasattr(network, "preprocess"):
        return network
    if isinstance(network, (str, os.PathLike)):
        return load_backbone("inception_v3_fid", find_weights("inception_v3_fid", network))
    raise TypeError(f"network must be a backbone with features() and preprocess(), or the folder of "
                    f"its weights; got {type(network).__name__}")
