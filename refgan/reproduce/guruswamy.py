"""Guruswamy et al.: GAN augmentation with conditional GANs, their Table I as one table.

The training split is sparsified (cells: blast cut to 50%, as their classes 1, 3, 7 of
Fashion-MNIST were cut to 50-80%); every GAN is trained on the sparsified split only
and fills the sparse classes up to balance. Rows: no augmentation; affine (rotation,
rescaling, translation, horizontal flip) copies filling the sparse classes; CGAN;
plain AC-GAN; AC-GAN_v1/v2/v3 (25% / 75% / 75% with 50% every third epoch real
images in D's batch); ACGAN_ALI_v1/v2 from scratch and v1 fine-tuned from the ALI
generator (the masked loss), v1 from scratch with the unmasked loss; ALI reconstructions G(E(x)) of the sparse classes' images as augmentation.
Classifier: their CNN (3 conv + max-pool + dropout blocks and a dense layer, Adam, early
stopping on validation loss). Accuracy and top-k (k = 2 with more than 2 classes, as
their Fashion-MNIST column), the mean of the runs with their spread.
"""
from __future__ import annotations

import numpy as np

import refgan
from refgan import augment as A
from refgan.data import Dataset
from refgan.reproduce import report as R
from refgan.reproduce.published import SOURCES, published
from refgan.reproduce.runner import Plan, claim, comparison
from refgan.study.conditions import deficits, take_per_class
from refgan.study.gan import refgan_gan_step
from refgan.training.load import load_models

NAME = "guruswamy"
TITLE = "Guruswamy et al.: GAN augmentation with conditional GANs (Table I), rerun by refgan"
SOURCE = SOURCES[NAME]
GANS = {"cgan": ("cgan", {}), "acgan": ("acgan", {"real_fraction": "plain"}),
        "acgan-v1": ("acgan", {"real_fraction": "v1"}), "acgan-v2": ("acgan", {"real_fraction": "v2"}),
        "acgan-v3": ("acgan", {"real_fraction": "v3"}),
        "acgan-ali-v1": ("acgan-ali", {"real_fraction": "v1"}),
        "acgan-ali-v2": ("acgan-ali", {"real_fraction": "v2"}),
        "acgan-ali-v1-ft": ("acgan-ali", {"real_fraction": "v1", "finetune": True}),
        "acgan-ali-v1-unmasked": ("acgan-ali", {"real_fraction": "v1", "ali_loss": "unmasked"})}
CONDITIONS = ("none", "affine", *GANS, "ali-recon")
LABELS = {"none": "No Aug", "affine": "Affine", "cgan": "CGAN", "acgan": "ACGAN", "acgan-v1": "ACGAN_v1",
          "acgan-v2": "ACGAN_v2", "acgan-v3": "ACGAN_v3", "acgan-ali-v1": "ACGAN_ALI_v1 (scratch)",
          "acgan-ali-v2": "ACGAN_ALI_v2 (scratch)", "acgan-ali-v1-ft": "ACGAN_ALI_v1 (fine-tuned)",
          "acgan-ali-v1-unmasked": "ACGAN_ALI_v1 (scratch, unmasked loss)",
          "ali-recon": "ALI reconstructions"}


def plan(scale: str, data: str = "synthetic", weights=None) -> Plan:
    common = dict(paper=NAME, scale=scale, data=data, weights=weights, classifiers=("cnn",),
                  conditions=CONDITIONS, baseline="none",
                  imbalance={"blast": 0.5} if data == "synthetic" else {})
    if scale == "quick":
        return Plan(**common, n_per_class=16, size=16, folds=2, repeats=1,
                    cnn=dict(channels=(4, 4, 8), dense=8, max_epochs=2, patience=1, image_size=16),
                    options=dict(preset="smoke", gan=dict(steps=2, batch=4, grow="none")),
                    scaled=("a pipeline check: 32 images of 16 x 16, 2 folds, 2-step GANs, a 2-epoch tiny "
                            "CNN; the numbers mean nothing",))
    if scale == "full":
        return Plan(**common, n_per_class=130, size=32, folds=3, repeats=1,
                    cnn=dict(channels=(32, 64, 128), dense=128, max_epochs=30, patience=5, image_size=32),
                    options=dict(preset="cpu", gan=dict(steps=3000, width_g=32, width_d=32)),
                    scaled=("the embedded cells or --data for their datasets; 3 runs = 3 folds",))
    return Plan(**common, n_per_class=100, size=32, folds=3, repeats=1,
                cnn=dict(channels=(8, 16, 32), dense=32, max_epochs=60, patience=10, image_size=32),
                options=dict(preset="cpu", gan=dict(steps=300)),
                scaled=("the embedded cells (2 classes, blast sparsified to 50%) instead of Fashion-MNIST, "
                        "CIFAR-100 and IDC; 200 images of 32 x 32",
                        "every GAN 300 steps at width 16 (the cpu preset's conditional models)",
                        "their three runs are the 3 folds of one cross-validation",
                        "the unmasked ACGAN_ALI loss for v1 from scratch only"))


def _affine_fill(imb: Dataset, seed: int) -> Dataset:
    """The sparse classes filled up to balance with affine copies of their images."""
    rng = np.random.default_rng([seed, 17])
    t = A.guruswamy_affine(flip=True)
    parts = [imb]
    for name, k in deficits(imb).items():
        if k:
            idx = rng.choice(np.flatnonzero(imb.labels == imb.class_names.index(name)), k, replace=True)
            src = imb.subset(idx)
            src.role = imb.role
            copies = A.expand(src, t, k=1, seed=seed, include_original=False)
            parts.append(copies)
    return Dataset.concat(parts)


def _recon_fill(imb: Dataset, workdir, seed: int) -> Dataset:
    """The sparse classes filled up to balance with ALI reconstructions G(E(x)) of their images."""
    models, _ = load_models(workdir, "latest")
    m = models["all"]
    rng = np.random.default_rng([seed, 19])
    parts = [imb]
    for name, k in deficits(imb).items():
        if not k:
            continue
        idx = rng.choice(np.flatnonzero(imb.labels == imb.class_names.index(name)), k, replace=True)
        m.nets["E"].eval()
        with refgan.no_grad():
            z = refgan.backend.to_numpy(m.encode(imb.images[idx]).data)
        x = m.sample(k, z=z)
        parts.append(Dataset.generated(x, imb.labels[idx], imb.class_names, trained_on=imb,
                                       name="ALI reconstructions"))
    return Dataset.concat(parts)


def training_sets(plan: Plan, train: Dataset, val: Dataset, seed: int, workdir):
    o = plan.options
    o = dict(o, gan=dict(o["gan"], threads=1))  # the folds run side by side (--jobs), a core each
    need = deficits(train)
    sets = {"none": (train, None, None), "affine": (_affine_fill(train, seed), None, None)}
    ali_dir = workdir / "ali"
    ali = refgan_gan_step("ali", o["preset"], **dict(o["gan"], per_class=False))
    ali(train, {c: 1 for c in train.class_names}, seed, ali_dir)
    for cond, (model, extra) in GANS.items():
        opts = dict(o["gan"], **extra, **({"ali": str(ali_dir)} if model == "acgan-ali" else {}))
        g = refgan_gan_step(model, o["preset"], **opts)(train, {c: max(k, 1) for c, k in need.items()},
                                                        seed, workdir / cond)
        sets[cond] = (Dataset.concat([train, take_per_class(g.generated, need)]), None, None)
    sets["ali-recon"] = (_recon_fill(train, ali_dir, seed), None, None)
    return sets, {}, {"deficits": need}


def extra(plan: Plan, results: dict, out_dir, log) -> dict:
    return {}


def claims(plan: Plan, results: dict) -> list[dict]:
    comps = {c: x for c in CONDITIONS[2:] for x in [comparison(results, "cnn", c, "none")] if x}
    top = max(comps, key=lambda c: comps[c]["diff"]) if comps else None
    sig = [c for c, x in comps.items() if x["significant"]]
    out = [claim("GAN augmentation gains at most about 1 point of accuracy over no augmentation",
                 "not tested" if top is None else
                 "supported" if comps[top]["diff"] <= 0.02 else "not supported",
                 "not run" if top is None else
                 f"largest mean gain {100 * comps[top]['diff']:+.1f} points ({LABELS[top]}); {len(sig)} of "
                 f"{len(comps)} GAN rows differ significantly from no augmentation (rule: every mean gain "
                 "within 2 points)")]
    ac = comps.get("acgan")
    out.append(claim("Plain AC-GAN improves on no augmentation (IDC: 0.8702 to 0.8812)",
                     "supported" if ac and ac["significant"] and ac["diff"] > 0 else "not supported",
                     f"{100 * ac['diff']:+.1f} points, p = {ac['p_value']:.3f}" if ac else "not run"))
    af = comparison(results, "cnn", "affine", "none")
    out.append(claim("Affine augmentation changes accuracy little (IDC: 0.8702 to 0.8756)",
                     "supported" if af and abs(af["diff"]) <= 0.02 else "not supported",
                     f"{100 * af['diff']:+.1f} points" if af else "not run"))
    return out


def sections(results: dict, records: list[dict]):
    pub = lambda clf, cond, m: published("table1", clf, cond, m)  # noqa: E731
    metrics = ["accuracy"] + [m for m in ("top2", "top5") if any(
        m in row for row in results.get("table", {}).get("real", {}).get("cnn", {}).values())]
    spread = "".join(
        f"<tr><td>{LABELS[c]}</td><td>{R.pct(np.mean(e['per_fold']))}</td><td>"
        f"{100 * np.std(e['per_fold'], ddof=1) if len(e['per_fold']) > 1 else float('nan'):.1f}</td></tr>"
        for c in CONDITIONS
        for e in [results.get("table", {}).get("real", {}).get("cnn", {}).get(c, {}).get("accuracy")] if e)
    yield ("Table I: one table, every augmentation",
           "The CNN on each training set (sparse classes filled up to balance), tested on the real test "
           "images; in purple the paper's IDC ('Medical') column.",
           R.metric_table(results, "real", ["cnn"], CONDITIONS, metrics, pub, LABELS))
    yield ("Mean of the runs and their spread", "",
           "<table><tr><th>augmentation</th><th>accuracy, mean</th><th>standard deviation, points</th></tr>"
           + spread + "</table>")
    yield ("Decisions (corrected repeated k-fold t, 5%)", "", R.decisions_table(results))
