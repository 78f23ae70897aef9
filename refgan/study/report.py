"""report.html: one self-contained page (figures embedded as PNG data URIs, drawn by
:mod:`refgan.study.figures`) that a clinician-scientist can read top to bottom: verdict
(one line per classifier and a forest plot of the differences), setup, tables with
intervals and degenerate-classifier flags, paired comparisons, samples, loss curves,
ROC curves and the threshold sweep, confusion matrices, generator quality against its
real-vs-real floor.

:func:`render` joins one small function per section, each taking the
:class:`~refgan.study.results.StudyResults`. Every value that comes from the data or
the user (names of classes, datasets, GANs, paths, the policy's reasons) goes through
:func:`esc` (HTML-escaped); numbers are formatted by the report itself."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from refgan.provenance import summary_line
from refgan.study import figures as F
from refgan.study.config import BALANCE
from refgan.study.figures import NAMES, main_conditions
from refgan.study.results import Comparison, Estimate, StudyResults

SHORT = {"lr": "LR", "svm": "SVM", "linear-svm": "linear SVM", "cnn": "CNN", "vgg16": "VGG16",
         "resnet50": "ResNet50", "inception_v3": "InceptionV3", "efficientnet_b0": "EfficientNet-B0"}
MNAMES = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Sensitivity (recall)",
          "specificity": "Specificity", "f1": "F1", "auc": "ROC AUC",
          "macro_precision": "Macro precision", "macro_recall": "Macro recall",
          "macro_f1": "Macro F1", "top2": "Top-2 accuracy", "top5": "Top-5 accuracy"}


def esc(v) -> str:
    """Any value as HTML text (``&``, ``<``, ``>`` and quotes escaped)."""
    return html.escape(str(v))


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


def _cell(e: Estimate) -> str:
    return f"{_pct(e.mean)} <span class=ci>[{_pct(e.low)}, {_pct(e.high)}]</span>"


def _p(p) -> str:
    return "n/a" if p is None or not np.isfinite(p) else ("&lt;0.001" if p < 0.001 else f"{p:.3f}")


def _diff(c: Comparison) -> str:
    if not c.interpretable:
        return f"{_pts(c.diff)} points (not interpretable)"
    return f"{_pts(c.diff)} points [{_pts(c.low)}, {_pts(c.high)}]"


def _name(clf) -> str:
    return esc(NAMES.get(clf, clf))


# ------------------------------------------------------------------------ verdict
def _grouped(comps) -> str:
    """'a, b vs real; c vs imbalanced' - comparisons named compactly by baseline."""
    by: dict = {}
    for c in comps:
        by.setdefault(c.baseline, []).append(esc(c.condition))
    return "; ".join(f"{', '.join(v)} vs {esc(b)}" for b, v in by.items())


def isolates_generated(c: Comparison) -> bool:
    """True when the two training sets differ only by the generated images, so a
    difference can be credited to the GAN (real+gen vs real, real+classic+gen vs
    real+classic, gan-balance vs imbalanced, a ratio-sweep set vs real)."""
    cond, base = c.condition, c.baseline
    return (cond == base + "+gen" or (cond == "gan-balance" and base == "imbalanced")
            or (cond.startswith("real+gen x") and base == "real"))


def _verdict_line(clf, comps, gains, losses) -> str:
    """One classifier's verdict line; its significant GAN gains and losses are added to
    ``gains`` / ``losses`` for the head line."""
    name = SHORT.get(clf, clf)
    primary = [c for c in comps if isolates_generated(c)]
    rest = [c for c in comps if not isolates_generated(c)]
    bad = [c for c in comps if not c.interpretable]
    parts = []
    for c in primary:
        if not c.interpretable:
            continue
        word = ("<b>significantly higher</b>" if c.significant and c.diff > 0 else
                "<b>significantly lower</b>" if c.significant else "no significant change")
        parts.append(f"{esc(c.label)}: {word}, {_diff(c)}")
        if c.significant:
            (gains if c.diff > 0 else losses).append(f"{esc(name)} ({esc(c.label)})")
    sig = [c for c in rest if c.interpretable and c.significant]
    ns = [c for c in rest if c.interpretable and not c.significant]
    line = f"<b>{_name(clf)}</b> &mdash; generated images: " + (
        "; ".join(parts) if parts else "no interpretable comparison") + "."
    if sig:
        line += " Other significant differences: " + "; ".join(
            f"{esc(c.label)} {_diff(c)}" for c in sig) + "."
    if ns:
        line += " Not significant: " + _grouped(ns) + "."
    if bad:
        line += (" <span class=warn>Not interpretable (a degenerate classifier): "
                 + _grouped(bad) + ".</span>")
    return line


def verdict(results: StudyResults) -> list[str]:
    """The verdict: a head line, then one line per classifier naming every comparison
    (significant ones with their difference, the rest by name, degenerate ones as not
    interpretable). Significance is the study's decision rule (corrected repeated k-fold
    t, Bonferroni within each family); the intervals are the same test's."""
    cfg = results.config
    gains, losses = [], []
    lines = [_verdict_line(clf, comps, gains, losses)
             for clf, comps in results.comparisons.items() if comps]
    k = results.n_folds_total
    if gains:
        head = ("Adding GAN-generated images to an otherwise unchanged training set made these "
                "classifiers significantly more accurate: " + ", ".join(gains) + ".")
    else:
        head = ("Adding GAN-generated images to an otherwise unchanged training set made no "
                "classifier significantly more accurate.")
    if losses:
        head += " It made these significantly less accurate: " + ", ".join(losses) + "."
    head += (f" Evidence: {k} cross-validation folds"
             + (f" ({cfg['folds']} folds x {cfg['repeats']} repeats, "
                f"{cfg['gan_seeds']} GANs per fold)" if k > 1 else "")
             + f"; decided by the {esc(results.decision_rule.test)}, Bonferroni-adjusted within "
             "each classifier; intervals are the same test's simultaneous intervals.")
    if k == 1 and results.folds and results.folds[0].records:
        n_test = len(results.folds[0].records[0].origin)
        head += (f" The {n_test} real test images are the held-out split of the trained run; "
                 "neither its GAN nor any run it started from trained on them.")
    if cfg.get("quick"):
        head = ("<b>Pipeline check (--quick): tiny data, a 20-step GAN and a few folds. These "
                "numbers test that the study runs; they are not evidence about GAN "
                "augmentation.</b> " + head)
    return [head] + lines


# --------------------------------------------------------------------------- tables
def _table(results: StudyResults, clf, conds) -> str:
    rows = results.table[clf]
    metrics = results.metrics
    head = "".join(f"<th>{esc(MNAMES.get(m, m))}</th>" for m in metrics)
    body = []
    for cond in conds:
        if cond not in rows:
            continue
        r = rows[cond]
        flag = (f" <span class=warn title='{esc('; '.join(r.degenerate))}'>"
                f"&#9888; degenerate: {esc(r.degenerate[0])}</span>" if r.degenerate else "")
        body.append(f"<tr{' class=degen' if r.degenerate else ''}><td>{esc(cond)}{flag}"
                    f"</td><td>{r.n_train:.0f}</td>"
                    + "".join(f"<td>{_cell(r.metrics[m])}</td>" for m in metrics) + "</tr>")
    return f"<table><tr><th>training set</th><th>images</th>{head}</tr>{''.join(body)}</table>"


def _per_class(results: StudyResults, clf) -> str:
    """Per-class recall and F1 (pooled over folds), multi-class data only."""
    rows = results.table[clf]
    head = "".join(f"<th>{esc(n)}</th>" for n in results.class_names)
    body = "".join(
        f"<tr><td>{esc(c)}, {what}</td>"
        + "".join(f"<td>{100 * v:.0f}</td>" for v in rows[c].per_class[key]) + "</tr>"
        for c in main_conditions(rows) for key, what in (("recall", "recall"), ("f1", "F1")))
    return (f"<p class=note>Per class, % (all folds pooled):</p><table><tr><th>training set</th>"
            f"{head}</tr>{body}</table>")


def _comparisons(results: StudyResults, clf) -> str:
    comps = results.comparisons.get(clf, [])
    if not comps:
        return ""
    body = []
    for c in comps:
        sig = ("<b>yes</b>" if c.significant else "no") if c.interpretable else \
            "<span class=warn>not interpretable</span>"
        conf = f"{100 * c.confidence:.1f}%" if c.confidence else ""
        body.append(
            f"<tr><td>{esc(c.condition)}</td><td>{esc(c.baseline)}</td>"
            f"<td>{'generated' if c.family == 'gan' else 'other'} ({c.family_size})</td>"
            f"<td>{_pts(c.diff)} <span class=ci>[{_pts(c.low)}, {_pts(c.high)}] "
            f"{conf}</span></td><td>{_p(c.p_value)}</td><td>{_p(c.p_adjusted)}</td>"
            f"<td>{sig}</td><td class=ci>{c.mcnemar_b} / {c.mcnemar_c}, "
            f"p {_p(c.p_mcnemar)}</td></tr>")
    return ("<table><tr><th>training set</th><th>vs baseline</th><th>family (size)</th>"
            "<th>accuracy difference, points [simultaneous interval]</th><th>corrected t p</th>"
            "<th>Bonferroni p</th><th>significant?</th><th>McNemar (description): right only "
            f"with / only without</th></tr>{''.join(body)}</table>")


#: The generator table's row names, by :meth:`GeneratorQuality.figures` position.
QUALITY_ROWS = ("TRTS accuracy, % (real-trained LR on generated images)",
                "TSTR accuracy, % (generated-trained LR on real test images)",
                "<code>{kid}</code>", "<code>{kid}</code>, real vs real (floor)",
                "precision, %", "recall, %", "density", "coverage, %",
                "diversity ratio (generated / real)", "copies of training images, %")


def _quality(results: StudyResults) -> str:
    """Generator quality: mean over the GAN jobs with the range of the per-job values
    (each job's own interval is in results.json), and the real-vs-real floor for KID."""
    qs = results.gan_quality()
    if not qs:
        return "<p>No generator was scored.</p>"
    kid = esc(qs[0].kid["name"])
    per_job = [q.figures() for q in qs]

    def fmt(v, pct):
        return _pct(v) if pct else f"{v:.3g}"

    body = ""
    for i, name in enumerate(QUALITY_ROWS):
        v = [fig[i][1] for fig in per_job]
        pct = per_job[0][i][4]
        body += (f"<tr><td>{name.format(kid=kid)}</td><td>{fmt(np.mean(v), pct)}</td>"
                 f"<td>{fmt(np.min(v), pct)} to {fmt(np.max(v), pct)}</td></tr>")
    return (f"<table><tr><th>metric ({len(qs)} GANs)</th><th>mean</th><th>range over GANs</th></tr>"
            f"{body}</table>"
            f"<p class=note>Features for KID / precision / recall / density / coverage / diversity: "
            f"{esc(qs[0].features)}. <code>{kid}</code> is KID's estimator (unbiased "
            "MMD&sup2;, cubic kernel) in that feature space; its scale belongs to that network, so "
            "read it against the floor below it: the same KID between the real training images and "
            "the real test images, what a generator as good as new real images would score. "
            "TRTS: Gaur et al., Table 1; TSTR: Guruswamy et al. Density / coverage near 1 mean "
            "generated features match real ones; a diversity ratio well below 1 signals mode "
            "collapse. Copies: generated images closer to a training image than 99% of unseen real "
            "images are, or near-duplicates of one under rotation/flip. Every GAN's values, with "
            "intervals, are in results.json.</p>")


# -------------------------------------------------------------------------- sections
CSS = """body{font-family:Helvetica,Arial,sans-serif;max-width:1150px;margin:24px auto;color:#222;
line-height:1.45;padding:0 16px;font-size:15px}h1{font-size:26px}h2{border-bottom:1px solid #ccc;
padding-bottom:3px;margin-top:34px}table{border-collapse:collapse;margin:10px 0;font-size:13.5px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f3f5f8}.ci{color:#666;font-size:12px}.verdict{background:#f5f9ff;border-left:4px solid
#3a6ea5;padding:10px 16px}.verdict p{margin:6px 0}.warn{color:#b54708}tr.degen td{background:#fff8ec}
.note{color:#555;font-size:14px}img{max-width:100%}"""


def _one_split(results: StudyResults) -> bool:
    return results.n_folds_total == 1


def section_verdict(results: StudyResults) -> str:
    out = ("<h2>Verdict</h2><div class=verdict>"
           + "".join(f"<p>{s}</p>" for s in verdict(results)) + "</div>")
    fp = F.fig_forest(results)
    if fp:
        out += ("<p class=note>Every comparison: accuracy difference (condition minus "
                "baseline) with its simultaneous interval, one colour per classifier; filled "
                "dot: significant, open dot: not significant, cross: not interpretable.</p>"
                + _img(fp, "forest plot of the accuracy differences"))
    return out


def _setup_protocol(results: StudyResults) -> str:
    cfg = results.config
    if _one_split(results):
        return ("<li>Protocol (Gaur et al., Table 2): the train/test split of the existing GAN run "
                "(its generator saw only the training images); every classifier is trained on each "
                "training set below with the same settings and tested on the real test images.</li>")
    return (f"<li>Protocol (Gaur et al., Table 2) under repeated cross-validation: {cfg['folds']}-fold "
            f"stratified cross-validation repeated {cfg['repeats']} times; in each fold the CNN's "
            "early-stopping images are set aside first, then "
            f"{cfg['gan_seeds']} GAN(s) with different seeds are trained on the remaining training "
            "images only, and every classifier is trained on each training set below with the same "
            "settings and tested on the fold's real test images.</li>")


def _setup_gan(results: StudyResults) -> str:
    cfg, pol = results.config, results.policy
    out = (f"<li>GAN: {esc(results.gan_description)}; training images grown by "
           f"<b>{esc(cfg.get('gan_grow'))}</b>"
           + (f" ({esc(pol.gan_grow_why)})" if pol.gan_grow_why else "")
           + f"; {cfg['n_generated']} generated images "
           f"per class{', each expanded like the real ones' if cfg.get('augment_generated') else ''}.")
    if results.gan_parents:
        out += (" Parent runs (their training data count as the GAN's): "
                f"{esc(', '.join(results.gan_parents))}.")
    return out + "</li>"


def section_setup(results: StudyResults) -> str:
    cfg, ds, rule = results.config, results.dataset, results.decision_rule
    gan_s = sum(f.timings.get("gan_s", 0) for f in results.folds)
    items = [
        f"<li>Data: {esc(ds.name)}, {ds.n} images "
        f"({', '.join(f'{esc(k)}: {v}' for k, v in ds.class_counts.items())}), "
        f"{ds.image_size[0]}x{ds.image_size[1]} pixels.</li>",
        _setup_protocol(results),
        _setup_gan(results),
        f"<li>Classic augmentation policy: <b>{esc(cfg.get('augment'))}</b> "
        f"({esc(results.policy.why)}). In-place conditions (Saquib and Rodriguez): each "
        "image replaced with probability 0.33 by its flipped / rotated / blurred / noisy version, "
        "one model per type. On-the-fly rotation (Georgiev): the CNN's batches rotated by an "
        "angle in [&minus;45, 45] degrees.</li>",
        f"<li>Classifiers: {', '.join(_name(c) for c in cfg['classifiers'])}; linear models "
        f"on {cfg['feature_size']}x{cfg['feature_size']}x3 downsized pixels, the CNN on images.</li>"]
    if len(results.class_names) == 2:
        items.append(f"<li>Positive class (sensitivity): <b>{esc(results.positive)}</b>.</li>")
    if cfg["balance"]:
        items.append("<li>Balancing mode: the training split keeps "
                     + ", ".join(f"{100 * float(v):.0f}% of {esc(k)}" for k, v in cfg["imbalance"].items())
                     + "; remedies: class weights, oversampling, undersampling, GAN images filling "
                     "the sparse classes (GAN trained on the imbalanced split only).</li>")
    items.append(f"<li>Decision rule: {esc(rule.test)}; unit: {esc(rule.unit)}; "
                 f"{esc(rule.correction)}; {esc(rule.multiplicity)}. McNemar's test is shown as a "
                 "description only: it treats each fitted model as fixed.</li>")
    items.append(f"<li>Run time: {results.seconds / 60:.1f} min wall, GAN training {gan_s / 60:.1f} "
                 f"min of job time ({esc(cfg['joblib_backend'])}, n_jobs {cfg['n_jobs']})"
                 f"{' (quick mode: a pipeline check)' if cfg['quick'] else ''}.</li>")
    return "<h2>Setup</h2><ul>" + "".join(items) + "</ul>"


def section_results(results: StudyResults) -> str:
    out = ["<h2>Results</h2><p class=note>" + (
        "Each cell: the value on the test split, in %, with its 95% interval in brackets "
        "(Wilson for proportions, bootstrap for F1 and AUC)." if _one_split(results) else
        "Each cell: mean over the folds (each fold averaged over its GANs), in %, with the "
        "95% corrected repeated k-fold t interval in brackets. results.json also holds every "
        "per-fold value. Shaded rows: degenerate classifiers (one predicted class, chance-level "
        "balanced accuracy, sensitivity or specificity 0, AUC near 0.5); comparisons involving "
        "them are marked not interpretable.") + "</p>"]
    for clf, rows in results.table.items():
        out.append(f"<h3>{_name(clf)}</h3>" + _table(results, clf, [c for c in rows if c not in BALANCE]))
        bal = [c for c in BALANCE if c in rows]
        if bal:
            out.append("<p class=note>Balancing mode (imbalanced training split):</p>"
                       + _table(results, clf, bal))
        if len(results.class_names) > 2:
            out.append(_per_class(results, clf))
    return "".join(out)


def section_comparisons(results: StudyResults) -> str:
    return ("<h2>Paired comparisons</h2><p class=note>Each condition against its baseline on the "
            "same test images, fold by fold: the corrected repeated k-fold t on the per-fold "
            "accuracy differences, Bonferroni-adjusted within the family (comparisons with "
            "generated images / the others) of each classifier; the interval is the same test's "
            "simultaneous interval, so it excludes 0 exactly when the comparison is significant. "
            "The McNemar column describes the pooled predictions only.</p>"
            + "".join(f"<h3>{_name(clf)}</h3>" + _comparisons(results, clf)
                      for clf in results.comparisons))


def section_generator(results: StudyResults) -> str:
    """How much generated data, the samples, the GAN's losses and its quality."""
    out = ""
    r = F.fig_ratio(results)
    if r:
        out += "<h2>How much generated data?</h2>" + _img(r, "accuracy against ratio")
    out += ("<h2>Real and generated images</h2><p class=note>First fold, first GAN; rows are "
            "classes.</p>" + _img(F.fig_samples(results), "real and generated sample grids"))
    g = F.fig_gan_losses(results)
    out += "<h2>GAN training</h2>" + (_img(g, "GAN losses") if g else
                                      "<p>No loss log available for this GAN.</p>")
    return out + "<h2>Generator quality</h2>" + _quality(results)


def section_classifiers(results: StudyResults) -> str:
    """Classifier loss curves, ROC curves, the threshold sweep, confusion matrices."""
    out = ""
    c = F.fig_classifier_losses(results)
    if c:
        out += ("<h2>Classifier training loss per training set</h2><p class=note>First fold "
                "(Gaur et al., Figure 4).</p>" + _img(c, "classifier loss curves"))
    roc = F.fig_roc(results)
    if roc:
        out += ("<h2>ROC curves</h2><p class=note>All out-of-fold test scores pooled; AUC in "
                "the legend is the mean over folds.</p>" + _img(roc, "ROC curves"))
    th = F.fig_threshold(results)
    if th:
        pos = esc(results.positive)
        out += ("<h2>Accuracy against the decision threshold</h2><p class=note>Saquib and "
                f"Rodriguez's sweep: accuracy when an image is called {pos} if P({pos}) "
                "(the logistic of the classifier's score; with more classes the softmax of "
                "its scores, and the accuracy of the call positive or not, one vs rest) "
                "exceeds the threshold; all folds pooled.</p>" + _img(th, "accuracy against threshold"))
    out += ("<h2>Confusion matrices</h2><p class=note>All folds pooled; rows: true class, "
            "columns: predicted.</p>")
    for clf in results.table:
        out += (f"<h3>{_name(clf)}</h3>"
                + _img(F.fig_confusions(results, clf), f"confusion matrices, {clf}"))
    return out


def section_footer(results: StudyResults) -> str:
    prov = results.provenance
    return ("<p class=note>Generated by <code>refgan study</code>; every number is in "
            "results.json and results.csv next to this file."
            + (f"<br>{esc(summary_line(prov))}" if prov else "") + "</p>")


SECTIONS = (section_verdict, section_setup, section_results, section_comparisons,
            section_generator, section_classifiers, section_footer)


def render(results: StudyResults) -> str:
    """The whole page: the head, then each of :data:`SECTIONS` in order."""
    return "\n".join([f"<!doctype html><html><head><meta charset='utf-8'><title>refgan "
                      f"augmentation study</title><style>{CSS}</style></head><body>",
                      "<h1>Does GAN augmentation help a classifier on this small dataset?</h1>"]
                     + [section(results) for section in SECTIONS] + ["</body></html>"])


def write_report(results: StudyResults, out_dir) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    path = Path(out_dir) / "report.html"
    path.write_text(render(results))
    return path
