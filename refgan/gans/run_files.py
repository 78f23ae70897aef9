"""The run-folder files GAN users look for (stylegan2-ada-pytorch, StudioGAN) and
what made them:

* ``config.json``: the resolved options plus ``provenance`` (refgan version, git
  commit, command line, library versions: :mod:`refgan.provenance`) of the first
  start, and ``history``: one entry per start or resume (time, command, step range,
  refgan and commit), so a resumed run keeps the record of every session;
* ``log.txt``: the console's status lines, with time stamps (``RunLog``);
* ``reals.png``: a grid of the real training images, one labelled row per class;
* ``progress.gif``: the fixed-z sample grids with their step number on every frame;
* the best checkpoint's score (``--best-metric``): :func:`sample_quality`, KID on simple
  features between generated and real *training* images, or ``c2st``, the classifier
  two-sample test against fresh cells (:func:`quality.c2st_score`,
  :func:`quality.reference_images`); the test split plays no part in choosing a
  checkpoint.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from refgan import random
from refgan.data import save_grid
from refgan.gans import quality
from refgan.gans.checkpoint import atomic_write_bytes, atomic_write_json, sha256_file
from refgan.provenance import provenance

CONFIG, LOG, REALS, GIF = "config.json", "log.txt", "reals.png", "progress.gif"
BEST_NPZ, BEST_JSON = "best.npz", "best.json"      # in checkpoints/


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_config(run_dir, config: dict, step: int, command: list[str] | None = None) -> dict:
    """Write ``config.json``: ``config`` + ``provenance`` + ``history`` (one entry added).

    On a resume (``config.json`` exists) the first session's ``provenance`` and every
    earlier ``history`` entry are kept; ``step`` is where this session starts.
    """
    path = Path(run_dir) / CONFIG
    old = json.loads(path.read_text()) if path.exists() else {}
    record = provenance(command)
    session = {"started_utc": _now(), "from_step": int(step), "to_step": int(config["steps"]),
               "command": record["command"], "refgan": record["refgan"],
               "git_commit": record["git_commit"]}
    out = dict(config, provenance=old.get("provenance", record),
               history=old.get("history", []) + [session])
    atomic_write_json(path, out)
    return out


def config_options(record: dict) -> dict:
    """The options of a ``config.json`` record, without its provenance and history."""
    return {k: v for k, v in record.items() if k not in ("provenance", "history")}


class RunLog:
    """``log.txt``: each status line (time-stamped) appended to the run folder's log,
    and also handed to ``echo`` (the console), unless ``echo`` is None."""

    def __init__(self, run_dir, echo=None):
        self.path, self.echo = Path(run_dir) / LOG, echo

    def __call__(self, message: str, console: bool = True) -> None:
        if console and self.echo is not None:
            self.echo(message)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            for line in str(message).strip("\n").splitlines() or [""]:
                f.write(f"{_now()} {line}\n")


def write_reals(run_dir, images_by_class: dict, n: int = 8, seed: int = 0) -> Path:
    """``reals.png``: up to ``n`` real images per class (N, 3, S, S), a labelled row each."""
    rng = np.random.default_rng(seed)
    rows = [imgs[rng.choice(len(imgs), min(n, len(imgs)), replace=False)]
            for imgs in images_by_class.values()]
    width = max(len(r) for r in rows)
    rows = [np.concatenate([r, np.ones((width - len(r),) + r.shape[1:], r.dtype)]) for r in rows]
    path = Path(run_dir) / REALS
    save_grid(np.concatenate(rows), path, nrow=width, row_labels=list(images_by_class),
              title="real training images")
    return path


def stamp_step(frame: np.ndarray, step: int) -> np.ndarray:
    """A uint8 (H, W, 3) frame with a white band on top reading ``step N``."""
    h, w, _ = frame.shape
    size = max(10, min(24, w // 12))
    band = np.full((size + 6, w, 3), 255, np.uint8)
    image = Image.fromarray(np.concatenate([band, frame]))
    ImageDraw.Draw(image).text((4, 2), f"step {step}", fill=(0, 0, 0),
                               font=ImageFont.load_default(size=size))
    return np.asarray(image)


def write_progress_gif(run_dir, frames: list[tuple[int, np.ndarray]], ms_per_frame: int = 300) -> Path:
    """``progress.gif`` from ``[(step, uint8 (H, W, 3) grid), ...]``, each frame stamped."""
    import imageio.v3 as iio

    path = Path(run_dir) / GIF
    iio.imwrite(path, np.stack([stamp_step(f, s) for s, f in frames]), duration=ms_per_frame,
                loop=0)
    return path


#: What ``sample_quality`` measures, as recorded with the best checkpoint.
BEST_METRIC = "kid_simple_vs_train"


def sample_quality(generated: dict, reals: dict) -> float:
    """Mean over classes of KID between generated and real *training* images of the
    class, on :func:`quality.simple_features` (thumbnail, colour histograms, sharpness)
    as they are (not normalised as the closing figures' ``kid_simple`` is).

    Cheap enough for every checkpoint (a fraction of a second; the two-sample test
    takes seconds); about 0 for real-vs-real and 2 for noise on the embedded cells.
    Lower is better.
    """
    return float(np.mean([quality.kid(quality.simple_features(images),
                                      quality.simple_features(reals[name]))
                          for name, images in generated.items()]))


# ------------------------------------------------------------ the Trainer's hooks
def _reals_by_class(trainer) -> dict:
    ds = trainer.data.train
    return {name: ds.images[ds.labels == i] for i, name in enumerate(ds.class_names)}


def start_session(trainer) -> None:
    """At every start or resume of ``trainer.run``: the console also goes to log.txt,
    config.json gains this session, and a fresh run gets reals.png."""
    if not isinstance(trainer.log, RunLog):
        trainer.log = RunLog(trainer.run_dir, echo=trainer.log)
    c = trainer.config
    record = write_config(trainer.run_dir, c.to_json(), trainer.step)
    trainer.log(f"{'resume' if trainer.step else 'start'} {c.model} at step {trainer.step}/"
                f"{c.steps}: {record['history'][-1]['command']}", console=False)
    if trainer.step == 0:
        write_reals(trainer.run_dir, _reals_by_class(trainer), n=c.n_fixed, seed=c.seed)


def status_line(record: dict, steps: int) -> str:
    """One log.txt line from a metrics record: step, losses per model, speed, time."""
    losses = "  ".join(f"{k} {v:.4g}" for k, v in record.items()
                       if k.split("/")[-1] in ("d_loss", "g_loss", "wasserstein"))
    return (f"step {record['step']}/{steps}  {losses}  {record['sec_per_step']:.3f} s/step  "
            f"{record['elapsed_s']:.0f} s")


def read_best(run_dir) -> dict | None:
    """``checkpoints/best.json`` of a run, or None."""
    path = Path(run_dir) / "checkpoints" / BEST_JSON
    return json.loads(path.read_text()) if path.exists() else None


def update_best(trainer, npz: Path, best: dict | None) -> dict | None:
    """Score the generators just saved in ``npz`` (:func:`sample_quality`, up to 64
    images per class); if better than ``best``, copy the checkpoint to
    ``checkpoints/best.npz`` and describe it in ``best.json``. Returns the best record;
    every checkpoint's score goes to log.txt.

    The scoring draws its latents from its own seed and leaves refgan's random
    stream as it was, so a run trains the same with or without it.
    """
    reals = {k: v for k, v in _reals_by_class(trainer).items() if len(v) >= 2}
    metric = trainer.config.best_metric
    if metric == "c2st":  # against fresh cells (quality.reference_images), 100 per class
        if getattr(trainer, "best_reference", None) is None:
            trainer.best_reference = quality.reference_images(trainer.config, trainer.data.train)
        reals = {k: trainer.best_reference[k] for k in reals}
    saved = random.get_state()
    try:
        generated = {name: trainer.sample_class(name, 100 if metric == "c2st" else min(64, len(imgs)),
                                                seed=trainer.config.seed + 5000 + i)
                     for i, (name, imgs) in enumerate(reals.items())}
    finally:
        random.set_state(saved)
    if metric == "c2st":
        value = quality.c2st_score(reals, generated, seed=trainer.config.seed)[0]
    else:
        value = sample_quality(generated, reals)
    name = BEST_METRIC if metric == "kid_simple" else "c2st_vs_fresh"
    kept = best is not None and best.get("metric") == name and value >= best["value"]
    trainer.log(f"checkpoint {trainer.step}: {name} {value:.4f}"
                + (f" (best: step {best['step']}, {best['value']:.4f})" if kept else " (new best)"),
                console=False)
    if kept:
        return best
    folder = npz.parent
    atomic_write_bytes(folder / BEST_NPZ, lambda f: f.write(npz.read_bytes()))
    record = {"step": int(trainer.step), "metric": name, "value": value,
              "file": BEST_NPZ, "sha256": sha256_file(folder / BEST_NPZ)}
    atomic_write_json(folder / BEST_JSON, record)
    return record


def write_progress_gif_of(run_dir) -> Path | None:
    """progress.gif from the run's ``samples/step_NNNNNNN.png`` grids, steps stamped."""
    import imageio.v3 as iio

    files = sorted((Path(run_dir) / "samples").glob("step_*.png"))
    if not files:
        return None
    return write_progress_gif(run_dir, [(int(f.stem.split("_")[1]), iio.imread(f)[..., :3])
                                        for f in files])
