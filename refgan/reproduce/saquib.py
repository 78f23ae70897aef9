"""Saquib and Rodriguez: classic augmentations for ALL vs HEM (C-NMC 2019).

The training split is made 2 : 1 (ALL : HEM, as C-NMC) on data that is balanced.
Augmentations in place: each training image replaced, with probability 0.33, by its
flipped, rotated, blurred or noisy version (one model per type), and the combined
flip-and-rotate of their Table 2; each training set with and without a class-weighted
loss ('balanced' weights, their Table 2). Classifiers: their smaller custom CNN
(refgan's small CNN), and InceptionV3 and ResNet50 as transfer baselines. Figures:
ROC curves, confusion matrices, accuracy as the decision threshold sweeps 0..1.
"""
from __future__ import annotations

from refgan import augment as A
from refgan.data import Dataset
from refgan.reproduce import report as R
from refgan.reproduce.published import SOURCES, published
from refgan.reproduce.runner import Plan, claim, comparison, mean
from refgan.study.conditions import INPLACE_P, inplace_transforms

NAME = "saquib"
TITLE = "Saquib and Rodriguez: classic augmentations for ALL vs HEM, rerun by refgan"
SOURCE = SOURCES[NAME]
AUGS = ("flip", "rotate", "blur", "noise", "fliprotate")
PLAIN = ("real",) + tuple(f"real+inplace-{a}" for a in AUGS)
WEIGHTED = tuple(f"{c} +cw" for c in PLAIN)
METRICS = ("accuracy", "precision", "recall", "specificity", "auc")


def plan(scale: str, data: str = "synthetic", weights=None) -> Plan:
    common = dict(paper=NAME, scale=scale, data=data, weights=weights, classifiers=("cnn",),
                  deep=("inception_v3", "resnet50"), conditions=PLAIN + WEIGHTED, baseline="real",
                  pairs=tuple((f"{c} +cw", "real +cw") for c in PLAIN[1:]) + (("real +cw", "real"),),
                  imbalance={"healthy": 0.5} if data == "synthetic" else {})
    if scale == "quick":
        return Plan(**common, n_per_class=16, size=16, folds=2, repeats=1,
                    cnn=dict(channels=(4, 4, 8), dense=8, max_epochs=2, patience=1, image_size=16),
                    scaled=("a pipeline check: 32 images of 16 x 16, 2 folds, a 2-epoch tiny CNN; the "
                            "numbers mean nothing",))
    if scale == "full":
        return Plan(**common, n_per_class=130, size=64, folds=5, repeats=2,
                    cnn=dict(channels=(16, 32, 64), dense=64, max_epochs=30, patience=5, image_size=64),
                    scaled=("the CNN is refgan's small CNN, not their custom network",))
    return Plan(**common, n_per_class=100, size=32, folds=5, repeats=1,
                cnn=dict(channels=(8, 16, 32), dense=32, max_epochs=60, patience=10, image_size=32),
                scaled=("32 x 32 images; 200 real images made 2 : 1 instead of C-NMC's 10,661",
                        "refgan's small CNN (3 conv blocks) for their custom network, up to 60 epochs (early stopping after 10 without a better validation loss)",
                        "5-fold cross-validation (once) instead of their validation set"))


def transforms() -> dict:
    """Their four types and the combined flip-and-rotate of Table 2."""
    t = inplace_transforms()
    t["fliprotate"] = A.Compose([t["flip"], t["rotate"]])
    return t


def training_sets(plan: Plan, train: Dataset, val: Dataset, seed: int, workdir):
    sets = {"real": (train, None, None)}
    for kind, t in transforms().items():
        sets[f"real+inplace-{kind}"] = (A.augment_in_place(train, t, p=INPLACE_P, seed=seed), None, None)
    sets.update({f"{c} +cw": (ds, "balanced", tf) for c, (ds, _, tf) in list(sets.items())})
    return sets, {}, {}


def extra(plan: Plan, results: dict, out_dir, log) -> dict:
    return {}


def claims(plan: Plan, results: dict) -> list[dict]:
    out = []
    for name in ("inception_v3", "resnet50"):
        d = results["deep"][name]
        if not d["available"]:
            out.append(claim(f"{name} by transfer learning collapses to always predicting ALL",
                             "not tested", d["why"]))
    spec = mean(results, "cnn", "real", "specificity")
    out.append(claim("Trained on the 2 : 1 data without class weights, a classifier calls (nearly) every "
                     "image ALL (their confusion matrices, Figure 4)",
                     "supported" if spec is not None and spec < 0.1 else "not supported",
                     f"CNN without class weights: specificity {R.pct(spec)}%, recall of ALL "
                     f"{R.pct(mean(results, 'cnn', 'real', 'recall'))}% (rule: specificity below 10%)"))
    comps = [comparison(results, "cnn", f"real+inplace-{a}", "real") for a in AUGS]
    sig = [c for c in comps if c and c["significant"]]
    out.append(claim("No augmentation changes accuracy significantly at 95% (their conclusion)",
                     "supported" if not sig else "not supported",
                     f"{len(sig)} of {len([c for c in comps if c])} in-place augmentations differ "
                     "significantly from no augmentation (CNN, corrected repeated k-fold t)"))
    cw = comparison(results, "cnn", "real +cw", "real")
    out.append(claim("A class-weighted loss raises accuracy over the unweighted one (their Table 2 "
                     "against Table 1)", "supported" if cw and cw["significant"] and cw["diff"] > 0
                     else "not supported",
                     f"CNN: {100 * cw['diff']:+.1f} points, p = {cw['p_value']:.3f}" if cw else "not run"))
    base = mean(results, "cnn", "real +cw", "precision")
    lower = [a for a in ("fliprotate", "noise", "blur")
             if (mean(results, "cnn", f"real+inplace-{a} +cw", "precision") or 0) < (base or 0)]
    out.append(claim("With the weighted loss, the augmentations lower precision against no "
                     "augmentation (their Table 2)", "supported" if len(lower) == 3 else "not supported",
                     f"precision lower than no augmentation's ({R.pct(base)}%) for {len(lower)} of 3 "
                     f"(flip & rotate, noise, blur): {', '.join(lower) or 'none'}"))
    return out


def sections(results: dict, records: list[dict]):
    pub1 = lambda clf, cond, m: published("table1", clf, cond, m)  # noqa: E731
    pub2 = lambda clf, cond, m: published("table2", clf, cond.replace(" +cw", ""), m)  # noqa: E731
    yield ("Table 1: transfer baselines and in-place augmentations, unweighted loss",
           "Accuracy, precision (of ALL = blast), recall, specificity, AUC; the paper's accuracy and "
           "precision beside refgan's.",
           R.metric_table(results, "real", ["inception_v3", "resnet50", "cnn"], PLAIN, METRICS, pub1))
    yield ("Table 2: class-weighted loss", "",
           R.metric_table(results, "real", ["cnn"], WEIGHTED, METRICS, pub2))
    yield ("Decisions (corrected repeated k-fold t, 5%)", "", R.decisions_table(results))
    names = results["class_names"]
    yield ("ROC curves", "", R.fig_roc(records, names, ["cnn"], ["real", "real+inplace-flip", "real +cw",
                                                                "real+inplace-fliprotate +cw"]))
    yield ("Confusion matrices (CNN)", "", R.fig_confusions(records, names, "cnn", list(PLAIN + WEIGHTED)))
    yield ("Accuracy as the threshold sweeps", "",
           R.fig_threshold(records, names, ["cnn"], ["real", "real +cw", "real+inplace-flip +cw"]))
