"""The exported safetensors readers (refgan's and the standalone refgan_torch.py that
ships next to the weights) refuse damaged or hostile files with one clear error, never
a UnicodeDecodeError, KeyError or struct error from deep inside."""
import importlib.util
import json
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from refgan.errors import UserError
from refgan.safetensors import read_safetensors, write_safetensors

TEMPLATE = Path(__file__).resolve().parents[1] / "refgan" / "torch_template.py"


def _file(header_bytes: bytes, body: bytes = b"", length=None) -> bytes:
    return struct.pack("<Q", len(header_bytes) if length is None else length) + header_bytes + body


def _entry(**info):
    base = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    return json.dumps({"w": {**base, **info}}).encode()


HOSTILE = {
    "short": (b"\x05\x00", "shorter than the 8-byte header length"),
    "length past the end": (_file(b"{}", length=1 << 40), "runs past the end"),
    "not utf-8": (_file(b"\xff\xfe\xfd"), "not UTF-8 JSON"),
    "not json": (_file(b"{nope"), "not UTF-8 JSON"),
    "a list": (_file(b"[1, 2]"), "JSON list, not an object"),
    "entry not an object": (_file(b'{"w": 3}'), "lacks dtype, shape or data_offsets"),
    "no offsets": (_file(b'{"w": {"dtype": "F32", "shape": [2]}}', bytes(8)),
                   "lacks dtype, shape or data_offsets"),
    "unknown dtype": (_file(_entry(dtype="X9"), bytes(8)), "dtype 'X9'"),
    "bad shape": (_file(_entry(shape=[-1]), bytes(8)), "not a list of sizes"),
    "offsets outside": (_file(_entry(data_offsets=[0, 800]), bytes(8)), "outside the 8 data bytes"),
    "offsets and shape disagree": (_file(_entry(shape=[3]), bytes(8)), "8 bytes for shape [3]"),
    "metadata not an object": (_file(b'{"__metadata__": 1}'), "__metadata__ is not an object"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_refgans_reader_refuses_hostile_files_in_one_line(tmp_path, name):
    raw, message = HOSTILE[name]
    path = tmp_path / "w.safetensors"
    path.write_bytes(raw)
    with pytest.raises(UserError, match="is not a valid safetensors file") as err:
        read_safetensors(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def _template_without_torch(monkeypatch):
    """refgan_torch.py imported with a stand-in for torch (its reader checks the header
    before torch is asked for anything; this machine need not have torch)."""
    torch = types.ModuleType("torch")
    for name, size in (("float64", 8), ("float32", 4), ("float16", 2), ("int64", 8), ("int32", 4),
                       ("uint8", 1), ("bool", 1)):
        setattr(torch, name, types.SimpleNamespace(itemsize=size))
    nn = types.ModuleType("torch.nn")
    for name in ("Module", "Conv2d", "Sequential", "Linear", "ConvTranspose2d"):
        setattr(nn, name, type(name, (), {}))
    functional = types.ModuleType("torch.nn.functional")
    torch.nn, nn.functional = nn, functional
    for name, module in (("torch", torch), ("torch.nn", nn), ("torch.nn.functional", functional)):
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("refgan_torch_under_test", TEMPLATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", HOSTILE)
def test_the_standalone_reader_refuses_hostile_files_with_a_value_error(tmp_path, monkeypatch, name):
    template = _template_without_torch(monkeypatch)
    raw, message = HOSTILE[name]
    path = tmp_path / "w.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match="is not a valid safetensors file") as err:
        template.read_safetensors(path)
    assert message in str(err.value)


def test_a_good_file_still_reads(tmp_path, monkeypatch):
    write_safetensors(tmp_path / "g.safetensors", {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                                                   "e": np.zeros((0, 2))}, metadata={"a": "b"})
    arrays, meta = read_safetensors(tmp_path / "g.safetensors")
    assert meta == {"a": "b"} and arrays["w"].shape == (2, 3) and arrays["e"].shape == (0, 2)
    template = _template_without_torch(monkeypatch)
    header, start = template.safetensors_header((tmp_path / "g.safetensors").read_bytes(), "g",
                                                {"F32": 4, "F64": 8})
    assert header["w"]["shape"] == [2, 3] and start % 8 == 0


def test_the_exported_loader_carries_the_same_header_check():
    """refgan_torch.py runs without refgan: its copy of the header check must not drift
    (read from the source: the template imports torch)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "refgan"

    def source(file):
        text = (root / file).read_text()
        node = next(n for n in ast.parse(text).body
                    if isinstance(n, ast.FunctionDef) and n.name == "safetensors_header")
        return ast.get_source_segment(text, node)

    assert source("torch_template.py") == source("safetensors.py")
