"""The command line: ``refgan COMMAND ...`` (also ``python -m refgan`` and ``python cli.py``).

One module per command, each with ``add_parser`` and ``run``:
``add_parser(sub)`` must call ``sub.add_parser(NAME, ...)`` and
``parser.set_defaults(run=run)``; ``run(args)`` returns an exit code. This module only
wires them together, so a new command never touches another's code.

Streams: results go to stdout, status lines and progress bars to stderr. ``-q`` drops
the stderr chatter (errors and warnings still show), ``-v`` adds tracebacks to errors
and debug log lines; commands read ``args.verbosity`` (-1, 0 or 1) for anything finer.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import sys
import traceback
import warnings

import refgan
from refgan.backend import BACKENDS
from refgan import provenance
from refgan.provenance import version_line

# Command modules, in the order ``--help`` lists them. A module that is missing
# (a feature not built yet) is simply not offered.
COMMANDS = ["train", "generate", "sweep", "data", "study", "export", "reproduce", "weights"]


class _PrintVersion(argparse.Action):
    """``--version``, computed only when asked (it runs git)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_line())
        parser.exit()


def build_parser(prog: str = "refgan") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="refgan: reference GANs in NumPy for tiny medical-imaging datasets.",
    )
    parser.add_argument("--version", action=_PrintVersion, nargs=0,
                        help="show version, install location, git commit and exit")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("REFGAN_BACKEND"),
        help="array backend (default: $REFGAN_BACKEND, else numba on CPU)",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                          default=0, help="only results and errors: no progress bars or status lines")
    loudness.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                          help="debug log lines, and tracebacks with errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"refgan.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"refgan.commands.{name}":
                continue
            raise
        module.add_parser(sub)
    _plain_help(parser, prog)
    return parser


def _plain_help(parser: argparse.ArgumentParser, prog: str) -> None:
    """``plain_text`` on the description and epilog of every (sub-)command parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.description = plain_text(command.description, prog)
                command.epilog = plain_text(command.epilog, prog)
                _plain_help(command, prog)


def plain_text(doc: str | None, prog: str = "refgan") -> str | None:
    """A command module's RST docstring as terminal text: ``x`` and :role:`x` become x,
    and its ``python cli.py`` examples use the name the user typed."""
    if not doc:
        return doc
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    doc = re.sub(r"``([^`]+)``", r"\1", doc)
    return doc.replace("python cli.py", prog)


@contextlib.contextmanager
def _stderr_for(verbosity: int):
    """Route the stderr chatter by loudness; errors and warnings always reach the terminal.

    refgan's loggers (``logging.getLogger("refgan....")``) print their message to stderr:
    debug lines with ``-v``, info lines by default, warnings and errors only with ``-q``.
    """
    real_stderr = sys.stderr
    logger, handler = logging.getLogger("refgan"), logging.StreamHandler(real_stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity])
    logger.propagate = False
    show_warning = warnings.showwarning
    try:
        if verbosity >= 0:
            yield real_stderr
        else:
            warnings.showwarning = lambda *a, **k: show_warning(*a, **{**k, "file": real_stderr})
            with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
                yield real_stderr
    finally:
        warnings.showwarning = show_warning
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def main(argv: list[str] | None = None, prog: str = "refgan") -> int:
    """Run one command line; returns the exit code (2 for a user error, 130 for Ctrl-C)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    provenance.set_command([prog] + list(sys.argv[1:] if argv is None else argv))
    with _stderr_for(args.verbosity) as stderr:
        try:
            if args.backend:
                refgan.set_backend(args.backend)
            return int(args.run(args) or 0)
        except refgan.UserError as err:  # bad input: one clear line, no traceback
            if args.verbosity > 0:
                traceback.print_exc(file=stderr)
            print(f"error: {err}", file=stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C outside a training loop (which saves and says how to resume)
            if args.verbosity > 0:
                traceback.print_exc(file=stderr)
            print(f"interrupted (Ctrl-C) during {prog} {args.command}; files already finished are kept",
                  file=stderr)
            return 130
