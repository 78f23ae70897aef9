"""The one training loop every model of the zoo runs in.

One generator iteration ("step") of each model is

    for k in range(n_disc):   model.discriminator_step(next batch)
    model.generator_step()    (with a batch for models whose G loss reads real images)
    EMA of G's weights, learning-rate schedules

With ``per_class`` (the default for unconditional models, Gaur et al.'s protocol) one
model per class is trained in lock-step inside one run: step t of the healthy
model and step t of the blast model, side by side in two threads
(``--parallel-classes``, each with its share of ``--threads``; the kernels release
the GIL, so the Python of one model's step overlaps the other's kernels) or one
after the other. A conditional model is one model, key ``all``, that
sees the labels.

The trainer is handed its data (:class:`refgan.training.data.GanData`); the monitor
(:mod:`refgan.training.monitor`) draws the sample grids and raises the failure flags;
:mod:`refgan.training.load` builds the models. What it writes into the run folder,
file by file, is described once, in :mod:`refgan.training.run_folder`.

Reproducibility: ``refgan.manual_seed(seed)`` before the models are built. Every
draw of model i's step t (its batches, latents, dropout masks, the penalty's mixing
weights, DiffAugment) comes from a stream of its own, ``default_rng([seed, 3, t, i])``
(:meth:`Trainer.step_rng`): a model's step depends on no other model's, so the
models give bit-identical weights in parallel or one after the other, and resuming
at step t needs nothing but t. The run's global streams (``refgan.random``, the
batch Generator) are still checkpointed for the JAX engine, which draws from them,
so an interrupted and resumed CPU run ends with bit-identical weights.
"""
from __future__ import annotations

import itertools
import math
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np

import refgan
from refgan import backend, optim, progress, random
from refgan.errors import UserError
from refgan.gans.latent import AE_BUDGET_SHARE
from refgan.training import checkpoint, run_folder
from refgan.training.config import TrainConfig
from refgan.training.data import GanData
from refgan.training.load import build_models, model_keys, sample_class
from refgan.training.monitor import Monitor
from refgan.provenance import refgan_command


def models_in_parallel(config: TrainConfig, n_models: int) -> bool:
    """Whether the ``n_models`` models of a run train side by side (``--parallel-classes``;
    auto: with 2+ models and 2+ threads)."""
    mode = config.parallel_classes
    return n_models > 1 and (mode == "on" or (mode == "auto" and config.threads > 1))


def new_run_dir(root, model: str) -> Path:
    """Create and return a new, empty run folder ``root/<YYYYmmdd-HHMMSS>-<model>``;
    runs started in the same second get ``-2``, ``-3``, ... The folder is made with one
    ``mkdir`` that fails if it exists, so two processes never share a folder."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        path = Path(root) / (f"{stamp}-{model}" if n == 1 else f"{stamp}-{model}-{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
        except OSError as err:
            raise UserError(f"cannot create the run folder {path} ({err.strerror}); choose "
                            "another --out or --run-dir") from None


class Trainer:
    """Trains the models of ``config`` on ``data`` into ``run_dir`` (or resumes)."""

    def __init__(self, config: TrainConfig, data: GanData, run_dir=None, log=None):
        self.config = config.replace(classes=data.class_names)  # recorded from the data
        self.data = data
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.run_dir = Path(run_dir) if run_dir else new_run_dir("runs", config.model)
        self.step = 0
        self._stop = False
        self._signal = None            # the signal that stopped the loop (SIGINT, SIGTERM)
        self.last_ckpt_step = None
        self.elapsed_before = 0.0      # seconds trained before this session (resume)
        self._t0 = time.perf_counter()
        self.best = None               # checkpoints/best.json of the run
        self._standing_step = None     # step whose EMA batch-norm statistics are computed
        self._pool = None              # the model threads while run() trains in parallel
        self._budget_step0 = 0         # the step this session started from (the time budget's pace)

    # -- construction ------------------------------------------------------------
    def setup(self):
        c = self.config
        backend.set_num_threads(int(c.threads))
        gan_set = self.data.gan_set
        self.keys = model_keys(c)
        if c.per_class:
            self.images = {k: gan_set.images[gan_set.labels == i] for i, k in enumerate(self.keys)}
            self.labels = {k: np.zeros(len(v), np.int64) for k, v in self.images.items()}
        else:
            self.images, self.labels = {"all": gan_set.images}, {"all": gan_set.labels}
        for k, v in self.images.items():
            if len(v) < 2:
                raise UserError(f"class {k!r} has {len(v)} training image(s); a GAN needs more")
        if c.epochs:  # passes over the largest model's set: every model sees at least that many
            c.steps = max(1, math.ceil(c.epochs * max(len(v) for v in self.images.values()) / c.batch))
        refgan.manual_seed(c.seed)
        self.models = build_models(c)
        # what each model learns from (its images with their appearance removed, for
        # --appearance stain); deterministic, so a resumed run gets the same
        self.images = {k: m.prepare(self.images[k], self.labels[k]) for k, m in self.models.items()}
        self.schedules = {k: {n: optim.make_schedule(c.schedule, o, c.steps)
                              for n, o in m.opts.items()} for k, m in self.models.items()}
        self.batch_rng = np.random.default_rng([c.seed, 1])
        self.monitor = Monitor(c, self.data, self.keys, self.run_dir,
                               log=lambda msg: self.log(msg))  # self.log gains log.txt in run()
        return self

    # -- state ---------------------------------------------------------------------
    def standing_statistics(self) -> None:
        """The EMA generators' batch-norm statistics recomputed for their own weights
        (:meth:`GAN.standing_statistics`), once per step: the sample grid, the health
        checks and the checkpoint of one step all read the same generators."""
        if self._standing_step != self.step:
            for m in self.models.values():
                m.standing_statistics(seed=self.config.seed)
            self._standing_step = self.step

    def state(self) -> tuple[dict, dict]:
        self.standing_statistics()  # what a checkpoint's EMA generator samples with
        arrays = checkpoint.join_models({k: m.state_dict() for k, m in self.models.items()})
        meta = dict(config=self.config.to_json(), data_hash=self.data.hash(),
                    backend=backend.get_backend().name, refgan_rng=random.get_state(),
                    batch_rng=self.batch_rng.bit_generator.state,
                    schedules={k: {n: s.state_dict() for n, s in v.items()}
                               for k, v in self.schedules.items()},
                    flagged=sorted(self.monitor.flagged), saved_at=datetime.now().isoformat(),
                    elapsed_s=round(self.elapsed(), 3))
        if self.ae_end is not None:
            meta["latent_ae_end"] = self.ae_end
        return arrays, meta

    def elapsed(self) -> float:
        """Seconds of training in this run, over every session (resumes add up)."""
        return self.elapsed_before + time.perf_counter() - self._t0

    def save_checkpoint(self):
        arrays, meta = self.state()
        npz = checkpoint.save(self.run_dir / "checkpoints", self.step, arrays, meta,
                              keep_every=self.config.keep_every)
        self.last_ckpt_step = self.step
        self.best = checkpoint.update_best(self, npz, self.best)

    @classmethod
    def resume(cls, run_dir, data: GanData, log=None, steps: int | None = None) -> "Trainer":
        """A trainer continuing the latest checkpoint of ``run_dir`` exactly, on
        ``data`` (:func:`refgan.training.data.run_data` rebuilds the run's own)."""
        where = Path(run_dir) / "checkpoints"
        arrays, meta = checkpoint.load(where)
        checkpoint.check_meta(meta, where / checkpoint.LATEST)
        config = TrainConfig.from_json(meta["config"]).validate()  # as strict as the command line
        if steps is not None:
            config.steps, config.epochs = int(steps), 0.0
        if config.engine == "refgan":  # config.json says where the run goes on
            config.backend = backend.get_backend().name
        if data.hash() != meta["data_hash"]:
            raise UserError("the training data differ from those the run was trained on "
                            "(data hash mismatch); resume needs the same data")
        t = cls(config, data, run_dir, log).setup()
        if meta["backend"] != backend.get_backend().name:
            t.log(f"note: run trained on backend {meta['backend']}, resuming on "
                  f"{backend.get_backend().name}: results will not be bit-identical")
        checkpoint.restore_models(t.models, arrays, where / meta["file"])
        for k, v in meta["schedules"].items():
            for n, s in v.items():
                t.schedules[k][n].load_state_dict(s)
        random.set_state(meta["refgan_rng"])
        t.batch_rng.bit_generator.state = meta["batch_rng"]
        t.step = t.last_ckpt_step = int(meta["step"])
        if t.step > config.steps:
            raise UserError(f"the run is already at step {t.step}; --steps must be at least that")
        t.monitor.flagged = {tuple(f) for f in meta.get("flagged", [])}
        t.elapsed_before = float(meta.get("elapsed_s", 0.0))
        if t.ae_end is not None:    # where a time budget ended the first stage
            t.set_autoencoder_end(int(meta.get("latent_ae_end", t.ae_end)))
        t.best = checkpoint.read_best(run_dir)
        return t

    # -- the step ------------------------------------------------------------------
    def batch(self, key, rng: np.random.Generator | None = None):
        """A batch of ``key``'s images drawn with ``rng`` (default: the run's batch stream)."""
        n = len(self.images[key])
        B = self.config.batch
        idx = (self.batch_rng if rng is None else rng).choice(n, B, replace=n < B)
        return refgan.tensor(self.images[key][idx]), self.labels[key][idx]

    def step_rng(self, index: int) -> np.random.Generator:
        """The stream of every draw in the current step of model number ``index``."""
        return np.random.default_rng([self.config.seed, 3, self.step, index])

    def train_step(self) -> dict:
        """One step of every model: side by side in the model threads, or in turn."""
        work = [(i, key, m) for i, (key, m) in enumerate(self.models.items())]
        if models_in_parallel(self.config, len(self.models)):
            if self._pool is None:
                self._start_pool()
            logs = list(self._pool.map(lambda w: self._model_step(*w), work))
        else:
            logs = [self._model_step(*w) for w in work]
        self.step += 1
        return {k: v for one in logs for k, v in one.items()}  # in the models' order

    def _model_step(self, index: int, key: str, m) -> dict:
        """Step ``self.step`` of model ``m``; its metrics under ``key/``."""
        c, rng, metrics = self.config, self.step_rng(index), {}
        with random.using(rng):
            m.epoch = (self.step * c.n_disc * c.batch) // len(self.images[key])
            m.step = self.step
            d_logs = [m.discriminator_step(self.batch(key, rng)) for _ in range(c.n_disc)]
            keys = dict.fromkeys(k for d in d_logs for k in d)  # a lazy penalty logs on some
            logs = {k: float(np.mean([d[k] for d in d_logs if k in d])) for k in keys}
            logs.update(m.generator_step(self.batch(key, rng) if m.needs_real_in_g_step else None))
            self._finish_model_step(key, m, logs, metrics)
        return metrics

    def _start_pool(self) -> None:
        """One thread per model, each running the kernels on its share of --threads
        (Numba's thread count is per thread; BLAS is limited for the whole process)."""
        share = max(1, int(self.config.threads) // len(self.models))
        self._pool = ThreadPoolExecutor(len(self.models), thread_name_prefix="refgan-model",
                                        initializer=backend.set_num_threads, initargs=(share,))

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
            backend.set_num_threads(int(self.config.threads))  # BLAS back to --threads

    def _finish_model_step(self, key, m, logs: dict, metrics: dict) -> None:
        """After one model's update: EMA of G, lr schedules, metrics under ``key/``."""
        if self.config.ema > 0:
            m.update_ema(self.config.ema, self.step + 1)  # with its warm-up (base.GAN)
        for s in self.schedules[key].values():
            if self.config.time_budget and self.config.schedule != "constant":
                s.retarget(self.projected_steps())
            s.step()
        metrics.update({f"{key}/{k}": v for k, v in logs.items()})

    def projected_steps(self) -> int:
        """The steps this session will reach: ``steps``, or fewer when the time budget
        ends it first (extrapolated from the pace so far), so that a decaying learning
        rate spans the run that actually happens."""
        c = self.config
        done = max(self.step + 1 - self._budget_step0, 1)
        spent = max(time.perf_counter() - self._t0, 1e-9)
        projected = self._budget_step0 + math.ceil(done * c.time_budget / spent)
        return int(min(c.steps, max(projected, self.step + 1)))

    # -- the loop ------------------------------------------------------------------
    def _on_sigint(self, signum, frame):
        """Ctrl-C (SIGINT) and SIGTERM (``timeout``, SLURM, ``docker stop``): finish the
        step, checkpoint, exit 130 or 143."""
        if self._stop:  # second Ctrl-C: leave now
            raise KeyboardInterrupt
        self._stop, self._signal = True, signum
        what = "terminate (SIGTERM)" if signum == signal.SIGTERM else "interrupt"
        self.log(f"\n{what}: finishing this step and saving a checkpoint "
                 "(Ctrl-C again to quit without saving)")

    def stop(self):
        """Ask the loop to stop at the end of the current step (as Ctrl-C does)."""
        self._stop = True

    def run(self, max_steps: int | None = None) -> int:
        """Train up to config.steps (or ``max_steps``, for tests: behaves like an
        interrupt there). Returns 0 when finished, 130 when interrupted (143 when
        stopped by SIGTERM).

        The run folder is locked meanwhile (:func:`refgan.training.run_folder.locked`), and
        ``metrics.jsonl`` first cut back to the step training starts from: the lines a
        killed process wrote after its last checkpoint are written again."""
        with run_folder.locked(self.run_dir):
            dropped = run_folder.truncate_metrics(self.run_dir / run_folder.METRICS, self.step)
            if dropped:
                self.log(f"note: {dropped} line(s) of metrics.jsonl logged after the checkpoint of step "
                         f"{self.step} were dropped; training repeats those steps")
            return self._run(max_steps)

    def _run(self, max_steps) -> int:
        c = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        run_folder.start_session(self)  # config.json (+ provenance, history), log.txt, reals.png
        main = threading.current_thread() is threading.main_thread()
        old = {s: signal.signal(s, self._on_sigint) for s in (signal.SIGINT, signal.SIGTERM)} \
            if main else {}
        bar = progress.bar(c.steps, initial=self.step, disable=not c.progress,
                           desc=f"{c.model} x{len(self.models)}", unit="it", dynamic_ncols=True,
                           file=sys.stderr)
        try:
            t_last, s_last, self._t0 = time.perf_counter(), self.step, time.perf_counter()
            self._budget_step0 = self.step
            if self.step == 0:
                self.samples_grid()
            budget_hit = False
            while self.step < c.steps and not self._stop:
                metrics = self.train_step()
                self._end_the_autoencoder_stage_on_its_share_of_the_budget()
                self.monitor.check_finite(metrics, self.step, self.last_ckpt_step)
                self.monitor.record(metrics)
                budget_hit = bool(c.time_budget) and time.perf_counter() - self._t0 > c.time_budget
                last = self.step == c.steps or budget_hit
                if self.step % c.sample_every == 0 or last:
                    metrics.update(self.monitor.check_health(self.samples_grid(), self.step))
                if self.step % c.log_every == 0 or last:
                    now = time.perf_counter()
                    m0 = next(iter(self.models.values()))
                    record = dict(step=self.step, elapsed_s=round(self.elapsed(), 3),
                                  sec_per_step=(now - t_last) / max(self.step - s_last, 1),
                                  **{f"lr_{n}": o.lr for n, o in m0.opts.items()}, **metrics)
                    self.monitor.write(record)
                    self.log(run_folder.status_line(record, c.steps), console=False)
                    t_last, s_last = now, self.step
                if self.step % c.ckpt_every == 0 or last:
                    self.save_checkpoint()
                if max_steps is not None and self.step >= max_steps:
                    self._stop = True
                bar.update(1)
                k0 = self.keys[0]
                bar.set_postfix({n.split("/")[1]: f"{v:.3g}" for n, v in metrics.items()
                                 if n.startswith(k0 + "/") and n.split("/")[1] in
                                 ("d_loss", "g_loss", "wasserstein")}, refresh=False)
                if budget_hit:
                    self.monitor.write({"event": "time_budget", "step": self.step,
                                        "message": f"--time-budget {c.time_budget:g} s reached"})
                    self.log(f"time budget of {c.time_budget:g} s reached at step "
                             f"{self.step}/{c.steps}; finishing the run")
                    self._flag_a_budget_spent_on_the_autoencoder()
                    break
            if self.step < c.steps and not budget_hit:  # interrupted: keep everything done so far
                if self.last_ckpt_step != self.step:
                    self.save_checkpoint()
                self.monitor.write({"event": "interrupted", "step": self.step})
                self.log(f"stopped at step {self.step}/{c.steps}; checkpoint saved. "
                         f"Continue with: {refgan_command()} train --resume {self.run_dir}")
                return 143 if self._signal == signal.SIGTERM else 130  # 128 + the signal number
        finally:
            self._stop_pool()
            bar.close()
            for s, handler in old.items():
                signal.signal(s, handler)
        self.finish()
        return 0

    @property
    def ae_end(self) -> int | None:
        """The step ``--latent-ae``'s first stage ends at (the models' ``ae_steps``,
        recorded in each checkpoint's meta); None for a run without it."""
        m = next(iter(self.models.values()))
        return m.ae_steps if getattr(m, "latent", False) else None

    def set_autoencoder_end(self, step: int) -> None:
        """``--latent-ae``'s first stage ends at ``step``: the steps from there train the
        latent GAN."""
        for m in self.models.values():
            m.ae_steps = int(step)

    def _end_the_autoencoder_stage_on_its_share_of_the_budget(self) -> None:
        """With a time budget, the autoencoder stage ends once it has spent
        AE_BUDGET_SHARE of it, if its N steps have not ended it before
        (refgan/gans/latent.py): on a slow machine N steps could spend all of it."""
        c = self.config
        if (self.ae_end is None or self.step >= self.ae_end or not c.time_budget
                or time.perf_counter() - self._t0 < AE_BUDGET_SHARE * c.time_budget):
            return
        asked = self.ae_end
        self.set_autoencoder_end(self.step)
        message = (f"the autoencoder stage ended at step {self.step} of the {asked} asked for "
                   f"(--latent-ae), having spent {AE_BUDGET_SHARE:.0%} of --time-budget "
                   f"{c.time_budget:g} s; the latent GAN trains from here")
        self.monitor.write({"event": "latent_ae_end", "step": self.step, "message": message})
        self.log(message)

    def _flag_a_budget_spent_on_the_autoencoder(self) -> None:
        """A time budget that ends inside ``--latent-ae``'s first stage leaves the latent
        GAN untrained: its samples are the decoder's drawings of an untrained G's codes,
        which the closing figures would otherwise report as if it had trained."""
        if self.ae_end is not None and self.step <= self.ae_end:
            for key in self.keys:
                self.monitor.flag(
                    "autoencoder_stage", key, f"the time budget ended at step {self.step}, "
                    f"before the latent GAN's first step (the autoencoder stage ends at step "
                    f"{self.ae_end}, --latent-ae): the latent GAN never trained; lower "
                    "--latent-ae or raise --time-budget", self.step)

    # -- where the models are read (the JAX engine syncs its state first) -----------
    def samples_grid(self) -> dict:
        self.standing_statistics()
        return self.monitor.sample_grid(self.models, self.step)

    def finish(self):
        """Best generator back in place (``use_best``), final labelled grid and the
        progress animation."""
        sampled_step = None
        if self.config.use_best and self.best is not None:
            sampled_step = int(self.best["step"])
            path = self.run_dir / "checkpoints" / checkpoint.BEST_NPZ
            with np.load(path, allow_pickle=False) as z:
                checkpoint.restore_models(self.models, {k: z[k] for k in z.files}, path)
            self.log(f"sampling from the best checkpoint, step {self.best['step']} "
                     f"({self.best['metric']} {self.best['value']:.3f})")
        self.monitor.finish(self.models, self.step, sampled_step)
        self.log(f"finished step {self.step}/{self.config.steps} after "
                 f"{self.elapsed():.0f} s of training", console=False)

    def sample_class(self, name: str, n: int, seed: int) -> np.ndarray:
        """n images (n, 3, S, S) of class ``name`` (see :func:`refgan.training.load.sample_class`)."""
        return sample_class(self.models, self.data.class_names, name, n, seed)
