"""``python cli.py export RUN_DIR --to jax --out DIR``: a run's networks for JAX.

DIR receives, for every model of the run (one per class, or ``all``) and each of its
networks (``G``, ``D``, ``G_ema`` ...)::

    <model>.<net>.npz        the state dict (PyTorch names and layouts): refgan's
                             ``load_state_dict`` and ``to_variables`` read it
    <model>.<net>.stablehlo  the network in eval mode, serialised with jax.export
                             (StableHLO, for CPU / CUDA / TPU), batch fixed; written
                             when jax.export's serialiser (flatbuffers) is installed
    <model>.appearance.npz   runs of ``--appearance white|stain[-peak][-noise]``: the training images'
                             appearances, which the loader draws from and puts on each
                             generated image (``refgan.gans.appearance``, copied beside
                             it as ``appearance.py``; numpy only)
    manifest.json            names, shapes, the batch size, the run's config, and under
                             ``skipped`` the networks not exported and why: encoders
                             (ALI's, ``--vae``'s: two outputs, mu and logvar) and ALI's
                             joint critic (two inputs), which the loader's one-input,
                             one-output call does not fit
    loader.py                ``load(name) -> f(images_or_z)``: needs jax and numpy
                             only (no refgan) where the StableHLO files exist, else
                             it rebuilds the network with refgan (loader_template.py)

The StableHLO files run without refgan's Python code: the refgan forward was traced
once, here, through the JAX twins.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import jax
import numpy as np

from refgan.data.names import inside
from refgan.errors import UserError
from refgan.training.load import load_models, write_appearances
from refgan.export import to_jax, to_variables
from refgan.gans import MODEL_CLASSES
from refgan.gans.ali import PairDiscriminator
from refgan.gans.architectures import Encoder
from refgan.gans.latent import critic_input
from refgan.training import checkpoint

PLATFORMS = ("cpu", "cuda", "tpu")


def _input_spec(name, module, config, batch):
    """The input one network of the zoo reads: z for generators, the critic's input for
    D (codes with --latent-ae), images otherwise."""
    if name.startswith("G"):
        return (batch, config["latent_dim"])
    channels, side = critic_input(config) if name == "D" else (3, config["size"])
    return (batch, channels, side, side)


def _serialise(module, variables, shape, dtype):
    # lazy: jax.export exists from jax 0.4.30 on; with an older jax the ImportError is
    # caught below and the export is written without StableHLO, as without flatbuffers
    from jax import export

    apply, _ = to_jax(module)
    f = jax.jit(lambda v, x: apply(v, x, train=False)[0])
    args = (jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), variables),
            jax.ShapeDtypeStruct(shape, dtype))
    try:
        exp = export.export(f, platforms=PLATFORMS)(*args)
    except Exception:  # a platform this jaxlib cannot lower for: the host's own
        exp = export.export(f)(*args)
    return exp.serialize(), list(exp.platforms)


def not_exported(module) -> str | None:
    """Why a network of the zoo is left out of the bundle, or None: the bundle's loader
    calls every network with one array and returns one."""
    if isinstance(module, Encoder):
        return "an encoder returns two arrays (mu, logvar); the loader returns one"
    if isinstance(module, PairDiscriminator):
        return "ALI's joint critic reads two inputs (x, z); the loader gives one"
    return None


def export_run(run_dir, out, batch: int = 64, which: str | None = None) -> Path:
    """Write the export of ``run_dir``'s checkpoint ``which`` (None: the one the run
    reported) into ``out`` (see the module docstring); ``manifest.json`` says which."""
    run_dir, out = Path(run_dir), Path(out)
    if not (run_dir / "checkpoints").is_dir():
        raise UserError(f"{run_dir} is not a run folder with checkpoints")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose a new --out folder")
    models, meta = load_models(run_dir, which)
    if any(m.conditional and "appearance" in m.aux for m in models.values()):
        raise UserError(f"{run_dir} is a conditional model trained with --appearance "
                        f"{meta['config']['appearance']}: its appearance is drawn per class after "
                        "the generator, which the export does not carry; use 'refgan generate' "
                        "for its samples")
    out.mkdir(parents=True, exist_ok=True)
    appearance_files = write_appearances(models, out)
    manifest = {"run_dir": str(run_dir), "step": meta["step"], "checkpoint": meta["checkpoint"],
                "checkpoint_why": meta["checkpoint_why"], "batch": batch,
                "config": meta["config"], "models": {}, "skipped": {}}
    for key, m in models.items():
        for net_name, module in m.nets.items():
            name = f"{key}.{net_name}"
            why = not_exported(module)
            if why:
                manifest["skipped"][name] = why
                continue
            state = module.state_dict()
            np.savez(inside(out, f"{name}.npz"), **state)
            variables = to_variables(state, module)
            shape = _input_spec(net_name, module, meta["config"], batch)
            try:
                blob, platforms = _serialise(module, variables, shape, np.float32)
                inside(out, f"{name}.stablehlo").write_bytes(blob)
            except ImportError as err:  # jax.export's serialiser needs flatbuffers
                platforms, notes = [], manifest.setdefault("notes", [])
                if not notes:
                    notes.append(f"no StableHLO written ({err}); loader.py then rebuilds "
                                 "the networks with refgan")
            manifest["models"][name] = {
                "params": list(variables["params"]), "state": list(variables["state"]),
                "dtypes": {k: str(v.dtype) for group in variables.values()
                           for k, v in group.items()},
                "input_shape": list(shape), "platforms": platforms,
                "kind": "generator" if net_name.startswith("G") else "discriminator"}
            if key in appearance_files and net_name.startswith("G"):
                manifest["models"][name]["appearance"] = appearance_files[key]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    shutil.copyfile(Path(__file__).with_name("loader_template.py"), out / "loader.py")
    return out
