"""Classifiers by name, with Gaur et al.'s features: ``make_classifier('svm')``;
the pretrained backbones with their papers' settings: ``make_classifier('vgg16', weights=DIR)``."""
from __future__ import annotations

from sklearn.pipeline import Pipeline

from refgan.classifiers.backbone_files import BACKBONES, find_weights
from refgan.classifiers.cnn import CNNClassifier
from refgan.classifiers.deep import BackboneClassifier
from refgan.classifiers.features import ImageFeatures
from refgan.classifiers.logistic import LogisticRegression
from refgan.classifiers.svm import SVC, LinearSVC
from refgan.errors import UserError

CLASSIFIERS = {
    "lr": "logistic regression (C=1, 5000 iterations) on 25x25x3 pixels (Gaur et al.)",
    "svm": "RBF SVM (C=1, gamma='scale') on 25x25x3 pixels (Gaur et al.)",
    "linear-svm": "linear SVM (squared hinge, C=1) on 25x25x3 pixels",
    "cnn": "small CNN, 3 conv blocks + dense layer, early stopping (Guruswamy et al.), full images",
    "vgg16": "VGG16, ImageNet weights frozen, only a new last layer trained: linear head, 40 epochs, "
             "Adam lr 1e-5 (Gaur et al.); needs --weights",
    "resnet50": "ResNet50, ImageNet weights frozen, linear head, 20 epochs, Adam lr 1e-3 (Saquib and "
                "Rodriguez's transfer learning; their class-weighted loss is class_weight='balanced'); "
                "needs --weights",
    "inception_v3": "InceptionV3, as resnet50 (Saquib and Rodriguez); needs --weights",
    "efficientnet_b0": "EfficientNet-B0 frozen feature extractor, FC(320) + ReLU + one output, centre "
                       "crop 2/3 (300 of 450), rotation in [-45, 45], 100 epochs, Adam lr 1e-3 "
                       "(Georgiev); needs --weights",
}

# the papers' settings (project choices where a paper gives none: see docs/deep-classifiers.md)
DEEP_DEFAULTS = {
    "vgg16": dict(head="linear", epochs=40, lr=1e-5),
    "resnet50": dict(head="linear", epochs=20, lr=1e-3),
    "inception_v3": dict(head="linear", epochs=20, lr=1e-3),
    "efficientnet_b0": dict(head="fc320", epochs=100, lr=1e-3, crop=300 / 450, rotation=45.0),
}


def make_classifier(name: str, class_weight=None, feature_size: int = 25, random_state: int = 0,
                    weights=None, **params):
    """An unfitted estimator taking images ``(N, 3, H, W)``.

    ``lr``, ``svm``, ``linear-svm``: ``Pipeline([ImageFeatures(feature_size), model])``;
    ``cnn``: :class:`CNNClassifier` on the images; ``vgg16``, ``resnet50``,
    ``inception_v3``, ``efficientnet_b0``: :class:`BackboneClassifier` with the paper's
    settings (``DEEP_DEFAULTS``), the network's weight file found in the folder
    ``weights`` (:func:`refgan.classifiers.backbone_files.find_weights`; missing: a
    one-line UserError saying which file to put where). Extra ``params`` go to the model.
    """
    if name in BACKBONES:
        path = find_weights(name, weights)
        return BackboneClassifier(name, weights=path, class_weight=class_weight, random_state=random_state,
                                  **{**DEEP_DEFAULTS[name], **params})
    if name == "lr":
        model = LogisticRegression(C=1.0, max_iter=5000, class_weight=class_weight, **params)
    elif name == "svm":
        model = SVC(C=1.0, kernel="rbf", gamma="scale", class_weight=class_weight, **params)
    elif name == "linear-svm":
        model = LinearSVC(C=1.0, class_weight=class_weight, **params)
    elif name == "cnn":
        return CNNClassifier(class_weight=class_weight, random_state=random_state, **params)
    else:
        raise UserError(f"unknown classifier {name!r}; choose from {', '.join(CLASSIFIERS)}")
    return Pipeline([("features", ImageFeatures(feature_size)), ("model", model)])
