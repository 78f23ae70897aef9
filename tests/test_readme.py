"""Every README example runs (a doctest for the README).

What is taken from README.md:

* each ```python block: all of them run in order in one namespace, as a reader
  pasting them into one session would, in a temporary working folder;
* each line of a ```bash / ```console block that starts with ``python cli.py`` or
  ``refgan``: the lines of one block run in order in one temporary folder (``refgan``
  as ``python -m refgan``, ``python cli.py`` as this checkout's cli.py). Synopses with
  placeholders (``RUN_DIR``, ``{a,b}``) go into plain ``` blocks, which are not run.

A comment on the line just above a block changes that:

* ``<!-- readme-test: skip (REASON) -->``: not run (keep these few: real data, long runs);
* ``<!-- readme-test: excerpt PATH -->``: a quoted piece of the code; each line (without
  its comment) must occur in PATH, so the quote cannot drift from the code;
* ``<!-- readme-test: needs MODULE -->``: skipped when MODULE (an optional extra) is
  not installed.
"""
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|excerpt|needs)\s*(.*?)\s*-->")
COMMAND = re.compile(r"^(?:\$\s+)?(python cli\.py|refgan)(\s|$)")


@dataclass
class Block:
    line: int            # README line of the opening fence
    lang: str
    body: str
    marker: tuple | None  # ("skip" | "excerpt" | "needs", argument)

    def commands(self) -> list[str]:
        return [re.sub(r"^\$\s+", "", s.strip()) for s in self.body.splitlines()
                if COMMAND.match(s.strip())]


def readme_blocks(text: str) -> list[Block]:
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            above = next((s for s in reversed(lines[:i]) if s.strip()), "")
            marker = MARKER.search(above)
            blocks.append(Block(i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n",
                                marker.groups() if marker else None))
            i = end
        i += 1
    return blocks


BLOCKS = readme_blocks(README.read_text())
SHELL_BLOCKS = [b for b in BLOCKS if b.lang in ("bash", "console", "sh") and b.commands()]


def _code_lines(source: str) -> list[str]:
    """Non-blank lines without trailing comments, whitespace-normalised."""
    out = []
    for s in source.splitlines():
        s = re.sub(r"\s+#.*$", "", s).strip()
        if s and not s.startswith("#"):
            out.append(" ".join(s.split()))
    return out


def _skip_reason(block: Block) -> str | None:
    if block.marker is None:
        return None
    kind, arg = block.marker
    if kind == "skip":
        return f"README line {block.line}: {arg}"
    if kind == "needs" and importlib.util.find_spec(arg) is None:
        return f"README line {block.line} needs {arg}"
    return None


def test_markers_are_few_and_well_formed():
    skips = [b for b in BLOCKS if b.marker and b.marker[0] == "skip"]
    assert len(skips) <= 3, "keep the README's skip list tiny: make examples cheap instead"
    for b in skips:
        assert re.fullmatch(r"\(.+\)", b.marker[1]), f"line {b.line}: say why, in parentheses"
    assert [b for b in BLOCKS if b.lang == "python"] and SHELL_BLOCKS   # the README was read


def test_excerpts_match_the_code():
    excerpts = [b for b in BLOCKS if b.marker and b.marker[0] == "excerpt"]
    for b in excerpts:
        path = ROOT / b.marker[1]
        code = set(_code_lines(path.read_text()))
        missing = [s for s in _code_lines(b.body) if s not in code]
        assert not missing, f"README line {b.line} quotes {b.marker[1]}, which lacks: {missing}"


def test_python_snippets_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__readme__"}
    ran = 0
    for b in BLOCKS:
        if b.lang != "python" or (b.marker and b.marker[0] == "excerpt") or _skip_reason(b):
            continue
        try:
            exec(compile(b.body, f"README.md:{b.line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"the python snippet at README line {b.line} fails: "
                                 f"{type(err).__name__}: {err}") from err
        ran += 1
    assert ran >= 5


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: f"line{b.line}")
def test_command_lines_run(block, tmp_path):
    reason = _skip_reason(block)
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, MPLBACKEND="Agg")
    for line in block.commands():
        argv = shlex.split(line, comments=True)
        if argv[0] == "refgan":
            argv = [sys.executable, "-m", "refgan"] + argv[1:]
        else:
            argv = [sys.executable, str(ROOT / "cli.py")] + argv[2:]
        out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env,
                             timeout=600)
        assert out.returncode == 0, f"README line {block.line}: `{line}` failed:\n{out.stderr[-2000:]}"


def test_the_parser_finds_markers_and_commands():
    text = ("<!-- readme-test: skip (ten minutes) -->\n```bash\nrefgan train  # x\nmake run\n```\n"
            "\n```python\nx = 1\n```\n```\nrefgan generate RUN_DIR\n```\n")
    skip, python, synopsis = readme_blocks(text)
    assert skip.marker == ("skip", "(ten minutes)") and skip.commands() == ["refgan train  # x"]
    assert python.lang == "python" and python.marker is None and python.body == "x = 1\n"
    assert synopsis.lang == "" and synopsis.line == 10
    assert _code_lines("a  =  1   # why\n# only a comment\n") == ["a = 1"]
