"""Every example in README.md and the manual (docs/*.md) runs (a doctest for the docs).

The records in docs/log/ are history and are not run; their links are checked.

What is taken from each document (README.md, docs/*.md), each on its own:

* each ```python block: all of a document's blocks run in order in one namespace, as a
  reader pasting them into one session would, in a temporary working folder;
* each line of a ```bash / ```console block that starts with ``python cli.py`` or
  ``refgan``: the lines of one block run in order in one temporary folder (``refgan``
  as ``python -m refgan``, ``python cli.py`` as this checkout's cli.py). Synopses with
  placeholders (``RUN_DIR``, ``{a,b}``) go into plain ``` blocks, which are not run.

A comment on the line just above a block changes that:

* ``<!-- readme-test: skip (REASON) -->``: not run (keep these few, at most three a
  document: real data, long runs);
* ``<!-- readme-test: excerpt PATH -->``: a quoted piece of the code; each line (without
  its comment) must occur in PATH, so the quote cannot drift from the code;
* ``<!-- readme-test: needs MODULE -->``: skipped when MODULE (an optional extra) is
  not installed.

Every relative link and image in README.md and docs/**/*.md must name a file that
exists, and a ``#anchor`` must name a heading of the linked Markdown file; every path
of this checkout that README.md and docs/*.md name (``refgan/...``) must exist. Every
``refgan COMMAND`` row of the README's command table names a command the CLI has, or
says it is coming.
"""
import argparse
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from refgan.commands import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README] + sorted((ROOT / "docs").glob("*.md"))          # the documents whose code runs
LINKED = [README] + sorted((ROOT / "docs").rglob("*.md"))       # the documents whose links resolve
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|excerpt|needs)\s*(.*?)\s*-->")
COMMAND = re.compile(r"^(?:\$\s+)?(python cli\.py|refgan)(\s|$)")
MAX_SKIPS = 3    # per document


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass
class Block:
    line: int            # line of the opening fence in its document
    lang: str
    body: str
    marker: tuple | None  # ("skip" | "excerpt" | "needs", argument)
    doc: str = "README.md"

    def commands(self) -> list[str]:
        return [re.sub(r"^\$\s+", "", s.strip()) for s in self.body.splitlines()
                if COMMAND.match(s.strip())]

    def where(self) -> str:
        return f"{self.doc} line {self.line}"


def readme_blocks(text: str, doc: str = "README.md") -> list[Block]:
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            above = next((s for s in reversed(lines[:i]) if s.strip()), "")
            marker = MARKER.search(above)
            blocks.append(Block(i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n",
                                marker.groups() if marker else None, doc))
            i = end
        i += 1
    return blocks


BLOCKS = {_rel(p): readme_blocks(p.read_text(), _rel(p)) for p in DOCS}
ALL_BLOCKS = [b for blocks in BLOCKS.values() for b in blocks]
SHELL_BLOCKS = [b for b in ALL_BLOCKS if b.lang in ("bash", "console", "sh") and b.commands()]
PYTHON_DOCS = [doc for doc, blocks in BLOCKS.items()
               if any(b.lang == "python" and not (b.marker and b.marker[0] == "excerpt")
                      for b in blocks)]


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
        return f"{block.where()}: {arg}"
    if kind == "needs" and importlib.util.find_spec(arg) is None:
        return f"{block.where()} needs {arg}"
    return None


@pytest.mark.parametrize("doc", list(BLOCKS))
def test_markers_are_few_and_well_formed(doc):
    skips = [b for b in BLOCKS[doc] if b.marker and b.marker[0] == "skip"]
    assert len(skips) <= MAX_SKIPS, f"keep {doc}'s skip list tiny: make examples cheap instead"
    for b in skips:
        assert re.fullmatch(r"\(.+\)", b.marker[1]), f"{b.where()}: say why, in parentheses"


def test_the_documents_were_read():
    readme = BLOCKS["README.md"]
    assert [b for b in readme if b.lang == "python"] and [b for b in readme if b in SHELL_BLOCKS]
    manual = {"docs/data.md", "docs/training.md", "docs/main-job.md", "docs/study.md",
              "docs/jax-and-export.md", "docs/testing.md", "docs/internals.md"}
    assert manual <= set(BLOCKS), f"missing from docs/: {sorted(manual - set(BLOCKS))}"
    runnable = [b for b in ALL_BLOCKS if b.lang == "python" and not b.marker]
    assert len(runnable) >= 5 and len(SHELL_BLOCKS) >= 5


def test_excerpts_match_the_code():
    excerpts = [b for b in ALL_BLOCKS if b.marker and b.marker[0] == "excerpt"]
    assert excerpts
    for b in excerpts:
        path = ROOT / b.marker[1]
        assert path.is_file(), f"{b.where()} quotes {b.marker[1]}, which does not exist"
        code = set(_code_lines(path.read_text()))
        missing = [s for s in _code_lines(b.body) if s not in code]
        assert not missing, f"{b.where()} quotes {b.marker[1]}, which lacks: {missing}"


@pytest.mark.parametrize("doc", PYTHON_DOCS)
def test_python_snippets_run_in_order(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__readme__"}
    for b in BLOCKS[doc]:
        if b.lang != "python" or (b.marker and b.marker[0] == "excerpt") or _skip_reason(b):
            continue
        try:
            exec(compile(b.body, f"{doc}:{b.line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"the python snippet at {b.where()} fails: "
                                 f"{type(err).__name__}: {err}") from err


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: f"{b.doc}:{b.line}")
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
        assert out.returncode == 0, f"{block.where()}: `{line}` failed:\n{out.stderr[-2000:]}"


def test_the_parser_finds_markers_and_commands():
    text = ("<!-- readme-test: skip (ten minutes) -->\n```bash\nrefgan train  # x\nmake run\n```\n"
            "\n```python\nx = 1\n```\n```\nrefgan generate RUN_DIR\n```\n")
    skip, python, synopsis = readme_blocks(text, "docs/x.md")
    assert skip.marker == ("skip", "(ten minutes)") and skip.commands() == ["refgan train  # x"]
    assert python.lang == "python" and python.marker is None and python.body == "x = 1\n"
    assert synopsis.lang == "" and synopsis.line == 10 and synopsis.where() == "docs/x.md line 10"
    assert _code_lines("a  =  1   # why\n# only a comment\n") == ["a = 1"]


# --- links -------------------------------------------------------------------------

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans (links there are code)."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.S | re.M)
    return re.sub(r"(`+).*?\1", "", text, flags=re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)        # a link keeps its text
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor in a Markdown text (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.sub(r"^```.*?^```[ \t]*$", "", text,
                                                               flags=re.S | re.M), re.M):
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        out.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return out


def links(text: str) -> list[str]:
    return [m.group(1) for m in LINK.finditer(_prose(text))]


def broken_links(doc: Path) -> list[str]:
    bad = []
    for target in links(doc.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):      # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            bad.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
            bad.append(f"{target} (no heading #{anchor} in {os.path.relpath(dest, doc.parent)})")
    return bad


@pytest.mark.parametrize("doc", LINKED, ids=_rel)
def test_relative_links_resolve(doc):
    bad = broken_links(doc)
    assert not bad, f"{_rel(doc)} links to what is not there: {bad}"


def test_the_link_checker_catches_what_is_missing(tmp_path):
    assert _slug("Tests and `make bench`: what, how") == "tests-and-make-bench-what-how"
    assert anchors("# A\n```\n# not a heading\n```\n## A\n### B, c\n") == {"a", "a-1", "b-c"}
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.md").write_text("# Other page\n## Its part\n")
    doc = tmp_path / "doc.md"
    doc.write_text("# Top\n[ok](sub/other.md#its-part) [self](#top) ![img](sub/other.md)\n"
                   "[web](https://example.org/x) `[code](nowhere.md)`\n"
                   "```\n[in a block](nowhere.md)\n```\n"
                   "[gone](missing.md) [bad anchor](sub/other.md#no-part) [bad self](#nope)\n")
    assert links(doc.read_text())[:3] == ["sub/other.md#its-part", "#top", "sub/other.md"]
    assert broken_links(doc) == ["missing.md (no such file)",
                                 "sub/other.md#no-part (no heading #no-part in sub/other.md)",
                                 "#nope (no heading #nope in doc.md)"]


# --- code paths --------------------------------------------------------------------

CODE_PATH = re.compile(r"(?<![\w/.-])((?:refgan|kernels|bench|examples|tests)/[\w/.*-]*\w)")


def missing_code_paths(text: str, root: Path = ROOT) -> list[str]:
    """Paths of this checkout (``refgan/...``, ``tests/test_x*.py``) a text names that
    match no file or folder: a doc must follow the code when it moves."""
    return sorted({p for p in CODE_PATH.findall(text)
                   if not (any(root.glob(p)) if "*" in p else (root / p).exists())})


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_the_code_paths_named_exist(doc):
    missing = missing_code_paths(doc.read_text())
    assert not missing, f"{_rel(doc)} names paths that do not exist: {missing}"


def test_the_path_checker_catches_a_moved_file():
    text = ("Loop: `refgan/training/trainer.py`; gone: refgan/gans/trainer.py. "
            "Tests `tests/test_readme*.py`, `tests/test_nothing*.py`; not a path: x/refgan/y.py")
    assert missing_code_paths(text) == ["refgan/gans/trainer.py", "tests/test_nothing*.py"]


# --- the command table ---------------------------------------------------------------

def _cli_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_the_command_table_names_the_commands_the_cli_has():
    rows = [s for s in README.read_text().splitlines() if re.match(r"^\|\s*`refgan [\w-]", s)]
    named = {re.match(r"^\|\s*`refgan ([\w-]+)", s).group(1): s for s in rows}
    commands = _cli_commands()
    unknown = [name for name, row in named.items() if name not in commands and "(coming)" not in row]
    assert not unknown, f"README's command table names commands the CLI lacks: {unknown}"
    assert commands <= set(named), f"README's command table lacks: {sorted(commands - set(named))}"
