"""``python -m refgan COMMAND ...``: the same as the ``refgan`` command."""
import sys

from refgan.commands import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m refgan"))
