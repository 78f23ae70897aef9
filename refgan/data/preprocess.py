"""Turn one decoded image file into an 8-bit RGB array of the wanted size.

Pipeline (each step recorded in a :class:`Report` so nothing happens silently):

1. ``to_rgb8``: any decoded array -> uint8 ``(H, W, 3)``.  Grey -> RGB by
   repetition; grey+alpha and RGBA -> RGB by compositing over ``alpha_bg``
   (black by default: transparent pixels of segmented cells are background);
   CMYK -> RGB (the loader asks Pillow, which knows Adobe's inverted CMYK);
   >8-bit integers -> 8-bit by the bit depth the *dataset* uses (12-bit camera
   data in uint16 peaks at 4095: ``round(v * 255 / 4095)``; true 16-bit data:
   ``round(v / 257)``), chosen once per dataset and reported; float in [0, 1]
   -> x255; multi-frame files keep their first frame.
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

__all__ = ["to_rgb8", "to_hwc", "center_crop", "square_crop", "resize_rgb8", "Report", "BIT_DEPTHS",
           "used_bit_depth", "is_high_depth", "colour_max"]


@dataclass
class Report:
    """What loading did, so that nothing happens silently: every file seen under
    the dataset root is loaded, skipped (unreadable) or ignored (with a reason),
    and every conversion, resize and bit-depth decision is counted."""

    files: int = 0                                     # candidate image files
    loaded: int = 0
    skipped: list = field(default_factory=list)        # (path, reason): unreadable images
    ignored: list = field(default_factory=list)        # (path, reason): files not used
    conversions: Counter = field(default_factory=Counter)  # 'gray->rgb', '16bit->8bit', ...
    sizes: Counter = field(default_factory=Counter)    # original (h, w) -> count
    resized: int = 0
    cropped_to_square: int = 0
    bit_depth: int | None = None                       # used depth of the >8-bit images (per dataset)
    float_range: tuple | None = None                   # value range of the float images (per dataset)
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"files: {self.files}, loaded: {self.loaded}, skipped (bad): {len(self.skipped)}"]
        if self.ignored:
            by_reason = Counter(why for _, why in self.ignored)
            out.append(f"ignored files: {len(self.ignored)}")
            for why, k in by_reason.most_common():
                first = next(p for p, w in self.ignored if w == why)
                out.append(f"  ignored ({why}): {k}, e.g. {first}")
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
        if self.bit_depth is not None:
            out.append(f"bit depth of the 16-bit images: {self.bit_depth} bits used "
                       f"(0..{2 ** self.bit_depth - 1} scaled to 0..255)")
        for k, v in sorted(self.conversions.items()):
            out.append(f"converted {k}: {v}")
        for p, why in self.skipped:
            out.append(f"skipped {p}: {why}")
        out.extend(self.notes)
        return out


# Sensor depths a >8-bit image may use; 12-bit cameras store 0..4095 in uint16.
BIT_DEPTHS = (8, 10, 12, 14, 16)


def used_bit_depth(max_value) -> int:
    """Smallest of ``BIT_DEPTHS`` that holds ``max_value`` (16 for anything larger)."""
    return next((b for b in BIT_DEPTHS if max_value < 2 ** b), 16)


def is_high_depth(a: np.ndarray) -> bool:
    """Integer pixels wider than 8 bits (uint16, int32, ...): their scale comes
    from the used bit depth, not from the dtype."""
    return a.dtype.kind in "iu" and a.dtype.itemsize >= 2


def colour_max(a: np.ndarray) -> int:
    """Largest colour value of a decoded ``(H, W[, C])`` image, alpha excluded."""
    if a.ndim == 3 and a.shape[2] in (2, 4):
        a = a[:, :, :-1]
    return int(a.max(initial=0))


def to_hwc(a: np.ndarray, conv: Counter | None = None) -> np.ndarray:
    """A decoded array as one ``(H, W)`` or ``(H, W, C)`` image: the first frame
    of a stack, channels moved last.  Raises ``ValueError`` for non-images."""
    conv = conv if conv is not None else Counter()
    a = np.asarray(a)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise ValueError(f"not an image array (dtype {a.dtype})")
    if a.ndim == 4:  # multi-frame (e.g. TIFF stack): first frame
        conv["multi-frame->first frame"] += 1
        a = a[0]
    if a.ndim not in (2, 3) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"not an image array (shape {a.shape})")
    if a.ndim == 3 and a.shape[2] > 4 and a.shape[0] <= 4:  # channels-first
        a = np.moveaxis(a, 0, -1)
    return a


def to_rgb8(a: np.ndarray, alpha_bg: int = 0, conv: Counter | None = None, bits: int | None = None,
            float_range: tuple[float, float] | None = None) -> np.ndarray:
    """Decoded image -> uint8 ``(H, W, 3)`` (see module doc).  Raises
    ``ValueError`` with a reason for arrays that are not an image.

    ``bits``: the used depth of >8-bit integer images (:func:`used_bit_depth` of
    the whole dataset's maximum, so one dark image is not brightened on its
    own); ``v -> round(v * 255 / (2**bits - 1))``.  ``None``: this image's own.
    ``float_range``: ``(lo, hi)`` mapped to 0..255; ``None``: [0, 1] when this
    image's maximum is at most 1, else [0, 255]."""
    conv = conv if conv is not None else Counter()
    a = to_hwc(a, conv)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif is_high_depth(a):
        bits = used_bit_depth(colour_max(a)) if bits is None else bits
        conv["16bit->8bit" if bits == 16 else f"{bits}bit (stored in 16)->8bit"] += 1
        top = 2 ** bits - 1
        a = np.rint(np.clip(a.astype(np.float64), 0, top) * (255.0 / top)).astype(np.uint8)
    elif a.dtype.kind == "f":
        if float_range is None:
            float_range = (0.0, 1.0) if np.nanmax(a) <= 1.0 + 1e-6 else (0.0, 255.0)
        lo, hi = float_range
        conv[f"float [{lo:g}, {hi:g}]->8bit"] += 1
        a = np.rint(np.clip((np.nan_to_num(a) - lo) * (255.0 / (hi - lo)), 0, 255)).astype(np.uint8)
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
