"""The safetensors file format, read and written with NumPy alone (no dependency).

A file is an 8-byte little-endian header length N, N bytes of JSON
``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}``
(padded with spaces to a multiple of 8), then the raw little-endian buffers, back to
back. refgan writes its PyTorch export in it (:mod:`refgan.torch_export`) and reads
torchvision-named pretrained weights from it (:mod:`refgan.backbones.weights`); nothing
in it is ever unpickled.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from refgan.errors import UserError

SAFETENSORS_DTYPES = {np.dtype("float64"): "F64", np.dtype("float32"): "F32",
                      np.dtype("float16"): "F16", np.dtype("int64"): "I64",
                      np.dtype("int32"): "I32", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL"}


def write_safetensors(path, tensors: dict, metadata: dict | None = None) -> None:
    """Write ``{name: array}`` as a .safetensors file (format in the module docstring)."""
    header, buffers, offset = {}, [], 0
    for name, array in tensors.items():
        a = np.asarray(array, order="C")          # (ascontiguousarray makes 0-d arrays 1-d)
        if a.dtype not in SAFETENSORS_DTYPES:
            raise ValueError(f"{name}: dtype {a.dtype} has no safetensors name")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        header[name] = {"dtype": SAFETENSORS_DTYPES[a.dtype.newbyteorder("=")],
                        "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        buffers.append(a.tobytes())
        offset += a.nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for b in buffers:
            f.write(b)


def safetensors_header(raw: bytes, path, itemsizes: dict) -> tuple[dict, int]:
    """The checked JSON header of a .safetensors file's bytes and where its data start.

    A hostile or damaged file (short, a header length past the end, not UTF-8 JSON,
    an entry without dtype / shape / data_offsets, an unknown dtype, offsets outside
    the data or not matching the shape) raises ValueError naming the file and the fault."""
    def bad(why):
        return ValueError(f"{path} is not a valid safetensors file: {why}")

    if len(raw) < 8:
        raise bad(f"{len(raw)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise bad(f"its header length {n} runs past the end of the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise bad(f"its header is not UTF-8 JSON ({err})") from None
    if not isinstance(header, dict):
        raise bad(f"its header is a JSON {type(header).__name__}, not an object")
    size = len(raw) - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise bad("__metadata__ is not an object")
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise bad(f"entry {name!r} lacks dtype, shape or data_offsets")
        shape, offsets = info["shape"], info["data_offsets"]
        if info["dtype"] not in itemsizes:
            raise bad(f"entry {name!r} has dtype {info['dtype']!r}; known: {', '.join(itemsizes)}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise bad(f"entry {name!r} has shape {shape!r}, not a list of sizes")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= size):
            raise bad(f"entry {name!r} has data_offsets {offsets!r} outside the {size} data bytes")
        count = 1
        for d in shape:
            count *= d
        if offsets[1] - offsets[0] != count * itemsizes[info["dtype"]]:
            raise bad(f"entry {name!r}: {offsets[1] - offsets[0]} bytes for shape {shape} of "
                      f"{info['dtype']}")
    return header, 8 + n


def read_safetensors(path) -> tuple[dict, dict]:
    """``({name: array}, metadata)`` of a .safetensors file (the inverse of the writer);
    a damaged or hostile file is a one-line UserError."""
    raw = Path(path).read_bytes()
    names = {v: k for k, v in SAFETENSORS_DTYPES.items()}
    try:
        header, start = safetensors_header(raw, path, {k: np.dtype(v).itemsize
                                                       for k, v in names.items()})
    except ValueError as err:
        raise UserError(str(err)) from None
    n = start - 8
    metadata = header.pop("__metadata__", {})
    arrays = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = names[info["dtype"]].newbyteorder("<")
        arrays[name] = np.frombuffer(raw, dtype, (end - begin) // dtype.itemsize,
                                     8 + n + begin).reshape(info["shape"]).astype(dtype.newbyteorder("="))
    return arrays, metadata
