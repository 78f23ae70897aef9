"""What a training run shows and watches: sample grids, diversity, failure flags, logs.

The trainer runs the loop; a :class:`Monitor` looks at it. It writes the run
folder's ``metrics.jsonl``, ``samples/step_*.png`` (a conditional model's row for
each label at the same latents), ``samples.png`` and ``progress.gif`` (each file
described in :mod:`refgan.training.run_folder`), and it runs

* the failure checks (Nizam and Md Ali name both failure modes):

  - divergence: a NaN/inf loss, or one above ``explode_threshold`` in magnitude,
    stops the run with :class:`TrainingDiverged`; the last good checkpoint is kept;
  - mode collapse, per class: the fixed-z samples of a class (a per-class model's,
    or a conditional model's asked for that label) have a diversity ratio

        r_c = mean_{i != j} ||G(z_i, c) - G(z_j, c)|| / mean_{i != j} ||x_i - x_j||,
              x real images of class c,

    and r_c < ``collapse_threshold`` (at a sample grid after the first fifth of the
    run) flags class c by name. Within the class, because a conditional G that makes
    one image per class still differs across classes (r ~ 1 over a mixed row);
  - non-convergence, from the mean of each logged metric over the last
    w = max(10, steps / 10) steps (after the first fifth of the run, where a fresh D
    scores everything 1/2). A BCE game (no ``wasserstein`` logged) fails two ways:

    * ``discriminator_wins``: mean D loss < 0.05 (it tells real from fake almost
      perfectly; G is not catching up and D's saturated scores guide it poorly);
    * ``discriminator_at_chance``: D cannot tell real from fake, so its feedback
      carries no information. Seen directly where a model logs D's mean scores
      (``d_real``, ``d_fake``, probabilities): both within 0.1 of 1/2; or as D and G
      losses both < 0.05 at once (``losses_collapse``), which one D cannot produce
      (D loss -> 0 needs D(G(z)) -> 0, G loss -> 0 needs D(G(z)) -> 1), so D scores
      the same fakes differently in its step and in G's: Nizam and Md Ali's broken
      AC-GAN (G loss ~0.005).

    A Wasserstein critic's losses have any sign and scale and pass through zero in
    a healthy run, so none of these apply to it; it is flagged
    (``critic_runs_away``) when the estimate more than doubles between windows
    (to above 1) by more than three standard errors of the two windows' means, and
    climbs back to at least a quarter of the first window's (the estimate for the
    untrained G: as far from the real images as this run has been). The last
    condition keeps a limited-data critic that grows somewhat stronger out of it: the
    main job's estimate fell from 16 to 0.8 and rose to 1.6 while its samples kept
    improving. An estimate near zero is what convergence looks like, so no "critic at
    chance" rule exists for it.

  Each flag is an event ``{"event": "mode_collapse" | "non_convergence", "model":
  <class or key>, "failure": ..., "message": ...}``; the message names the failure,
  its numbers and what to try.

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
from refgan.training import run_folder
from refgan.training.config import TrainConfig
from refgan.training.data import GanData


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


# Non-convergence thresholds (module docstring), on means over the last window.
D_WINS_LOSS = 0.05       # BCE D loss below this: D separates real from fake almost perfectly
CHANCE_MARGIN = 0.1      # D's mean scores of real and of fake within this of 1/2: chance
LOSSES_COLLAPSE = 0.05   # D and G losses both below this: D's feedback is inconsistent


def grid_title(model: str, step: int, sampled_step: int | None = None) -> str:
    """The final grid's title: which weights drew it."""
    if sampled_step is None or sampled_step == step:
        return f"{model} after {step} steps (fixed z)"
    return f"{model}, best checkpoint: step {sampled_step} of {step} (fixed z)"


class Monitor:
    """Sample grids, health checks and the metrics log of one run (module docstring).

    ``keys`` are the trainer's model keys: class names (one model per class) or
    ``["all"]`` (one model for all classes). Sample rows, diversities and
    mode-collapse flags are per class whenever the model can be asked for a class.
    """

    def __init__(self, config: TrainConfig, data: GanData, keys: list[str], run_dir,
                 log=print):
        self.config, self.keys, self.run_dir, self.log = config, keys, Path(run_dir), log
        self.class_names = data.class_names
        self.flagged: set = set()                  # (kind, key), for the run's summary
        self.shown: set = set()                    # (kind, key, failure) on screen this session
        self.history: dict[str, list] = {}         # key -> [{metric: value} per step]
        fixed = np.random.default_rng([config.seed, 2])
        self.fixed_z = fixed.standard_normal((config.n_fixed, config.latent_dim)).astype(np.float32)
        self.real_div = {}                         # row key -> diversity of real images
        train = data.train
        for i, name in enumerate(self.class_names):
            self.real_div[name] = self._real_diversity(train.images[train.labels == i], fixed)
        mixture = self._real_diversity(train.images, fixed)  # the row of one model of all classes
        self.real_div.setdefault("all", mixture)  # a class named "all" keeps its own

    def _real_diversity(self, real: np.ndarray, rng) -> float:
        pick = rng.choice(len(real), min(len(real), self.config.n_fixed), replace=False)
        return diversity(real[pick])

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

    def flag(self, kind: str, key: str, message: str, step: int, failure: str | None = None) -> None:
        """Log a flag event; on screen once per kind, class and failure."""
        self.write({"event": kind, "model": key, "step": step,
                    **({"failure": failure} if failure else {}), "message": message})
        self.flagged.add((kind, key))
        if (kind, key, failure) not in self.shown:
            self.shown.add((kind, key, failure))
            self.log(f"WARNING [{key}] {message}")

    def check_health(self, rows: dict, step: int) -> dict:
        """Mode-collapse flags for the sample ``rows`` ({class or "all": images}) and
        non-convergence flags from the recorded metrics; returns '<row>/diversity'."""
        late = step >= max(1, self.config.steps // 5)
        out = {}
        for k, x in rows.items():
            ratio = diversity(x) / max(self.real_div[k], 1e-8)
            out[f"{k}/diversity"] = ratio
            if late and ratio < self.config.collapse_threshold:
                what = "all classes" if k == "all" else f"class {k!r}"
                self.flag("mode_collapse", k, f"possible mode collapse of {what} at step {step}: "
                          f"its fixed-z samples' diversity is {ratio:.2f} of the real images' "
                          f"(threshold {self.config.collapse_threshold}); try lower learning "
                          "rates (--lr-g/--lr-d) or another --seed", step)
        if late:
            for k in self.keys:
                self.check_convergence(k, step)
        return out

    def check_convergence(self, key: str, step: int) -> None:
        """The non-convergence rules of the module docstring for model ``key``."""
        # the steps with a critic update (--latent-ae's autoencoder stage has none)
        h = [r for r in self.history.get(key, []) if "d_loss" in r or "wasserstein" in r]
        w = max(10, self.config.steps // 10)
        if len(h) < w:
            return
        now = {n: float(np.mean([r.get(n, np.nan) for r in h[-w:]])) for n in h[-1]}
        if "wasserstein" in now:
            if len(h) < 2 * w:
                return
            earlier = np.array([r["wasserstein"] for r in h[-2 * w:-w]], np.float64)
            later = np.array([r["wasserstein"] for r in h[-w:]], np.float64)
            before, after = float(earlier.mean()), float(later.mean())
            start = float(np.mean([r["wasserstein"] for r in h[:w]]))
            # the rise must also stand out of the per-step noise (3 standard errors of
            # the difference of the two means): with small batches the estimate swings
            # by +-10 from step to step, and a drift of its mean from 0.1 to 1 is noise
            noise = math.sqrt(earlier.var() / len(earlier) + later.var() / len(later))
            if after > 2 * before and after > max(1.0, start / 4) \
                    and after - before > 3 * noise:
                self.flag("non_convergence", key, (
                    f"non-convergence, the critic runs away at step {step}: the Wasserstein "
                    f"estimate grew from {before:.2f} to {after:.2f} over the last "
                    f"{2 * w} steps, G falls behind; try a lower --lr-d, fewer --n-disc steps "
                    "or --diffaugment"), step, "critic_runs_away")
            return
        if "d_loss" not in now:
            return
        d, g = now["d_loss"], now.get("g_loss", math.inf)
        if d < LOSSES_COLLAPSE and g < LOSSES_COLLAPSE:
            self.flag("non_convergence", key, (
                f"non-convergence, D's feedback is meaningless at step {step}: D's loss "
                f"({d:.3f}) and G's loss ({g:.3f}) are both near zero over the last {w} steps, "
                "so D calls the fakes fake in its own step and real in G's; check that D sees "
                "real and fake images the same way in both steps (batch statistics, inputs) "
                "and restart with lower learning rates"), step, "losses_collapse")
        elif d < D_WINS_LOSS:
            g_text = f", G's loss {g:.2f}" if math.isfinite(g) else ""
            self.flag("non_convergence", key, (
                f"non-convergence, D wins at step {step}: D's loss is {d:.3f}{g_text} over the "
                f"last {w} steps, it tells real from fake almost perfectly and G is not "
                "catching up; try a lower --lr-d than --lr-g, or more training images "
                "(--grow)"), step, "discriminator_wins")
        elif "d_real" in now and "d_fake" in now and \
                max(abs(now["d_real"] - 0.5), abs(now["d_fake"] - 0.5)) < CHANCE_MARGIN:
            self.flag("non_convergence", key, (
                f"non-convergence, D cannot tell real from fake at step {step}: its mean score "
                f"of real images is {now['d_real']:.2f} and of fakes {now['d_fake']:.2f} over "
                f"the last {w} steps (chance 0.5), so its feedback tells G nothing; unless the "
                "samples already look real, D has stopped learning: try a higher --lr-d or "
                "more --n-disc steps"), step, "discriminator_at_chance")

    # -- pictures --------------------------------------------------------------------
    def fixed_samples(self, models: dict) -> dict:
        """{row: images (n_fixed, 3, S, S)} at the fixed latents: one row per class,
        a per-class model's or a conditional model's for that label (the same z in
        every row, so its rows differ by the class alone); an unconditional model of
        all classes gives the one row "all"."""
        n, K = len(self.fixed_z), len(self.class_names)
        rows = {}
        for k, m in models.items():
            if m.conditional:
                x = m.sample(n * K, labels=np.repeat(np.arange(K), n),
                             z=np.tile(self.fixed_z, (K, 1)))
                rows.update(zip(self.class_names, np.split(x, K)))
            else:
                rows[k] = m.sample(n, z=self.fixed_z)
        return rows

    def sample_grid(self, models: dict, step: int) -> dict:
        """Write ``samples/step_<step>.png``; return the rows (for check_health)."""
        rows = self.fixed_samples(models)
        img = mosaic(list(rows.values()), scale=max(1, 64 // self.config.size))
        path = self.run_dir / "samples" / f"step_{step:07d}.png"
        path.parent.mkdir(exist_ok=True)
        iio.imwrite(path, img)
        return rows

    def finish(self, models: dict, step: int, sampled_step: int | None = None) -> None:
        """Final labelled grid ``samples.png`` (a row per class) and ``progress.gif``;
        ``sampled_step``: the step of the weights in ``models`` when not the last one
        (the best checkpoint)."""
        rows = self.fixed_samples(models)
        title = grid_title(self.config.model, step, sampled_step)
        save_grid(np.concatenate(list(rows.values())), self.run_dir / "samples.png",
                  nrow=len(self.fixed_z), row_labels=list(rows), title=title)
        run_folder.write_progress_gif_of(self.run_dir)
