"""The main job's closing figures: do the samples look like their class, and how
far are they from held-out real images?

1. Gaur et al.'s Table 1 check. A classifier trained on the *real training* images
   (scikit-learn ``LogisticRegression(C=1, max_iter=5000)`` on 25 x 25 x 3 images,
   area-resized and flattened, 1,875 features, as Gaur et al.'s linear models saw
   them) labels the generated images of each class. ``gen_acc[c]`` is the fraction
   of class-c samples it assigns to c. For comparison ``real_acc[c]`` is its
   accuracy on the held-out real test images of class c. Generated images that
   carry their class's features score near (or above) the real figure; a
   generator that ignores the class, or makes noise, scores near chance or far
   below.

2. A distribution distance: KID (kernel inception distance, Binkowski et al.
   2018: the unbiased MMD^2 with the cubic polynomial kernel
   k(a, b) = (a.b / d + 1)^3), computed on simple features instead of Inception
   activations (no pretrained network is available offline): per image an 8 x 8
   area-resized thumbnail (192 values, colour layout), 8-bin histograms of each
   channel (24 values, stain colours), and the mean gradient magnitude per channel
   (3 values, texture/sharpness). Features are centred on the real training
   images' mean and each of the three blocks is divided by its root-mean-square
   standard deviation over the real training images (one scale per block, not per
   feature: a histogram bin that real images never fill must not blow up). ``kid[c]`` compares class-c samples with the held-out real
   class-c images; ``kid_real[c]`` compares the real *training* images of class c
   with the same test images: the value a perfect generator would reach with this
   many images (the floor), since both are real. Lower is better; the figure
   measures colour, layout and sharpness, not fine cell morphology.
"""
from __future__ import annotations

import warnings

import numpy as np

from refgan.data.imops import resize

PIXELS = 25


def lr_features(images: np.ndarray) -> np.ndarray:
    return ((resize(images, PIXELS) + 1) / 2).reshape(len(images), -1)


BLOCKS = (192, 24, 3)  # thumbnail, histograms, sharpness


def simple_features(images: np.ndarray) -> np.ndarray:
    """(N, 3, S, S) in [-1, 1] -> (N, 219) thumbnail + histograms + sharpness."""
    x = np.asarray(images, np.float32)
    thumb = resize(x, 8).reshape(len(x), -1)
    bins = np.linspace(-1, 1, 9)
    hist = np.stack([np.stack([np.histogram(img[ch], bins)[0] for ch in range(3)]).ravel()
                     for img in x]).astype(np.float32) / (x.shape[2] * x.shape[3])
    gy, gx = np.diff(x, axis=2)[..., :, :-1], np.diff(x, axis=3)[..., :-1, :]
    sharp = np.sqrt(gx ** 2 + gy ** 2).mean(axis=(2, 3))
    return np.concatenate([thumb, hist, sharp], axis=1).astype(np.float64)


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 between feature sets a (m, d) and b (n, d), cubic kernel."""
    d = a.shape[1]
    k = lambda u, v: (u @ v.T / d + 1.0) ** 3  # noqa: E731
    m, n = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1))
                 + (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2 * kab.mean())


def evaluate(train, test, generated: dict) -> dict:
    """Figures for ``generated = {class_name: images (n, 3, S, S)}``.

    Returns {'classes': [...], 'gen_acc', 'real_acc', 'kid', 'kid_real': {class: x},
    'real_test_acc': overall accuracy on the real test set}.
    """
    from sklearn.linear_model import LogisticRegression

    names = list(train.class_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=1.0, max_iter=5000).fit(lr_features(train.images),
                                                           train.labels)
    f_train = simple_features(train.images)
    mu = f_train.mean(0)
    edges = np.cumsum((0,) + BLOCKS)
    scale = np.concatenate([np.full(n, np.sqrt(f_train[:, a:b].var(0).mean()) + 1e-8)
                            for n, a, b in zip(BLOCKS, edges[:-1], edges[1:])])
    norm = lambda f: (f - mu) / scale  # noqa: E731
    pred_test = clf.predict(lr_features(test.images))
    out = dict(classes=[], gen_acc={}, real_acc={}, kid={}, kid_real={},
               real_test_acc=float(np.mean(pred_test == test.labels)),
               n_generated={}, n_test={})
    for name, imgs in generated.items():
        c = names.index(name)
        out["classes"].append(name)
        out["gen_acc"][name] = float(np.mean(clf.predict(lr_features(imgs)) == c))
        out["real_acc"][name] = float(np.mean(pred_test[test.labels == c] == c))
        f_test = norm(simple_features(test.images[test.labels == c]))
        out["kid"][name] = kid(norm(simple_features(imgs)), f_test)
        out["kid_real"][name] = kid(norm(f_train[train.labels == c]), f_test)
        out["n_generated"][name] = len(imgs)
        out["n_test"][name] = int((test.labels == c).sum())
    return out


def table(q: dict) -> str:
    """The figures as a small text table."""
    lines = [f"{'class':>10s}  {'LR acc gen':>10s}  {'LR acc real':>11s}  "
             f"{'KID gen':>8s}  {'KID real':>8s}"]
    for c in q["classes"]:
        lines.append(f"{c:>10s}  {q['gen_acc'][c]:10.3f}  {q['real_acc'][c]:11.3f}  "
                     f"{q['kid'][c]:8.3f}  {q['kid_real'][c]:8.3f}")
    lines.append(f"(LR = logistic regression trained on the real training images, 25x25x3; "
                 f"'real' = held-out real test images, overall {q['real_test_acc']:.3f}; "
                 f"KID on simple features vs held-out real images, lower is better, "
                 f"'KID real' = real training images, the floor)")
    return "\n".join(lines)
