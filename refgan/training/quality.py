"""The closing figures of a GAN run: are the samples told apart from real cells, do
they carry their class, and how far is their distribution from real images?

Every figure comes with the value two *real* image sets reach (the floor): with so
few images even a perfect generator does not score 0.5 or 0 exactly.

1. Classifier two-sample test (Lopez-Paz & Oquab 2017). Generated images of a class
   (label 1) and as many real ones (label 0) are pooled, and a classifier's 5-fold
   cross-validated accuracy says how well the two can be told apart: 0.5 means
   indistinguishable, 1.0 always told apart. Two classifiers look at different
   things:

   * ``c2st_lr_pixels``: logistic regression (C = 1) on 16 x 16 x 3 area-resized
     pixels (layout, shapes, colours in place);
   * ``c2st_svm_colour``: RBF SVM (C = 1, gamma 'scale') on standardised colour
     statistics (per channel: mean, standard deviation, 5/25/50/75/95th
     percentiles; the three between-channel correlations: 24 numbers; stain
     colours and contrast, wherever they are).

   The real images are the ``reference`` set (fresh real images: on the embedded
   dataset newly rendered cells, otherwise the held-out test images), and the floor
   ``c2st_*_real`` is the same test between the real *training* images and that
   reference.

2. Gaur et al.'s Table 1 (``table1``): classifiers trained on the real training
   images (``refgan.classifiers``: LR and RBF SVM on 25 x 25 x 3 pixels as in the
   paper, Guruswamy et al.'s small CNN on the images resized to at most 32 x 32)
   label the generated images;
   accuracy, macro precision, recall and F1 over the classes, next to the same
   figures on the held-out real test images. Generated images that carry their
   class score near the real figures; a generator that ignores the class, or makes
   noise, near chance. ``gen_acc[c]`` / ``real_acc[c]`` keep the LR's per-class
   recall.

3. ``kid_simple``: KID (Binkowski et al. 2018: unbiased MMD^2 with the cubic
   kernel k(a, b) = (a.b / d + 1)^3) on *simple features*, not Inception
   activations (no pretrained network offline): per image an 8 x 8 thumbnail (192
   values), 8-bin histograms per channel (24) and the mean gradient magnitude per
   channel (3). Features are centred on the real training images' mean and each
   block is divided by its RMS standard deviation there. It compares class-c
   samples with the held-out real class-c images; ``kid_simple_real`` compares the
   real training images with the same test images (the floor). The estimator is
   `refgan.metrics.mmd2_cubic`, the study's too; only the features differ (the name
   says which).
"""
from __future__ import annotations

import warnings

import numpy as np

from refgan.data import make_blood_cells
from refgan.data.imops import resize

# scikit-learn (and refgan.classifiers, built on it) load in the functions that use
# them: ~1 s, and the train command imports this module to build its parser.

PIXELS = 25          # Gaur et al.'s linear models: 25 x 25 x 3
C2ST_PIXELS = 16     # the two-sample test's logistic regression
TABLE1 = ("lr", "svm", "cnn")


# ------------------------------------------------------------------ features
def lr_features(images: np.ndarray, size: int = PIXELS) -> np.ndarray:
    """(N, 3, S, S) in [-1, 1] -> (N, 3 size^2) pixels in [0, 1]."""
    return ((resize(np.asarray(images, np.float32), size) + 1) / 2).reshape(len(images), -1)


COLOUR_PERCENTILES = (5, 25, 50, 75, 95)
#: The names of colour_statistics' 24 columns, in order.
COLOUR_STATISTICS = ([f"{c} mean" for c in "RGB"] + [f"{c} std" for c in "RGB"]
                     + [f"{c} p{p}" for c in "RGB" for p in COLOUR_PERCENTILES]
                     + ["corr RG", "corr RB", "corr GB"])


def colour_statistics(images: np.ndarray) -> np.ndarray:
    """(N, 3, S, S) -> (N, 24): per channel mean, std, 5/25/50/75/95th percentiles,
    and the correlations of the channel pairs (RG, RB, GB); ``COLOUR_STATISTICS``
    names the columns."""
    x = np.asarray(images, np.float64).reshape(len(images), 3, -1)
    pct = np.percentile(x, COLOUR_PERCENTILES, axis=2).transpose(1, 2, 0)  # (N, 3, 5)
    mean, std = x.mean(2), x.std(2)
    xc = (x - mean[..., None]) / (std[..., None] + 1e-8)
    corr = np.stack([(xc[:, a] * xc[:, b]).mean(1) for a, b in ((0, 1), (0, 2), (1, 2))], 1)
    return np.concatenate([mean, std, pct.reshape(len(x), -1), corr], axis=1)


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


def reference_images(c, train, test=None) -> dict:
    """{class: real images} that samples are compared with.

    Choosing between generators (sweep, best checkpoint; ``test`` None): fresh
    cells on the embedded dataset (newly rendered, seed data_seed + 10,000), the real
    *training* images otherwise, so that the held-out test images play no part in
    the choice. Reporting (``test`` given): other fresh cells (seed data_seed +
    20,000, so the figure is not the one the choice was made on), the held-out
    test images otherwise."""
    names = list(train.class_names)
    if c.data == "synthetic":
        offset = 10_000 if test is None else 20_000
        fresh = make_blood_cells(n_per_class=max(int(c.quality_n), 100), classes=tuple(names),
                                 size=c.size, seed=int(c.data_seed) + offset)
        return {k: fresh.images[fresh.labels == i] for i, k in enumerate(names)}
    real = train if test is None else test
    return {k: real.images[real.labels == i] for i, k in enumerate(names)}


# ------------------------------------------------------------------ figures
def two_sample_test(real: np.ndarray, other: np.ndarray, folds: int = 5, seed: int = 0) -> dict:
    """5-fold accuracy of telling ``other`` from ``real`` (both (N, 3, S, S));
    0.5 = indistinguishable. The larger set is subsampled to the smaller one's size,
    so that always answering one side scores 0.5.

    Returns {'lr_pixels': accuracy, 'svm_colour': accuracy, 'n': images per side}.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(seed)
    n = min(len(real), len(other))
    a = real[rng.choice(len(real), n, replace=False)]
    b = other[rng.choice(len(other), n, replace=False)]
    x = np.concatenate([a, b])
    y = np.r_[np.zeros(n), np.ones(n)]
    cv = StratifiedKFold(n_splits=max(2, min(folds, n)), shuffle=True, random_state=seed)
    lr = LogisticRegression(C=1.0, max_iter=2000)
    svm = colour_classifier()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc_lr = cross_val_score(lr, lr_features(x, C2ST_PIXELS), y, cv=cv).mean()
        acc_svm = cross_val_score(svm, colour_statistics(x), y, cv=cv).mean()
    return {"lr_pixels": float(acc_lr), "svm_colour": float(acc_svm), "n": int(n)}


def colour_classifier():
    """The colour test's classifier: an RBF SVM (C = 1, gamma 'scale') on the
    standardised colour statistics."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(C=1.0, kernel="rbf", gamma="scale"))


def c2st_score(reference: dict, generated: dict, seed: int = 0) -> tuple[float, dict]:
    """One number for ranking generators: the mean over classes and the two
    classifiers of :func:`two_sample_test` (0.5 = indistinguishable, lower is
    better), and the per-class figures. ``reference`` and ``generated`` map a class
    name to images."""
    per_class = {k: two_sample_test(reference[k], generated[k], seed=seed) for k in generated}
    mean = float(np.mean([[v["lr_pixels"], v["svm_colour"]] for v in per_class.values()]))
    return mean, per_class


def classifier_scores(y_true, y_pred) -> dict:
    """Accuracy and macro precision, recall, F1."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    return {"accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
            "precision": float(p), "recall": float(r), "f1": float(f)}


def table1(train, test, generated: dict, classifiers=TABLE1, seed: int = 0) -> dict:
    """Gaur et al.'s Table 1: {classifier: {'generated': scores, 'real_test': scores,
    'predictions': {class: predicted labels of its generated images}}}."""
    from refgan.classifiers import make_classifier

    names = list(train.class_names)
    gen_x = np.concatenate(list(generated.values()))
    gen_y = np.concatenate([np.full(len(v), names.index(k)) for k, v in generated.items()])
    out = {}
    for name in classifiers:
        params = {"image_size": _cnn_size(train.images.shape[-1])} if name == "cnn" else {}
        clf = make_classifier(name, random_state=seed, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(train.images, train.labels)
        pred_gen, pred_test = clf.predict(gen_x), clf.predict(test.images)
        out[name] = {"generated": classifier_scores(gen_y, pred_gen),
                     "real_test": classifier_scores(test.labels, pred_test),
                     "recall_generated": {k: float(np.mean(pred_gen[gen_y == names.index(k)]
                                                           == names.index(k)))
                                          for k in generated},
                     "recall_real": {k: float(np.mean(pred_test[test.labels == names.index(k)]
                                                      == names.index(k)))
                                     for k in generated}}
    return out


def _cnn_size(side: int) -> int:
    """The CNN's input side: a multiple of 8, at most 32 (at 64 x 64 its fit took
    4x longer for the same test accuracy, 0.77 on the embedded cells)."""
    return max(16, min(32, side - side % 8))


def evaluate(train, test, generated: dict, reference: dict | None = None,
             classifiers=TABLE1, seed: int = 0) -> dict:
    """Figures for ``generated = {class_name: images (n, 3, S, S)}``.

    ``reference`` ({class_name: fresh real images}) is what the two-sample test
    compares with; default: the held-out test images of the class.

    Returns {'classes', 'c2st': {class: {'lr_pixels', 'svm_colour', 'n'}},
    'c2st_real' (the floor: real training images vs the reference), 'table1'
    (see :func:`table1`), 'gen_acc', 'real_acc' (LR per-class recall),
    'kid_simple', 'kid_simple_real', 'n_generated', 'n_test', 'real_test_acc'}.
    """
    from refgan import metrics as M

    names = list(train.class_names)
    f_train = simple_features(train.images)
    mu = f_train.mean(0)
    edges = np.cumsum((0,) + BLOCKS)
    scale = np.concatenate([np.full(n, np.sqrt(f_train[:, a:b].var(0).mean()) + 1e-8)
                            for n, a, b in zip(BLOCKS, edges[:-1], edges[1:])])
    norm = lambda f: (f - mu) / scale  # noqa: E731
    t1 = table1(train, test, generated, classifiers, seed) if classifiers else {}
    out = dict(classes=list(generated), c2st={}, c2st_real={}, table1=t1, gen_acc={},
               real_acc={}, kid_simple={}, kid_simple_real={}, n_generated={}, n_test={},
               real_test_acc=t1["lr"]["real_test"]["accuracy"] if "lr" in t1 else None)
    for name, imgs in generated.items():
        c = names.index(name)
        real_train, real_test = train.images[train.labels == c], test.images[test.labels == c]
        ref = real_test if reference is None else reference[name]
        out["c2st"][name] = two_sample_test(ref, imgs, seed=seed)
        out["c2st_real"][name] = two_sample_test(ref, real_train, seed=seed)
        if "lr" in t1:
            out["gen_acc"][name] = t1["lr"]["recall_generated"][name]
            out["real_acc"][name] = t1["lr"]["recall_real"][name]
        f_test = norm(simple_features(real_test))
        out["kid_simple"][name] = M.mmd2_cubic(norm(simple_features(imgs)), f_test)
        out["kid_simple_real"][name] = M.mmd2_cubic(norm(f_train[train.labels == c]), f_test)
        out["n_generated"][name] = len(imgs)
        out["n_test"][name] = len(real_test)
    return out


def check_fid_weights(folder) -> None:
    """Refuse, before training, a ``--fid-weights`` folder without pytorch-fid's file."""
    from refgan.classifiers.backbone_files import find_weights

    find_weights("inception_v3_fid", folder)


def generator_figures(generated: dict, train, reference: dict, fid_weights=None) -> dict:
    """The literature's generator metrics per class, each beside its real-vs-real floor:
    SSIM of each generated image with its nearest real training image, and, when
    ``fid_weights`` (the folder of pytorch-fid's InceptionV3 weights) is given, FID and
    KID on that network's pool features. The floor compares the fresh ``reference``
    cells (images no generator saw) with the same training images
    (:func:`refgan.metrics.generator_metrics`). Returns ``{class: GeneratorMetrics dict}``.
    """
    from refgan.metrics import generator_metrics
    from refgan.metrics.fid import load_fid_network

    network = load_fid_network(fid_weights) if fid_weights is not None else None
    real = train.images_by_class()
    return {name: generator_metrics(real[name], images, held_out=reference[name],
                                    network=network).to_dict()
            for name, images in generated.items()}


def generator_table(figures: dict) -> str:
    """SSIM (and FID / KID when computed) per class, with their floors, as a text table."""
    lines = [f"{'class':>10s}  {'SSIM':>6s}  {'(real)':>6s}  {'FID':>8s}  {'(real)':>8s}  "
             f"{'KID':>8s}  {'(real)':>8s}"]
    for name, m in figures.items():
        fk = m["fid_kid"]
        fid = (f"{fk['fid']:8.2f}  {fk['fid_floor']:8.2f}  {fk['kid']['kid']:8.4f}  "
               f"{fk['kid_floor']['kid']:8.4f}") if fk else f"{'-':>8s}  {'-':>8s}  {'-':>8s}  {'-':>8s}"
        lines.append(f"{name:>10s}  {m['ssim']['mean']:6.3f}  {m['ssim_floor']['mean']:6.3f}  {fid}")
    return "\n".join(lines)


def table(q: dict) -> str:
    """The figures as small text tables."""
    lines = [f"{'class':>10s}  {'C2ST LR px':>10s}  {'(real)':>6s}  {'C2ST SVM col':>12s}  "
             f"{'(real)':>6s}  {'LR acc gen':>10s}  {'(real)':>6s}  {'KID simple':>10s}  "
             f"{'(real)':>7s}"]
    for c in q["classes"]:
        g, r = q["c2st"][c], q["c2st_real"][c]
        lines.append(f"{c:>10s}  {g['lr_pixels']:10.3f}  {r['lr_pixels']:6.3f}  "
                     f"{g['svm_colour']:12.3f}  {r['svm_colour']:6.3f}  "
                     f"{q['gen_acc'].get(c, float('nan')):10.3f}  "
                     f"{q['real_acc'].get(c, float('nan')):6.3f}  "
                     f"{q['kid_simple'][c]:10.3f}  {q['kid_simple_real'][c]:7.3f}")
    lines.append("C2ST = classifier two-sample test, 5-fold accuracy of telling generated "
                 "from real images (0.5 = indistinguishable); (real) = the same figure for "
                 "real training images, the floor. LR acc = logistic regression trained on "
                 "real images, share of generated images given their class. KID on simple "
                 "features vs held-out real images, lower is better.")
    if q.get("table1"):
        lines.append("")
        lines.append("Gaur et al.'s Table 1 (trained on real, tested on generated | on real test):")
        lines.append(f"{'classifier':>10s}  {'acc':>5s}  {'prec':>5s}  {'rec':>5s}  {'F1':>5s}"
                     f"  |  {'acc':>5s}  {'prec':>5s}  {'rec':>5s}  {'F1':>5s}")
        for name, s in q["table1"].items():
            g, r = s["generated"], s["real_test"]
            lines.append(f"{name:>10s}  " + "  ".join(f"{g[k]:5.3f}" for k in
                                                     ("accuracy", "precision", "recall", "f1"))
                         + "  |  " + "  ".join(f"{r[k]:5.3f}" for k in
                                               ("accuracy", "precision", "recall", "f1")))
    return "\n".join(lines)
