"""Generator quality, offline: is what the GAN makes realistic, varied and new?

Features come from a *domain* extractor - by default the CNN trained on the real
training split (:meth:`refgan.classifiers.CNNClassifier.embed`) - because an ImageNet
network is neither available offline nor suited to 64x64 blood smears; any
``(N, ...) -> (N, D)`` function can be passed instead.

==========================  ========================================================
:func:`trts`                train on real, test on generated (Gaur et al., Table 1): a
                            real-trained classifier should tell generated healthy
                            and blast apart as it does real ones
:func:`tstr`                train on synthetic, test on real (Guruswamy et al.)
:func:`kid_cnn_features`    kernel inception distance on the domain CNN's features:
                            unbiased MMD^2 with the cubic kernel ``(x.y/d + 1)^3``
                            (Binkowski et al. 2018); 0 for identical distributions;
                            bootstrap interval; read it against a real-vs-real floor
:func:`kid_pixels`          the same estimator on raw pixels
:func:`prdc`                precision, recall, density, coverage on k-NN balls
                            (Naeem et al. 2020)
:func:`diversity`           mean pairwise feature distance, generated vs real
:func:`memorisation`        each generated image's distance to its nearest training
                            image, against the same for real unseen images; copies
                            flagged
==========================  ========================================================
"""
from __future__ import annotations

import numpy as np

from refgan.data import find_duplicates
from refgan.metrics.intervals import bootstrap_interval, wilson_interval


def _flat(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def _sqdist(a, b) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0.0)


def _accuracy_with_interval(y_true, y_pred) -> dict:
    correct = int((np.asarray(y_true) == np.asarray(y_pred)).sum())
    n = len(y_true)
    lo, hi = wilson_interval(correct, n)
    return dict(accuracy=correct / n if n else float("nan"), low=lo, high=hi, n=n)


def trts(classifier, X_generated, y_generated) -> dict:
    """Accuracy of ``classifier`` (already fitted on real training images) on generated
    images labelled with the class they were generated for; Wilson interval, and per
    class (the fraction of each class's generated images recognised as that class)."""
    pred = classifier.predict(X_generated)
    y = np.asarray(y_generated)
    out = _accuracy_with_interval(y, pred)
    out["per_class"] = {int(c): _accuracy_with_interval(y[y == c], pred[y == c]) for c in np.unique(y)}
    return out


def tstr(make_classifier, X_generated, y_generated, X_real_test, y_real_test,
         X_real_train=None, y_real_train=None) -> dict:
    """Train ``make_classifier()`` on generated images only, test on real test images.
    With real training images also given, the same classifier trained on them is the
    reference (``trtr``), so the gap ``tstr - trtr`` reads as the cost of synthetic data."""
    clf = make_classifier().fit(X_generated, y_generated)
    out = dict(tstr=_accuracy_with_interval(y_real_test, clf.predict(X_real_test)))
    if X_real_train is not None:
        ref = make_classifier().fit(X_real_train, y_real_train)
        out["trtr"] = _accuracy_with_interval(y_real_test, ref.predict(X_real_test))
    return out


def _mmd2_unbiased(K_rr, K_ff, K_rf, ir=None, jf=None) -> float:
    """Unbiased MMD^2 from kernel blocks; with bootstrap indices ``ir``/``jf``, pairs
    of one original sample with itself are left out (so resampled duplicates add no
    bias)."""
    if ir is None:
        ir, jf = np.arange(len(K_rr)), np.arange(len(K_ff))
    krr, kff, krf = K_rr[np.ix_(ir, ir)], K_ff[np.ix_(jf, jf)], K_rf[np.ix_(ir, jf)]
    mr, mf = ir[:, None] != ir[None, :], jf[:, None] != jf[None, :]
    return float(krr[mr].mean() + kff[mf].mean() - 2 * krf.mean())


def _cubic_kernel(a, b) -> np.ndarray:
    """KID's kernel k(x, y) = (x.y / d + 1)^3 between the rows of a (m, d) and b (n, d)."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_cubic(real_feats, fake_feats) -> float:
    """KID's estimator (Binkowski et al. 2018) between feature sets (m, d) and (n, d):
    the unbiased MMD^2 with the cubic kernel ``k(x, y) = (x.y / d + 1)^3``,

        sum_{i != j} k(r_i, r_j) / (m (m - 1)) + sum_{i != j} k(f_i, f_j) / (n (n - 1))
        - 2 sum_{i, j} k(r_i, f_j) / (m n);

    0 in expectation for identical distributions (so it can be slightly negative).
    Every KID of refgan is this one: the study's (:func:`kid_cnn_features`,
    :func:`kid_pixels`, with a bootstrap interval) and a run's ``kid_simple`` and
    best-checkpoint choice (:mod:`refgan.training.quality`, on simple features)."""
    r, f = _flat(real_feats), _flat(fake_feats)
    return _mmd2_unbiased(_cubic_kernel(r, r), _cubic_kernel(f, f), _cubic_kernel(r, f))


def _kid(real_feats, fake_feats, n_boot: int = 200, seed=0, max_n: int = 1000) -> dict:
    """:func:`mmd2_cubic` with a bootstrap interval.

    At most ``max_n`` samples per side are used (random subset). Returns
    ``dict(kid, low, high, n_real, n_fake)`` with a 95% percentile bootstrap interval
    (both sets resampled).
    """
    rng = np.random.default_rng(seed)
    r, f = _flat(real_feats), _flat(fake_feats)
    if len(r) > max_n:
        r = r[rng.choice(len(r), max_n, replace=False)]
    if len(f) > max_n:
        f = f[rng.choice(len(f), max_n, replace=False)]
    K_rr, K_ff, K_rf = _cubic_kernel(r, r), _cubic_kernel(f, f), _cubic_kernel(r, f)
    est = _mmd2_unbiased(K_rr, K_ff, K_rf)  # mmd2_cubic(r, f); the blocks serve the bootstrap
    vals = [_mmd2_unbiased(K_rr, K_ff, K_rf, rng.integers(0, len(r), len(r)),
                           rng.integers(0, len(f), len(f))) for _ in range(n_boot)]
    lo, hi = np.quantile(vals, [0.025, 0.975])
    return dict(kid=est, low=float(min(lo, est)), high=float(max(hi, est)), n_real=len(r), n_fake=len(f))


def kid_cnn_features(real_feats, fake_feats, n_boot: int = 200, seed=0, max_n: int = 1000) -> dict:
    """KID on the *domain CNN's* features: ``real_feats``, ``fake_feats`` (N, D) are the
    penultimate layer of the CNN trained on the real training split
    (:meth:`refgan.classifiers.CNNClassifier.embed`). Its scale depends on that network,
    so read it against the same KID between two real sets (the study's real-vs-real
    floor), never against published Inception-feature KIDs. See :func:`_kid` for the
    estimator and the returned dict."""
    return _kid(real_feats, fake_feats, n_boot=n_boot, seed=seed, max_n=max_n)


def kid_pixels(real_images, fake_images, n_boot: int = 200, seed=0, max_n: int = 1000) -> dict:
    """KID on raw pixels (flattened images or downsized pixel vectors): no learned
    features, so it sees colour and layout, not cell morphology. Same estimator and
    return value as :func:`kid_cnn_features`."""
    return _kid(real_images, fake_images, n_boot=n_boot, seed=seed, max_n=max_n)


def prdc(real_feats, fake_feats, k: int = 5) -> dict:
    """Precision, recall, density and coverage (Naeem et al. 2020).

    Each real sample's ball has the radius of its k-th nearest real neighbour (same for
    fake). precision = share of fake samples inside some real ball; recall = share of
    real samples inside some fake ball; density = mean number of real balls holding a
    fake sample, / k (about 1 for matching distributions, can exceed 1); coverage =
    share of real balls holding at least one fake sample. Proportions get Wilson
    intervals, density a bootstrap over fake samples (balls held fixed).
    """
    r, f = _flat(real_feats), _flat(fake_feats)
    k = min(k, len(r) - 1, len(f) - 1)
    d_rr, d_ff, d_rf = np.sqrt(_sqdist(r, r)), np.sqrt(_sqdist(f, f)), np.sqrt(_sqdist(r, f))
    rad_r = np.sort(d_rr, 1)[:, k]  # column 0 is the point itself
    rad_f = np.sort(d_ff, 1)[:, k]
    inside = d_rf <= rad_r[:, None]  # (real ball i, fake j)
    prec_j = inside.any(0)
    rec_i = (d_rf <= rad_f[None, :]).any(1)
    dens_j = inside.sum(0) / k
    cov_i = (d_rf.min(1) <= rad_r)

    def prop(v):
        lo, hi = wilson_interval(int(v.sum()), len(v))
        return dict(value=float(v.mean()), low=lo, high=hi)

    dv, dlo, dhi = bootstrap_interval(np.mean, dens_j, n_boot=1000)
    return dict(precision=prop(prec_j), recall=prop(rec_i), coverage=prop(cov_i),
                density=dict(value=dv, low=dlo, high=dhi), k=k)


def diversity(real, fake, n_boot: int = 500, seed=0) -> dict:
    """Mean pairwise distance within each set (features or pixels) and their ratio
    fake/real (about 1: as varied as real data; much below 1: mode collapse).
    Interval: bootstrap of each sample's mean distance to the others."""
    def per_sample(x):
        d = np.sqrt(_sqdist(x, x))
        return d.sum(1) / max(len(x) - 1, 1)

    pr, pf = per_sample(_flat(real)), per_sample(_flat(fake))
    ratio = lambda a, b: a.mean() / b.mean()  # noqa: E731
    rng = np.random.default_rng(seed)
    vals = [ratio(pf[rng.integers(0, len(pf), len(pf))], pr[rng.integers(0, len(pr), len(pr))])
            for _ in range(n_boot)]
    lo, hi = np.quantile(vals, [0.025, 0.975])
    est = float(ratio(pf, pr))
    return dict(real=float(pr.mean()), fake=float(pf.mean()), ratio=est,
                low=float(min(lo, est)), high=float(max(hi, est)))


def memorisation(generated, train, held_out=None, quantile: float = 0.01,
                 near_duplicates: bool = True) -> dict:
    """Is the generator copying its training images?

    For each generated image: the RMS pixel distance to its nearest training image.
    Reference: the same distance for real images the generator never saw
    (``held_out``, e.g. the test split). An image is flagged as a copy when it is
    closer to a training image than the ``quantile`` of the held-out distances (or,
    without ``held_out``, than 5% of the median training-pair distance), or when
    :func:`refgan.data.find_duplicates` finds it a near-duplicate of a training
    image under rotations and flips.

    Returns ``dict(nn_distance (per image), nn_index, threshold, copies (indices),
    copy_rate with Wilson interval, held_out_median, generated_median)``.
    """
    g, t = _flat(generated), _flat(train)
    dim = g.shape[1]
    d = _sqdist(g, t)
    nn_idx = d.argmin(1)
    nn = np.sqrt(d[np.arange(len(g)), nn_idx] / dim)
    ref = None
    if held_out is not None and len(held_out):
        ref = np.sqrt(_sqdist(_flat(held_out), t).min(1) / dim)
        thr = float(np.quantile(ref, quantile))
    else:
        tt = np.sqrt(_sqdist(t, t) / dim)
        thr = 0.05 * float(np.median(tt[np.triu_indices(len(t), 1)]))
    flag = nn < thr
    if near_duplicates:
        imgs_g, imgs_t = np.asarray(generated, np.float32), np.asarray(train, np.float32)
        if imgs_g.ndim == 4 and imgs_t.ndim == 4:
            for i, _j, _kind, _s in find_duplicates(imgs_g, imgs_t):
                flag[i] = True
    copies = np.flatnonzero(flag)
    lo, hi = wilson_interval(len(copies), len(g))
    return dict(nn_distance=nn.tolist(), nn_index=nn_idx.tolist(), threshold=thr,
                copies=copies.tolist(), copy_rate=dict(value=len(copies) / len(g), low=lo, high=hi),
                generated_median=float(np.median(nn)),
                held_out_median=None if ref is None else float(np.median(ref)))
