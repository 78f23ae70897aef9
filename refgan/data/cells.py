"""Which datasets are images of blood cells.

A cell has no orientation: turned or mirrored, it is the same cell of the same class,
so rotations and flips are safe augmentations for it. Other images may carry their
class in their orientation (a 6 turned over is a 9, a mirrored b is a d). The GAN-set
growth (:func:`refgan.training.data.auto_growth`) and the study's augmentation policy
(:func:`refgan.study.protocol.resolve_policies`) ask :func:`is_cell_data`.
"""
from __future__ import annotations

# Class names of the blood-cell sets refgan loads (synthetic, ALL-IDB2, C-NMC, PBC,
# BloodMNIST).
CELL_CLASSES = {"healthy", "blast", "all", "hem", "normal", "basophil", "eosinophil",
                "erythroblast", "ig", "immature granulocytes", "lymphocyte", "monocyte",
                "neutrophil", "platelet"}


def is_cell_data(class_names) -> bool:
    """Every class is a known cell type."""
    return all(str(c).lower() in CELL_CLASSES for c in class_names)
