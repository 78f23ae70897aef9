"""Progress bars that suit where the output goes.

On a terminal, :func:`bar` is tqdm's bar, redrawn in place. Anywhere else (a file, a
pipe, a cluster job's log) a redrawn bar is one carriage-return line per update, a
log of hundreds of kilobytes that says nothing more; there :func:`bar` prints a plain
line now and then (``every`` seconds) and a last one when the work ends, if it took
long enough to have printed any.
"""
from __future__ import annotations

import sys
import time

from tqdm import tqdm


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def bar(total: int, *, file=None, disable: bool = False, every: float = 60.0, **tqdm_options):
    """tqdm's bar on a terminal, else a :class:`PlainProgress` (the same calls:
    ``update``, ``set_postfix``, ``close``). ``tqdm_options`` used by both: ``desc``,
    ``unit``, ``initial``."""
    file = sys.stderr if file is None else file
    if disable or is_terminal(file):
        return tqdm(total=total, file=file, disable=disable, **tqdm_options)
    return PlainProgress(total, file, every, desc=tqdm_options.get("desc") or "",
                         unit=tqdm_options.get("unit", "it"), initial=tqdm_options.get("initial", 0))


class PlainProgress:
    """``desc: n/total unit (p%), rate, elapsed, ETA  postfix`` every ``every`` seconds."""

    def __init__(self, total, file, every: float, desc: str = "", unit: str = "it", initial: int = 0,
                 clock=time.monotonic):
        self.total, self.file, self.every, self.desc, self.unit = total, file, every, desc, unit
        self.n = self.start_n = initial
        self.clock = clock
        self.t0 = self.last = clock()
        self.postfix, self.printed = "", 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.clock() - self.last >= self.every:
            self._line()

    def set_postfix(self, values=None, refresh: bool = False, **kw) -> None:
        values = dict(values or {}, **kw)
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.printed:
            self._line()

    def _line(self) -> None:
        now = self.clock()
        elapsed = now - self.t0
        done = self.n - self.start_n
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.n) / rate if rate > 0 and self.total else float("nan")
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        print(f"{self.desc + ': ' if self.desc else ''}{self.n}/{self.total} {self.unit}{pct}, "
              f"{rate:.3g} {self.unit}/s, {elapsed:.0f} s elapsed"
              + (f", ETA {eta:.0f} s" if eta == eta else "")
              + (f"  {self.postfix}" if self.postfix else ""), file=self.file, flush=True)
        self.last, self.printed = now, self.printed + 1
