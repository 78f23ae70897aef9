"""Classifiers written by hand on refgan's backends, with scikit-learn's estimator API.

==========================  =====================================================
estimator                   model and solver
==========================  =====================================================
:class:`LogisticRegression` L2-regularised logistic / multinomial regression,
                            sklearn's objective ``C * sum_i w_i loss_i + ||W||^2 / 2``,
                            solved by L-BFGS (:mod:`refgan.classifiers.lbfgs`)
:class:`SVC`                kernel SVM (RBF, linear, polynomial): the dual solved by
                            SMO with libsvm's second-order working-set selection;
                            one-vs-one for more than two classes; Platt scaling
:class:`LinearSVC`          primal linear SVM (squared hinge, liblinear's objective),
                            one-vs-rest, L-BFGS
:class:`CNNClassifier`      Guruswamy et al.'s small CNN (3 conv + max-pool + dropout blocks,
                            a dense layer) on ``refgan.nn``; Adam, early stopping on
                            validation loss keeping the best weights
:class:`BackboneClassifier` a head (linear, or FC(320) + ReLU) on a pretrained ImageNet
                            backbone (VGG16, ResNet50, InceptionV3, EfficientNet-B0), frozen
                            with cached features or with its last blocks fine-tuned
                            (Gaur et al., Saquib and Rodriguez, Georgiev)
:class:`ImageFeatures`      transformer: images ``(N, 3, H, W)`` -> downsized,
                            flattened ``(N, 3 * s * s)`` (Gaur et al.: s = 25)
==========================  =====================================================

All take ``class_weight`` (None, ``'balanced'`` or ``{label: weight}``, Saquib and Rodriguez) and
work inside ``sklearn.pipeline.Pipeline`` and ``sklearn.model_selection.cross_val_score``.
:func:`make_classifier` builds Gaur et al.'s feature + model pipelines by name.
"""
from refgan.classifiers.base import compute_class_weight
from refgan.classifiers.cnn import CNNClassifier
from refgan.classifiers.deep import BackboneClassifier
from refgan.classifiers.features import ImageFeatures
from refgan.classifiers.logistic import LogisticRegression
from refgan.classifiers.svm import SVC, LinearSVC
from refgan.classifiers.factory import CLASSIFIERS, make_classifier

__all__ = ["BackboneClassifier", "CLASSIFIERS", "CNNClassifier", "ImageFeatures", "LinearSVC",
           "LogisticRegression", "SVC", "compute_class_weight", "make_classifier"]
