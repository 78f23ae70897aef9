"""Turn one decoded image file into an 8-bit RGB array of the wanted size.

Pipeline (each step recorded in a :class:`Report` so nothing happens silently):

1. ``to_rgb8``: any decoded array -> uint8 ``(H, W, 3)``.  Grey -> RGB by
   repetition; grey+alpha and RGBA -> RGB by compositing over ``alpha_bg``
   (black by default: transparent pixels of segmented cells are background);
   16-bit -> 8-bit by ``round(v / 257)`` (65535 -> 255); float in [0, 1] -> x255;
   multi-frame files keep their first frame.
2. ``center_crop``: optional, ``crop`` pixels (Georgiev crops 300 of 450) or a
   fraction of the shorter side.
3. square + resize: when ``size`` is given, non-square images are centre-cropped
   to a square, then resized (area filter down, bilinear up).  When it is not
   given and sizes differ, every image is resized to the most common size.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from refgan.data.imops import resize

__all__ = ["to_rgb8", "center_crop", "square_crop", "resize_rgb8", "Report"]


@dataclass
class Report:
    """What loading did: counts of conversions, resizes and skipped files."""

    files: int = 0
    loaded: int = 0
    skipped: list = field(default_factory=list)        # (path, reason)
    ignored: list = field(default_factory=list)        # non-image files seen
    conversions: Counter = field(default_factory=Counter)  # 'gray->rgb', '16bit->8bit', ...
    sizes: Counter = field(default_factory=Counter)    # original (h, w) -> count
    resized: int = 0
    cropped_to_square: int = 0
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"files: {self.files}, loaded: {self.loaded}, skipped (bad): {len(self.skipped)}"]
        if self.ignored:
            out.append(f"ignored non-image files: {len(self.ignored)}")
        if len(self.sizes) > 1:
            top = ", ".join(f"{h}x{w} ({k})" for (h, w), k in self.sizes.most_common(5))
            out.append(f"mixed sizes: {len(self.sizes)} distinct: {top}{' ...' if len(self.sizes) > 5 else ''}")
        elif self.sizes:
            (h, w), _ = next(iter(self.sizes.items()))
            out.append(f"original size: {h}x{w}")
        if self.resized:
            out.append(f"resized: {self.resized}")
        if self.cropped_to_square:
            out.append(f"centre-cropped to square: {self.cropped_to_square}")
        for k, v in sorted(self.conversions.items()):
            out.append(f"converted {k}: {v}")
        for p, why in self.skipped:
            out.append(f"skipped {p}: {why}")
        out.extend(self.notes)
        return out


def to_rgb8(a: np.ndarray, alpha_bg: int = 0, conv: Counter | None = None) -> np.ndarray:
    """Decoded image -> uint8 ``(H, W, 3)`` (see module doc).  Raises
    ``ValueError`` with a reason for arrays that are not an image."""
    conv = conv if conv is not None else Counter()
    a = np.asarray(a)
    if a.ndim == 4:  # multi-frame (e.g. TIFF stack): first frame
        conv["multi-frame->first frame"] += 1
        a = a[0]
    if a.ndim not in (2, 3) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"not an image array (shape {a.shape})")
    if a.ndim == 3 and a.shape[2] > 4 and a.shape[0] <= 4:  # channels-first
        a = np.moveaxis(a, 0, -1)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16 or (a.dtype.kind in "iu" and a.dtype.itemsize >= 2 and a.max(initial=0) > 255):
        conv["16bit->8bit"] += 1
        a = np.rint(np.clip(a.astype(np.float64), 0, 65535) / 257.0).astype(np.uint8)
    elif a.dtype.kind == "f":
        conv["float->8bit"] += 1
        scale = 255.0 if np.nanmax(a) <= 1.0 + 1e-6 else 1.0
        a = np.rint(np.clip(np.nan_to_num(a) * scale, 0, 255)).astype(np.uint8)
    else:
        a = a.astype(np.uint8)
    if a.ndim == 2:
        conv["gray->rgb"] += 1
        return np.repeat(a[:, :, None], 3, axis=2)
    c = a.shape[2]
    if c == 1:
        conv["gray->rgb"] += 1
        return np.repeat(a, 3, axis=2)
    if c in (2, 4):
        conv["gray+alpha->rgb" if c == 2 else "rgba->rgb"] += 1
        rgb = np.repeat(a[:, :, :1], 3, axis=2) if c == 2 else a[:, :, :3]
        al = a[:, :, -1:].astype(np.float32) / 255.0
        return np.rint(rgb * al + alpha_bg * (1 - al)).astype(np.uint8)
    if c == 3:
        return a
    raise ValueError(f"unsupported number of channels: {c}")


def center_crop(a: np.ndarray, crop) -> np.ndarray:
    """Centre crop ``(H, W, C)`` to ``crop`` pixels (int or (h, w)) or to a
    fraction (float in (0, 1]) of each side; never larger than the image."""
    H, W = a.shape[:2]
    if isinstance(crop, float):
        h, w = max(1, int(round(H * crop))), max(1, int(round(W * crop)))
    else:
        h, w = (crop, crop) if np.isscalar(crop) else crop
        h, w = min(int(h), H), min(int(w), W)
    t, l = (H - h) // 2, (W - w) // 2
    return a[t:t + h, l:l + w]


def square_crop(a: np.ndarray) -> np.ndarray:
    """Largest centred square."""
    s = min(a.shape[:2])
    return center_crop(a, (s, s))


def resize_rgb8(a: np.ndarray, size) -> np.ndarray:
    """uint8 ``(H, W, 3)`` -> uint8 ``(h, w, 3)`` (area down, bilinear up)."""
    h, w = (size, size) if np.isscalar(size) else size
    if a.shape[:2] == (h, w):
        return a
    y = resize(a.transpose(2, 0, 1).astype(np.float32), (h, w))
    return np.clip(np.rint(y), 0, 255).astype(np.uint8).transpose(1, 2, 0)
