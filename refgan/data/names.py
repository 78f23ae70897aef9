"""Class names that are safe to use as file names, and paths kept inside their folder.

A class name comes from the data (a folder's name, an npz's ``class_names``) and
ends up in file names (``generate``'s ``DIR/<class>/<class>_00000.png``, the
exporters' ``<class>.G.safetensors``) and in checkpoint keys (``<class>::G/...``).
:func:`check_class_names` refuses the names that would break either where data are
loaded; :func:`inside` is the second line of defence wherever a path is built from
a name: it refuses any path that would leave its folder.

Names with ``<``, ``>``, ``&`` or quotes are legal folder names and are kept; every
HTML page refgan writes escapes them (:func:`refgan.study.report.esc`).
"""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from refgan.errors import UserError

SEPARATOR = "::"  # joins a model key and a parameter name in checkpoints


def name_problem(name) -> str | None:
    """Why ``name`` cannot be a class name, or None when it can."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not name.strip():
        return "is empty"
    if name in (".", ".."):
        return "is a relative folder reference"
    if "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        return "contains a path separator"
    if SEPARATOR in name:
        return f"contains {SEPARATOR!r} (refgan's checkpoint key separator)"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "contains a control character"
    return None


def check_class_names(names, where) -> list[str]:
    """``names`` as a list, or a UserError naming the first bad or repeated name.

    A class name is used as a file name and a checkpoint key, so it may not be empty,
    ``.`` or ``..``, or hold a path separator, ``::`` or a control character; two
    classes may not share a name (their images would be merged into one model)."""
    names = list(names)
    seen = set()
    for name in names:
        problem = name_problem(name)
        if problem:
            raise UserError(f"{where}: class name {name!r} {problem}; rename the class (class names "
                            "become file names and checkpoint keys)")
        if name in seen:
            raise UserError(f"{where}: class name {name!r} appears twice; give every class its own "
                            "name (two classes with one name would be trained as one)")
        seen.add(name)
    return names


def inside(folder, *parts) -> Path:
    """``folder / parts...``, refused (UserError) unless it stays inside ``folder``.

    The check is on the path as written (``..`` resolved, links not followed), which
    is what a name from the data could abuse."""
    folder = Path(folder)
    path = folder.joinpath(*parts)
    base = os.path.normpath(os.path.abspath(folder))
    target = os.path.normpath(os.path.abspath(path))
    if os.path.commonpath([base, target]) != base or target == base:
        raise UserError(f"refusing to write {path}: the name {'/'.join(map(str, parts))!r} leads "
                        f"outside {folder}")
    return path
