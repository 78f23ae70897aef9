"""``python cli.py export RUN_DIR --to {jax,torch} --out DIR``: a trained run's networks.

``--to torch``: each network's weights as ``<model>.<net>.safetensors`` (plain PyTorch
names, no pickle), its architecture in ``manifest.json`` and ``refgan_torch.py``, a
standalone module that builds the networks in PyTorch and loads them (needs torch only
where it runs; exporting needs no torch).

``--to jax``: each network's weights (``.npz``, PyTorch names and layouts), its eval-mode
forward as StableHLO (jax.export; CPU, CUDA and TPU) and ``loader.py``, which runs
them with jax, numpy and flatbuffers. Needs the optional extra: pip install '.[jax]'.
"""
from __future__ import annotations

import argparse
import json

from refgan.errors import UserError
from refgan.torch_export import export_run as export_torch


def add_parser(sub):
    p = sub.add_parser("export", help="export a run's networks (to PyTorch or JAX)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder with checkpoints")
    p.add_argument("--to", choices=["jax", "torch"], default="jax", help="target (default jax)")
    p.add_argument("--out", required=True, metavar="DIR", help="new folder to write")
    p.add_argument("--checkpoint", default=None, metavar="best|latest|STEP",
                   help="checkpoint to export (default: the one the run reported)")
    p.add_argument("--batch", type=int, default=64,
                   help="batch size the networks are traced with (default 64)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    if args.to == "torch":
        manifest = export_torch(args.run_dir, args.out, args.checkpoint)
        print(f"exported {args.run_dir} (step {manifest['step']}: "
              f"{manifest['checkpoint_why']}) to {args.out}: " + ", ".join(
            f"{n}.safetensors" for n in manifest["networks"]) + ", manifest.json, refgan_torch.py")
        for name, why in manifest["skipped"].items():
            print(f"  not exported: {name} ({why})")
        print(f"use it with: cd {args.out} && python -c \"import refgan_torch; "
              f"print(refgan_torch.load('{next(iter(manifest['networks']))}'))\"")
        return 0
    try:
        import jax  # noqa: F401
    except ModuleNotFoundError:
        raise UserError("exporting to JAX needs jax: pip install '.[jax]'") from None
    if args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    from refgan.export.bundle import export_run  # lazy: refgan.export imports JAX, optional

    out = export_run(args.run_dir, args.out, batch=args.batch, which=args.checkpoint)
    meta = json.loads((out / "manifest.json").read_text())
    print(f"exported {args.run_dir} (step {meta['step']}: {meta['checkpoint_why']}) to {out}: " + ", ".join(
        sorted(p.name for p in out.iterdir())))
    for name, why in meta["skipped"].items():
        print(f"  not exported: {name} ({why})")
    print(f"use it with: cd {out} && python -c \"import loader; print(loader.names())\"")
    return 0
