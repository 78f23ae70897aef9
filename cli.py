#!/usr/bin/env python3
"""refgan command line from a checkout: ``python cli.py [--backend NAME] COMMAND ...``.

The same as the installed ``refgan`` command and ``python -m refgan``; the parser and
the commands live in ``refgan/commands/``.
"""
import sys

from refgan.commands import COMMANDS, build_parser, main  # noqa: F401  (tests import them from here)

if __name__ == "__main__":
    sys.exit(main(prog="cli.py"))
