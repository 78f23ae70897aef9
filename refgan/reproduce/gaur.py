"""Gaur et al.: WGAN-GP augmentation of leukemia cells (ALL-IDB2).

Per fold, one WGAN-GP per class trained on the fold's training images; its images
(each expanded by the consecutive 45-degree rotations, as the paper rotated its 200 + 200)
join the training sets of Table 2: real / real + rotations / real + generated /
real + rotations + generated, each with logistic regression, the RBF SVM (both on
25 x 25 x 3 pixels) and VGG16's last layer, tested on the fold's real images. Table 1:
the classifiers trained on real (and real + rotations) images, tested on the generated
images. The learning-rate search (G in [1e-5, 1e-3], D in [1e-4, 1e-2], log-uniform)
runs through ``refgan sweep``'s engine.
"""
from __future__ import annotations

from refgan.data import Dataset
from refgan.reproduce import report as R
from refgan.reproduce.published import SOURCES, published
from refgan.reproduce.runner import Plan, claim, comparison, mean
from refgan.study.conditions import classic, take_per_class
from refgan.study.gan import refgan_gan_step
from refgan.training import sweep as lr_sweep

NAME = "gaur"
TITLE = "Gaur et al.: WGAN-GP augmentation of leukemia cells, rerun by refgan"
SOURCE = SOURCES[NAME]
TABLE2 = ("real", "real+classic", "real+gen", "real+classic+gen")
# Gaur et al.'s generator draws whole images, appearance included; the cpu preset's
# measured appearance (--appearance stain) is refgan's main-job design, not the paper's.
PAPER_GENERATOR = dict(appearance="generator")
LABELS = {"real": "real", "real+classic": "real + aug.", "real+gen": "real + gen.",
          "real+classic+gen": "real + aug. + gen."}
METRICS = ("accuracy", "precision", "recall", "f1", "specificity")


def plan(scale: str, data: str = "synthetic", weights=None) -> Plan:
    common = dict(paper=NAME, scale=scale, data=data, weights=weights, classifiers=("lr", "svm"),
                  deep=("vgg16",), conditions=TABLE2, baseline="real",
                  pairs=(("real+classic+gen", "real+classic"), ("real+gen", "real+classic")),
                  tests={"generated": ("real", "real+classic")})
    if scale == "quick":
        return Plan(**common, n_per_class=24, size=16, folds=2, repeats=1, feature_size=8,
                    options=dict(preset="smoke", gan=dict(steps=3), n_generated=8, lr_trials=2,
                                 lr_options=dict(steps=2)),
                    scaled=("a pipeline check: 48 images of 16 x 16, 2 folds, 3-step GANs, 8 generated "
                            "images per class, 2 learning-rate trials; the numbers mean nothing",))
    if scale == "full":
        return Plan(**common, n_per_class=130, size=64, folds=5, repeats=2,
                    options=dict(preset="paper", gan=dict(grow="rot45flip"), n_generated=200,
                                 lr_trials=16, lr_options=dict(steps=1000)),
                    scaled=("none in the protocol; the paper's one 80/20 split becomes 5-fold "
                            "cross-validation repeated twice",))
    return Plan(**common, n_per_class=130, size=32, folds=5, repeats=2,
                options=dict(preset="cpu", gan=dict(steps=300, time_budget=0.0), n_generated=100,
                             lr_trials=4, lr_options=dict(steps=150, size=32, time_budget=0.0)),
                scaled=("32 x 32 images (paper 64 x 64)",
                        "WGAN-GP of the cpu preset (width 16, TTUR, 1 critic step), 300 steps per "
                        "class per fold (the paper gives no count; the paper preset has 5,000)",
                        "100 generated images per class, each with its 7 rotations (paper 200)",
                        "4 learning-rate trials of 150 steps (paper: a wider search)",
                        "5-fold cross-validation repeated twice instead of one 80/20 split"))


def training_sets(plan: Plan, train: Dataset, val: Dataset, seed: int, workdir):
    """Table 2's four training sets, and Table 1's test set of generated images."""
    o = plan.options
    # one thread: the folds run side by side (--jobs), each on a core of its own
    step = refgan_gan_step("wgan-gp", o["preset"], **{"grow": "none" if plan.scale == "quick" else "auto",
                                                       "threads": 1, **PAPER_GENERATOR, **o["gan"]})
    g = step(train, {c: o["n_generated"] for c in train.class_names}, seed, workdir / "wgan-gp")
    gen = take_per_class(g.generated, {c: o["n_generated"] for c in train.class_names})
    rotated = classic(gen, "rotations", seed)
    aug = classic(train, "rotations", seed)
    sets = {"real": (train, None, None), "real+classic": (aug, None, None),
            "real+gen": (Dataset.concat([train, rotated]), None, None),
            "real+classic+gen": (Dataset.concat([aug, rotated]), None, None)}
    info = {"gan_losses": {k: {m: v[::max(1, len(v) // 200)] for m, v in h.items()
                               if m in ("d_loss", "g_loss", "wasserstein")}
                           for k, h in g.losses.items()}}
    return sets, {"generated": (gen, plan.tests["generated"])}, info


def extra(plan: Plan, results: dict, out_dir, log) -> dict:
    """The learning-rate search (Gaur et al.'s ranges), with refgan sweep's engine."""
    o = plan.options
    options = dict(o["lr_options"], seed=plan.seed, **PAPER_GENERATOR)
    if plan.data != "synthetic":
        options.update(data=plan.data, crop=plan.crop or None)
    if plan.scale == "quick":
        options.update(size=16, width_g=4, width_d=4, latent_dim=8, batch=8, n_per_class=12, grow="none",
                       quality_n=8)
    pairs = lr_sweep.log_uniform(o["lr_trials"], seed=plan.seed)
    trials = lr_sweep.sweep("wgan-gp", "smoke" if plan.scale == "quick" else o["preset"], options, pairs,
                            out_dir / "lr-search", n_jobs=1, log=lambda m: None)
    return {"lr_search": [{k: t[k] for k in ("lr_g", "lr_d", "c2st", "kid", "wall_s", "flags")}
                          for t in trials]}


def claims(plan: Plan, results: dict) -> list[dict]:
    out = []
    clfs = [c for c in ("lr", "svm") if mean(results, c, "real") is not None]
    gaps = {c: (mean(results, c, "real", test="generated"), mean(results, c, "real")) for c in clfs}
    ok = all(g is not None and r is not None and g >= r - 0.05 for g, r in gaps.values())
    out.append(claim("Table 1: LR and SVM trained on real images classify the generated images about as "
                     "well as real test images (the generated healthy and blast cells are told apart)",
                     "supported" if ok else "not supported",
                     "; ".join(f"{c.upper()}: {R.pct(g)}% on generated vs {R.pct(r)}% on real "
                               f"(rule: within 5 points or above)" for c, (g, r) in gaps.items())))
    comps = {c: comparison(results, c, "real+classic+gen", "real+classic") for c in clfs}
    better = [c for c, x in comps.items() if x and x["significant"] and x["diff"] > 0]
    out.append(claim("Table 2: adding generated images to the rotated real images improves on rotations "
                     "alone", "supported" if clfs and len(better) == len(clfs) else "not supported",
                     "; ".join(f"{c.upper()}: {100 * x['diff']:+.1f} points, p = {x['p_value']:.3f}"
                               for c, x in comps.items() if x) + " (corrected repeated k-fold t)"))
    top = {c: max(TABLE2, key=lambda k: mean(results, c, k) or 0) for c in clfs}
    out.append(claim("Table 2: real + aug. + gen. performs at or above the best accuracy for every "
                     "classifier", "supported" if all(
                         (mean(results, c, "real+classic+gen") or 0) >= (mean(results, c, top[c]) or 0)
                         - 1e-9 for c in clfs) and clfs else "not supported",
                     "; ".join(f"{c.upper()}: best {LABELS[top[c]]} {R.pct(mean(results, c, top[c]))}%, "
                               f"real + aug. + gen. {R.pct(mean(results, c, 'real+classic+gen'))}%"
                               for c in clfs)))
    rg = {c: comparison(results, c, "real+gen", "real+classic") for c in clfs}
    out.append(claim("Table 2: real + aug. generally does better than real + gen.",
                     "supported" if clfs and all(x and x["diff"] <= 0 for x in rg.values()) else "not supported",
                     "; ".join(f"{c.upper()}: real + gen. minus real + aug. {100 * x['diff']:+.1f} points"
                               for c, x in rg.items() if x)))
    deep = results["deep"]["vgg16"]
    if not deep["available"]:
        out.append(claim("VGG16's last layer reaches 90-100% on every training set", "not tested",
                         deep["why"]))
    return out


def sections(results: dict, records: list[dict]):
    pub1 = lambda clf, cond, m: published("table1", clf, cond, m)  # noqa: E731
    pub2 = lambda clf, cond, m: published("table2", clf, cond, m)  # noqa: E731
    clfs = ["vgg16", "lr", "svm"]
    yield ("Table 1: trained on real images, tested on generated images",
           "Each classifier trained on the fold's real (or rotated real) training images and tested "
           "on the fold's generated images; blast is the positive class (precision, recall and "
           "specificity of blast).",
           R.metric_table(results, "generated", clfs, ("real", "real+classic"), METRICS, pub1, LABELS))
    yield ("Table 2: four training sets, tested on real images",
           "The same hyper-parameters for every training set; the fold's real test images.",
           R.metric_table(results, "real", clfs, TABLE2, METRICS, pub2, LABELS))
    yield ("Decisions (corrected repeated k-fold t, 5%)", "", R.decisions_table(results))
    losses = {}
    for f in results.get("folds", [])[:1]:
        for k, h in f["info"].get("gan_losses", {}).items():
            losses.update({f"{k} {m}": v for m, v in h.items()})
    yield ("Fig. 4: loss curves", "The WGAN-GP losses of the first fold (per class); the linear "
           "classifiers have no epochs.", R.fig_losses(losses, "WGAN-GP losses, first fold"))
    rows = "".join(f"<tr><td>{t['lr_g']:.2e}</td><td>{t['lr_d']:.2e}</td><td>{t['c2st']:.3f}</td>"
                   f"<td>{t['kid']:.3f}</td><td>{t['wall_s']:.0f}</td><td>{', '.join(t['flags'])}</td></tr>"
                   for t in results.get("lr_search", []))
    yield ("Learning-rate search", "lr_G log-uniform in [1e-5, 1e-3], lr_D in [1e-4, 1e-2] (the paper's "
           "ranges; it kept 2e-4 for both); ranked by the classifier two-sample test against fresh "
           "cells (lower is better), ties by KID.",
           "<table><tr><th>lr_G</th><th>lr_D</th><th>two-sample accuracy</th><th>KID</th><th>s</th>"
           f"<th>flags</th></tr>{rows}</table>")
    yield ("ROC curves", "", R.fig_roc(records, results["class_names"], ["lr", "svm"], list(TABLE2)))
