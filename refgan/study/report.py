"""report.html: one self-contained page (figures embedded as PNG data URIs) that a
clinician-scientist can read top to bottom: verdict (one line per classifier and a
forest plot of the differences), setup, tables with intervals and degenerate-classifier
flags, paired comparisons, samples, loss curves, ROC curves and the threshold sweep,
confusion matrices, generator quality against its real-vs-real floor.

Figures are drawn at 110 dpi with 11-13 pt text, sized so that the page's 1,150 px
column shows them at about their native size."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from refgan.data import to_uint8
from refgan.metrics import roc_curve
from refgan.provenance import summary_line
from refgan.study.config import BALANCE, TABLE2, positive_index

NAMES = {"lr": "Logistic regression", "svm": "SVM (RBF kernel)", "linear-svm": "Linear SVM",
         "cnn": "Small CNN", "vgg16": "VGG16 (pretrained, frozen)",
         "resnet50": "ResNet50 (pretrained, frozen)", "inception_v3": "InceptionV3 (pretrained, frozen)",
         "efficientnet_b0": "EfficientNet-B0 (pretrained, frozen) + FC(320)"}
SHORT = {"lr": "LR", "svm": "SVM", "linear-svm": "linear SVM", "cnn": "CNN", "vgg16": "VGG16",
         "resnet50": "ResNet50", "inception_v3": "InceptionV3", "efficientnet_b0": "EfficientNet-B0"}
MNAMES = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Sensitivity (recall)",
          "specificity": "Specificity", "f1": "F1", "auc": "ROC AUC",
          "macro_precision": "Macro precision", "macro_recall": "Macro recall",
          "macro_f1": "Macro F1", "top2": "Top-2 accuracy", "top5": "Top-5 accuracy"}
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


def esc(value) -> str:
    """Any value the report did not write itself (a class, file, run or classifier name,
    a command line, a config value) as HTML text: ``<``, ``>``, ``&`` and quotes escaped."""
    return html.escape(str(value), quote=True)


def _img(src, alt) -> str:
    return f'<img src="{src}" alt="{esc(alt)}">'


def _pct(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def _pts(v) -> str:
    """A difference in percentage points with its sign ('+1.2', '-0.4', '0.0')."""
    if v is None or not np.isfinite(v):
        return "n/a"
    s = f"{100 * v:+.1f}"
    return "0.0" if s in ("+0.0", "-0.0") else s.replace("-", "\u2212")


def _cell(e) -> str:
    return f"{_pct(e['mean'])} <span class=ci>[{_pct(e['low'])}, {_pct(e['high'])}]</span>"


def _p(p) -> str:
    return "n/a" if p is None or not np.isfinite(p) else ("&lt;0.001" if p < 0.001 else f"{p:.3f}")


def _label(c) -> str:
    return f"{esc(c['condition'])} vs {esc(c['baseline'])}"


def _diff(c) -> str:
    if not c["interpretable"]:
        return f"{_pts(c['diff'])} points (not interpretable)"
    return f"{_pts(c['diff'])} points [{_pts(c['low'])}, {_pts(c['high'])}]"


# ------------------------------------------------------------------------ verdict
def _grouped(comps) -> str:
    """'vs real: a, b; vs imbalanced: c' - comparisons named compactly by baseline."""
    by: dict = {}
    for c in comps:
        by.setdefault(esc(c["baseline"]), []).append(esc(c["condition"]))
    return "; ".join(f"{', '.join(v)} vs {b}" for b, v in by.items())


def isolates_generated(comparison: dict) -> bool:
    """True when the two training sets differ only by the generated images, so a
    difference can be credited to the GAN (real+gen vs real, real+classic+gen vs
    real+classic, gan-balance vs imbalanced, a ratio-sweep set vs real)."""
    c, b = comparison["condition"], comparison["baseline"]
    return (c == b + "+gen" or (c == "gan-balance" and b == "imbalanced")
            or (c.startswith("real+gen x") and b == "real"))


def verdict(results: dict) -> list[str]:
    """The verdict: a head line, then one line per classifier naming every comparison
    (significant ones with their difference, the rest by name, degenerate ones as not
    interpretable). Significance is the study's decision rule (corrected repeated k-fold
    t, Bonferroni within each family); the intervals are the same test's."""
    quick = results["config"].get("quick")
    lines = []
    gains, losses = [], []
    for clf, comps in results["comparisons"].items():
        name = esc(SHORT.get(clf, clf))
        if not comps:
            continue
        primary = [c for c in comps if isolates_generated(c)]
        rest = [c for c in comps if not isolates_generated(c)]
        bad = [c for c in comps if not c["interpretable"]]
        parts = []
        for c in primary:
            if not c["interpretable"]:
                continue
            word = ("<b>significantly higher</b>" if c["significant"] and c["diff"] > 0 else
                    "<b>significantly lower</b>" if c["significant"] else "no significant change")
            parts.append(f"{_label(c)}: {word}, {_diff(c)}")
            if c["significant"]:
                (gains if c["diff"] > 0 else losses).append(f"{name} ({_label(c)})")
        sig = [c for c in rest if c["interpretable"] and c["significant"]]
        ns = [c for c in rest if c["interpretable"] and not c["significant"]]
        line = f"<b>{esc(NAMES.get(clf, clf))}</b> &mdash; generated images: " + (
            "; ".join(parts) if parts else "no interpretable comparison") + "."
        if sig:
            line += " Other significant differences: " + "; ".join(
                f"{_label(c)} {_diff(c)}" for c in sig) + "."
        if ns:
            line += " Not significant: " + _grouped(ns) + "."
        if bad:
            line += (" <span class=warn>Not interpretable (a degenerate classifier): "
                     + _grouped(bad) + ".</span>")
        lines.append(line)
    rule = results.get("decision_rule", {})
    k = results.get("n_folds_total", len(results["folds"]))
    if gains:
        head = ("Adding GAN-generated images to an otherwise unchanged training set made these "
                "classifiers significantly more accurate: " + ", ".join(gains) + ".")
    else:
        head = ("Adding GAN-generated images to an otherwise unchanged training set made no "
                "classifier significantly more accurate.")
    if losses:
        head += " It made these significantly less accurate: " + ", ".join(losses) + "."
    head += (f" Evidence: {esc(k)} cross-validation folds"
             + (f" ({esc(results['config']['folds'])} folds x {esc(results['config']['repeats'])} "
                f"repeats, {esc(results['config']['gan_seeds'])} GANs per fold)" if k > 1 else "")
             + f"; decided by the {esc(rule.get('test', 'corrected t'))}, Bonferroni-adjusted within "
             "each classifier; intervals are the same test's simultaneous intervals.")
    if k == 1 and results["folds"] and results["folds"][0].get("records"):
        n_test = len(results["folds"][0]["records"][0]["origin"])
        head += (f" The {n_test} real test images are the held-out split of the trained run; "
                 "neither its GAN nor any run it started from trained on them.")
    if quick:
        head = ("<b>Pipeline check (--quick): tiny data, a 20-step GAN and a few folds. These "
                "numbers test that the study runs; they are not evidence about GAN "
                "augmentation.</b> " + head)
    return [head] + lines


# ------------------------------------------------------------------------ figures
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

    s = next(f for f in results["folds"] if "samples" in f)["samples"]
    names = results["class_names"]
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

    clfs = [c for c, v in results["comparisons"].items() if v]
    if not clfs:
        return None
    labels = list(dict.fromkeys(_label(c) for clf in clfs for c in results["comparisons"][clf]))
    off = np.linspace(-0.25, 0.25, len(clfs)) if len(clfs) > 1 else [0.0]
    with plt.rc_context(FONT):
        fig, ax = plt.subplots(figsize=(10.2, (0.2 + 0.14 * len(clfs)) * len(labels) + 1.2))
        for i, clf in enumerate(clfs):
            col = f"C{i}"
            for c in results["comparisons"][clf]:
                y = len(labels) - 1 - labels.index(_label(c)) - off[i]  # first classifier on top
                if not c["interpretable"]:
                    ax.plot(100 * c["diff"], y, "x", color=col, ms=7, alpha=0.6)
                    continue
                ax.errorbar(100 * c["diff"], y, xerr=[[100 * (c["diff"] - c["low"])],
                                                      [100 * (c["high"] - c["diff"])]],
                            fmt="o", color=col, mfc=col if c["significant"] else "white",
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

    f0 = next((f for f in results["folds"] if f["gan"].get("losses")), None)
    if f0 is None:
        return None
    losses = f0["gan"]["losses"]
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

    recs = [r for f in results["folds"] if f["repeat"] == 0 and f["fold"] == 0
            for r in f["records"] if r["curves"]["loss"] and r["gan_seed"] in (-1, 0)
            and r["condition"] in TABLE2]
    clfs = list(dict.fromkeys(r["classifier"] for r in recs))
    if not clfs:
        return None
    deep = ("vgg16", "resnet50", "inception_v3", "efficientnet_b0")
    xl = {"lr": "L-BFGS iteration", "svm": "SMO iteration (sampled)", "cnn": "epoch",
          "linear-svm": "L-BFGS iteration", **{n: "epoch" for n in deep}}
    yl = {"lr": "regularised log-loss", "svm": "dual objective", "cnn": "cross-entropy",
          "linear-svm": "squared-hinge objective", **{n: "weighted cross-entropy" for n in deep}}
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(clfs), figsize=(5.2 * len(clfs), 3.6), squeeze=False)
        for ax, clf in zip(axes[0], clfs):
            for i, r in enumerate(x for x in recs if x["classifier"] == clf):
                col = f"C{i % 10}"
                ax.plot(np.arange(1, len(r["curves"]["loss"]) + 1), r["curves"]["loss"], color=col,
                        lw=1.4, label=r["condition"])
                if r["curves"]["val_loss"]:
                    ax.plot(np.arange(1, len(r["curves"]["val_loss"]) + 1), r["curves"]["val_loss"],
                            color=col, lw=1.1, ls="--")
            if clf in ("lr", "linear-svm"):
                ax.set_xscale("log")
            ax.set_title(NAMES.get(clf, clf) + (" (dashed: validation)" if clf == "cnn" else ""))
            ax.set_xlabel(xl.get(clf, "iteration"))
            ax.set_ylabel(yl.get(clf, "loss"))
            ax.legend()
        fig.tight_layout()
        return _png(fig)


def _pooled(results, clf, cond):
    recs = [r for f in results["folds"] for r in f["records"]
            if r["classifier"] == clf and r["condition"] == cond]
    return (np.concatenate([r["y_true"] for r in recs]), np.concatenate([r["score"] for r in recs]))


def _main_conditions(rows) -> list:
    return [c for c in TABLE2 if c in rows] or list(rows)[:4]


def fig_roc(results) -> str | None:
    """ROC curves of the Table 2 conditions (two classes only)."""
    import matplotlib.pyplot as plt

    if len(results["class_names"]) != 2:
        return None
    pos = positive_index(results["class_names"])
    clfs = list(results["table"])
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(clfs), figsize=(4.4 * len(clfs), 4.2), squeeze=False)
        for ax, clf in zip(axes[0], clfs):
            rows = results["table"][clf]
            for i, cond in enumerate(_main_conditions(rows)):
                y, s = _pooled(results, clf, cond)
                fpr, tpr, _ = roc_curve(y, s, positive=pos)
                ax.plot(fpr, tpr, lw=1.5, color=f"C{i}",
                        label=f"{cond} (AUC {rows[cond]['auc']['mean']:.2f})")
            ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
            ax.set_title(NAMES.get(clf, clf))
            ax.set_xlabel("1 \u2212 specificity")
            ax.set_ylabel("sensitivity")
            ax.legend(loc="lower right")
        fig.tight_layout()
        return _png(fig)


def fig_threshold(results) -> str | None:
    """Saquib and Rodriguez: accuracy as the threshold on P(positive) sweeps 0..1 (with
    more than two classes, of the one-vs-rest call: :func:`refgan.study.protocol.positive_probability`)."""
    import matplotlib.pyplot as plt

    clfs = [c for c in results["table"]
            if any("threshold_sweep" in r for r in results["table"][c].values())]
    if not clfs:
        return None
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(clfs), figsize=(4.4 * len(clfs), 3.6), squeeze=False)
        for ax, clf in zip(axes[0], clfs):
            rows = results["table"][clf]
            for i, cond in enumerate(_main_conditions(rows)):
                ts = rows[cond]["threshold_sweep"]
                ax.plot(ts["threshold"], np.multiply(ts["accuracy"], 100), lw=1.5, color=f"C{i}",
                        label=cond)
            ax.set_title(NAMES.get(clf, clf))
            ax.set_xlabel(f"threshold on P({results['positive']})"
                          + (", one vs rest" if len(results["class_names"]) > 2 else ""))
            ax.set_ylabel("accuracy, %")
            ax.set_ylim(0, 100)
            ax.legend(loc="lower center")
        fig.tight_layout()
        return _png(fig)


def fig_confusions(results, clf) -> str:
    """One classifier's confusion matrices (Table 2 conditions and the balancing mode),
    full class names, 3 panels a row."""
    import matplotlib.pyplot as plt

    names = results["class_names"]
    rows = results["table"][clf]
    conds = _main_conditions(rows) + [c for c in BALANCE if c in rows]
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
            cm = np.asarray(rows[cond]["confusion"])
            ax.imshow(cm, cmap="Blues", vmin=0)
            fs = 12 if K <= 4 else 8
            for a in range(K):
                for b in range(K):
                    ax.text(b, a, str(cm[a, b]), ha="center", va="center", fontsize=fs,
                            color="white" if cm[a, b] > cm.max() / 2 else "black")
            ax.set_xticks(range(K), names, rotation=0 if K > 4 or max(map(len, names)) < 9 else 30)
            ax.set_yticks(range(K), names)
            ax.set_title(cond + (" (degenerate)" if rows[cond]["degenerate"] else ""))
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
        fig.tight_layout()
        return _png(fig)


def fig_ratio(results) -> str | None:
    import matplotlib.pyplot as plt

    ratios = results["config"].get("ratios") or []
    if not ratios:
        return None
    with plt.rc_context(FONT):
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for i, (clf, rows) in enumerate(results["table"].items()):
            xs, m, lo, hi = [], [], [], []
            for r in [0.0] + [float(x) for x in ratios]:
                key = "real" if r == 0 else f"real+gen x{r:g}"
                if key in rows:
                    e = rows[key]["accuracy"]
                    xs.append(r), m.append(100 * e["mean"]), lo.append(100 * e["low"])
                    hi.append(100 * e["high"])
            ax.errorbar(np.array(xs) + 0.02 * i, m, yerr=[np.subtract(m, lo), np.subtract(hi, m)],
                        marker="o", capsize=3, label=NAMES.get(clf, clf))
        ax.set_xlabel("generated images per real image (per class)")
        ax.set_ylabel("accuracy, % (mean over folds, 95% CI)")
        ax.legend()
        fig.tight_layout()
        return _png(fig)


# --------------------------------------------------------------------------- html
def _table(results, clf, conds) -> str:
    rows = results["table"][clf]
    metrics = results.get("metrics") or list(MNAMES)[:6]
    head = "".join(f"<th>{esc(MNAMES.get(m, m))}</th>" for m in metrics)
    body = []
    for cond in conds:
        if cond not in rows:
            continue
        r = rows[cond]
        flag = (f" <span class=warn title='{esc('; '.join(r['degenerate']))}'>"
                f"&#9888; degenerate: {esc(r['degenerate'][0])}</span>"
                if r["degenerate"] else "")
        body.append(f"<tr{' class=degen' if r['degenerate'] else ''}><td>{esc(cond)}{flag}"
                    f"</td><td>{r['n_train']:.0f}</td>"
                    + "".join(f"<td>{_cell(r[m])}</td>" for m in metrics) + "</tr>")
    return f"<table><tr><th>training set</th><th>images</th>{head}</tr>{''.join(body)}</table>"


def _per_class(results, clf) -> str:
    """Per-class recall and F1 (pooled over folds), multi-class data only."""
    names = results["class_names"]
    rows = results["table"][clf]
    conds = _main_conditions(rows)
    head = "".join(f"<th>{esc(n)}</th>" for n in names)
    body = "".join(
        f"<tr><td>{esc(c)}, {what}</td>"
        + "".join(f"<td>{100 * v:.0f}</td>" for v in rows[c]["per_class"][key]) + "</tr>"
        for c in conds for key, what in (("recall", "recall"), ("f1", "F1")))
    return (f"<p class=note>Per class, % (all folds pooled):</p><table><tr><th>training set</th>"
            f"{head}</tr>{body}</table>")


def _comparisons(results, clf) -> str:
    comps = results["comparisons"].get(clf, [])
    if not comps:
        return ""
    body = []
    for c in comps:
        sig = ("<b>yes</b>" if c["significant"] else "no") if c["interpretable"] else \
            "<span class=warn>not interpretable</span>"
        conf = f"{100 * c['confidence']:.1f}%" if c.get("confidence") else ""
        body.append(
            f"<tr><td>{esc(c['condition'])}</td><td>{esc(c['baseline'])}</td>"
            f"<td>{'generated' if c['family'] == 'gan' else 'other'} ({esc(c['family_size'])})</td>"
            f"<td>{_pts(c['diff'])} <span class=ci>[{_pts(c['low'])}, {_pts(c['high'])}] "
            f"{conf}</span></td><td>{_p(c['p_value'])}</td><td>{_p(c['p_adjusted'])}</td>"
            f"<td>{sig}</td><td class=ci>{esc(c['mcnemar_b'])} / {esc(c['mcnemar_c'])}, "
            f"p {_p(c['p_mcnemar'])}</td></tr>")
    return ("<table><tr><th>training set</th><th>vs baseline</th><th>family (size)</th>"
            "<th>accuracy difference, points [simultaneous interval]</th><th>corrected t p</th>"
            "<th>Bonferroni p</th><th>significant?</th><th>McNemar (description): right only "
            f"with / only without</th></tr>{''.join(body)}</table>")


def _quality(results) -> str:
    """Generator quality: mean over the GAN jobs with the range of the per-job values
    (each job's own interval is in results.json), and the real-vs-real floor for KID."""
    qs = [f["gan"]["quality"] for f in results["folds"] if f["gan"].get("quality")]
    if not qs:
        return "<p>No generator was scored.</p>"
    kid = esc(qs[0]["kid"]["name"])
    rows = [("TRTS accuracy, % (real-trained LR on generated images)", [q["trts"]["accuracy"] for q in qs], True),
            ("TSTR accuracy, % (generated-trained LR on real test images)", [q["tstr"]["accuracy"] for q in qs], True),
            (f"<code>{kid}</code>", [q["kid"]["kid"] for q in qs], False),
            (f"<code>{kid}</code>, real vs real (floor)", [q["kid_floor"]["kid"] for q in qs], False),
            ("precision, %", [q["prdc"]["precision"]["value"] for q in qs], True),
            ("recall, %", [q["prdc"]["recall"]["value"] for q in qs], True),
            ("density", [q["prdc"]["density"]["value"] for q in qs], False),
            ("coverage, %", [q["prdc"]["coverage"]["value"] for q in qs], True),
            ("diversity ratio (generated / real)", [q["diversity"]["ratio"] for q in qs], False),
            ("copies of training images, %", [q["memorisation"]["copy_rate"]["value"] for q in qs], True)]

    def fmt(v, pct):
        return _pct(v) if pct else f"{v:.3g}"

    body = "".join(f"<tr><td>{name}</td><td>{fmt(np.mean(v), pct)}</td>"
                   f"<td>{fmt(np.min(v), pct)} to {fmt(np.max(v), pct)}</td></tr>"
                   for name, v, pct in rows)
    return (f"<table><tr><th>metric ({len(qs)} GANs)</th><th>mean</th><th>range over GANs</th></tr>"
            f"{body}</table>"
            f"<p class=note>Features for KID / precision / recall / density / coverage / diversity: "
            f"{esc(qs[0]['features'])}. <code>{kid}</code> is KID's estimator (unbiased "
            "MMD&sup2;, cubic kernel) in that feature space; its scale belongs to that network, so "
            "read it against the floor below it: the same KID between the real training images and "
            "the real test images, what a generator as good as new real images would score. "
            "TRTS: Gaur et al., Table 1; TSTR: Guruswamy et al. Density / coverage near 1 mean "
            "generated features match real ones; a diversity ratio well below 1 signals mode "
            "collapse. Copies: generated images closer to a training image than 99% of unseen real "
            "images are, or near-duplicates of one under rotation/flip. Every GAN's values, with "
            "intervals, are in results.json.</p>")


CSS = """body{font-family:Helvetica,Arial,sans-serif;max-width:1150px;margin:24px auto;color:#222;
line-height:1.45;padding:0 16px;font-size:15px}h1{font-size:26px}h2{border-bottom:1px solid #ccc;
padding-bottom:3px;margin-top:34px}table{border-collapse:collapse;margin:10px 0;font-size:13.5px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f3f5f8}.ci{color:#666;font-size:12px}.verdict{background:#f5f9ff;border-left:4px solid
#3a6ea5;padding:10px 16px}.verdict p{margin:6px 0}.warn{color:#b54708}tr.degen td{background:#fff8ec}
.note{color:#555;font-size:14px}img{max-width:100%}"""


def render(results: dict) -> str:
    cfg = results["config"]
    names = results["class_names"]
    one_split = results.get("n_folds_total", 2) == 1
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>refgan augmentation study"
             f"</title><style>{CSS}</style></head><body>",
             "<h1>Does GAN augmentation help a classifier on this small dataset?</h1>",
             "<h2>Verdict</h2><div class=verdict>"
             + "".join(f"<p>{s}</p>" for s in verdict(results)) + "</div>"]
    fp = fig_forest(results)
    if fp:
        parts.append("<p class=note>Every comparison: accuracy difference (condition minus "
                     "baseline) with its simultaneous interval, one colour per classifier; filled "
                     "dot: significant, open dot: not significant, cross: not interpretable.</p>"
                     + _img(fp, "forest plot of the accuracy differences"))
    t = results.get("seconds", 0)
    gan_s = sum(f["timings"].get("gan_s", 0) for f in results["folds"])
    pol = results.get("policy", {})
    rule = results.get("decision_rule", {})
    protocol = (
        "<li>Protocol (Gaur et al., Table 2): the train/test split of the existing GAN run "
        "(its generator saw only the training images); every classifier is trained on each "
        "training set below with the same settings and tested on the real test images.</li>"
        if one_split else
        f"<li>Protocol (Gaur et al., Table 2) under repeated cross-validation: {cfg['folds']}-fold "
        f"stratified cross-validation repeated {cfg['repeats']} times; in each fold the CNN's "
        "early-stopping images are set aside first, then "
        f"{cfg['gan_seeds']} GAN(s) with different seeds are trained on the remaining training "
        "images only, and every classifier is trained on each training set below with the same "
        "settings and tested on the fold's real test images.</li>")
    parts.append(
        "<h2>Setup</h2><ul>"
        f"<li>Data: {esc(results['dataset']['name'])}, {esc(results['dataset']['n'])} images "
        f"({', '.join(f'{esc(k)}: {esc(v)}' for k, v in results['dataset']['class_counts'].items())}), "
        f"{esc(results['dataset']['image_size'][0])}x{esc(results['dataset']['image_size'][1])} pixels.</li>"
        + protocol
        + f"<li>GAN: {esc(results['gan_description'])}; training images grown by "
        f"<b>{esc(str(cfg.get('gan_grow')))}</b>"
        + (f" ({esc(pol['gan_grow_why'])})" if pol.get("gan_grow_why") else "")
        + f"; {esc(cfg['n_generated'])} generated images "
        f"per class{', each expanded like the real ones' if cfg.get('augment_generated') else ''}."
        + (f" Parent runs (their training data count as the GAN's): "
           f"{esc(', '.join(results['gan_parents']))}." if results.get("gan_parents") else "")
        + "</li>"
        f"<li>Classic augmentation policy: <b>{esc(str(cfg.get('augment')))}</b> "
        f"({esc(pol.get('why', ''))}). In-place conditions (Saquib and Rodriguez): each "
        "image replaced with probability 0.33 by its flipped / rotated / blurred / noisy version, "
        "one model per type. On-the-fly rotation (Georgiev): the CNN's batches rotated by an "
        "angle in [&minus;45, 45] degrees.</li>"
        f"<li>Classifiers: {', '.join(esc(NAMES.get(c, c)) for c in cfg['classifiers'])}; linear "
        f"models on {esc(cfg['feature_size'])}x{esc(cfg['feature_size'])}x3 downsized pixels, the CNN on images.</li>"
        + (f"<li>Positive class (sensitivity): <b>{esc(results['positive'])}</b>.</li>"
           if len(names) == 2 else "")
        + (f"<li>Balancing mode: the training split keeps "
           + ", ".join(f"{100 * float(v):.0f}% of {esc(k)}" for k, v in cfg["imbalance"].items())
           + "; remedies: class weights, oversampling, undersampling, GAN images filling the "
           "sparse classes (GAN trained on the imbalanced split only).</li>" if cfg["balance"] else "")
        + f"<li>Decision rule: {esc(rule.get('test', ''))}; unit: "
        f"{esc(rule.get('unit', ''))}; {esc(rule.get('correction', ''))}; "
        f"{esc(rule.get('multiplicity', ''))}. McNemar's test is shown as a description "
        "only: it treats each fitted model as fixed.</li>"
        f"<li>Run time: {t / 60:.1f} min wall, GAN training {gan_s / 60:.1f} min of job time "
        f"({esc(cfg['joblib_backend'])}, n_jobs {esc(cfg['n_jobs'])})"
        f"{' (quick mode: a pipeline check)' if cfg['quick'] else ''}.</li></ul>")
    parts.append(
        "<h2>Results</h2><p class=note>" + (
            "Each cell: the value on the test split, in %, with its 95% interval in brackets "
            "(Wilson for proportions, bootstrap for F1 and AUC)." if one_split else
            "Each cell: mean over the folds (each fold averaged over its GANs), in %, with the "
            "95% corrected repeated k-fold t interval in brackets. results.json also holds every "
            "per-fold value. Shaded rows: degenerate classifiers (one predicted class, chance-level "
            "balanced accuracy, sensitivity or specificity 0, AUC near 0.5); comparisons involving "
            "them are marked not interpretable.") + "</p>")
    for clf in results["table"]:
        rows = results["table"][clf]
        main = [c for c in rows if c not in BALANCE]
        parts.append(f"<h3>{esc(NAMES.get(clf, clf))}</h3>" + _table(results, clf, main))
        bal = [c for c in BALANCE if c in rows]
        if bal:
            parts.append("<p class=note>Balancing mode (imbalanced training split):</p>"
                         + _table(results, clf, bal))
        if len(names) > 2:
            parts.append(_per_class(results, clf))
    parts.append(
        "<h2>Paired comparisons</h2><p class=note>Each condition against its baseline on the same "
        "test images, fold by fold: the corrected repeated k-fold t on the per-fold accuracy "
        "differences, Bonferroni-adjusted within the family (comparisons with generated images / "
        "the others) of each classifier; the interval is the same test's simultaneous interval, so "
        "it excludes 0 exactly when the comparison is significant. The McNemar column describes "
        "the pooled predictions only.</p>")
    for clf in results["comparisons"]:
        parts.append(f"<h3>{esc(NAMES.get(clf, clf))}</h3>" + _comparisons(results, clf))
    r = fig_ratio(results)
    if r:
        parts.append("<h2>How much generated data?</h2>" + _img(r, "accuracy against ratio"))
    parts.append("<h2>Real and generated images</h2><p class=note>First fold, first GAN; rows are "
                 "classes.</p>" + _img(fig_samples(results), "real and generated sample grids"))
    g = fig_gan_losses(results)
    parts.append("<h2>GAN training</h2>" + (_img(g, "GAN losses") if g else
                                             "<p>No loss log available for this GAN.</p>"))
    parts.append("<h2>Generator quality</h2>" + _quality(results))
    c = fig_classifier_losses(results)
    if c:
        parts.append("<h2>Classifier training loss per training set</h2><p class=note>First fold "
                     "(Gaur et al., Figure 4).</p>" + _img(c, "classifier loss curves"))
    roc = fig_roc(results)
    if roc:
        parts.append("<h2>ROC curves</h2><p class=note>All out-of-fold test scores pooled; AUC in "
                     "the legend is the mean over folds.</p>" + _img(roc, "ROC curves"))
    th = fig_threshold(results)
    if th:
        parts.append("<h2>Accuracy against the decision threshold</h2><p class=note>Saquib and "
                     "Rodriguez's sweep: accuracy when an image is called "
                     f"{esc(results['positive'])} if P({esc(results['positive'])}) "
                     "(the logistic of the classifier's score; with more classes the softmax of "
                     "its scores, and the accuracy of the call positive or not, one vs rest) "
                     "exceeds the threshold; all folds pooled.</p>" + _img(th, "accuracy against threshold"))
    parts.append("<h2>Confusion matrices</h2><p class=note>All folds pooled; rows: true class, "
                 "columns: predicted.</p>")
    for clf in results["table"]:
        parts.append(f"<h3>{esc(NAMES.get(clf, clf))}</h3>"
                     + _img(fig_confusions(results, clf), f"confusion matrices, {clf}"))
    prov = results.get("provenance")
    parts.append("<p class=note>Generated by <code>refgan study</code>; every number is in "
                 "results.json and results.csv next to this file."
                 + (f"<br>{esc(summary_line(prov))}" if prov else "") + "</p></body></html>")
    return "\n".join(parts)


def write_report(results: dict, out_dir) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    path = Path(out_dir) / "report.html"
    path.write_text(render(results))
    return path
