#!/usr/bin/env python3
"""refgan command line.

    python cli.py [--backend {numpy,numba,cupy}] COMMAND ...

Each command lives in its own module under ``refgan/commands/`` and exposes
``add_parser(subparsers)`` and ``run(args)``; this file only wires them together,
so a new command never touches another's code.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

import refgan
from refgan.backend import BACKENDS

# Command modules, in the order ``--help`` lists them. A module that is missing
# (a feature not built yet) is simply not offered.
COMMANDS = ["train", "generate", "data", "study", "export"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cli.py",
        description="refgan: reference GANs in NumPy for tiny medical-imaging datasets.",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("REFGAN_BACKEND"),
        help="array backend (default: $REFGAN_BACKEND, else numba on CPU)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"refgan.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"refgan.commands.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.backend:
            refgan.set_backend(args.backend)
        return int(args.run(args) or 0)
    except refgan.UserError as err:  # bad input: one clear line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
