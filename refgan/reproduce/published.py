"""The five papers' published numbers, each with the table (or page) it comes from.

Values are fractions (the papers' percentages / 100). Keys: ``(table, classifier or
model, condition, metric)``; :func:`published` returns one value or None. The seed
texts are in the project's shared/seeds/ (SEEDS.md lists every fact they give).
"""
from __future__ import annotations

SOURCES = {
    "gaur": "Gaur et al., 'WGAN-GP augmentation of leukemia cells' (ALL-IDB2), Tables 1 and 2",
    "saquib": "Saquib and Rodriguez, 'Classic augmentations for ALL vs HEM' (C-NMC 2019), Tables 1 and 2",
    "georgiev": "Georgiev, 'Deep classifier for ALL' (C-NMC 2019), section 4 and the conclusion",
    "nizam": "Nizam and Md Ali, 'DCGAN for neutrophil images' (Barcelona PBC), results figures and conclusion",
    "guruswamy": "Guruswamy et al., 'GAN augmentation with conditional GANs', Table I",
}

_M5 = ("accuracy", "precision", "recall", "f1", "specificity")


def _rows(table, clf, rows):
    return {(table, clf, cond, m): v / 100 for cond, vals in rows.items() for m, v in zip(_M5, vals)}


PUBLISHED: dict = {}
# Gaur et al., Table 1: trained on real (or real + rotations), tested on generated images.
PUBLISHED.update(_rows("table1", "vgg16", {"real": (72.91, 65.16, 99.02, 78.60, 46.53),
                                           "real+classic": (80.30, 72.14, 99.02, 83.47, 61.39)}))
PUBLISHED.update(_rows("table1", "lr", {"real": (78.82, 75.65, 85.29, 80.18, 72.28),
                                        "real+classic": (84.24, 84.31, 84.31, 84.31, 84.16)}))
PUBLISHED.update(_rows("table1", "svm", {"real": (83.25, 77.87, 93.14, 84.82, 73.27),
                                         "real+classic": (90.15, 84.75, 98.04, 90.91, 82.18)}))
# Gaur et al., Table 2: four training sets, real test set (52 images).
PUBLISHED.update(_rows("table2", "vgg16", {"real": (90.38, 87.10, 96.43, 91.53, 83.33),
                                           "real+classic": (100, 100, 100, 100, 100),
                                           "real+gen": (98.08, 100, 96.43, 98.18, 100),
                                           "real+classic+gen": (100, 100, 100, 100, 100)}))
PUBLISHED.update(_rows("table2", "lr", {"real": (73.08, 70.59, 85.71, 77.42, 58.33),
                                        "real+classic": (80.77, 82.14, 87.14, 82.14, 79.17),
                                        "real+gen": (78.85, 74.29, 92.86, 82.54, 62.50),
                                        "real+classic+gen": (82.69, 82.76, 85.71, 84.21, 79.71)}))
PUBLISHED.update(_rows("table2", "svm", {"real": (76.92, 73.53, 89.29, 80.65, 62.50),
                                         "real+classic": (80.77, 75.00, 96.43, 84.37, 62.50),
                                         "real+gen": (69.23, 71.43, 71.43, 71.43, 66.67),
                                         "real+classic+gen": (84.62, 74.41, 96.43, 87.10, 70.83)}))
# Saquib and Rodriguez, Table 1 (transfer learning, no class weights) and Table 2 (class-
# weighted loss, all layers retrained): accuracy and precision.
PUBLISHED.update({
    ("table1", "inception_v3", "real", "accuracy"): 0.6529,
    ("table1", "resnet50", "real", "accuracy"): 0.6535,
    ("table1", "cnn", "real+inplace-flip", "accuracy"): 0.3996,
    ("table1", "cnn", "real+inplace-flip", "precision"): 0.6303,
    ("table1", "cnn", "real+inplace-noise", "accuracy"): 0.3519,
    ("table1", "cnn", "real+inplace-noise", "precision"): 0.7647,
    ("table1", "cnn", "real+inplace-blur", "accuracy"): 0.3621,
    ("table1", "cnn", "real+inplace-blur", "precision"): 0.6707,
    ("table2", "cnn", "real", "accuracy"): 0.36047,
    ("table2", "cnn", "real", "precision"): 0.73584,
    ("table2", "cnn", "real+inplace-fliprotate", "accuracy"): 0.37707,
    ("table2", "cnn", "real+inplace-fliprotate", "precision"): 0.63333,
    ("table2", "cnn", "real+inplace-noise", "accuracy"): 0.39314,
    ("table2", "cnn", "real+inplace-noise", "precision"): 0.64827,
    ("table2", "cnn", "real+inplace-blur", "accuracy"): 0.38778,
    ("table2", "cnn", "real+inplace-blur", "precision"): 0.63194,
})
# Georgiev: best validation accuracy, EfficientNet-B0 features + FC(320) + 1, crop + rotation.
PUBLISHED[("results", "efficientnet_b0", "real+rotate-on-the-fly", "accuracy")] = 0.72
# Guruswamy et al., Table I: accuracy on the IDC ("Medical") column, mean of three runs.
PUBLISHED.update({("table1", "cnn", cond, "accuracy"): v for cond, v in {
    "none": 0.8702, "affine": 0.8756, "cgan": 0.88, "acgan": 0.8812, "acgan-v1": 0.8803,
    "acgan-v2": 0.8792, "acgan-v3": 0.88, "acgan-ali-v1": 0.8754, "acgan-ali-v2": 0.8755}.items()})
# Their Fashion-MNIST columns (accuracy, top-2), for data with more than two classes.
PUBLISHED.update({("table1-fashion", "cnn", cond, m): v for cond, (a, t2) in {
    "none": (0.9157, 0.98), "affine": (0.9112, 0.9785), "cgan": (0.9173, 0.9801),
    "acgan": (0.9178, 0.9803), "acgan-v1": (0.9152, 0.9797), "acgan-v2": (0.915, 0.9799),
    "acgan-v3": (0.9201, 0.9812), "acgan-ali-v1": (0.9173, 0.9806),
    "acgan-ali-v2": (0.9169, 0.9809)}.items() for m, v in (("accuracy", a), ("top2", t2))})
# Nizam and Md Ali: what each (lr_G, lr_D, schedule) did at 300 epochs (their results
# figures; the (4e-4, 4e-4) pair is shown with the cosine decay only).
NIZAM_OUTCOMES = {(4e-4, 2e-4, "constant"): "mode collapse", (4e-4, 3e-4, "constant"): "failure to converge",
                  (2e-4, 2e-4, "constant"): "failure to converge", (4e-4, 4e-4, "cosine"): "mode collapse"}


def published(table: str, who: str, condition: str, metric: str):
    """The published value, or None when the paper gives none."""
    return PUBLISHED.get((table, who, condition, metric))
