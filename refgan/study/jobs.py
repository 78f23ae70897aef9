"""The study's independent jobs and the engine that runs them.

For each repeat r and fold f (:mod:`refgan.study.splits`), as independent jobs run in
parallel through joblib (the engine of ``refgan sweep``):

* one *real job*: every classifier fitted on each training set that needs no GAN
  (real, classic, in-place, on-the-fly; the balancing remedies), tested on the fold;
* ``gan_seeds`` *GAN jobs*: a GAN trained (seed s) on the training split minus the
  validation images, the generated conditions fitted and tested, the generator scored
  (TRTS, TSTR, KID on the domain CNN's features with its real-vs-real floor, PRDC,
  diversity, memorisation);
* with ``balance``, ``gan_seeds`` *GAN-balance jobs*: a GAN trained on the imbalanced
  split only, filling its sparse classes.

Each job returns a :class:`refgan.study.results.JobResult` holding one
:class:`refgan.study.results.Record` per fitted classifier.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import effective_n_jobs

from refgan import backend, progress
from refgan import metrics as M
from refgan.classifiers import make_classifier
from refgan.classifiers.backbone_files import BACKBONES
from refgan.classifiers.features import downsize_flatten
from refgan.data import Dataset, LeakError, check_no_leak
from refgan.errors import UserError
from refgan.parallel import parallel_config  # refgan sweep's engine (registers dask/ray)
from refgan.study import conditions as C
from refgan.study import gan as G
from refgan.study import resume
from refgan.study.config import BALANCE, StudyConfig, positive_index, uses_gan
from refgan.study.results import GanResult, GeneratorQuality, JobResult, Policy, Record
from refgan.study.splits import without


@dataclass
class Job:
    """One independent unit of work: a fold's real conditions, or one GAN of a fold."""

    kind: str  # 'real' | 'gan' | 'gan-balance'
    repeat: int
    fold: int
    gan_seed: int  # -1 for 'real'
    train: Dataset
    test: Dataset
    val: Dataset | None
    parent_origins: np.ndarray


def _fit_predict(name, cfg, train: Dataset, cw, tf, test: Dataset, val: Dataset | None, seed):
    if name == "cnn":
        params = dict(cfg.cnn)
        if val is None:  # a run folder's GAN saw every training image: no held-out epoch choice
            params["val_fraction"] = 0.0
        clf = make_classifier("cnn", class_weight=cw, random_state=seed, augment=tf, **params)
        if val is not None:
            keep = ~np.isin(train.origin, val.origin)  # validation images (and copies) out
            clf.fit(train.images[keep], train.labels[keep], validation_data=(val.images, val.labels))
        else:
            clf.fit(train.images, train.labels)
        model = clf
    elif name in BACKBONES:
        # the study's conditions decide the augmentation: rotation only in the on-the-fly one
        clf = make_classifier(name, class_weight=cw, random_state=seed, weights=cfg.weights,
                              rotation=C.GEORGIEV_LIMIT if tf is not None else 0.0)
        clf.fit(train.images, train.labels)
        model = clf
    else:
        clf = make_classifier(name, class_weight=cw, feature_size=cfg.feature_size)
        clf.fit(train.images, train.labels)
        model = clf[-1]
    pred = clf.predict(test.images)
    d = np.asarray(clf.decision_function(test.images), float)
    return clf, pred, d, dict(loss=[float(v) for v in getattr(model, "loss_curve_", [])],
                              val_loss=[float(v) for v in getattr(model, "validation_loss_curve_", [])])


def planned_fits(cfg: StudyConfig, names) -> list:
    """``(classifier, condition)`` pairs fitted for training sets ``names`` (the
    on-the-fly condition exists only for the classifiers that see batches: the CNN and
    the pretrained backbones)."""
    return [(c, n) for c in cfg.classifiers for n in names
            if c == "cnn" or c in BACKBONES or n not in ("real+rotate-on-the-fly",)]


def positive_score(d: np.ndarray, pos: int) -> np.ndarray:
    """The score of class ``pos`` from a classifier's ``decision_function`` output:
    column ``pos`` of a K-class (n, K) array; a two-class classifier's one score is
    that of its class 1 (scikit-learn's ``classes_[1]``), so class 0's score is its
    negative (e.g. folders 'blast/' and 'healthy/' load as classes 0 and 1)."""
    if d.ndim == 2:
        return d[:, pos]
    return d if pos == 1 else -d


def _fit_all(cfg, job: Job, sets: dict, seed: int) -> list:
    pos = positive_index(job.test.class_names)
    recs = []
    for name, cond in planned_fits(cfg, sets):
        ds, cw, tf = sets[cond]
        t1 = time.perf_counter()
        _, pred, d, curves = _fit_predict(name, cfg, ds, cw, tf, job.test, job.val, seed)
        recs.append(Record(
            classifier=name, condition=cond, repeat=job.repeat, fold=job.fold,
            gan_seed=job.gan_seed, n_train=int(len(ds)),
            class_counts=np.bincount(ds.labels, minlength=ds.n_classes).tolist(),
            y_true=job.test.labels.tolist(), y_pred=np.asarray(pred).tolist(),
            score=positive_score(d, pos).tolist(),
            scores=None if d.ndim == 1 else d.tolist(), origin=job.test.origin.tolist(),
            curves=curves, seconds=round(time.perf_counter() - t1, 2)))
    return recs


def _gan_quality(cfg, train, test, gen, seed) -> GeneratorQuality:
    """TRTS, TSTR, KID (with its real-vs-real floor), PRDC, diversity, memorisation."""
    lr_factory = lambda: make_classifier("lr", feature_size=cfg.feature_size)  # noqa: E731
    q = {}
    q["trts"] = M.trts(lr_factory().fit(train.images, train.labels), gen.images, gen.labels)
    q["tstr"] = M.tstr(lr_factory, gen.images, gen.labels, test.images, test.labels)["tstr"]
    if cfg.features == "cnn":
        cnn = make_classifier("cnn", random_state=seed, **cfg.cnn).fit(train.images, train.labels)
        feat, kid, key = cnn.embed, M.kid_cnn_features, "kid_cnn_features"
        q["features"] = "the study's CNN trained on the real training split (penultimate layer)"
    else:
        feat = lambda x: downsize_flatten(x, cfg.feature_size)  # noqa: E731
        kid, key = M.kid_pixels, "kid_pixels"
        q["features"] = f"pixels ({cfg.feature_size}x{cfg.feature_size}x3)"
    fr, ff, ft = feat(train.images), feat(gen.images), feat(test.images)
    nb = min(cfg.n_boot, 200)
    q["kid"] = dict(kid(fr, ff, n_boot=nb, seed=seed), name=key)
    # what a perfect generator would score: real training vs real unseen images
    q["kid_floor"] = dict(kid(fr, ft, n_boot=nb, seed=seed), name=key + " real-vs-real")
    q["prdc"] = M.prdc(fr, ff, k=5)
    q["diversity"] = M.diversity(fr, ff, n_boot=200, seed=seed)
    mem = M.memorisation(gen.images, train.images, held_out=test.images)
    q["memorisation"] = {k: v for k, v in mem.items() if k not in ("nn_index",)}
    return GeneratorQuality(**q)


def _checked_generation(gan_step, gan_train, n_per_class, seed, workdir, job: Job) -> G.GanOutput:
    """Run a GAN step and check the lineage of what it made: the parent runs' training
    data join it, and neither the test images nor the CNN's validation images may be
    in it."""
    g = gan_step(gan_train, n_per_class, seed, workdir)
    gen = g.generated
    gen.lineage = np.union1d(gen.lineage, job.parent_origins)
    check_no_leak(gen, job.test)
    if job.val is not None and np.intersect1d(gen.sources(), job.val.origin).size:
        raise LeakError("the GAN trained on the CNN's early-stopping validation images")
    return g


LOCAL_JOBLIB_BACKENDS = ("loky", "multiprocessing", "threading")


def job_threads(cfg: StudyConfig) -> int:
    """Kernel threads for one job's GAN: this machine's cores shared among the jobs
    that run side by side on it (``cfg.n_jobs`` local workers), 1 where the workers
    run elsewhere (dask, ray). A GAN on every core in each of n workers would run n
    times as many threads as cores, and spin-waiting thread pools then slow each other
    several-fold (:func:`refgan.backend.set_num_threads`)."""
    if cfg.joblib_backend not in LOCAL_JOBLIB_BACKENDS:
        return 1
    return max(1, backend.available_cores() // effective_n_jobs(cfg.n_jobs))


def run_job(cfg: StudyConfig, job: Job, gan_step, workdir: Path, policy: Policy,
            backend_name: str) -> JobResult:
    """Everything one job contributes (see the module docstring). Runs in a worker."""
    backend.set_backend(backend_name)
    backend.set_num_threads(1)
    seed = 10_000 * cfg.seed + 100 * job.repeat + job.fold  # shared by a fold's jobs
    out = JobResult(job.kind, job.repeat, job.fold, job.gan_seed, len(job.train), len(job.test),
                    val_origin=[] if job.val is None else job.val.origin.tolist())
    t0 = time.perf_counter()
    aug = policy.augment
    imb = (C.make_imbalanced(job.train, cfg.imbalance, seed)
           if cfg.balance and job.kind != "gan" else None)
    if job.kind == "real":
        sets = C.real_sets(job.train, cfg.conditions, aug, seed)
        if imb is not None:
            sets.update(C.balance_sets(imb, seed))
    elif job.kind == "gan":
        counts = np.bincount(job.train.labels, minlength=job.train.n_classes)
        need = max([cfg.n_generated] + [int(round(float(r) * counts.max())) for r in cfg.ratios])
        gan_seed = seed * 10 + job.gan_seed
        g = _checked_generation(gan_step, without(job.train, job.val),
                                {c: need for c in job.train.class_names}, gan_seed,
                                workdir / f"gan-r{job.repeat}f{job.fold}s{job.gan_seed}", job)
        out.timings["gan_s"] = round(time.perf_counter() - t0, 1)
        out.gan = GanResult(losses=g.losses, info=g.info)
        gen = g.generated
        sets = C.gen_sets(job.train, gen, cfg.conditions, cfg.n_generated, aug,
                          cfg.augment_generated, cfg.ratios, seed)
        sub = C.take_per_class(gen, {c: cfg.n_generated for c in job.train.class_names})
        out.gan.quality = _gan_quality(cfg, without(job.train, job.val), job.test, sub, seed)
        if job.repeat == 0 and job.fold == 0 and job.gan_seed == 0:
            idx = np.concatenate([np.flatnonzero(sub.labels == c)[:8] for c in range(sub.n_classes)])
            tr = job.train
            out.samples = dict(
                generated=sub.images[idx], generated_labels=sub.labels[idx],
                real=np.concatenate([tr.images[tr.labels == c][:8] for c in range(tr.n_classes)]),
                real_labels=np.concatenate([tr.labels[tr.labels == c][:8]
                                            for c in range(tr.n_classes)]))
    else:  # gan-balance: a GAN that saw only the imbalanced split fills its sparse classes
        g = _checked_generation(gan_step, without(imb, job.val), C.deficits(imb),
                                seed * 10 + job.gan_seed + 5,
                                workdir / f"gan-balance-r{job.repeat}f{job.fold}s{job.gan_seed}", job)
        dropped = np.setdiff1d(g.generated.sources(), imb.sources())
        if dropped.size:
            raise LeakError(f"the balancing GAN's lineage holds {dropped.size} real training "
                            "images that the imbalanced split dropped, so gan-balance would see "
                            "data the other remedies never see; train the GAN on the imbalanced "
                            "split (pass a model name to --gan, not a run folder)")
        out.timings["gan_s"] = round(time.perf_counter() - t0, 1)
        out.gan = GanResult(balance_losses=g.losses)
        sets = C.gan_balance_set(imb, g.generated)
    t1 = time.perf_counter()
    out.records = _fit_all(cfg, job, sets, seed)
    out.timings["fit_s"] = round(time.perf_counter() - t1, 1)
    return out


def job_fits(cfg: StudyConfig, job: Job, policy: Policy) -> int:
    """How many classifier fits a job makes (for the progress bar)."""
    if job.kind == "real":
        names = [n for n in cfg.conditions if not uses_gan(n)
                 and not (policy.augment == "none" and "classic" in n)]
        names += list(BALANCE[:4]) if cfg.balance else []
    elif job.kind == "gan":
        names = [n for n in cfg.conditions if uses_gan(n)
                 and not (policy.augment == "none" and "classic" in n)]
        names += [f"x{r}" for r in cfg.ratios]
    else:
        names = ["gan-balance"]
    return len(planned_fits(cfg, names))


def run_jobs(cfg: StudyConfig, jobs: list, gan_step, workdir: Path, policy: Policy,
             log, done: dict | None = None) -> list[JobResult]:
    """Run the independent jobs through joblib, the engine of ``refgan sweep``
    (``cfg.joblib_backend``, ``cfg.n_jobs`` workers: 'loky' processes on one machine,
    'dask' or 'ray' on a cluster), with one progress bar over fits (folds x conditions x
    classifiers) and its ETA. Each job's output is recorded as it finishes
    (:mod:`refgan.study.resume`); the jobs in ``done`` (their outputs by key, from an
    interrupted run of the same study) are kept, not run again."""
    from joblib import Parallel, delayed

    done = done or {}
    kept = [done[resume.job_key(j)] for j in jobs if resume.job_key(j) in done]
    jobs = [j for j in jobs if resume.job_key(j) not in done]
    total = sum(job_fits(cfg, j, policy) for j in jobs)
    name = backend.get_backend().name
    bar = progress.bar(total, unit="fit", desc="study", disable=not cfg.progress, smoothing=0.05,
                       bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} fits "
                                  "[{elapsed} elapsed, ETA {remaining}]")
    out = list(kept)
    try:
        with parallel_config(cfg.joblib_backend, cfg.n_jobs):
            results = Parallel(return_as="generator_unordered")(
                delayed(run_job)(cfg, j, gan_step, workdir, policy, name) for j in jobs)
            for r in results:
                resume.save_job(workdir, r)
                out.append(r)
                bar.update(len(r.records))
                if r.kind != "real":
                    log(f"  repeat {r.repeat + 1} fold {r.fold + 1} GAN seed {r.gan_seed + 1}: "
                        f"GAN {r.timings['gan_s']} s, fits {r.timings['fit_s']} s")
    except ValueError as e:
        if "backend" in str(e).lower():
            raise UserError(f"--joblib-backend {cfg.joblib_backend!r}: {e}") from None
        raise
    finally:
        bar.close()
    return sorted(out, key=lambda r: (r.repeat, r.fold, r.kind, r.gan_seed))
