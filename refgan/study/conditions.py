"""Training sets of the study, built from one fold's real training split.

Gaur et al.'s Table 2 (same hyper-parameters, real test set):

===================  ========================================================
``real``             the real training images
``real+classic``     each real image and 7 augmented copies under the study's
                     augmentation policy (cells: the seven 45-degree rotations)
``real+gen``         real + generated (each generated image with its 7 copies
                     under the same policy when ``augment_generated``, as Gaur
                     et al. rotated theirs)
``real+classic+gen`` augmented real + generated
===================  ========================================================

Augmentation policies (``policy``), recorded in results.json:

* ``rotations`` - Gaur et al.'s seven consecutive 45-degree rotations (cells have no
  orientation, so rotations keep the class);
* ``affine`` - Guruswamy et al.'s affine baseline without the flip: rotation up to
  15 degrees, zoom 0.9-1.1, shift up to 10% (for data whose class depends on
  orientation, such as digits, where a 45-degree step or a mirror changes the class);
* ``affine-flip`` - the same with a horizontal flip half of the time (Guruswamy et al.
  on Fashion-MNIST);
* ``none`` - no classic augmentation: the ``+classic`` conditions are left out.

Saquib and Rodriguez's in-place augmentation (one model per augmentation type):
``real+inplace-<type>`` replaces each real training image, with probability 0.33, by
its augmented version (type = flip, rotate, blur, noise); the set keeps its size.

Georgiev's on-the-fly random rotation: ``real+rotate-on-the-fly`` trains the CNN on
the real images, each batch rotated by an angle drawn uniformly in [-45, 45] degrees
(only the CNN sees batches; linear models skip this condition).

Ratio sweep: ``real+gen x r`` adds ``round(r * n_c)`` generated images to each class c
(``n_c`` real images), no augmentation, so the dose of synthetic data is the variable.

Balancing mode (Georgiev; Guruswamy et al.) on a training split where several classes
keep only a fraction of their images (:func:`make_imbalanced`): ``imbalanced`` (as
is), ``class-weights`` ('balanced' loss weights), ``oversample`` (minority images
repeated at random up to balance), ``undersample`` (majority images dropped at random
down to balance), ``gan-balance`` (sparse classes filled with generated images up to
balance, the GAN trained on the imbalanced split only).
"""
from __future__ import annotations

import numpy as np

from refgan import augment as A
from refgan.data import Dataset

POLICIES = ("rotations", "affine", "affine-flip", "none")
INPLACE_P = 0.33  # Saquib and Rodriguez
GEORGIEV_LIMIT = 45.0  # degrees


def policy_transform(policy: str):
    """The random transform of an augmentation policy (None for ``rotations``, whose
    copies are the fixed 45-degree steps, and for ``none``)."""
    if policy in ("affine", "affine-flip"):
        return A.guruswamy_affine(flip=policy == "affine-flip")
    return None


def classic(ds: Dataset, policy: str, seed: int = 0) -> Dataset:
    """``ds`` and 7 augmented copies of each image under ``policy`` (8x the images);
    ``ds`` itself for ``none``."""
    if policy == "rotations":
        return A.rotations45(ds)
    if policy in ("affine", "affine-flip"):
        return A.expand(ds, policy_transform(policy), k=7, seed=seed)
    if policy == "none":
        return ds
    raise ValueError(f"unknown augmentation policy {policy!r}; choose from {', '.join(POLICIES)}")


def inplace_transforms() -> dict:
    """Saquib and Rodriguez's four augmentation types, one transform each (applied to
    the images drawn with probability 0.33)."""
    return {"flip": A.OneOf([A.HorizontalFlip(p=1.0), A.VerticalFlip(p=1.0)], p=1.0),
            "rotate": A.Rotate(limit=45.0, p=1.0),
            "blur": A.GaussianBlur(sigma_limit=(0.5, 1.5), p=1.0),
            "noise": A.GaussianNoise(std_limit=(0.02, 0.06), p=1.0)}


def on_the_fly_rotation():
    """Georgiev's random rotation in [-45, 45] degrees, drawn per image and batch."""
    return A.Rotate(limit=GEORGIEV_LIMIT, p=1.0)


def make_imbalanced(train: Dataset, fractions: dict, seed: int) -> Dataset:
    """Keep ``fractions[c]`` of class ``c``'s training images (random, at least 2) for
    each class named in ``fractions`` (Guruswamy et al.: Fashion-MNIST classes 1, 3, 7
    cut to 50%, 65%, 80%); other classes stay whole."""
    rng = np.random.default_rng([seed, 7])
    keep = [np.flatnonzero(~np.isin(train.labels, [train.class_names.index(c) for c in fractions]))]
    for name, frac in fractions.items():
        idx = np.flatnonzero(train.labels == train.class_names.index(name))
        keep.append(rng.choice(idx, max(2, int(round(float(frac) * len(idx)))), replace=False))
    out = train.subset(np.sort(np.concatenate(keep)))
    out.role = train.role
    return out


def deficits(ds: Dataset) -> dict:
    """Images each class lacks to match the largest class, ``{name: n}``."""
    counts = np.bincount(ds.labels, minlength=ds.n_classes)
    return {n: int(counts.max() - k) for n, k in zip(ds.class_names, counts)}


def take_per_class(gen: Dataset, counts: dict) -> Dataset:
    """The first ``counts[c]`` generated images of each class ``c``."""
    idx = []
    for i, name in enumerate(gen.class_names):
        pool = np.flatnonzero(gen.labels == i)
        k = int(counts.get(name, 0))
        if k > len(pool):
            raise ValueError(f"need {k} generated {name} images, have {len(pool)}")
        idx.append(pool[:k])
    return gen.subset(np.concatenate(idx))


def real_sets(train: Dataset, names, policy: str, seed: int) -> dict:
    """``{condition: (Dataset, class_weight, batch_transform)}`` for the conditions that
    need no generator: ``real``, ``real+classic``, ``real+inplace-*``,
    ``real+rotate-on-the-fly``."""
    out = {}
    if "real" in names:
        out["real"] = (train, None, None)
    if "real+classic" in names and policy != "none":
        out["real+classic"] = (classic(train, policy, seed), None, None)
    for kind, t in inplace_transforms().items():
        if f"real+inplace-{kind}" in names:
            out[f"real+inplace-{kind}"] = (A.augment_in_place(train, t, p=INPLACE_P, seed=seed),
                                           None, None)
    if "real+rotate-on-the-fly" in names:
        out["real+rotate-on-the-fly"] = (train, None, on_the_fly_rotation())
    return out


def gen_sets(train: Dataset, gen: Dataset, names, n_generated: int, policy: str,
             augment_generated: bool, ratios, seed: int) -> dict:
    """Gaur et al.'s generated conditions and the ratio sweep, as in :func:`real_sets`."""
    sub = take_per_class(gen, {c: n_generated for c in train.class_names})
    if augment_generated and policy != "none":
        sub = classic(sub, policy, seed)
    out = {}
    if "real+gen" in names:
        out["real+gen"] = (Dataset.concat([train, sub]), None, None)
    if "real+classic+gen" in names and policy != "none":
        out["real+classic+gen"] = (Dataset.concat([classic(train, policy, seed), sub]), None, None)
    counts = np.bincount(train.labels, minlength=train.n_classes)
    for r in ratios:
        want = {n: int(round(float(r) * k)) for n, k in zip(train.class_names, counts)}
        out[f"real+gen x{float(r):g}"] = (Dataset.concat([train, take_per_class(gen, want)]),
                                         None, None)
    return out


def balance_sets(imb: Dataset, seed: int) -> dict:
    """The balancing remedies that need no generator, as in :func:`real_sets`."""
    rng = np.random.default_rng([seed, 11])
    counts = np.bincount(imb.labels, minlength=imb.n_classes)
    hi, lo = counts.max(), counts[counts > 0].min()
    over, under = [], []
    for c in range(imb.n_classes):
        idx = np.flatnonzero(imb.labels == c)
        if not len(idx):
            continue
        over.append(np.concatenate([idx, rng.choice(idx, hi - len(idx), replace=True)]))
        under.append(rng.choice(idx, lo, replace=False))
    return {
        "imbalanced": (imb, None, None),
        "class-weights": (imb, "balanced", None),
        "oversample": (imb.subset(np.sort(np.concatenate(over))), None, None),
        "undersample": (imb.subset(np.sort(np.concatenate(under))), None, None),
    }


def gan_balance_set(imb: Dataset, gen_fill: Dataset) -> dict:
    """``gan-balance``: the sparse classes filled with generated images up to balance."""
    return {"gan-balance": (Dataset.concat([imb, take_per_class(gen_fill, deficits(imb))]),
                            None, None)}
