"""The study report's figures, each a PNG data URI (``data:image/png;base64,...``) drawn
from a :class:`refgan.study.results.StudyResults`, or None when the results hold
nothing to draw.

Figures are drawn at 110 dpi with 11-13 pt text, sized so that the page's 1,150 px
column shows them at about their native size. Matplotlib loads in the functions that
draw (it is slow to import and only the report needs it)."""
from __future__ import annotations

import base64
import io

import numpy as np

from refgan.data import to_uint8
from refgan.metrics import roc_curve
from refgan.study.config import BALANCE, TABLE2, positive_index

NAMES = {"lr": "Logistic regression", "svm": "SVM (RBF kernel)", "linear-svm": "Linear SVM",
         "cnn": "Small CNN", "vgg16": "VGG16 (pretrained, frozen)",
         "resnet50": "ResNet50 (pretrained, frozen)", "inception_v3": "InceptionV3 (pretrained, frozen)",
         "efficientnet_b0": "EfficientNet-B0 (pretrained, frozen) + FC(320)"}
DEEP = ("vgg16", "resnet50", "inception_v3", "efficientnet_b0")
DPI = 110
FONT = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
        "ytick.labelsize": 10, "legend.fontsize": 9.5,
        "text.parse_math": False}  # class names are text: a '$' in one is no TeX


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _mosaic(images, labels, n_classes, per_row, tile):
    """Rows of ``per_row`` images per class, each upscaled (nearest) to ``tile`` px."""
    rows = []
    for c in range(n_classes):
        im = to_uint8(np.asarray(images)[np.asarray(labels) == c][:per_row])
        if len(im):
            s = max(1, tile // im.shape[1])
            im = im.repeat(s, 1).repeat(s, 2)
            pad = np.full((per_row - len(im),) + im.shape[1:], 255, np.uint8)
            row = np.concatenate([np.pad(x, ((0, 0), (0, 4), (0, 0)), constant_values=255)
                                  for x in np.concatenate([im, pad])], axis=1)
            rows.append(np.pad(row, ((0, 4), (0, 0), (0, 0)), constant_values=255))
    return np.concatenate(rows, axis=0)


def fig_samples(results) -> str:
    """Real and generated tiles, each at least 64 px (nearest-neighbour upscaled)."""
    import matplotlib.pyplot as plt

    s = next(f.samples for f in results.folds if f.samples is not None)
    names = results.class_names
    per_row = 8 if len(names) <= 4 else 5
    size = np.asarray(s["real"]).shape[-1]
    tile = max(64, size)
    with plt.rc_context(FONT):
        ms = [_mosaic(s[k], s[k + "_labels"], len(names), per_row, tile) for k in ("real", "generated")]
        h, w = ms[0].shape[:2]
        fig, axes = plt.subplots(1, 2, figsize=(2 * w / DPI + 1.6, h / DPI + 0.6))
        for ax, m, title in zip(axes, ms, ("Real training images", "Generated images")):
            ax.imshow(m, interpolation="nearest")
            ax.set_title(title)
            ax.set_xticks([])
            step = m.shape[0] / len(names)
            ax.set_yticks([step * (i + 0.5) for i in range(len(names))], names)
        fig.tight_layout()
        return _png(fig)


def fig_forest(results) -> str | None:
    """Every comparison's accuracy difference with its simultaneous interval: one row per
    comparison, one colour per classifier; filled: significant, open: not, x: not
    interpretable (a degenerate classifier)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    clfs = [c for c, v in results.comparisons.items() if v]
    if not clfs:
        return None
    labels = list(dict.fromkeys(c.label for clf in clfs for c in results.comparisons[clf]))
    off = np.linspace(-0.25, 0.25, len(clfs)) if len(clfs) > 1 else [0.0]
    with plt.rc_context(FONT):
        fig, ax = plt.subplots(figsize=(10.2, (0.2 + 0.14 * len(clfs)) * len(labels) + 1.2))
        for i, clf in enumerate(clfs):
            col = f"C{i}"
            for c in results.comparisons[clf]:
                y = len(labels) - 1 - labels.index(c.label) - off[i]  # first classifier on top
                if not c.interpretable:
                    ax.plot(100 * c.diff, y, "x", color=col, ms=7, alpha=0.6)
                    continue
                ax.errorbar(100 * c.diff, y, xerr=[[100 * (c.diff - c.low)], [100 * (c.high - c.diff)]],
                            fmt="o", color=col, mfc=col if c.significant else "white",
                            capsize=2.5, lw=1.4, ms=6)
        ax.axvline(0, color="0.4", lw=1, ls="--")
        ax.set_yticks(range(len(labels)), list(reversed(labels)))
        for y in range(len(labels) - 1):
            ax.axhline(y + 0.5, color="0.92", lw=0.8)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_xlabel("accuracy difference (condition \u2212 baseline), percentage points")
        handles = [Line2D([], [], color=f"C{i}", marker="o", lw=1.4, label=NAMES.get(c, c))
                   for i, c in enumerate(clfs)]
        handles += [Line2D([], [], color="0.3", marker="o", ls="", label="significant"),
                    Line2D([], [], color="0.3", marker="o", mfc="white", ls="", label="not significant"),
                    Line2D([], [], color="0.3", marker="x", ls="", label="not interpretable")]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        fig.tight_layout()
        return _png(fig)


def fig_gan_losses(results) -> str | None:
    import matplotlib.pyplot as plt

    losses = next((f.gan.losses for f in results.folds if f.gan.losses), None)
    if losses is None:
        return None
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(losses), figsize=(5.2 * len(losses), 3.4), squeeze=False)
        for ax, (key, cols) in zip(axes[0], losses.items()):
            for name, v in cols.items():
                if "loss" in name or name in ("wasserstein", "gp"):
                    ax.plot(np.arange(1, len(v) + 1), v, label=name, lw=1.2)
            ax.set_title(f"GAN for '{key}' (first fold)")
            ax.set_xlabel("logged step")
            ax.legend()
        fig.tight_layout()
        return _png(fig)


def fig_classifier_losses(results) -> str | None:
    import matplotlib.pyplot as plt

    recs = [r for f in results.folds if f.repeat == 0 and f.fold == 0
            for r in f.records if r.curves["loss"] and r.gan_seed in (-1, 0)
            and r.condition in TABLE2]
    clfs = list(dict.fromkeys(r.classifier for r in recs))
    if not clfs:
        return None
    xl = {"lr": "L-BFGS iteration", "svm": "SMO iteration (sampled)", "cnn": "epoch",
          "linear-svm": "L-BFGS iteration", **{n: "epoch" for n in DEEP}}
    yl = {"lr": "regularised log-loss", "svm": "dual objective", "cnn": "cross-entropy",
          "linear-svm": "squared-hinge objective", **{n: "weighted cross-entropy" for n in DEEP}}
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(clfs), figsize=(5.2 * len(clfs), 3.6), squeeze=False)
        for ax, clf in zip(axes[0], clfs):
            for i, r in enumerate(x for x in recs if x.classifier == clf):
                col = f"C{i % 10}"
                loss, val_loss = r.curves["loss"], r.curves["val_loss"]
                ax.plot(np.arange(1, len(loss) + 1), loss, color=col, lw=1.4, label=r.condition)
                if val_loss:
                    ax.plot(np.arange(1, len(val_loss) + 1), val_loss, color=col, lw=1.1, ls="--")
            if clf in ("lr", "linear-svm"):
                ax.set_xscale("log")
            ax.set_title(NAMES.get(clf, clf) + (" (dashed: validation)" if clf == "cnn" else ""))
            ax.set_xlabel(xl.get(clf, "iteration"))
            ax.set_ylabel(yl.get(clf, "loss"))
            ax.legend()
        fig.tight_layout()
        return _png(fig)


def _pooled(results, clf, cond):
    recs = results.records(clf, cond)
    return np.concatenate([r.y_true for r in recs]), np.concatenate([r.score for r in recs])


def main_conditions(rows) -> list:
    """The training sets the figures show: Table 2's, else the first four."""
    return [c for c in TABLE2 if c in rows] or list(rows)[:4]


def fig_roc(results) -> str | None:
    """ROC curves of the Table 2 conditions (two classes only)."""
    import matplotlib.pyplot as plt

    if len(results.class_names) != 2:
        return None
    pos = positive_index(results.class_names)
    clfs = list(results.table)
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(clfs), figsize=(4.4 * len(clfs), 4.2), squeeze=False)
        for ax, clf in zip(axes[0], clfs):
            rows = results.table[clf]
            for i, cond in enumerate(main_conditions(rows)):
                y, s = _pooled(results, clf, cond)
                fpr, tpr, _ = roc_curve(y, s, positive=pos)
                ax.plot(fpr, tpr, lw=1.5, color=f"C{i}",
                        label=f"{cond} (AUC {rows[cond].metrics['auc'].mean:.2f})")
            ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
            ax.set_title(NAMES.get(clf, clf))
            ax.set_xlabel("1 \u2212 specificity")
            ax.set_ylabel("sensitivity")
            ax.legend(loc="lower right")
        fig.tight_layout()
        return _png(fig)


def fig_threshold(results) -> str | None:
    """Saquib and Rodriguez: accuracy as the threshold on P(positive) sweeps 0..1 (with
    more than two classes, of the one-vs-rest call: :func:`refgan.study.summary.positive_probability`)."""
    import matplotlib.pyplot as plt

    clfs = list(results.table)
    if not clfs:
        return None
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(clfs), figsize=(4.4 * len(clfs), 3.6), squeeze=False)
        for ax, clf in zip(axes[0], clfs):
            rows = results.table[clf]
            for i, cond in enumerate(main_conditions(rows)):
                ts = rows[cond].threshold_sweep
                ax.plot(ts.threshold, np.multiply(ts.accuracy, 100), lw=1.5, color=f"C{i}", label=cond)
            ax.set_title(NAMES.get(clf, clf))
            ax.set_xlabel(f"threshold on P({results.positive})"
                          + (", one vs rest" if len(results.class_names) > 2 else ""))
            ax.set_ylabel("accuracy, %")
            ax.set_ylim(0, 100)
            ax.legend(loc="lower center")
        fig.tight_layout()
        return _png(fig)


def fig_confusions(results, clf) -> str:
    """One classifier's confusion matrices (Table 2 conditions and the balancing mode),
    full class names, 3 panels a row."""
    import matplotlib.pyplot as plt

    names = results.class_names
    rows = results.table[clf]
    conds = main_conditions(rows) + [c for c in BALANCE if c in rows]
    K = len(names)
    ncol = min(3, len(conds))
    nrow = -(-len(conds) // ncol)
    side = 3.2 if K <= 4 else 3.9
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(nrow, ncol, figsize=(side * ncol + 0.6, side * nrow + 0.3),
                                 squeeze=False)
        for ax in axes.flat[len(conds):]:
            ax.axis("off")
        for ax, cond in zip(axes.flat, conds):
            cm = np.asarray(rows[cond].confusion)
            ax.imshow(cm, cmap="Blues", vmin=0)
            fs = 12 if K <= 4 else 8
            for a in range(K):
                for b in range(K):
                    ax.text(b, a, str(cm[a, b]), ha="center", va="center", fontsize=fs,
                            color="white" if cm[a, b] > cm.max() / 2 else "black")
            ax.set_xticks(range(K), names, rotation=0 if K > 4 or max(map(len, names)) < 9 else 30)
            ax.set_yticks(range(K), names)
            ax.set_title(cond + (" (degenerate)" if rows[cond].degenerate else ""))
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
        fig.tight_layout()
        return _png(fig)


def fig_ratio(results) -> str | None:
    import matplotlib.pyplot as plt

    ratios = results.config.get("ratios") or []
    if not ratios:
        return None
    with plt.rc_context(FONT):
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for i, (clf, rows) in enumerate(results.table.items()):
            xs, m, lo, hi = [], [], [], []
            for r in [0.0] + [float(x) for x in ratios]:
                key = "real" if r == 0 else f"real+gen x{r:g}"
                if key in rows:
                    e = rows[key].metrics["accuracy"]
                    xs.append(r), m.append(100 * e.mean), lo.append(100 * e.low), hi.append(100 * e.high)
            ax.errorbar(np.array(xs) + 0.02 * i, m, yerr=[np.subtract(m, lo), np.subtract(hi, m)],
                        marker="o", capsize=3, label=NAMES.get(clf, clf))
        ax.set_xlabel("generated images per real image (per class)")
        ax.set_ylabel("accuracy, % (mean over folds, 95% CI)")
        ax.legend()
        fig.tight_layout()
        return _png(fig)
