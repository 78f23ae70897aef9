"""Classifiers by name, with Gaur et al.'s features: ``make_classifier('svm')``."""
from __future__ import annotations

from sklearn.pipeline import Pipeline

from refgan.classifiers.cnn import CNNClassifier
from refgan.classifiers.features import ImageFeatures
from refgan.classifiers.logistic import LogisticRegression
from refgan.classifiers.svm import SVC, LinearSVC
from refgan.errors import UserError

CLASSIFIERS = {
    "lr": "logistic regression (C=1, 5000 iterations) on 25x25x3 pixels (Gaur et al.)",
    "svm": "RBF SVM (C=1, gamma='scale') on 25x25x3 pixels (Gaur et al.)",
    "linear-svm": "linear SVM (squared hinge, C=1) on 25x25x3 pixels",
    "cnn": "small CNN, 3 conv blocks + dense layer, early stopping (Guruswamy et al.), full images",
}


def make_classifier(name: str, class_weight=None, feature_size: int = 25, random_state: int = 0,
                    **params):
    """An unfitted estimator taking images ``(N, 3, H, W)``.

    ``lr``, ``svm``, ``linear-svm``: ``Pipeline([ImageFeatures(feature_size), model])``;
    ``cnn``: :class:`CNNClassifier` on the images. Extra ``params`` go to the model.
    """
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
