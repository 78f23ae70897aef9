"""report.html: one self-contained page (figures embedded as PNG data URIs) that a
clinician-scientist can read top to bottom: verdict, setup, tables with intervals,
paired tests, samples, loss curves, ROC curves, confusion matrices, generator quality."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from refgan.data import to_uint8
from refgan.metrics import roc_curve
from refgan.study.config import BALANCE, TABLE2, positive_index

NAMES = {"lr": "Logistic regression", "svm": "SVM (RBF kernel)", "linear-svm": "Linear SVM",
         "cnn": "Small CNN"}
MNAMES = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Sensitivity (recall)",
          "specificity": "Specificity", "f1": "F1", "auc": "ROC AUC"}


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(src, alt) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def _pct(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def _cell(e) -> str:
    return (f"{_pct(e['mean'])} <span class=ci>[{_pct(e['low'])}, {_pct(e['high'])}]</span>")


def _p(p) -> str:
    return "n/a" if p is None or not np.isfinite(p) else ("&lt;0.001" if p < 0.001 else f"{p:.3f}")


# ------------------------------------------------------------------------ verdict
def isolates_generated(comparison: dict) -> bool:
    """True when the two training sets differ only by the generated images, so a
    difference can be credited to the GAN (real+gen vs real, real+classic+gen vs
    real+classic); real+classic+gen vs real mixes in the classic augmentation."""
    return comparison["condition"] == comparison["baseline"] + "+gen"


def verdict(results: dict) -> list[str]:
    """Plain-language sentences: for each classifier, what generated images did to
    accuracy against each baseline, and whether that is statistically significant."""
    out = []
    n_img = sum(results["dataset"]["class_counts"].values())
    k = results["config"]["folds"]
    any_sig_gain = False
    for clf, comps in results["comparisons"].items():
        for c in comps:
            if "gen" not in c["condition"] or " x" in c["condition"]:
                continue
            sig = c.get("significant", False)
            direction = "raised" if c["diff"] > 0 else "lowered" if c["diff"] < 0 else "did not change"
            any_sig_gain |= sig and c["diff"] > 0 and isolates_generated(c)
            out.append(
                f"<b>{NAMES.get(clf, clf)}</b>, <i>{c['condition']}</i> vs <i>{c['baseline']}</i>: "
                f"{direction} accuracy by {100 * abs(c['diff']):.1f} points "
                f"(95% CI {100 * c['low']:+.1f} to {100 * c['high']:+.1f}); "
                f"{c['mcnemar_b']} test images were right only with <i>{c['condition']}</i>, "
                f"{c['mcnemar_c']} only with <i>{c['baseline']}</i>; "
                f"McNemar p = {_p(c['p_mcnemar'])}, "
                f"Holm-adjusted {_p(c['p_holm'])}: "
                + ("<b>statistically significant</b> at the 5% level." if sig
                   else "<b>not statistically significant</b>."))
    head = ("At least one classifier was significantly more accurate when GAN-generated "
            "images were added to an otherwise unchanged training set."
            if any_sig_gain else
            "No classifier was significantly more accurate when GAN-generated images were "
            "added to an otherwise unchanged training set (real+gen vs real, "
            "real+classic+gen vs real+classic); a gain of real+classic+gen over real alone "
            "comes from the classic augmentation.")
    if len(results["folds"]) == 1:  # an existing run folder: its own single split
        n_test = len(results["folds"][0]["records"][0]["origin"])
        head += (f" The {n_test} real test images are the held-out split of the trained run; "
                 "its GAN never saw them.")
    else:
        head += (f" Every one of the {n_img} real images was tested exactly once ({k}-fold "
                 "cross-validation); the GANs never saw the images they were tested on.")
    return [head] + out


# ------------------------------------------------------------------------ figures
def _mosaic(images, labels, class_names):
    rows = []
    for c in range(len(class_names)):
        im = to_uint8(np.asarray(images)[np.asarray(labels) == c])
        if len(im):
            rows.append(np.concatenate(list(im), axis=1))
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 2), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def fig_samples(results) -> str:
    import matplotlib.pyplot as plt

    s = results["folds"][0]["samples"]
    names = results["class_names"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.6 * len(names) + 0.6))
    for ax, key, title in ((axes[0], "real", "Real training images"),
                           (axes[1], "generated", "Generated images")):
        ax.imshow(_mosaic(s[key], s[key + "_labels"], names), interpolation="nearest")
        ax.set_title(title)
        ax.set_xticks([])
        S = np.asarray(s[key]).shape[-1]
        ax.set_yticks([(S + 2) * i + S / 2 for i in range(len(names))], names)
    return _png(fig)


def fig_gan_losses(results) -> str | None:
    import matplotlib.pyplot as plt

    losses = results["folds"][0]["gan"].get("losses") or {}
    if not losses:
        return None
    fig, axes = plt.subplots(1, len(losses), figsize=(5 * len(losses), 3.2), squeeze=False)
    for ax, (key, cols) in zip(axes[0], losses.items()):
        for name, v in cols.items():
            if "loss" in name or name in ("wasserstein", "gp"):
                ax.plot(np.arange(1, len(v) + 1), v, label=name, lw=1)
        ax.set_title(f"GAN for '{key}' (fold 1)")
        ax.set_xlabel("generator step")
        ax.legend(fontsize=8)
    return _png(fig)


def fig_classifier_losses(results) -> str | None:
    import matplotlib.pyplot as plt

    recs = [r for r in results["folds"][0]["records"] if r["curves"]["loss"]]
    clfs = list(dict.fromkeys(r["classifier"] for r in recs))
    if not clfs:
        return None
    fig, axes = plt.subplots(1, len(clfs), figsize=(5 * len(clfs), 3.4), squeeze=False)
    xl = {"lr": "L-BFGS iteration", "svm": "SMO iteration (sampled)", "cnn": "epoch",
          "linear-svm": "L-BFGS iteration"}
    yl = {"lr": "regularised log-loss", "svm": "dual objective", "cnn": "cross-entropy",
          "linear-svm": "squared-hinge objective"}
    for ax, clf in zip(axes[0], clfs):
        for i, r in enumerate(x for x in recs if x["classifier"] == clf):
            col = f"C{i % 10}"
            ax.plot(np.arange(1, len(r["curves"]["loss"]) + 1), r["curves"]["loss"], color=col,
                    lw=1.2, label=r["condition"])
            if r["curves"]["val_loss"]:
                ax.plot(np.arange(1, len(r["curves"]["val_loss"]) + 1), r["curves"]["val_loss"],
                        color=col, lw=1, ls="--")
        if clf in ("lr", "linear-svm"):
            ax.set_xscale("log")
        ax.set_title(NAMES.get(clf, clf) + (" (dashed: validation)" if clf == "cnn" else ""))
        ax.set_xlabel(xl.get(clf, "iteration"))
        ax.set_ylabel(yl.get(clf, "loss"))
        ax.legend(fontsize=7)
    return _png(fig)


def fig_roc(results) -> str:
    import matplotlib.pyplot as plt

    pos = positive_index(results["class_names"])
    clfs = list(results["table"])
    fig, axes = plt.subplots(1, len(clfs), figsize=(4.2 * len(clfs), 4), squeeze=False)
    for ax, clf in zip(axes[0], clfs):
        for i, cond in enumerate(results["table"][clf]):
            recs = [r for f in results["folds"] for r in f["records"]
                    if r["classifier"] == clf and r["condition"] == cond]
            y = np.concatenate([r["y_true"] for r in recs])
            s = np.concatenate([r["score"] for r in recs])
            fpr, tpr, _ = roc_curve(y, s, positive=pos)
            auc = results["table"][clf][cond]["auc"]["pooled"]
            ax.plot(fpr, tpr, lw=1.2, color=f"C{i % 10}", label=f"{cond} (AUC {auc:.2f})")
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
        ax.set_title(NAMES.get(clf, clf))
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("sensitivity")
        ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def fig_confusions(results) -> str:
    import matplotlib.pyplot as plt

    names = results["class_names"]
    clfs = list(results["table"])
    conds = list(dict.fromkeys(c for clf in clfs for c in results["table"][clf]))
    fig, axes = plt.subplots(len(clfs), len(conds), figsize=(2.1 * len(conds), 2.1 * len(clfs)),
                             squeeze=False)
    for i, clf in enumerate(clfs):
        for j, cond in enumerate(conds):
            ax = axes[i][j]
            row = results["table"][clf].get(cond)
            ax.set_xticks([])
            ax.set_yticks([])
            if row is None:
                ax.axis("off")
                continue
            cm = np.asarray(row["confusion"])
            ax.imshow(cm, cmap="Blues", vmin=0)
            for a in range(cm.shape[0]):
                for b in range(cm.shape[1]):
                    ax.text(b, a, str(cm[a, b]), ha="center", va="center", fontsize=9,
                            color="white" if cm[a, b] > cm.max() / 2 else "black")
            if i == 0:
                ax.set_title(cond, fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{clf}\ntrue: {'/'.join(n[:5] for n in names)}", fontsize=8)
            if i == len(clfs) - 1:
                ax.set_xlabel(f"predicted: {'/'.join(n[:5] for n in names)}", fontsize=7)
    fig.tight_layout()
    return _png(fig)


def fig_ratio(results) -> str | None:
    import matplotlib.pyplot as plt

    ratios = results["config"].get("ratios") or []
    if not ratios:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for i, (clf, rows) in enumerate(results["table"].items()):
        xs, m, lo, hi = [], [], [], []
        for r in [0.0] + [float(x) for x in ratios]:
            key = "real" if r == 0 else f"real+gen x{r:g}"
            if key in rows:
                e = rows[key]["accuracy"]
                xs.append(r), m.append(e["mean"]), lo.append(e["low"]), hi.append(e["high"])
        ax.errorbar(np.array(xs) + 0.02 * i, m, yerr=[np.subtract(m, lo), np.subtract(hi, m)],
                    marker="o", capsize=3, label=NAMES.get(clf, clf))
    ax.set_xlabel("generated images per real image (per class)")
    ax.set_ylabel("accuracy (mean over folds, 95% CI)")
    ax.legend(fontsize=8)
    return _png(fig)


# --------------------------------------------------------------------------- html
def _table(results, clf, conds) -> str:
    rows = results["table"][clf]
    head = "".join(f"<th>{MNAMES[m]}</th>" for m in MNAMES)
    body = []
    for cond in conds:
        if cond not in rows:
            continue
        r = rows[cond]
        body.append(f"<tr><td>{html.escape(cond)}</td><td>{r['n_train']:.0f}</td>"
                    + "".join(f"<td>{_cell(r[m])}</td>" for m in MNAMES) + "</tr>")
    return (f"<table><tr><th>training set</th><th>images</th>{head}</tr>{''.join(body)}</table>")


def _comparisons(results, clf) -> str:
    comps = results["comparisons"].get(clf, [])
    if not comps:
        return ""
    body = "".join(
        f"<tr><td>{html.escape(c['condition'])}</td><td>{html.escape(c['baseline'])}</td>"
        f"<td>{100 * c['diff']:+.1f} <span class=ci>[{100 * c['low']:+.1f}, {100 * c['high']:+.1f}]</span></td>"
        f"<td>{c['mcnemar_b']} / {c['mcnemar_c']}</td><td>{_p(c['p_mcnemar'])}</td>"
        f"<td>{_p(c['p_holm'])}</td><td>{_p(c['p_corrected_t'])}</td>"
        f"<td>{'<b>yes</b>' if c.get('significant') else 'no'}</td></tr>" for c in comps)
    return ("<table><tr><th>condition</th><th>vs baseline</th><th>accuracy difference, points "
            "[95% CI]</th><th>right only with / only without</th><th>McNemar p</th>"
            "<th>Holm-adjusted p</th><th>corrected t-test p</th><th>significant?</th></tr>"
            f"{body}</table>")


def _quality(results) -> str:
    rows = []
    for f in results["folds"]:
        q = f["gan"].get("quality")
        if not q:
            continue
        pr = q["prdc"]

        def iv(e, key="value", pct=True):
            fmt = _pct if pct else (lambda v: f"{v:.3g}")
            return f"{fmt(e[key])} <span class=ci>[{fmt(e['low'])}, {fmt(e['high'])}]</span>"

        rows.append(
            f"<tr><td>{f['fold'] + 1}</td><td>{iv(q['trts'], 'accuracy')}</td>"
            f"<td>{iv(q['tstr'], 'accuracy')}</td><td>{iv(q['kid'], 'kid', False)}</td>"
            f"<td>{iv(pr['precision'])}</td><td>{iv(pr['recall'])}</td>"
            f"<td>{iv(pr['density'], pct=False)}</td><td>{iv(pr['coverage'])}</td>"
            f"<td>{iv(q['diversity'], 'ratio', False)}</td>"
            f"<td>{iv(q['memorisation']['copy_rate'])}</td></tr>")
    feats = results["folds"][0]["gan"].get("quality", {}).get("features", "")
    return ("<table><tr><th>fold</th><th>TRTS accuracy %</th><th>TSTR accuracy %</th><th>KID</th>"
            "<th>precision %</th><th>recall %</th><th>density</th><th>coverage %</th>"
            "<th>diversity ratio</th><th>copies %</th></tr>" + "".join(rows) + "</table>"
            f"<p class=note>Features for KID / precision / recall / density / coverage / diversity: "
            f"{html.escape(feats)}. TRTS: logistic regression trained on the real training "
            "images, tested on generated ones (Gaur et al., Table 1); TSTR: trained on generated "
            "images only, tested on the real test images (Guruswamy et al.). KID near 0 and density / "
            "coverage near 1 mean generated features match real ones; a diversity ratio well "
            "below 1 signals mode collapse. Copies: generated images closer to a training image "
            "than 99% of unseen real images are, or near-duplicates of one under rotation/flip.</p>")


CSS = """body{font-family:Helvetica,Arial,sans-serif;max-width:1200px;margin:24px auto;color:#222;
line-height:1.45;padding:0 16px}h1{font-size:26px}h2{border-bottom:1px solid #ccc;padding-bottom:3px;
margin-top:34px}table{border-collapse:collapse;margin:10px 0;font-size:13px}td,th{border:1px solid #ddd;
padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f5f8}
.ci{color:#777;font-size:11px}.verdict{background:#f5f9ff;border-left:4px solid #3a6ea5;padding:10px 16px}
.note{color:#555;font-size:13px}img{max-width:100%}"""


def render(results: dict) -> str:
    cfg = results["config"]
    names = results["class_names"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>refgan augmentation study"
             f"</title><style>{CSS}</style></head><body>",
             "<h1>Does GAN augmentation help a classifier on this small dataset?</h1>",
             "<h2>Verdict</h2><div class=verdict>"
             + "".join(f"<p>{s}</p>" for s in verdict(results)) + "</div>"]
    t = results.get("seconds", 0)
    gan_s = sum(f["timings"].get("gan_s", 0) + f["timings"].get("gan_balance_s", 0)
                for f in results["folds"])
    parts.append(
        "<h2>Setup</h2><ul>"
        f"<li>Data: {html.escape(results['dataset']['name'])}, {results['dataset']['n']} images "
        f"({', '.join(f'{k}: {v}' for k, v in results['dataset']['class_counts'].items())}), "
        f"{results['dataset']['image_size'][0]}x{results['dataset']['image_size'][1]} pixels.</li>"
        + (f"<li>Protocol (Gaur et al., Table 2): {cfg['folds']}-fold stratified cross-validation; in "
           "each fold the GAN is trained on the training images only, then every classifier is "
           "trained on each training set below with the same settings and tested on the fold's "
           "real test images.</li>" if len(results["folds"]) > 1 else
           "<li>Protocol (Gaur et al., Table 2): the train/test split of the existing GAN run "
           "(its generator saw only the training images); every classifier is trained on each "
           "training set below with the same settings and tested on the real test images.</li>")
        +
        f"<li>GAN: {html.escape(results['gan_description'])}; {cfg['n_generated']} generated images "
        f"per class{', each with its seven 45-degree rotations' if cfg['rotate_generated'] else ''}.</li>"
        f"<li>Classifiers: {', '.join(NAMES.get(c, c) for c in cfg['classifiers'])}; linear models "
        f"on {cfg['feature_size']}x{cfg['feature_size']}x3 downsized pixels, the CNN on images.</li>"
        f"<li>Positive class (sensitivity): <b>{html.escape(results['positive'])}</b>.</li>"
        + (f"<li>Balancing mode: the training split keeps {100 * cfg['minority_fraction']:.0f}% "
           f"of the {html.escape(cfg['minority'])} images; remedies: class weights, oversampling, "
           "undersampling, GAN images filling the minority class (GAN retrained on that split).</li>"
           if cfg["balance"] else "")
        + f"<li>Run time: {t / 60:.1f} min in total, of which GAN training {gan_s / 60:.1f} min"
        f"{' (quick mode: numbers are for checking the pipeline, not for conclusions)' if cfg['quick'] else ''}.</li></ul>")
    parts.append(
        "<h2>Results</h2><p class=note>" + (
            "Each cell: mean over the folds, in %, with the 95% confidence interval in brackets "
            "(corrected resampled t interval, Nadeau &amp; Bengio 2003: it allows for the folds "
            "sharing training images). results.json also holds, for every number, the pooled "
            "out-of-fold value with a Wilson or bootstrap interval." if len(results["folds"]) > 1
            else "Each cell: the value on the test split, in %, with its 95% interval in "
            "brackets (Wilson for proportions, bootstrap for F1 and AUC).") + "</p>")
    for clf in results["table"]:
        t2 = [c for c in TABLE2 if c in results["table"][clf]]
        ratio = [c for c in results["table"][clf] if " x" in c]
        parts.append(f"<h3>{NAMES.get(clf, clf)}</h3>" + _table(results, clf, t2 + ratio))
        bal = [c for c in BALANCE if c in results["table"][clf]]
        if bal:
            parts.append("<p class=note>Balancing mode (imbalanced training split):</p>"
                         + _table(results, clf, bal))
    parts.append(
        "<h2>Paired comparisons</h2><p class=note>Both conditions are tested on the same images, "
        "so only the images where they disagree matter (exact McNemar test on all out-of-fold "
        "predictions). p-values are Holm-adjusted within each classifier for the number of "
        "comparisons; the accuracy difference has a paired bootstrap 95% interval.</p>")
    for clf in results["comparisons"]:
        parts.append(f"<h3>{NAMES.get(clf, clf)}</h3>" + _comparisons(results, clf))
    r = fig_ratio(results)
    if r:
        parts.append("<h2>How much generated data?</h2>" + _img(r, "accuracy against ratio"))
    parts.append("<h2>Real and generated images</h2><p class=note>Fold 1; rows are classes ("
                 + ", ".join(html.escape(n) for n in names) + ").</p>"
                 + _img(fig_samples(results), "real and generated sample grids"))
    g = fig_gan_losses(results)
    parts.append("<h2>GAN training</h2>" + (_img(g, "GAN losses") if g else
                                             "<p>No loss log available for this GAN.</p>"))
    parts.append("<h2>Generator quality</h2>" + _quality(results))
    c = fig_classifier_losses(results)
    if c:
        parts.append("<h2>Classifier training loss per training set</h2><p class=note>Fold 1 "
                     "(Gaur et al., Figure 4).</p>" + _img(c, "classifier loss curves"))
    parts.append("<h2>ROC curves</h2><p class=note>All out-of-fold test scores pooled.</p>"
                 + _img(fig_roc(results), "ROC curves"))
    parts.append("<h2>Confusion matrices</h2><p class=note>All folds pooled; rows: true class, "
                 "columns: predicted.</p>" + _img(fig_confusions(results), "confusion matrices"))
    parts.append("<p class=note>Generated by refgan <code>python cli.py study</code>; every "
                 "number is in results.json and results.csv next to this file.</p></body></html>")
    return "\n".join(parts)


def write_report(results: dict, out_dir) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    path = Path(out_dir) / "report.html"
    path.write_text(render(results))
    return path
