"""``python cli.py weights convert FILE.pth --to FILE.safetensors``: a PyTorch state dict
(torchvision's ImageNet weights, pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``)
as safetensors, the format ``refgan.backbones.load`` reads.

The ``.pth`` file is read with ``torch.load(..., weights_only=True)``, which refuses
anything but tensors and plain containers (no arbitrary pickled code); this needs torch
(the CPU wheel is enough: pip install '.[torch]'). refgan itself never unpickles.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from refgan.errors import UserError
from refgan.safetensors import write_safetensors


def add_parser(sub):
    p = sub.add_parser("weights", help="convert pretrained weight files for refgan.backbones",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    c = wsub.add_parser("convert", help="a PyTorch .pth state dict -> .safetensors")
    c.add_argument("source", metavar="FILE.pth", help="a PyTorch state dict (.pth / .pt)")
    c.add_argument("--to", required=True, metavar="FILE.safetensors", help="file to write")
    p.set_defaults(run=run)
    return p


def _state_dict(obj, source):
    """The {name: tensor} mapping inside what torch.load returned."""
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise UserError(f"{source}: expected a state dict (name -> tensor), got "
                        f"{type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        if not hasattr(value, "detach"):
            raise UserError(f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor")
        out[str(key)] = np.asarray(value.detach().cpu().numpy(), order="C")  # 0-d stays 0-d
    return out


def convert(source, target) -> int:
    """Write ``source`` (.pth) as ``target`` (.safetensors); returns the number of arrays."""
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    if target.suffix != ".safetensors":
        raise UserError(f"--to {target}: the output must end in .safetensors")
    try:
        import torch  # lazy: optional, only this command reads .pth files
    except ModuleNotFoundError:
        raise UserError("converting a .pth file needs torch: pip install '.[torch]' "
                        "(the CPU wheel is enough)") from None
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle/zip/runtime errors of many kinds
        raise UserError(f"{source}: torch.load(weights_only=True) refused it "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    state = _state_dict(obj, source)
    write_safetensors(target, state, metadata={"converted_from": source.name})
    return len(state)


def run(args) -> int:
    if args.weights_command == "convert":
        n = convert(args.source, args.to)
        print(f"wrote {args.to}: {n} arrays from {args.source}")
    return 0
