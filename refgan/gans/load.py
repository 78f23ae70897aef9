"""``load_models(run_dir)``: the networks of a run folder, for export and sampling.

Needs only refgan's core (no JAX, no torch): the exporters to JAX and to PyTorch
both start here.
"""
from __future__ import annotations

import copy
from pathlib import Path

from refgan.errors import UserError
from refgan.gans import MODEL_CLASSES, checkpoint


def load_models(run_dir) -> tuple[dict, dict]:
    """``({model key: GAN}, latest checkpoint meta)`` rebuilt from the latest checkpoint.

    The model key is a class name for per-class runs, else ``all``; ``meta`` holds the
    step and the run's config (``checkpoints/latest.json``).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "checkpoints").is_dir():
        raise UserError(f"{run_dir} is not a run folder with checkpoints")
    arrays, meta = checkpoint.load(run_dir / "checkpoints")
    config = meta["config"]
    states = checkpoint.split_models(arrays)
    n_classes = 1 if config["per_class"] else len(config["classes"])
    models = {}
    for key, state in states.items():
        m = MODEL_CLASSES[config["model"]](n_classes).build(config)
        if any(k.startswith("net.G_ema.") for k in state):
            m.nets["G_ema"] = copy.deepcopy(m.nets["G"])
        m.load_state_dict(state)
        models[key] = m
    return models, meta
