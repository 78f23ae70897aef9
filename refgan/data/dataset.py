"""The one dataset object every part of refgan passes around.

Images are stored once, as GAN-ready float32 ``(N, 3, H, W)`` in ``[-1, 1]``
(``x = 2 * pixel / 255 - 1``); ``uint8()`` gives the viewing form ``(N, H, W, 3)``.

Provenance (what makes the leak checks real)
--------------------------------------------
Every image carries ``origin[i]``: the index of the real source image it is, or
derives from.  Loaders and the generator number their images ``0..N-1``;
``subset`` and the augmentations copy ``origin`` along, so an augmented copy of
image 17 still says 17.  Images produced by a model (a GAN) get ``origin = -1``
and instead record, in ``lineage``, the origins of every image the model was
trained on.  ``role`` is set by :func:`refgan.data.split` to ``'train'``,
``'val'`` or ``'test'``; augmentation, GAN training data and statistics refuse
datasets whose role is ``'val'`` or ``'test'`` (see :func:`require_train`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from refgan.errors import UserError

__all__ = ["Dataset", "LeakError", "require_train", "check_no_leak", "to_float", "to_uint8"]


class LeakError(UserError):
    """Held-out (val/test) images would reach training, augmentation or statistics."""


def to_float(u8: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` -> float32 ``(N, 3, H, W)`` in [-1, 1]."""
    return (np.asarray(u8, dtype=np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0).astype(np.float32)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float ``(N, C, H, W)`` in [-1, 1] (C = 1 or 3) -> uint8 ``(N, H, W, 3)``."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


@dataclass
class Dataset:
    """Labelled images with provenance.

    Attributes
    ----------
    images : float32 (N, 3, H, W) in [-1, 1]
    labels : int64 (N,), values in ``range(n_classes)``
    class_names : list[str]
    groups : (N,) array of group ids (patients) or None
    paths : list[str] (source files) or None
    origin : int64 (N,), index of the real image each image is or derives from
        (-1 for model-generated images)
    lineage : int64 array, sorted origins of the real images that the generated
        images of this dataset depend on (empty for real data)
    role : None | 'train' | 'val' | 'test'
    name : short description (``'synthetic smear'``, ``'ALL-IDB2 /data/x'``)
    meta : free-form dict (loader report, generator settings, split report)
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list
    groups: np.ndarray | None = None
    paths: list | None = None
    origin: np.ndarray | None = None
    lineage: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    role: str | None = None
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.images = np.asarray(self.images, dtype=np.float32)
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {self.images.shape}")
        n = len(self.images)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.class_names = [str(c) for c in self.class_names]
        if self.labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {self.labels.shape}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError("labels must lie in range(len(class_names))")
        if self.origin is None:
            self.origin = np.arange(n, dtype=np.int64)
        self.origin = np.asarray(self.origin, dtype=np.int64).reshape(-1)
        if self.origin.shape != (n,):
            raise ValueError("origin must have one entry per image")
        if self.groups is not None:
            self.groups = np.asarray(self.groups)
            if self.groups.shape != (n,):
                raise ValueError("groups must have one entry per image")
        if self.paths is not None:
            self.paths = list(self.paths)
            if len(self.paths) != n:
                raise ValueError("paths must have one entry per image")
        self.lineage = np.unique(np.asarray(self.lineage, dtype=np.int64))

    # -- basic access ------------------------------------------------------
    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[2:])

    def uint8(self) -> np.ndarray:
        """Images for viewing: uint8 ``(N, H, W, 3)``."""
        return to_uint8(self.images)

    def class_counts(self) -> dict[str, int]:
        """Images per class, ``{class_name: count}`` in class order."""
        counts = np.bincount(self.labels, minlength=self.n_classes)
        return {c: int(k) for c, k in zip(self.class_names, counts)}

    def images_by_class(self) -> dict[str, np.ndarray]:
        """``{class_name: images of that class}`` in class order."""
        return {name: self.images[self.labels == i] for i, name in enumerate(self.class_names)}

    def summary(self) -> str:
        """One line per fact: size, per-class counts, groups, role."""
        h, w = self.image_size
        lines = [f"{self.name or 'dataset'}: {len(self)} images of {h}x{w}, {self.n_classes} classes"
                 + (f", role={self.role}" if self.role else "")]
        for c, k in self.class_counts().items():
            lines.append(f"  {c:>14s}: {k}")
        if self.groups is not None:
            lines.append(f"  groups (patients): {len(np.unique(self.groups))}")
        if len(self.lineage):
            lines.append(f"  generated from {len(self.lineage)} real images")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, n={len(self)}, size={self.image_size}, classes={self.class_counts()}, role={self.role})"

    # -- derivation --------------------------------------------------------
    def subset(self, idx) -> "Dataset":
        """Images ``idx`` (indices or boolean mask); provenance follows."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return replace(
            self,
            images=self.images[idx],
            labels=self.labels[idx],
            groups=None if self.groups is None else self.groups[idx],
            paths=None if self.paths is None else [self.paths[i] for i in idx],
            origin=self.origin[idx],
            meta=dict(self.meta),
        )

    def with_images(self, images: np.ndarray, idx=None, **changes) -> "Dataset":
        """A dataset whose image ``k`` is ``images[k]`` derived from this
        dataset's image ``idx[k]`` (default: the same index): labels, groups,
        paths and origin are taken from the source images."""
        base = self if idx is None else self.subset(idx)
        if len(images) != len(base):
            raise ValueError("one derived image per source image")
        return replace(base, images=np.asarray(images, dtype=np.float32), **changes)

    @staticmethod
    def concat(parts: list["Dataset"], name: str | None = None) -> "Dataset":
        """Stack datasets with the same classes (roles must agree)."""
        first = parts[0]
        for p in parts[1:]:
            if p.class_names != first.class_names:
                raise ValueError("cannot concatenate datasets with different class names")
        roles = {p.role for p in parts}
        groups = None if any(p.groups is None for p in parts) else np.concatenate([p.groups for p in parts])
        paths = None if any(p.paths is None for p in parts) else sum((p.paths for p in parts), [])
        return Dataset(
            images=np.concatenate([p.images for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            class_names=first.class_names,
            groups=groups,
            paths=paths,
            origin=np.concatenate([p.origin for p in parts]),
            lineage=np.concatenate([p.lineage for p in parts]),
            role=roles.pop() if len(roles) == 1 else None,
            name=name or first.name,
            meta=dict(first.meta),
        )

    @classmethod
    def generated(cls, images, labels, class_names, trained_on: "Dataset", name: str = "generated") -> "Dataset":
        """Wrap images produced by a model trained on ``trained_on``.

        Raises :class:`LeakError` if ``trained_on`` is a val/test split: a
        generator must only ever see training images.  The result has
        ``origin = -1`` and ``lineage`` = the origins the model saw.
        """
        require_train(trained_on, "GAN training")
        n = len(images)
        lineage = np.concatenate([trained_on.origin[trained_on.origin >= 0], trained_on.lineage])
        return cls(images=images, labels=labels, class_names=list(class_names),
                   origin=np.full(n, -1, np.int64), lineage=lineage, role=trained_on.role, name=name)

    def sources(self) -> np.ndarray:
        """All real-image origins this dataset's content depends on."""
        return np.union1d(self.origin[self.origin >= 0], self.lineage)


def require_train(ds: Dataset, what: str) -> None:
    """Raise :class:`LeakError` when ``ds`` is a held-out split."""
    if ds.role in ("val", "test"):
        raise LeakError(f"{what} must use the training split only, got the {ds.role} split; "
                        "pass the first dataset returned by refgan.data.split()")


def check_no_leak(derived: Dataset, held_out: Dataset) -> None:
    """Raise :class:`LeakError` if any image of ``derived`` (augmented or
    generated) depends on an image of ``held_out``, i.e. if their sets of real
    source images intersect."""
    common = np.intersect1d(derived.sources(), held_out.sources())
    if common.size:
        raise LeakError(f"{common.size} held-out image(s) leaked into derived data "
                        f"(origins {common[:10].tolist()}{'...' if common.size > 10 else ''})")
