"""The augmentation study: Gaur et al.'s Table 2 protocol under repeated k-fold
cross-validation, with several GANs per fold (:func:`run_study`).

For each repeat r and fold f of a stratified k-fold split of the real images (groups
kept on one side, every real image tested once per repeat; :mod:`refgan.study.splits`),
a validation set for the CNN's early stopping is carved out of the training split
first; then a real job, ``gan_seeds`` GAN jobs and, with ``balance``, ``gan_seeds``
GAN-balance jobs run in parallel (:mod:`refgan.study.jobs`); :mod:`refgan.study.summary`
turns their records into tables and paired comparisons under the decision rule (the
corrected repeated k-fold t over folds, Bonferroni within each family);
:mod:`refgan.study.results` writes ``results.json`` and ``results.csv`` and
:mod:`refgan.study.report` ``report.html``.
"""
from __future__ import annotations

import time
from pathlib import Path

from refgan.classifiers.backbone_files import BACKBONES, find_weights
from refgan.data import Dataset, LeakError
from refgan.data.cells import is_cell_data
from refgan.errors import UserError
from refgan.training.config import crop_arg
from refgan.provenance import provenance
from refgan.study import conditions as C
from refgan.study import gan as G
from refgan.study import resume
from refgan.study.config import StudyConfig, positive_index
from refgan.study.datasets import load_study_data, origins_seen_by, parent_runs, run_config
from refgan.study.jobs import Job, job_threads, run_jobs
from refgan.study.report import write_report
from refgan.study.results import DatasetInfo, Policy, StudyResults, write_results
from refgan.study.splits import folds, val_split
from refgan.study.summary import summarise
from refgan.training.data import auto_growth


# ---------------------------------------------------------------------------- data
def load_data(cfg: StudyConfig, log=print) -> Dataset:
    return load_study_data(cfg.data, cfg.n_per_class, cfg.size, cfg.data_seed, log=log,
                           skip_bad=cfg.skip_bad, crop=crop_arg(cfg.crop))


def resolve_policies(cfg: StudyConfig, ds: Dataset) -> Policy:
    """The augmentation policy and GAN-set growth actually used ('auto' resolved), each
    with why: cells have no orientation (rotations; GAN set grown by the square's
    symmetries); other images may carry their class in their orientation (affine
    without flips, for the classic policy and the GAN set). The growth's rule is
    :func:`refgan.training.data.auto_growth`, the one ``train`` uses."""
    cells = is_cell_data(ds.class_names)
    augment = cfg.augment if cfg.augment != "auto" else ("rotations" if cells else "affine")
    if augment not in C.POLICIES:
        raise UserError(f"unknown --augment {augment!r}; choose from auto, {', '.join(C.POLICIES)}")
    grow, grow_why = auto_growth(ds) if cfg.gan_grow == "auto" else (cfg.gan_grow, "chosen by the user")
    return Policy(augment=augment, gan_grow=grow, gan_grow_why=grow_why,
                  why=("cell images (no orientation): rotations" if cells else
                       "not cell images (orientation may be the class): affine, no flips")
                  if cfg.augment == "auto" else "chosen by the user")


# -------------------------------------------------------------------------- run
def _run_folder_setup(cfg: StudyConfig):
    """The one split of an existing run folder (its generator saw its training split)."""
    train, test = G.run_folder_split(cfg.gan)
    if cfg.balance:
        raise LeakError(f"--balance with the run folder {cfg.gan}: its generator was trained on "
                        "the whole training split, including the images the imbalanced split drops, "
                        "so gan-balance would see real data the other remedies never see; pass a "
                        "model name to --gan to train one on the imbalanced split")
    return train, test


def check_weights(cfg: StudyConfig) -> None:
    """Refuse, before any work, a pretrained classifier whose weight file is missing
    (one line saying which file to put where)."""
    for name in cfg.classifiers:
        if name in BACKBONES:
            find_weights(name, cfg.weights)


def run_study(cfg: StudyConfig, out_dir, gan_step=None, dataset: Dataset | None = None,
              log=print, resume_jobs: bool = False) -> StudyResults:
    """Run the study and write ``results.json``, ``results.csv`` and ``report.html``
    into ``out_dir``. ``gan_step`` defaults to training ``cfg.gan`` (or sampling a run
    folder); ``dataset`` defaults to :func:`load_data`. Returns the
    :class:`~refgan.study.results.StudyResults`. ``resume_jobs``: keep the jobs an
    interrupted run of this study in ``out_dir`` finished (:mod:`refgan.study.resume`;
    ``cfg`` is then its recorded settings)."""
    out_dir = Path(out_dir)
    check_weights(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = resume.load_jobs(out_dir) if resume_jobs else {}
    if not resume_jobs:
        resume.record_config(cfg, out_dir)
    t0 = time.perf_counter()
    from_run = gan_step is None and Path(cfg.gan).exists()
    parents = []
    if from_run:
        # A trained run saw its own training split: the study uses that split (one
        # train/test split, the run's), not k folds whose test images it trained on.
        train, test = _run_folder_setup(cfg)
        ds = Dataset.concat([train, test]) if dataset is None else dataset
        parents = parent_runs(cfg.gan)
        gan_step = G.run_folder_step(cfg.gan, cfg.gan_checkpoint)
    else:
        ds = dataset if dataset is not None else load_data(cfg, log)
    if cfg.balance and not cfg.imbalance:
        cfg.imbalance = {ds.class_names[positive_index(ds.class_names)]: 0.5}
    bad = [c for c in cfg.imbalance if c not in ds.class_names]
    if bad:
        raise UserError(f"--imbalance names unknown class(es) {', '.join(bad)}; classes: "
                        f"{', '.join(ds.class_names)}")
    policy = resolve_policies(cfg, ds)
    if not from_run and gan_step is None:
        gan_step = G.refgan_gan_step(cfg.gan, cfg.gan_preset,
                                     **{"grow": policy.gan_grow, "threads": job_threads(cfg),
                                        **cfg.gan_options})
    if not from_run and cfg.gan_options.get("ali"):  # acgan-ali starts from an ALI run
        parents = [cfg.gan_options["ali"], *parent_runs(cfg.gan_options["ali"])]
    parent_origins = origins_seen_by(parents, ds)
    splits = []
    if from_run:
        splits.append((0, 0, train, test, None))
    else:
        for rep in range(cfg.repeats):
            for f, (train, test) in enumerate(folds(ds, cfg.folds, cfg.seed + rep)):
                splits.append((rep, f, train, test, val_split(train, cfg.seed * 100 + 10 * rep + f)))
    jobs = []
    for rep, f, train, test, val in splits:
        for s in range(cfg.gan_seeds if not from_run else 1):
            jobs.append(Job("gan", rep, f, s, train, test, val, parent_origins))
            if cfg.balance:
                jobs.append(Job("gan-balance", rep, f, s, train, test, val, parent_origins))
        jobs.append(Job("real", rep, f, -1, train, test, val, parent_origins))
    log(f"study: {len(ds)} images {ds.class_counts()}, "
        + ("the run's own split" if from_run else
           f"{cfg.folds} folds x {cfg.repeats} repeats x {cfg.gan_seeds} GAN seeds")
        + f", GAN {getattr(gan_step, 'description', cfg.gan)}, classifiers "
        f"{', '.join(cfg.classifiers)}, augmentation {policy.augment}, {len(jobs)} jobs on "
        f"{cfg.joblib_backend} (n_jobs {cfg.n_jobs})")
    if resume_jobs:
        log(f"resuming the study in {out_dir}: "
            f"{sum(resume.job_key(j) in done for j in jobs)} of {len(jobs)} jobs finished earlier "
            "are kept")
    jobs_out = run_jobs(cfg, jobs, gan_step, out_dir, policy, log, done)
    summary = summarise(jobs_out, ds.class_names, n_boot=cfg.n_boot, seed=cfg.seed, top_k=cfg.top_k)
    used = cfg.to_dict()
    used.update(augment=policy.augment, gan_grow=policy.gan_grow)
    if from_run:
        rc = run_config(cfg.gan)
        used.update(data=rc["data"], size=rc["size"], n_per_class=rc.get("n_per_class"),
                    data_seed=rc["data_seed"], folds=1, repeats=1, gan_seeds=1,
                    split=f"the run's own train/test split (test fraction {rc['test_frac']})")
    results = StudyResults.build(
        summary, config=used, policy=policy,
        dataset=DatasetInfo(ds.name, len(ds), ds.class_counts(), list(ds.image_size)),
        gan_description=getattr(gan_step, "description", str(cfg.gan)),
        gan_parents=[str(p) for p in parents], class_names=list(ds.class_names), folds=jobs_out,
        provenance=provenance(), seconds=round(time.perf_counter() - t0, 1))
    write_results(results, out_dir)
    write_report(results, out_dir)
    results.seconds = round(time.perf_counter() - t0, 1)
    write_results(results, out_dir)  # the final time, including the report
    log(f"study done in {results.seconds} s: {out_dir / 'report.html'}")
    return results
