"""Per-op timings of refgan's backends on the seed-000 WGAN-GP layer shapes.

    python bench/bench_ops.py            # best of 5 timed repeats per entry
    python bench/bench_ops.py --quick    # 2 repeats, fewer shapes per elementwise op

Two tables, both float32, batch 64, 64x64 images, all backends measured in the same run:

* ``ops``: refgan ops through the autograd (what training pays): forward, backward
  input gradient (gx) and, for convolutions, backward weight gradient (gW), each on
  its own graph so one gradient's time does not include the other's.
* ``kernels``: the raw kernels those ops call (im2col, col2im, ...), to see where an
  op's time goes; conv columns are followed by the same BLAS GEMM on every backend.

Shapes: critic convs 5x5 stride 2 'same' 3->64->128->256->512 (64 -> 32 -> 16 -> 8 -> 4);
generator convs 3x3 stride 1 'same' 256->128 @8x8, 128->64 @16, 64->32 @32, 32->3 @64
(each after a nearest x2 upsample, ``repeat`` with a strided block sum as its gradient on
every backend, not timed); LeakyReLU(0.2), batch norm and dropout(0.3) on the conv outputs.
Speed-up columns are numpy time / backend time (> 1: faster than the NumPy reference).
This is a benchmark, not a test.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refgan import kernels  # noqa: E402
import refgan  # noqa: E402
from refgan import backend as refgan_backend  # noqa: E402
from refgan import ops  # noqa: E402

N = 64
CRITIC = [(3, 64, 64), (64, 128, 32), (128, 256, 16), (256, 512, 8)]          # (Cin, Cout, H_in)
GENERATOR = [(256, 128, 8), (128, 64, 16), (64, 32, 32), (32, 3, 64)]         # (Cin, Cout, H_conv)
SLOPE, P_DROP, EPS = 0.2, 0.3, 1e-5


def _sync_for(name):
    if name == "cupy":
        import cupy
        return cupy.cuda.Device().synchronize
    return lambda: None


def timeit(fn, repeats, sync):
    """Best wall time of ``fn()`` over ``repeats`` runs after one warm-up (compiles numba).

    The minimum, not the median: on a shared 2-core machine a threaded kernel whose
    second thread is descheduled waits a whole scheduler slice (~4-12 ms), and the
    minimum is the estimate least polluted by other processes.
    """
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


# ----------------------------------------------------------------------------- op-level cases
def conv_cases():
    for cin, cout, h in CRITIC:
        yield f"critic conv5x5/2 {cin}->{cout} @{h}", (N, cin, h, h), (cout, cin, 5, 5), 2
    for cin, cout, h in GENERATOR:
        yield f"gen conv3x3/1 {cin}->{cout} @{h}", (N, cin, h, h), (cout, cin, 3, 3), 1


def activation_shapes(quick):
    shapes = [(N, cout, h // 2, h // 2) for _, cout, h in CRITIC]
    shapes += [(N, cout, h, h) for _, cout, h in GENERATOR[:-1]]    # last layer ends in tanh
    return shapes[:1] + shapes[-1:] if quick else shapes


def bench_ops(backend, repeats, quick):
    """{(op, shape-label, phase): seconds} for one backend."""
    rng = np.random.default_rng(0)
    sync = _sync_for(backend)
    res = {}
    with refgan.using_backend(backend) as be:
        def T(a, req=False):
            return refgan.Tensor(be.asarray(a.astype(np.float32)), requires_grad=req)

        for label, xs, ws, stride in conv_cases():
            x, W = rng.standard_normal(xs), rng.standard_normal(ws) * 0.05
            b = rng.standard_normal(ws[0]) * 0.1
            xt, Wt, bt = T(x), T(W), T(b)
            with refgan.no_grad():
                res["conv2d", label, "fwd"] = timeit(
                    lambda: ops.conv2d(xt, Wt, bt, stride=stride, padding="same"), repeats, sync)
            gy = None
            for phase, (xr, wr) in (("bwd gx", (True, False)), ("bwd gW", (False, True))):
                xt, Wt = T(x, xr), T(W, wr)
                y = ops.conv2d(xt, Wt, bt, stride=stride, padding="same")
                gy = gy if gy is not None else T(rng.standard_normal(y.shape))
                target = xt if xr else Wt
                res["conv2d", label, phase] = timeit(
                    lambda: refgan.grad(y, [target], [gy], retain_graph=True), repeats, sync)

        for shape in activation_shapes(quick):
            label = "x".join(map(str, shape))
            x = rng.standard_normal(shape)
            gy = T(rng.standard_normal(shape))
            C = shape[1]
            gamma, beta = T(rng.uniform(0.5, 1.5, C), True), T(rng.standard_normal(C), True)
            cases = {
                "leaky_relu": lambda xt: ops.leaky_relu(xt, SLOPE),
                "batch_norm": lambda xt: ops.batch_norm(xt, None, None, gamma, beta,
                                                        training=True, eps=EPS)[0],
                "dropout": lambda xt: ops.dropout(xt, P_DROP, training=True),
            }
            for name, f in cases.items():
                xt = T(x)
                with refgan.no_grad():
                    res[name, label, "fwd"] = timeit(lambda: f(xt), repeats, sync)
                xt = T(x, True)
                y = f(xt)
                res[name, label, "bwd gx"] = timeit(
                    lambda: refgan.grad(y, [xt], [gy], retain_graph=True), repeats, sync)
    return res


# ----------------------------------------------------------------------------- kernel-level cases
def bench_kernels(backend, repeats, quick):
    """{(kernel, shape-label, ''): seconds} for one backend, raw kernels only."""
    K = kernels.load(backend)
    xp = K.xp
    sync = _sync_for(backend)
    rng = np.random.default_rng(1)
    res = {}

    def dev(a):
        return xp.asarray(a.astype(np.float32))

    for label, xs, ws, stride in conv_cases():
        _, _, kh, kw = ws
        H = xs[2]
        total = max((-(-H // stride) - 1) * stride + kh - H, 0)       # TF 'same' rule
        pads = (total // 2, total - total // 2, total // 2, total - total // 2)
        geom = dict(kh=kh, kw=kw, stride=(stride, stride), pads=pads, dilation=(1, 1))
        x = dev(rng.standard_normal(xs))
        res["im2col", label, ""] = timeit(lambda: K.im2col(x, **geom), repeats, sync)
        cols = K.im2col(x, **geom)
        c = dev(rng.standard_normal(cols.shape))
        res["col2im", label, ""] = timeit(lambda: K.col2im(c, xs, **geom), repeats, sync)

    for shape in activation_shapes(quick):
        label = "x".join(map(str, shape))
        x, gy = dev(rng.standard_normal(shape)), dev(rng.standard_normal(shape))
        u = dev(rng.random(shape))
        C = shape[1]
        g, b = dev(rng.uniform(0.5, 1.5, C)), dev(rng.standard_normal(C))
        _, mean, invstd = K.batch_norm_forward(x, g, b, EPS)
        res["leaky_relu", label, ""] = timeit(lambda: K.leaky_relu(x, SLOPE), repeats, sync)
        res["leaky_relu_grad", label, ""] = timeit(lambda: K.leaky_relu_grad(x, gy, SLOPE),
                                                   repeats, sync)
        res["batch_norm_forward", label, ""] = timeit(lambda: K.batch_norm_forward(x, g, b, EPS),
                                                      repeats, sync)
        res["batch_norm_backward", label, ""] = timeit(
            lambda: K.batch_norm_backward(x, g, gy, mean, invstd), repeats, sync)
        res["dropout", label, ""] = timeit(lambda: K.dropout(x, u, P_DROP), repeats, sync)

    # Optimiser step over every parameter of the critic + generator convs (~7.1M floats).
    n_params = (sum(ci * co * 25 + co for ci, co, _ in CRITIC)
                + sum(ci * co * 9 + co for ci, co, _ in GENERATOR))
    p, g = dev(rng.standard_normal(n_params)), dev(rng.standard_normal(n_params))
    m, v, sq = xp.zeros_like(p), xp.zeros_like(p), xp.zeros_like(p)
    label = f"{n_params} params"
    res["adam_update", label, ""] = timeit(
        lambda: K.adam_update(p, g, m, v, 1e-4, 0.5, 0.9, 1e-8, 10, 0.0), repeats, sync)
    res["rmsprop_update", label, ""] = timeit(
        lambda: K.rmsprop_update(p, g, sq, 1e-4, 0.99, 1e-8, 0.0), repeats, sync)
    return res


# ----------------------------------------------------------------------------- report
def table(title, results, backends):
    keys = list(results[backends[0]])
    others = [b for b in backends if b != "numpy"]
    head = f"{'op':<20} {'shape':<28} {'phase':<7}" + "".join(f"{b + ' ms':>11}" for b in backends)
    head += "".join(f"{'x ' + b:>10}" for b in others)
    print(f"\n== {title}\n{head}\n{'-' * len(head)}")
    speedups = {b: [] for b in others}
    for key in keys:
        op, label, phase = key
        row = f"{op:<20} {label:<28} {phase:<7}"
        row += "".join(f"{results[b][key] * 1e3:>11.2f}" for b in backends)
        for b in others:
            s = results["numpy"][key] / results[b][key]
            speedups[b].append(s)
            row += f"{s:>10.2f}"
        print(row)
    for b in others:
        s = np.array(speedups[b])
        print(f"{b} vs numpy: geometric-mean speed-up {np.exp(np.log(s).mean()):.2f}, "
              f"min {s.min():.2f}, max {s.max():.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats and fewer activation shapes")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per entry")
    ap.add_argument("--backends", nargs="+", default=None,
                    help="backends to compare (default: every available one)")
    ap.add_argument("--only", choices=["ops", "kernels"], default=None)
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    backends = args.backends or [b for b in refgan_backend.BACKENDS if refgan_backend.available(b)]
    if "numpy" not in backends:
        backends = ["numpy"] + backends
    threads = ""
    if "numba" in backends:
        import numba
        threads = f"; numba threads {numba.get_num_threads()}"
    print(f"refgan bench: batch {N}, float32, best of {repeats}; backends {backends}{threads}")
    t0 = time.perf_counter()
    if args.only in (None, "kernels"):
        table("kernels (raw arrays)", {b: bench_kernels(b, repeats, args.quick) for b in backends},
              backends)
    if args.only in (None, "ops"):
        table("ops (autograd, forward / backward)",
              {b: bench_ops(b, repeats, args.quick) for b in backends}, backends)
    print(f"\ntotal bench time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
