"""Every CUDA kernel refgan hands to CuPy compiles with ``nvcc`` (no GPU, no CuPy needed).

CuPy compiles kernels only when they first run, on a GPU; a syntax or type error in a
kernel string would otherwise pass CI on any machine without one. ``nvcc --ptx`` only
parses and compiles, so it runs wherever the CUDA toolkit is installed (skipped
elsewhere).

* ``RawKernel`` sources are complete translation units: compiled as they are, once
  per C type.
* ``ElementwiseKernel`` / ``ReductionKernel`` specs are bodies that CuPy wraps in a
  loop over elements. :func:`elementwise_unit` and :func:`reduction_unit` wrap them
  the same way -- each parameter a typed reference to its element, ``T``/``U`` as
  template parameters instantiated for float and double -- so that the bodies compile
  exactly as CuPy would see them.
"""
import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from refgan.kernels import cupy_gpu

CTYPES = ("float", "double")


def nvcc():
    found = shutil.which("nvcc") or next(
        (str(p) for p in (Path("/usr/local/cuda/bin/nvcc"),) if p.exists()), None)
    if found is None:
        pytest.skip("nvcc (the CUDA toolkit) is not installed")
    return found


def _params(spec):
    """'T x, raw U u' -> [(type, name, raw)]."""
    out = []
    for p in spec.split(","):
        words = p.split()
        out.append((words[-2], words[-1], words[0] == "raw"))
    return out


def _typevars(*specs):
    return sorted({t for spec in specs for t, _, _ in _params(spec) if len(t) == 1})


def _instantiations(name, typevars, signature):
    """Explicit instantiations of template ``name`` for every float/double assignment."""
    lines = []
    for combo in itertools.product(CTYPES, repeat=len(typevars)):
        sub = dict(zip(typevars, combo))
        sig = signature
        for tv, ct in sub.items():
            sig = sig.replace(f"<{tv}>", ct)
        lines.append(f"template __global__ void {name}<{', '.join(combo)}>({sig});")
    return "\n".join(lines)


def elementwise_unit(name, in_params, out_params, operation):
    """A CUDA translation unit running ``operation`` per element, as ElementwiseKernel."""
    ins, outs = _params(in_params), _params(out_params)
    tvs = _typevars(in_params, out_params)
    args = [f"const {t}* {n}_" for t, n, _ in ins] + [f"{t}* {n}_" for t, n, _ in outs]
    bind = [f"const {t}& {n} = {n}_[i];" for t, n, raw in ins if not raw]
    bind += [f"const {t}* {n} = {n}_;" for t, n, raw in ins if raw]
    bind += [f"{t}& {n} = {n}_[i];" for t, n, _ in outs]
    sig = ", ".join(args + ["long long n"])
    generic = ", ".join(
        [f"const <{t}>*" for t, _, _ in ins] + [f"<{t}>*" for t, _, _ in outs] + ["long long"])
    return (f"template <{', '.join('typename ' + t for t in tvs)}>\n"
            f"__global__ void {name}({sig}) {{\n"
            "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;\n"
            "       i += (long long)blockDim.x * gridDim.x) {\n    "
            + "\n    ".join(bind) + f"\n    {operation};\n  }}\n}}\n"
            + _instantiations(name, tvs, generic) + "\n")


def reduction_unit(name, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity):
    """A CUDA translation unit folding ``map_expr`` with ``reduce_expr`` (a, b) from
    ``identity`` and finishing with ``post_map_expr``, as ReductionKernel."""
    ins, outs = _params(in_params), _params(out_params)
    tvs = _typevars(in_params, out_params)
    acc_type = outs[0][0]
    args = [f"const {t}* {n}_" for t, n, _ in ins] + [f"{t}* {n}_" for t, n, _ in outs]
    bind = "\n    ".join(f"const {t}& {n} = {n}_[i];" for t, n, _ in ins)
    outs_bind = "\n  ".join(f"{t}& {n} = {n}_[0];" for t, n, _ in outs)
    generic = ", ".join(
        [f"const <{t}>*" for t, _, _ in ins] + [f"<{t}>*" for t, _, _ in outs] + ["long long"])
    return (f"template <{', '.join('typename ' + t for t in tvs)}>\n"
            f"__global__ void {name}({', '.join(args + ['long long n'])}) {{\n"
            f"  {acc_type} a = ({acc_type})({identity});\n"
            "  for (long long i = 0; i < n; ++i) {\n"
            f"    {bind}\n    {acc_type} b = ({acc_type})({map_expr});\n"
            f"    a = ({reduce_expr});\n  }}\n  {outs_bind}\n  {post_map_expr};\n}}\n"
            + _instantiations(name, tvs, generic) + "\n")


def units():
    """(name, CUDA text) of every kernel refgan gives CuPy."""
    for name, src in cupy_gpu.RAW.items():
        for ctype in CTYPES:
            yield f"raw_{name}_{ctype}", src.format(T=ctype)
    for name, spec in cupy_gpu.ELEMENTWISE.items():
        yield f"elementwise_{name}", elementwise_unit(f"refgan_{name}", *spec)
    for name, spec in cupy_gpu.REDUCTION.items():
        yield f"reduction_{name}", reduction_unit(f"refgan_{name}", *spec)


def _compile(nvcc_path, src, tmp_path, name):
    cu = tmp_path / f"{name}.cu"
    cu.write_text(src)
    return subprocess.run([nvcc_path, "--ptx", "-std=c++14", "-o", str(tmp_path / f"{name}.ptx"),
                           str(cu)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name,src", list(units()), ids=[n for n, _ in units()])
def test_cuda_kernel_compiles(name, src, tmp_path):
    res = _compile(nvcc(), src, tmp_path, name)
    assert res.returncode == 0, f"nvcc rejected {name}:\n{res.stderr}\n--- source ---\n{src}"


def test_a_broken_kernel_is_caught(tmp_path):
    """The wrapping must not hide errors: an undeclared name in a body fails to compile."""
    src = elementwise_unit("refgan_broken", "T x", "T y", "y = x * not_declared")
    assert _compile(nvcc(), src, tmp_path, "broken").returncode != 0


def test_every_kernel_the_module_calls_has_a_spec():
    """``_k(name)`` looks its spec up only on a GPU: a name without one must fail here."""
    called = set(re.findall(r'_k\("(\w+)"\)', Path(cupy_gpu.__file__).read_text()))
    assert called and called <= set(cupy_gpu.ELEMENTWISE) | set(cupy_gpu.REDUCTION)
