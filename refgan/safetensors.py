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


def read_safetensors(path) -> tuple[dict, dict]:
    """``({name: array}, metadata)`` of a .safetensors file (the inverse of the writer)."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    names = {v: k for k, v in SAFETENSORS_DTYPES.items()}
    metadata = header.pop("__metadata__", {})
    arrays = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = names[info["dtype"]].newbyteorder("<")
        arrays[name] = np.frombuffer(raw, dtype, (end - begin) // dtype.itemsize,
                                     8 + n + begin).reshape(info["shape"]).astype(dtype.newbyteorder("="))
    return arrays, metadata
