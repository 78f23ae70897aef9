"""The one training loop every model of the zoo runs in.

One generator iteration ("step") of each model is

    for k in range(n_disc):   model.discriminator_step(next batch)
    model.generator_step()    (with a batch for models whose G loss reads real images)
    EMA of G's weights, learning-rate schedules

With ``per_class`` (the default for unconditional models, Gaur et al.'s protocol) one
model per class is trained in lock-step inside one run: step t of the healthy
model, then step t of the blast model. A conditional model is one model, key
``all``, that sees the labels.

Run folder ``runs/<YYYYmmdd-HHMMSS>-<model>/``::

    config.json           every resolved option
    metrics.jsonl         one JSON object per logged step: '<class>/<metric>' values,
                          lr_g, lr_d, sec_per_step, elapsed_s; events (flags,
                          interrupt, divergence) as {"event": ..., "message": ...}
    samples/step_*.png    fixed-z samples, one row per class (model)
    progress.gif          the sample grids as an animation
    samples.png           final labelled grid
    checkpoints/          ckpt-<step>.npz + latest.json (see checkpoint.py)
    quality.json          the closing figures (quality.py), when computed

Reproducibility: ``refgan.manual_seed(seed)`` before the models are built; batches
come from their own ``numpy`` Generator; both streams' states are checkpointed,
so an interrupted and resumed CPU run ends with bit-identical weights.

Failure detection (Nizam and Md Ali names both failure modes):

* divergence: a NaN/inf loss, or one above ``explode_threshold`` in magnitude,
  stops the run with a UserError; the last good checkpoint is kept;
* mode collapse: the mean pairwise distance of the fixed-z samples, divided by
  that of real images of the class, below ``collapse_threshold`` (checked at each
  sample grid after the first fifth of the run) is flagged;
* non-convergence: a BCE discriminator whose loss stays below 0.05 (it separates
  real from fake, and G's gradient vanishes), or a Wasserstein estimate that
  doubles between windows, is flagged.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

import refgan
from refgan import backend, optim, random
from refgan.errors import UserError
from refgan.gans import MODEL_CLASSES, checkpoint, run_files
from refgan.gans.config import TrainConfig
from refgan.provenance import refgan_command


# ------------------------------------------------------------------------- data
def prepare_data(c: TrainConfig):
    """(train, test, gan_set): the real split and the grown GAN training set."""
    from refgan import augment
    from refgan.data import load_dataset, make_blood_cells, split

    if c.data == "synthetic":
        ds = make_blood_cells(n_per_class=c.n_per_class, classes=tuple(c.classes),
                              size=c.size, seed=c.data_seed)
    else:
        ds = load_dataset(c.data, size=c.size)
        c.classes = list(ds.class_names)
    train, _, test = split(ds, test=c.test_frac, seed=c.data_seed)
    if c.grow == "dihedral":
        gan = augment.dihedral(train)
    elif c.grow == "rot45flip":
        rot = augment.rotations45(train)
        gan = augment.expand(rot, [augment.HorizontalFlip(p=1.0)])
    else:
        gan = train
    return train, test, gan


def data_hash(ds) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(ds.images).tobytes())
    h.update(np.ascontiguousarray(ds.labels).tobytes())
    return h.hexdigest()


def mosaic(rows: list[np.ndarray], scale: int = 1) -> np.ndarray:
    """Rows of images (n, 3, S, S) in [-1, 1] -> one uint8 (H, W, 3) picture."""
    from refgan.data import to_uint8

    n = max(len(r) for r in rows)
    S = rows[0].shape[-1]
    gap = 2
    out = np.full((len(rows) * (S + gap) + gap, n * (S + gap) + gap, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, img in enumerate(to_uint8(r)):
            y, x = gap + i * (S + gap), gap + j * (S + gap)
            out[y:y + S, x:x + S] = img
    if scale > 1:
        out = out.repeat(scale, 0).repeat(scale, 1)
    return out


def diversity(x: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between the images of a batch."""
    f = x.reshape(len(x), -1).astype(np.float64)
    sq = (f * f).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * f @ f.T, 0)
    n = len(f)
    return float(np.sqrt(d2)[~np.eye(n, dtype=bool)].mean()) if n > 1 else 0.0


def new_run_dir(root, model: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{stamp}-{model}"
    if path.exists():
        raise UserError(f"run folder {path} already exists; wait a second or pass "
                        "--run-dir NEW_FOLDER (refgan never overwrites a run)")
    return path


# ---------------------------------------------------------------------- trainer
class TrainingDiverged(UserError):
    """A loss became NaN/inf or exploded; the last good checkpoint is kept."""


class Trainer:
    """Builds the data and models of a config and runs (or resumes) training."""

    def __init__(self, config: TrainConfig, run_dir=None, log=None):
        self.config = config
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.run_dir = Path(run_dir) if run_dir else new_run_dir("runs", config.model)
        self.step = 0
        self._stop = False
        self.flagged: set = set()
        self.history: dict[str, list] = {}
        self.last_ckpt_step = None
        self.elapsed_before = 0.0      # seconds trained before this session (resume)
        self._t0 = time.perf_counter()
        self.best = None               # checkpoints/best.json of the run

    # -- construction ------------------------------------------------------------
    def setup(self):
        c = self.config
        backend.set_num_threads(int(c.threads))
        self.train_set, self.test_set, self.gan_set = prepare_data(c)
        self.data_hash = data_hash(self.gan_set)
        names = list(self.gan_set.class_names)
        if c.per_class:
            self.keys = names
            self.data = {k: self.gan_set.images[self.gan_set.labels == i]
                         for i, k in enumerate(names)}
            self.labels = {k: np.zeros(len(v), np.int64) for k, v in self.data.items()}
        else:
            self.keys = ["all"]
            self.data = {"all": self.gan_set.images}
            self.labels = {"all": self.gan_set.labels}
        for k, v in self.data.items():
            if len(v) < 2:
                raise UserError(f"class {k!r} has {len(v)} training image(s); a GAN needs more")
        if c.model == "acgan-ali":
            from refgan.gans.ali import attach_ali

            attach_ali(c)
        refgan.manual_seed(c.seed)
        cls = MODEL_CLASSES[c.model]
        n_classes = 1 if c.per_class else len(names)
        self.models = {k: cls(n_classes).build(c) for k in self.keys}
        self.schedules = {}
        for k, m in self.models.items():
            if c.ema > 0:
                m.nets["G_ema"] = copy.deepcopy(m.nets["G"])
            self.schedules[k] = {n: optim.make_schedule(c.schedule, o, c.steps)
                                 for n, o in m.opts.items()}
        self.batch_rng = np.random.default_rng([c.seed, 1])
        fixed = np.random.default_rng([c.seed, 2])
        self.fixed_z = fixed.standard_normal((c.n_fixed, c.latent_dim)).astype(np.float32)
        self.real_div = {}
        for i, k in enumerate(self.keys):
            real = (self.train_set.images if k == "all"
                    else self.train_set.images[self.train_set.labels == i])
            pick = fixed.choice(len(real), min(len(real), c.n_fixed), replace=False)
            self.real_div[k] = diversity(real[pick])
        return self

    def fixed_labels(self, key):
        if key == "all":
            return np.arange(self.config.n_fixed) % len(self.gan_set.class_names)
        return None

    # -- state ---------------------------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        arrays = checkpoint.join_models({k: m.state_dict() for k, m in self.models.items()})
        meta = dict(config=self.config.to_json(), data_hash=self.data_hash, backend=backend.get_backend().name,
                    refgan_rng=random.get_state(), batch_rng=self.batch_rng.bit_generator.state,
                    schedules={k: {n: s.state_dict() for n, s in v.items()}
                               for k, v in self.schedules.items()},
                    flagged=sorted(self.flagged), saved_at=datetime.now().isoformat(),
                    elapsed_s=round(self.elapsed(), 3))
        return arrays, meta

    def elapsed(self) -> float:
        """Seconds of training in this run, over every session (resumes add up)."""
        return self.elapsed_before + time.perf_counter() - self._t0

    def save_checkpoint(self):
        arrays, meta = self.state()
        npz = checkpoint.save(self.run_dir / "checkpoints", self.step, arrays, meta,
                              keep_every=self.config.keep_every)
        self.last_ckpt_step = self.step
        self.best = run_files.update_best(self, npz, self.best)

    @classmethod
    def resume(cls, run_dir, log=None, steps: int | None = None) -> "Trainer":
        """A trainer continuing the latest checkpoint of ``run_dir`` exactly."""
        arrays, meta = checkpoint.load(Path(run_dir) / "checkpoints")
        config = TrainConfig.from_json(meta["config"])
        if steps is not None:
            config.steps = int(steps)
        t = cls(config, run_dir, log).setup()
        if t.data_hash != meta["data_hash"]:
            raise UserError("the training data differ from those the run was trained on "
                            "(data hash mismatch); resume needs the same data")
        if meta["backend"] != backend.get_backend().name:
            t.log(f"note: run trained on backend {meta['backend']}, resuming on "
                  f"{backend.get_backend().name}: results will not be bit-identical")
        for k, state in checkpoint.split_models(arrays).items():
            t.models[k].load_state_dict(state)
        for k, v in meta["schedules"].items():
            for n, s in v.items():
                t.schedules[k][n].load_state_dict(s)
        random.set_state(meta["refgan_rng"])
        t.batch_rng.bit_generator.state = meta["batch_rng"]
        t.step = t.last_ckpt_step = int(meta["step"])
        if t.step > config.steps:
            raise UserError(f"the run is already at step {t.step}; --steps must be at least that")
        t.flagged = {tuple(f) for f in meta.get("flagged", [])}
        t.elapsed_before = float(meta.get("elapsed_s", 0.0))
        t.best = run_files.read_best(run_dir)
        return t

    # -- the loop ------------------------------------------------------------------
    def batch(self, key):
        n = len(self.data[key])
        B = self.config.batch
        idx = self.batch_rng.choice(n, B, replace=n < B)
        return refgan.tensor(self.data[key][idx]), self.labels[key][idx]

    def train_step(self) -> dict:
        c = self.config
        metrics = {}
        for key, m in self.models.items():
            m.epoch = (self.step * c.n_disc * c.batch) // len(self.data[key])
            d_logs = [m.discriminator_step(self.batch(key)) for _ in range(c.n_disc)]
            logs = {k: float(np.mean([d[k] for d in d_logs])) for k in d_logs[0]}
            logs.update(m.generator_step(self.batch(key) if m.needs_real_in_g_step else None))
            self._finish_model_step(key, m, logs, metrics)
        self.step += 1
        return metrics

    def _finish_model_step(self, key, m, logs: dict, metrics: dict) -> None:
        """After one model's update: EMA of G, lr schedules, metrics under ``key/``."""
        if self.config.ema > 0:
            m.update_ema(self.config.ema, self.step + 1)  # with its warm-up (base.GAN)
        for s in self.schedules[key].values():
            s.step()
        metrics.update({f"{key}/{k}": v for k, v in logs.items()})

    def check_finite(self, metrics):
        limit = float(self.config.explode_threshold)
        for name, v in metrics.items():
            if not math.isfinite(v) or abs(v) > limit:
                what = "is not finite" if not math.isfinite(v) else f"exceeds {limit:g}"
                kept = (f"the last good checkpoint (step {self.last_ckpt_step}) is kept in "
                        f"{self.run_dir / 'checkpoints'}" if self.last_ckpt_step is not None
                        else "no checkpoint had been saved yet")
                msg = (f"training diverged at step {self.step}: {name} = {v:g} {what}; {kept}; "
                       "start a new run with lower learning rates (--lr-g/--lr-d) or a "
                       "different --seed")
                self._write_log({"event": "diverged", "step": self.step, "message": msg})
                raise TrainingDiverged(msg)

    def _write_log(self, record):
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def flag(self, kind, key, message):
        record = {"event": kind, "model": key, "step": self.step, "message": message}
        self._write_log(record)
        if (kind, key) not in self.flagged:  # on screen once per kind and class
            self.flagged.add((kind, key))
            self.log(f"WARNING [{key}] {message}")

    def samples_grid(self):
        rows = {k: m.sample(len(self.fixed_z), labels=self.fixed_labels(k), z=self.fixed_z)
                for k, m in self.models.items()}
        img = mosaic(list(rows.values()), scale=max(1, 64 // self.config.size))
        import imageio.v3 as iio

        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        path.parent.mkdir(exist_ok=True)
        iio.imwrite(path, img)
        return rows

    def check_health(self, rows):
        c = self.config
        late = self.step >= max(1, c.steps // 5)
        out = {}
        for k, x in rows.items():
            ratio = diversity(x) / max(self.real_div[k], 1e-8)
            out[f"{k}/diversity"] = ratio
            if late and ratio < c.collapse_threshold:
                self.flag("mode_collapse", k, f"possible mode collapse at step {self.step}: "
                          f"fixed-z sample diversity is {ratio:.2f} of the real images' "
                          f"(threshold {c.collapse_threshold})")
        for k in self.models:
            h = self.history.get(k, [])
            w = max(10, c.steps // 10)
            if not late or len(h) < 2 * w:
                continue
            recent = h[-w:]
            if "wasserstein" in recent[-1]:
                now = np.mean([r["wasserstein"] for r in recent])
                before = np.mean([r["wasserstein"] for r in h[-2 * w:-w]])
                if now > 2 * before and now > 1.0:
                    self.flag("non_convergence", k, f"the Wasserstein estimate grew from "
                              f"{before:.2f} to {now:.2f}: the critic is pulling away from G")
            elif "d_loss" in recent[-1]:
                d = np.mean([r["d_loss"] for r in recent])
                if d < 0.05:
                    self.flag("non_convergence", k, f"D's loss is {d:.3f}: it tells real from "
                              "fake almost perfectly and G's gradient vanishes")
        return out

    def _on_sigint(self, signum, frame):
        if self._stop:  # second Ctrl-C: leave now
            raise KeyboardInterrupt
        self._stop = True
        self.log("\ninterrupt: finishing this step and saving a checkpoint "
                 "(Ctrl-C again to quit without saving)")

    def stop(self):
        """Ask the loop to stop at the end of the current step (as Ctrl-C does)."""
        self._stop = True

    def run(self, max_steps: int | None = None) -> int:
        """Train up to config.steps (or ``max_steps``, for tests: behaves like an
        interrupt there). Returns 0 when finished, 130 when interrupted."""
        from tqdm import tqdm

        c = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        run_files.start_session(self)
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, self._on_sigint) if main else None
        bar = tqdm(total=c.steps, initial=self.step, disable=not c.progress,
                   desc=f"{c.model} x{len(self.models)}", unit="it", dynamic_ncols=True,
                   file=sys.stderr)
        try:
            t_last, s_last, self._t0 = time.perf_counter(), self.step, time.perf_counter()
            if self.step == 0:
                self.samples_grid()
            budget_hit = False
            while self.step < c.steps and not self._stop:
                metrics = self.train_step()
                self.check_finite(metrics)
                for k in self.models:
                    self.history.setdefault(k, []).append(
                        {n.split("/", 1)[1]: v for n, v in metrics.items() if n.startswith(k + "/")})
                budget_hit = bool(c.time_budget) and time.perf_counter() - self._t0 > c.time_budget
                last = self.step == c.steps or budget_hit
                if self.step % c.sample_every == 0 or last:
                    metrics.update(self.check_health(self.samples_grid()))
                if self.step % c.log_every == 0 or last:
                    now = time.perf_counter()
                    m0 = next(iter(self.models.values()))
                    record = dict(step=self.step, elapsed_s=round(self.elapsed(), 3),
                                  sec_per_step=(now - t_last) / max(self.step - s_last, 1),
                                  **{f"lr_{n}": o.lr for n, o in m0.opts.items()}, **metrics)
                    self._write_log(record)
                    self.log(run_files.status_line(record, c.steps), console=False)
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
                    self._write_log({"event": "time_budget", "step": self.step,
                                     "message": f"--time-budget {c.time_budget:g} s reached"})
                    self.log(f"time budget of {c.time_budget:g} s reached at step "
                             f"{self.step}/{c.steps}; finishing the run")
                    break
            if self.step < c.steps and not budget_hit:  # interrupted: keep everything done so far
                if self.last_ckpt_step != self.step:
                    self.save_checkpoint()
                self._write_log({"event": "interrupted", "step": self.step})
                self.log(f"stopped at step {self.step}/{c.steps}; checkpoint saved. "
                         f"Continue with: {refgan_command()} train --resume {self.run_dir}")
                return 130
        finally:
            bar.close()
            if main:
                signal.signal(signal.SIGINT, old)
        self.finish()
        return 0

    def finish(self):
        """Best generator back in place (``use_best``), final labelled grid and the
        progress animation."""
        from refgan.data import save_grid

        if self.config.use_best and self.best is not None:
            path = self.run_dir / "checkpoints" / run_files.BEST_NPZ
            with np.load(path, allow_pickle=False) as z:
                checkpoint.restore_models(self.models, {k: z[k] for k in z.files}, path)
            self.log(f"sampling from the best checkpoint, step {self.best['step']} "
                     f"({self.best['metric']} {self.best['value']:.3f})")

        rows = [m.sample(len(self.fixed_z), labels=self.fixed_labels(k), z=self.fixed_z)
                for k, m in self.models.items()]
        title = f"{self.config.model} after {self.step} steps (fixed z)"
        if self.keys == ["all"]:     # one conditional model: classes mixed within a row
            save_grid(np.concatenate(rows), self.run_dir / "samples.png",
                      labels=self.fixed_labels("all"), class_names=self.gan_set.class_names,
                      nrow=len(self.fixed_z), title=title)
        else:                        # one model per class: a row each, labelled once
            save_grid(np.concatenate(rows), self.run_dir / "samples.png",
                      nrow=len(self.fixed_z), row_labels=self.keys, title=title)
        run_files.write_progress_gif_of(self.run_dir)
        self.log(f"finished step {self.step}/{self.config.steps} after "
                 f"{self.elapsed():.0f} s of training", console=False)

    # -- sampling for generate / quality --------------------------------------------
    def sample_class(self, name: str, n: int, seed: int) -> np.ndarray:
        """n images (n, 3, S, S) of class ``name``, z drawn from ``seed`` (the
        class's own generator, or the conditional model with that label)."""
        names = list(self.gan_set.class_names)
        if name not in names:
            raise UserError(f"unknown class {name!r}; this run has {', '.join(names)}")
        z = np.random.default_rng(seed).standard_normal((n, self.config.latent_dim))
        z = z.astype(np.float32)
        if "all" in self.models:
            return self.models["all"].sample(n, labels=np.full(n, names.index(name)), z=z)
        return self.models[name].sample(n, z=z)
