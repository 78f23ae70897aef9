"""What a training run shows and watches: sample grids, diversity, failure flags, logs.

The trainer runs the loop; a :class:`Monitor` looks at it. It owns

* ``metrics.jsonl``: one JSON object per logged step, and events (flags, interrupt,
  divergence) as ``{"event": ..., "message": ...}``;
* ``samples/step_*.png``: fixed-z samples, one row per model (class); at the end
  ``samples.png`` (labelled) and ``progress.gif`` (the grids as an animation, each
  frame stamped with its step: :mod:`refgan.gans.run_files`);
* the failure checks (Nizam and Md Ali name both failure modes):

  - divergence: a NaN/inf loss, or one above ``explode_threshold`` in magnitude,
    stops the run with :class:`TrainingDiverged`; the last good checkpoint is kept;
  - mode collapse: the mean pairwise distance of the fixed-z samples, divided by
    that of real images of the class, below ``collapse_threshold`` (checked at each
    sample grid after the first fifth of the run) is flagged;
  - non-convergence: a BCE discriminator whose loss stays below 0.05 (it separates
    real from fake, and G's gradient vanishes), or a Wasserstein estimate that
    doubles between windows, is flagged.

The fixed latents and the real images' diversity come from their own generator
(``[seed, 2]``), so watching a run never moves the streams that train it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from refgan.data import save_grid, to_uint8
from refgan.errors import UserError
from refgan.gans import run_files
from refgan.gans.config import TrainConfig
from refgan.gans.data import GanData


class TrainingDiverged(UserError):
    """A loss became NaN/inf or exploded; the last good checkpoint is kept."""


def mosaic(rows: list[np.ndarray], scale: int = 1) -> np.ndarray:
    """Rows of images (n, 3, S, S) in [-1, 1] -> one uint8 (H, W, 3) picture."""
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
    """Mean pairwise Euclidean distance between the images of a batch (n, ...)."""
    f = x.reshape(len(x), -1).astype(np.float64)
    sq = (f * f).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * f @ f.T, 0)
    n = len(f)
    return float(np.sqrt(d2)[~np.eye(n, dtype=bool)].mean()) if n > 1 else 0.0


class Monitor:
    """Sample grids, health checks and the metrics log of one run (module docstring).

    ``keys`` are the trainer's model keys: class names (one model per class) or
    ``["all"]`` (one conditional model).
    """

    def __init__(self, config: TrainConfig, data: GanData, keys: list[str], run_dir,
                 log=print):
        self.config, self.keys, self.run_dir, self.log = config, keys, Path(run_dir), log
        self.class_names = data.class_names
        self.flagged: set = set()                  # (kind, key), shown once each
        self.history: dict[str, list] = {}         # key -> [{metric: value} per step]
        fixed = np.random.default_rng([config.seed, 2])
        self.fixed_z = fixed.standard_normal((config.n_fixed, config.latent_dim)).astype(np.float32)
        self.real_div = {}
        train = data.train
        for i, k in enumerate(keys):
            real = train.images if k == "all" else train.images[train.labels == i]
            pick = fixed.choice(len(real), min(len(real), config.n_fixed), replace=False)
            self.real_div[k] = diversity(real[pick])

    def fixed_labels(self, key):
        """The labels a conditional model's grid row asks for (None per class)."""
        if key == "all":
            return np.arange(self.config.n_fixed) % len(self.class_names)
        return None

    # -- metrics.jsonl ---------------------------------------------------------------
    def write(self, record: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def record(self, metrics: dict) -> None:
        """Keep one step's '<key>/<metric>' values per model for the health checks."""
        for k in self.keys:
            self.history.setdefault(k, []).append(
                {n.split("/", 1)[1]: v for n, v in metrics.items() if n.startswith(k + "/")})

    # -- failure checks --------------------------------------------------------------
    def check_finite(self, metrics: dict, step: int, last_ckpt_step) -> None:
        """Raise TrainingDiverged on a NaN/inf or exploding loss."""
        limit = float(self.config.explode_threshold)
        for name, v in metrics.items():
            if not math.isfinite(v) or abs(v) > limit:
                what = "is not finite" if not math.isfinite(v) else f"exceeds {limit:g}"
                kept = (f"the last good checkpoint (step {last_ckpt_step}) is kept in "
                        f"{self.run_dir / 'checkpoints'}" if last_ckpt_step is not None
                        else "no checkpoint had been saved yet")
                msg = (f"training diverged at step {step}: {name} = {v:g} {what}; {kept}; "
                       "start a new run with lower learning rates (--lr-g/--lr-d) or a "
                       "different --seed")
                self.write({"event": "diverged", "step": step, "message": msg})
                raise TrainingDiverged(msg)

    def flag(self, kind: str, key: str, message: str, step: int) -> None:
        self.write({"event": kind, "model": key, "step": step, "message": message})
        if (kind, key) not in self.flagged:  # on screen once per kind and class
            self.flagged.add((kind, key))
            self.log(f"WARNING [{key}] {message}")

    def check_health(self, rows: dict, step: int) -> dict:
        """Mode-collapse and non-convergence flags; returns '<key>/diversity' ratios."""
        c = self.config
        late = step >= max(1, c.steps // 5)
        out = {}
        for k, x in rows.items():
            ratio = diversity(x) / max(self.real_div[k], 1e-8)
            out[f"{k}/diversity"] = ratio
            if late and ratio < c.collapse_threshold:
                self.flag("mode_collapse", k, f"possible mode collapse at step {step}: "
                          f"fixed-z sample diversity is {ratio:.2f} of the real images' "
                          f"(threshold {c.collapse_threshold})", step)
        for k in rows:
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
                              f"{before:.2f} to {now:.2f}: the critic is pulling away from G",
                              step)
            elif "d_loss" in recent[-1]:
                d = np.mean([r["d_loss"] for r in recent])
                if d < 0.05:
                    self.flag("non_convergence", k, f"D's loss is {d:.3f}: it tells real from "
                              "fake almost perfectly and G's gradient vanishes", step)
        return out

    # -- pictures --------------------------------------------------------------------
    def fixed_samples(self, models: dict) -> dict:
        """{key: images (n_fixed, 3, S, S)} of every model at the fixed latents."""
        return {k: m.sample(len(self.fixed_z), labels=self.fixed_labels(k), z=self.fixed_z)
                for k, m in models.items()}

    def sample_grid(self, models: dict, step: int) -> dict:
        """Write ``samples/step_<step>.png``; return the rows (for check_health)."""
        rows = self.fixed_samples(models)
        img = mosaic(list(rows.values()), scale=max(1, 64 // self.config.size))
        path = self.run_dir / "samples" / f"step_{step:07d}.png"
        path.parent.mkdir(exist_ok=True)
        iio.imwrite(path, img)
        return rows

    def finish(self, models: dict, step: int) -> None:
        """Final labelled grid ``samples.png`` and the animation ``progress.gif``."""
        rows = np.concatenate(list(self.fixed_samples(models).values()))
        title = f"{self.config.model} after {step} steps (fixed z)"
        if self.keys == ["all"]:     # one conditional model: classes mixed within a row
            save_grid(rows, self.run_dir / "samples.png", labels=self.fixed_labels("all"),
                      class_names=self.class_names, nrow=len(self.fixed_z), title=title)
        else:                        # one model per class: a row each, labelled once
            save_grid(rows, self.run_dir / "samples.png", nrow=len(self.fixed_z),
                      row_labels=self.keys, title=title)
        run_files.write_progress_gif_of(self.run_dir)
