"""report.html of ``refgan reproduce PAPER``, in the style of the study's report: the
claims and whether refgan's run supports them, the setup and what is scaled down,
the paper's tables with its published numbers beside refgan's, the decisions, the
paper's figures. Figures are drawn from the saved predictions (predictions.json)."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from refgan.metrics import confusion_matrix, roc_curve, threshold_sweep
from refgan.study.config import positive_index
from refgan.study.figures import FONT, NAMES, _png
from refgan.study.report import CSS, _img

NAMES = dict(NAMES, vgg16="VGG16 (last layer)", resnet50="ResNet50", inception_v3="InceptionV3",
             efficientnet_b0="EfficientNet-B0 + FC(320)")
MNAMES = {"accuracy": "Acc.", "precision": "Prec.", "recall": "Recall", "f1": "F1",
          "specificity": "Spec.", "auc": "AUC", "macro_f1": "Macro F1", "top2": "Top-2",
          "top5": "Top-5"}
VERDICT_CLASS = {"supported": "ok", "not supported": "warn", "not tested": "note"}
EXTRA_CSS = ".ok{color:#1a7f37}.pub{color:#6b4fa0}td.miss{color:#b54708;text-align:left}"


def pct(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def _pub(v) -> str:
    """A published number, or nothing where the paper gives none."""
    return "" if v is None else pct(v)


def cell(e: dict | None) -> str:
    """'mean [low, high]' in percent, from a table entry."""
    if not e:
        return "&ndash;"
    low = e.get("low")
    ci = (f" <span class=ci>[{pct(low)}, {pct(e['high'])}]</span>"
          if low is not None and np.isfinite(low) else "")
    return pct(e["mean"]) + ci


def metric_table(results: dict, test: str, classifiers, conditions, metrics, published=None,
                 labels: dict | None = None) -> str:
    """One row per (classifier, condition), refgan's mean [interval] per metric and, in
    purple beside it, the paper's number (``published(clf, cond, metric)``). A deep
    classifier that did not run has one row saying which weights file is missing."""
    labels = labels or {}
    head = "".join(f"<th>{MNAMES.get(m, m)}</th>" + ("<th class=pub>paper</th>" if published else "")
                   for m in metrics)
    rows = []
    for clf in classifiers:
        deep = results.get("deep", {}).get(clf)
        if deep and not deep["available"]:
            said = [f"{labels.get(cond, cond)} {MNAMES.get(m, m)} {pct(v)}" for cond in conditions
                    for m in metrics for v in [published(clf, cond, m) if published else None]
                    if v is not None]
            rows.append(f"<tr><td>{NAMES.get(clf, clf)}</td><td class=miss colspan="
                        f"{len(metrics) * (2 if published else 1) + 1}>not run: "
                        f"{html.escape(deep['why'])}"
                        + (f" <span class=pub>(paper: {html.escape('; '.join(said))})</span>" if said else "")
                        + "</td></tr>")
            continue
        table = results.get("table", {}).get(test, {}).get(clf, {})
        for cond in conditions:
            row = table.get(cond, {})
            cells = "".join(f"<td>{cell(row.get(m))}</td>" + (
                f"<td class=pub>{_pub(published(clf, cond, m))}</td>" if published else "")
                for m in metrics)
            rows.append(f"<tr><td>{NAMES.get(clf, clf)}</td><td>{html.escape(labels.get(cond, cond))}"
                        f"</td>{cells}</tr>")
    return (f"<table><tr><th>classifier</th><th>training set</th>{head}</tr>" + "".join(rows)
            + "</table>")


def decisions_table(results: dict, test: str = "real") -> str:
    rows = []
    for clf, comps in results.get("comparisons", {}).get(test, {}).items():
        for c in comps:
            verdict = ("better" if c["diff"] > 0 else "worse") if c["significant"] else "no significant difference"
            rows.append(f"<tr><td>{NAMES.get(clf, clf)}</td><td>{html.escape(c['condition'])} vs "
                        f"{html.escape(c['baseline'])}</td><td>{100 * c['diff']:+.1f} <span class=ci>["
                        f"{pct(c['low'])}, {pct(c['high'])}]</span></td><td>{c['p_value']:.3f}</td>"
                        f"<td>{verdict}</td></tr>")
    if not rows:
        return ""
    return ("<table><tr><th>classifier</th><th>comparison</th><th>accuracy difference, points "
            "[95% interval]</th><th>p (corrected t)</th><th>decision</th></tr>" + "".join(rows)
            + "</table>")


# ----------------------------------------------------------------------- figures
def _pooled(records, test, clf, cond):
    rs = [r for r in records if r["test"] == test and r["classifier"] == clf and r["condition"] == cond]
    if not rs:
        return None, None, None
    return (np.concatenate([r["y_true"] for r in rs]), np.concatenate([r["y_pred"] for r in rs]),
            np.concatenate([r["score"] for r in rs]))


def fig_roc(records, class_names, classifiers, conditions, test="real") -> str | None:
    """ROC curves of the pooled test predictions, one panel per classifier."""
    import matplotlib.pyplot as plt

    if len(class_names) != 2:
        return None
    pos = positive_index(list(class_names))
    clfs = [c for c in classifiers if _pooled(records, test, c, conditions[0])[0] is not None]
    if not clfs:
        return None
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(clfs), figsize=(4.4 * len(clfs), 4.2), squeeze=False)
        for ax, clf in zip(axes[0], clfs):
            for i, cond in enumerate(conditions):
                y, _, s = _pooled(records, test, clf, cond)
                if y is None or len(set(y)) < 2:
                    continue
                fpr, tpr, _ = roc_curve(y, s, positive=pos)
                ax.plot(fpr, tpr, lw=1.4, color=f"C{i}", label=cond)
            ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
            ax.set_title(NAMES.get(clf, clf))
            ax.set_xlabel("1 \u2212 specificity")
            ax.set_ylabel("sensitivity")
            ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        return _png(fig)


def fig_confusions(records, class_names, clf, conditions, test="real") -> str | None:
    import matplotlib.pyplot as plt

    conds = [c for c in conditions if _pooled(records, test, clf, c)[0] is not None]
    if not conds:
        return None
    K = len(class_names)
    ncol = min(4, len(conds))
    nrow = -(-len(conds) // ncol)
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol + 0.4, 3.0 * nrow + 0.3), squeeze=False)
        for ax in axes.flat[len(conds):]:
            ax.axis("off")
        for ax, cond in zip(axes.flat, conds):
            y, p, _ = _pooled(records, test, clf, cond)
            cm = confusion_matrix(y, p, labels=list(range(K)))
            ax.imshow(cm, cmap="Blues", vmin=0)
            for a in range(K):
                for b in range(K):
                    ax.text(b, a, str(cm[a, b]), ha="center", va="center", fontsize=10,
                            color="white" if cm[a, b] > cm.max() / 2 else "black")
            ax.set_xticks(range(K), class_names)
            ax.set_yticks(range(K), class_names)
            ax.set_title(cond, fontsize=10)
        fig.tight_layout()
        return _png(fig)


def fig_threshold(records, class_names, classifiers, conditions, test="real") -> str | None:
    """Accuracy as the threshold on the positive class's probability sweeps 0..1
    (scores through the logistic function when they are margins)."""
    import matplotlib.pyplot as plt
    from scipy.special import expit

    pos = positive_index(list(class_names))
    clfs = [c for c in classifiers if _pooled(records, test, c, conditions[0])[0] is not None]
    if not clfs or len(class_names) != 2:
        return None
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(clfs), figsize=(4.4 * len(clfs), 3.6), squeeze=False)
        for ax, clf in zip(axes[0], clfs):
            for i, cond in enumerate(conditions):
                y, _, s = _pooled(records, test, clf, cond)
                if y is None:
                    continue
                prob = s if (s.min() >= 0 and s.max() <= 1) else expit(s)
                th, acc = threshold_sweep(y == pos, prob, np.linspace(0, 1, 41), True)
                ax.plot(th, 100 * np.asarray(acc), lw=1.4, color=f"C{i}", label=cond)
            ax.set_title(NAMES.get(clf, clf))
            ax.set_xlabel(f"threshold on P({class_names[pos]})")
            ax.set_ylabel("accuracy, %")
            ax.set_ylim(0, 100)
            ax.legend(fontsize=8)
        fig.tight_layout()
        return _png(fig)


def fig_curves(records, clf, conditions, title="training loss per epoch") -> str | None:
    """The classifier's loss per epoch (training and validation) on each training set,
    first fold of the first repeat (Gaur et al.'s Fig. 4; Georgiev's learning curves)."""
    import matplotlib.pyplot as plt

    rs = {r["condition"]: r for r in records if r["classifier"] == clf and r["test"] == "real"
          and r["repeat"] == 0 and r["fold"] == 0 and r.get("curves", {}).get("loss")}
    if not rs:
        return None
    with plt.rc_context(FONT):
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        for i, cond in enumerate(c for c in conditions if c in rs):
            ax.plot(rs[cond]["curves"]["loss"], color=f"C{i}", lw=1.4, label=f"{cond} (train)")
            if rs[cond]["curves"].get("val_loss"):
                ax.plot(rs[cond]["curves"]["val_loss"], color=f"C{i}", lw=1.2, ls="--",
                        label=f"{cond} (validation)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title(f"{NAMES.get(clf, clf)}: {title}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        return _png(fig)


def fig_losses(series: dict, title: str) -> str | None:
    """Curves ``{label: [values]}`` (GAN losses per logged step)."""
    import matplotlib.pyplot as plt

    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    with plt.rc_context(FONT):
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for i, (k, v) in enumerate(series.items()):
            ax.plot(v, lw=1.2, color=f"C{i % 10}", label=k)
        ax.set_xlabel("logged step")
        ax.set_title(title)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        return _png(fig)


# ------------------------------------------------------------------------ page
def claims_html(claims: list[dict]) -> str:
    return "<div class=verdict>" + "".join(
        f"<p><b class={VERDICT_CLASS.get(c['verdict'], 'note')}>{html.escape(c['verdict'])}</b>: "
        f"{html.escape(c['claim'])} <span class=note>({html.escape(c['evidence'])})</span></p>"
        for c in claims) + "</div>"


def render(paper, results: dict, records: list[dict]) -> str:
    plan = results["plan"]
    ds = results.get("dataset")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>refgan reproduce {plan['paper']}"
             f"</title><style>{CSS}{EXTRA_CSS}</style></head><body>",
             f"<h1>{html.escape(paper.TITLE)}</h1>",
             "<h2>Which of the paper's claims refgan's run supports</h2>", claims_html(results["claims"])]
    setup = [f"<li>Run: <code>refgan reproduce {plan['paper']}"
             + (" --quick" if plan["scale"] == "quick" else " --full" if plan["scale"] == "full" else "")
             + f"</code>, {results['seconds']:.0f} s wall time.</li>"]
    if ds:
        setup.append(f"<li>Data: {html.escape(ds['name'])}, {ds['n']} images ("
                     + ", ".join(f"{k}: {v}" for k, v in ds["class_counts"].items())
                     + f"), {ds['image_size'][0]} x {ds['image_size'][1]} pixels; {plan['folds']}-fold "
                     f"cross-validation repeated {plan['repeats']} times (every number: the mean over "
                     f"the {plan['folds'] * plan['repeats']} folds, with its corrected repeated k-fold "
                     "t interval).</li>")
    if plan["data"] == "synthetic":
        setup.append("<li class=warn>The data differ from the paper's: these are refgan's embedded "
                      "cells, not the paper's dataset; the paper's numbers are shown for their form "
                      "and direction, not as a target. Rerun with <code>--data</code> on the paper's "
                      "dataset to compare numbers.</li>")
    setup += [f"<li>Scaled down against the paper: {html.escape(s)}</li>" for s in plan["scaled"]]
    setup.append(f"<li>Published numbers: {html.escape(results['published_source'])}.</li>")
    parts.append("<h2>Setup</h2><ul>" + "".join(setup) + "</ul>")
    for title, note, body in paper.sections(results, records):
        parts.append(f"<h2>{html.escape(title)}</h2>" + (f"<p class=note>{note}</p>" if note else "")
                     + (_img(body, title) if isinstance(body, str) and body.startswith("data:image")
                        else body or "<p class=note>(nothing to show at this scale)</p>"))
    parts.append("</body></html>")
    return "".join(parts)


def write(paper, results: dict, out_dir) -> Path:
    out_dir = Path(out_dir)
    preds = out_dir / "predictions.json"
    records = json.loads(preds.read_text())["records"] if preds.exists() else []
    path = out_dir / "report.html"
    path.write_text(render(paper, results, records))
    return path
