"""``python cli.py export RUN_DIR --to jax --out DIR``: a trained run's networks for JAX.

Writes each network's weights (``.npz``, PyTorch names and layouts), its eval-mode
forward as StableHLO (jax.export; CPU, CUDA and TPU) and ``loader.py``, which runs
them with only jax and numpy installed. Needs the optional extra: pip install '.[jax]'.
"""
from __future__ import annotations

import argparse

from refgan.errors import UserError


def add_parser(sub):
    p = sub.add_parser("export", help="export a run's networks (to JAX)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder with checkpoints")
    p.add_argument("--to", choices=["jax"], default="jax", help="target (default jax)")
    p.add_argument("--out", required=True, metavar="DIR", help="new folder to write")
    p.add_argument("--batch", type=int, default=64,
                   help="batch size the networks are traced with (default 64)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    try:
        import jax  # noqa: F401
    except ModuleNotFoundError:
        raise UserError("exporting to JAX needs jax: pip install '.[jax]'") from None
    if args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    from refgan.export.bundle import export_run  # lazy: refgan.export imports JAX, optional

    out = export_run(args.run_dir, args.out, batch=args.batch)
    print(f"exported {args.run_dir} to {out}: " + ", ".join(
        sorted(p.name for p in out.iterdir())))
    print(f"use it with: cd {out} && python -c \"import loader; print(loader.names())\"")
    return 0
