"""Labelled image grids as PNG (previews here, GAN sample grids elsewhere)."""
from __future__ import annotations

import os

import numpy as np

from refgan.data.dataset import to_uint8

__all__ = ["save_grid", "as_uint8_nhwc"]


def as_uint8_nhwc(images) -> np.ndarray:
    """Accept uint8 ``(N, H, W, 3|1)`` / ``(N, H, W)`` or float ``(N, C, H, W)``
    in [-1, 1] and return uint8 ``(N, H, W, 3)``."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        if x.ndim == 3:
            x = x[..., None]
        if x.shape[-1] == 1:
            x = np.repeat(x, 3, axis=-1)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"uint8 images must be (N, H, W, 3), got {x.shape}")
        return x
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"float images must be (N, C, H, W) with C in (1, 3), got {x.shape}")
    return to_uint8(x)


def save_grid(images, path, labels=None, class_names=None, nrow: int | None = None, title: str | None = None,
              scale: int | None = None, row_labels=None) -> str:
    """Write images as one labelled grid PNG.

    Parameters
    ----------
    images : uint8 (N, H, W, 3) or float (N, C, H, W) in [-1, 1]
    path : output .png path (folders are created)
    labels : optional (N,) ints; shown above each tile (``class_names[label]``
        when ``class_names`` is given)
    nrow : tiles per row (default ``ceil(sqrt(N))``)
    title : optional figure title
    scale : display pixels per image pixel (default: tiles of ~128 px)
    row_labels : optional list of strings, one per row, written once at the left
        of its row (a grid whose rows are classes: no caption on every tile)

    Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    x = as_uint8_nhwc(images)
    n, h, w, _ = x.shape
    if n == 0:
        raise ValueError("no images to draw")
    ncol = nrow or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncol))
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"{len(row_labels)} row labels for {nrows} rows")
    scale = scale or max(1, int(round(128 / max(h, w))))
    tile_w, tile_h = w * scale / 100.0, h * scale / 100.0
    label_h = 0.22 if labels is not None else 0.02
    margin = 0.09 * max(map(len, row_labels)) + 0.1 if row_labels is not None else 0.0
    fig_w = margin + ncol * (tile_w + 0.06)
    fig_h = nrows * (tile_h + label_h) + (0.3 if title else 0.05)
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=100)
    for i in range(n):
        r, c = divmod(i, ncol)
        left = (margin + c * (tile_w + 0.06)) / fig_w
        bottom = 1 - ((r + 1) * (tile_h + label_h) + (0.3 if title else 0.05)) / fig_h
        ax = fig.add_axes([left, bottom, tile_w / fig_w, tile_h / fig_h])
        ax.imshow(x[i], interpolation="nearest")
        ax.set_axis_off()
        if labels is not None:
            lab = int(labels[i])
            text = class_names[lab] if class_names is not None else str(lab)
            ax.set_title(text, fontsize=8, pad=2, parse_math=False)  # names are text, '$' too
    for r, text in enumerate(row_labels if row_labels is not None else []):
        middle = 1 - ((r + 0.5) * (tile_h + label_h) + (0.3 if title else 0.05)) / fig_h
        fig.text((margin - 0.05) / fig_w, middle, text, ha="right", va="center", fontsize=10,
                 parse_math=False)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.12 / fig_h, parse_math=False)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
