"""``refgan export RUN_DIR --to torch --out DIR``: a run's networks for PyTorch, no pickle.

(Not inside ``refgan.export``, which imports JAX: this exporter needs NumPy only.)

DIR receives, for every network of every model of the run (``<model>`` is a class
name for per-class runs, else ``all``; ``<net>`` is ``G``, ``D``, ``G_ema`` ...)::

    <model>.<net>.safetensors  the state dict under plain PyTorch names
                               (``project.0.weight``, not ``healthy::net.G.project.0.weight``)
    manifest.json              per network: its architecture (layers and their
                               arguments), input shape and kind; the run and its config
    refgan_torch.py            a standalone module (torch only) that builds each
                               architecture from the manifest and loads its weights
                               (``refgan/torch_template.py``)
    <model>.appearance.npz     runs of ``--appearance white|stain[-peak][-noise]``: the
    appearance.py              training images' appearances and
                               ``refgan.gans.appearance`` (numpy only);
                               ``refgan_torch.load`` puts one on each generated image,
                               drawn for its z as ``refgan generate`` draws it

The weights are written in the safetensors format with NumPy alone
(:mod:`refgan.safetensors`).

A network is exportable when it is a chain of refgan layers: ``nn.Sequential`` and the
zoo's ``Generator`` and ``Trunk`` (each applies its children in order); the manifest
records what its first layer reads (``input_shape``). WGAN-GP and DCGAN export whole
(G: z -> image, D: image -> score). Other models export their chain networks as they
are (InfoGAN/AC-GAN: trunk and heads separately; CGAN: G reads z joined to the label
embedding, D an image with the label plane); the glue between them (embeddings,
ALI's encoder and joint critic) is listed under ``skipped`` when it is not a chain, and
so is the generator of a conditional ``--appearance`` run (its appearance is drawn per
class, which the chain does not see).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from refgan import nn
from refgan.data.names import inside
from refgan.errors import UserError
from refgan.gans.architectures import Generator, Trunk
from refgan.gans.latent import Autoencoder, LatentGenerator, critic_input
from refgan.training.load import load_models, write_appearances
from refgan.provenance import provenance
from refgan.safetensors import write_safetensors

#: Modules whose forward applies their children in order (torch: nn.Sequential).
CHAINS = (nn.Sequential, Generator, Trunk, LatentGenerator, Autoencoder)
#: refgan layer -> the constructor arguments its torch twin needs.
LAYER_ARGS = {
    nn.Linear: ("in_features", "out_features"),
    nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation"),
    nn.ConvTranspose2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                         "output_padding", "dilation"),
    nn.BatchNorm1d: ("num_features", "eps", "momentum"),
    nn.BatchNorm2d: ("num_features", "eps", "momentum"),
    nn.LeakyReLU: ("negative_slope",),
    nn.Dropout: ("p",),
    nn.MinibatchStd: ("group_size",),
    nn.Upsample: ("scale_factor", "mode"),
    nn.Flatten: ("start_dim",),
    nn.Unflatten: ("shape",),
    nn.ReLU: (), nn.Tanh: (), nn.Sigmoid: (), nn.Softplus: (), nn.Identity: (),
}


def architecture(module: nn.Module) -> dict:
    """The layer tree of a chain network, as ``torch_template.build`` reads it.

    Raises ``TypeError`` for a module that is not a chain of known layers.
    """
    if isinstance(module, CHAINS):
        return {"layer": "Chain",
                "children": [[name, architecture(child)] for name, child in module._modules.items()]}
    for cls, names in LAYER_ARGS.items():
        if type(module) is cls:
            args = {k: _jsonable(getattr(module, k)) for k in names}
            if hasattr(module, "bias") and cls in (nn.Linear, nn.Conv2d, nn.ConvTranspose2d):
                args["bias"] = module.bias is not None
            return {"layer": cls.__name__, "args": args}
    raise TypeError(f"{type(module).__name__} has no PyTorch twin in refgan_torch.py")


def input_shape(arch: dict, size: int) -> list:
    """``[1, features]`` or ``[1, channels, size, size]``: what the chain's first layer reads
    (z for a generator, an image for a critic, trunk features for a head)."""
    while arch["layer"] == "Chain":
        arch = arch["children"][0][1]
    a = arch["args"]
    if arch["layer"] == "Linear":
        return [1, a["in_features"]]
    if arch["layer"] in ("Conv2d", "ConvTranspose2d"):
        return [1, a["in_channels"], size, size]
    raise TypeError(f"cannot tell the input of a network that starts with {arch['layer']}")


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def export_models(models: dict, config: dict, out, source: dict | None = None) -> dict:
    """Write the torch export of ``{model key: GAN}`` into ``out``; returns the manifest.

    ``config`` is the run's config (image ``size``, ``latent_dim``); ``source``
    (run folder, step, provenance) is copied into the manifest.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose a new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    manifest = dict(source or {}, config=config, networks={}, skipped={})
    appearance_files = write_appearances(
        {key: m for key, m in models.items() if not m.conditional}, out)
    for key, model in models.items():
        for net_name, module in model.nets.items():
            name = f"{key}.{net_name}"
            generator = net_name.startswith("G")
            if generator and model.conditional and "appearance" in model.aux:
                manifest["skipped"][name] = (
                    f"its images get their appearance after the generator, drawn per class "
                    f"(--appearance {config['appearance']}), which the exported chain (z "
                    "joined to the label embedding) does not carry; sample with 'refgan generate'")
                continue
            try:
                arch = architecture(module)
                side = critic_input(config)[1] if net_name == "D" else config["size"]
                shape = input_shape(arch, side)
            except TypeError as err:
                manifest["skipped"][name] = str(err)
                continue
            write_safetensors(inside(out, f"{name}.safetensors"), module.state_dict(),
                              metadata={"format": "pt", "refgan_network": name})
            manifest["networks"][name] = {"architecture": arch, "input_shape": shape,
                                          "kind": "generator" if generator else "network"}
            if generator and key in appearance_files:
                manifest["networks"][name]["appearance"] = appearance_files[key]
    if not manifest["networks"]:
        shutil.rmtree(out)
        raise UserError(f"no network of this {config['model']} run can be exported to torch: "
                        + "; ".join(f"{k}: {v}" for k, v in manifest["skipped"].items()))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.copyfile(Path(__file__).with_name("torch_template.py"), out / "refgan_torch.py")
    return manifest


def export_run(run_dir, out, which: str | None = None) -> dict:
    """Write the torch export of ``run_dir``'s checkpoint ``which`` (None: the one the
    run reported; see :func:`refgan.training.load.load_models`) into ``out``."""
    run_dir = Path(run_dir)
    models, meta = load_models(run_dir, which)
    source = {"run_dir": str(run_dir.resolve()), "step": meta["step"],
              "checkpoint": meta["checkpoint"], "checkpoint_why": meta["checkpoint_why"],
              "exported_by": provenance()}
    return export_models(models, meta["config"], out, source)
