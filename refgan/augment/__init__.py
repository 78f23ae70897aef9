"""Classic augmentation for refgan datasets.

Transforms (``refgan.augment.transforms``) work on float32 ``(N, C, H, W)``
batches in [-1, 1], each with a probability ``p``, combined with ``Compose`` and
``OneOf``.  Two dataset-level modes:

* :func:`augment_in_place` - each image is replaced by an augmented version with
  probability ``p`` (Saquib and Rodriguez: ``p = 0.33``); the dataset keeps its size;
* :func:`expand` - ``k`` augmented copies per image are appended
  (:func:`rotations45` gives Gaur et al.'s eight consecutive 45-degree rotations).

Both keep labels, groups and ``origin`` (the real source image), and refuse
validation/test splits (:class:`refgan.data.LeakError`): augmentation sees the
training split only.

Example::

    from refgan import augment as A
    t = A.OneOf([A.HorizontalFlip(p=1), A.Rotate90(p=1), A.GaussianBlur(p=1), A.GaussianNoise(p=1)])
    train_aug = A.augment_in_place(train, t, p=0.33, seed=0)
"""
from __future__ import annotations

import numpy as np

from refgan.augment.transforms import (Affine, BrightnessContrast, Compose, GaussianBlur, GaussianNoise,
                                       HorizontalFlip, HueSaturation, Identity, OneOf, RandomCrop, Rotate, Rotate45,
                                       Rotate90, Scale, StainJitter, Transform, Translate, VerticalFlip)
from refgan.data.dataset import Dataset, require_train

__all__ = [
    "Transform", "Compose", "OneOf", "Identity", "HorizontalFlip", "VerticalFlip", "Rotate90", "Rotate45",
    "Rotate", "Affine", "Translate", "Scale", "RandomCrop", "GaussianBlur", "GaussianNoise",
    "BrightnessContrast", "HueSaturation", "StainJitter",
    "augment_in_place", "expand", "rotations45", "rotations90", "dihedral", "guruswamy_affine",
    "saquib_transform",
]


def augment_in_place(ds: Dataset, transform: Transform, p: float = 0.33, seed=0, batch: int = 512) -> Dataset:
    """Replace each image of ``ds`` by ``transform(image)`` with probability ``p``.

    The transform's own ``p`` still applies to the selected images, so use
    ``p=1`` transforms (``Compose``/``OneOf`` default to it) for an exact rate.
    Returns a new Dataset of the same size; ``meta['augmented']`` is the
    boolean mask of replaced images.
    """
    require_train(ds, "augmentation")
    rng = np.random.default_rng(seed)
    sel = rng.random(len(ds)) < p
    images = ds.images.copy()
    idx = np.flatnonzero(sel)
    for s in range(0, len(idx), batch):
        part = idx[s:s + batch]
        images[part] = transform(ds.images[part], rng)
    return ds.with_images(images, meta=dict(ds.meta, augmented=sel, augmentation=repr(transform)))


def expand(ds: Dataset, transform, k: int | None = None, seed=0, include_original: bool = True,
           batch: int = 512) -> Dataset:
    """Append ``k`` augmented copies of every image.

    Parameters
    ----------
    transform : a Transform (``k`` independent random copies) or a list of
        Transforms (copy ``i`` made by ``transform[i]``; ``k = len(list)``)
    include_original : keep the originals first (result has ``N (k + 1)`` images)

    Copies are ordered copy-major: all images' first copy, then the second...
    ``origin`` of every copy is its source image's origin.
    """
    require_train(ds, "augmentation")
    rng = np.random.default_rng(seed)
    if isinstance(transform, (list, tuple)):
        ts = list(transform)
        if k is not None and k != len(ts):
            raise ValueError(f"k={k} but {len(ts)} transforms were given")
    else:
        if k is None or k < 0:
            raise ValueError("expand with one transform needs k >= 0 copies")
        ts = [transform] * k
    parts = [ds] if include_original else []
    for t in ts:
        imgs = np.concatenate([t(ds.images[s:s + batch], rng) for s in range(0, len(ds), batch)]) if len(ds) \
            else ds.images.copy()
        parts.append(ds.with_images(imgs))
    if not parts:
        return ds.subset(np.zeros(0, np.int64))
    out = Dataset.concat(parts)
    out.meta = dict(ds.meta, augmentation=[repr(t) for t in ts], expand_factor=len(parts))
    return out


def rotations45(ds: Dataset, mode: str = "reflect") -> Dataset:
    """Gaur et al.'s expansion: each image and its 7 consecutive 45-degree
    rotations (45, 90, ..., 315; odd multiples bilinear with ``mode`` fill)."""
    return expand(ds, [Rotate(angles=[45.0 * i], mode=mode, p=1.0) for i in range(1, 8)])


def rotations90(ds: Dataset) -> Dataset:
    """Each image and its rotations by 90, 180 and 270 degrees (exact)."""
    return expand(ds, [Rotate90(ks=(k,), p=1.0) for k in (1, 2, 3)])


def dihedral(ds: Dataset) -> Dataset:
    """The 8 rotations/flips of the square (exact): 4 rotations x {id, flip}."""
    ts = [Rotate90(ks=(k,), p=1.0) for k in (1, 2, 3)]
    ts += [Compose([HorizontalFlip(p=1.0)] + ([Rotate90(ks=(k,), p=1.0)] if k else [])) for k in range(4)]
    return expand(ds, ts)


def guruswamy_affine(flip: bool = False) -> Transform:
    """Guruswamy et al.'s affine augmentation: rotation up to 15 degrees, zoom 0.9-1.1 and
    a shift up to 10% of the side, in one bilinear resampling; ``flip`` adds their
    horizontal flip half of the time (Fashion-MNIST). Without it the orientation is kept
    (no mirror, no turn beyond 15 degrees), so digits and letters keep their class."""
    affine = Affine(rotate=15.0, scale=(0.9, 1.1), translate=0.1, p=1.0)
    return Compose([affine, HorizontalFlip(p=0.5)]) if flip else affine


def saquib_transform() -> Transform:
    """Saquib and Rodriguez's set (flip, rotation, Gaussian blur, Gaussian noise), one per
    image; use with ``augment_in_place(ds, t, p=0.33)``."""
    return OneOf([
        OneOf([HorizontalFlip(p=1.0), VerticalFlip(p=1.0)], p=1.0),
        Rotate(limit=45.0, p=1.0),
        GaussianBlur(sigma_limit=(0.5, 1.5), p=1.0),
        GaussianNoise(std_limit=(0.02, 0.06), p=1.0),
    ])
