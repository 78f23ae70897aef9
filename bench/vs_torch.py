"""One WGAN-GP generator iteration in refgan and in PyTorch, same model, same weights.

    python bench/vs_torch.py                     # every row, 1 thread and all cores
    python bench/vs_torch.py --rows small --threads 1 --repeats 3
    python bench/vs_torch.py --engines refgan torch jax

An *iteration* is what Gaur et al. call one generator iteration: ``n_disc`` critic
steps (each: G(z) without grad, D on the real and the fake batch, the gradient
penalty through a double backward, Adam) and one generator step (Adam). The model
is refgan's ``wgan-gp`` (the ``paper`` preset architecture: critic 5x5 stride-2
'same' convs with LeakyReLU 0.2 and dropout 0.3 (none on the main row), generator
upsample + 3x3 conv + batch norm from a 4x4 grid); ``bench/torch_wgan.py`` builds the same model in
PyTorch and loads refgan's initial weights.

Rows (the ``paper`` widths 64/64 and latent 128 unless the row says otherwise):

* ``paper``: batch 64, 64x64, 5 critic steps (Gaur et al.);
* ``small``: batch 16, 32x32, 5 critic steps;
* ``main``:  the main job's ``cpu`` preset as it stands (refgan/training/presets.py; since
  2026-12-02 without critic dropout and without DiffAugment, with the critic's minibatch
  standard deviation, which ``torch_wgan.py`` mirrors), DiffAugment forced off in any
  case, since the peers do not run it.

Every (row, threads) cell runs each engine in its own worker process (so each one's
peak memory is its own, and thread settings are fixed before any library loads).
After one warm-up iteration per worker the parent asks the workers for one timed
iteration *in turn*, ``--repeats`` times, so slow phases of a shared machine hit
every engine alike; the table gives the median, with the median
CPU time of all threads (on a busy machine the 1-thread CPU time is the steadier
number). Memory: ``peak RSS`` is the
worker's ``ru_maxrss``; ``work`` is that peak minus the RSS after the model was
built (what the iterations themselves needed).

GFLOP per iteration is counted from the conv/linear shapes, the useful work only
(see :func:`useful_gflop`); ``%peak`` relates it to a measured sgemm peak at the same
thread count. The environment of the workers drops ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``: some machines pin them for old OpenBLAS builds, which halves
current OpenBLAS's sgemm (PyTorch's MKL/oneDNN is not affected); the kernel OpenBLAS
runs is printed. This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = {
    "paper": dict(preset="paper", batch=64, size=64, n_disc=5),
    "small": dict(preset="paper", batch=16, size=32, n_disc=5),
    # the cpu preset's pixel design (the preset's WGAN-GP until 2026-12-07): the PyTorch
    # and JAX peers build image networks, not the latent design's autoencoder and codes
    "main": dict(preset="cpu", latent_ae=0),
}
# Pause before each timed iteration: idle BLAS/OpenMP threads of the engine that ran
# last spin for a while before they sleep, and must not steal the next one's cores.
SETTLE_S = 0.5
ENGINES = ("refgan", "torch", "jax")
PINNED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMBA_NUM_THREADS")


# ------------------------------------------------------------------------- config
def row_config(row: str):
    """The resolved refgan config of a bench row (synthetic data, no quality figures)."""
    sys.path.insert(0, str(ROOT))
    from refgan.training import presets

    # diffaugment off: the PyTorch and JAX peers run the plain WGAN-GP step, so the
    # main row times the same computation in every engine (the cpu preset's
    # DiffAugment would otherwise run in refgan's step alone).
    return presets.resolve("wgan-gp", **ROWS[row], diffaugment="", quality=False,
                           progress=False)


def conv_layers(c):
    """[(name, N, Cin, Cout, k, OH, OW)] of critic and generator convs for config ``c``."""
    sys.path.insert(0, str(ROOT))
    from refgan.gans.architectures import _widths, stages

    n, base = stages(c.size)
    N, S = c.batch, c.size
    crit, ch = [], [3] + _widths(S, c.width_d)
    for i in range(n):
        out = S >> (i + 1)
        crit.append(("D", N, ch[i], ch[i + 1], 5, out, out))
    gen, chg = [], _widths(S, c.width_g)[::-1] + [3]
    for i in range(n):
        out = base << (i + 1)
        gen.append(("G", N, chg[i], chg[i + 1], 3, out, out))
    return crit, gen


def useful_gflop(c) -> float:
    """GFLOP of one iteration's convolutions (the linears are < 1%), useful work only.

    F(l) = 2 N Cout OH OW Cin k^2 is one pass over conv l (forward, input gradient
    or weight gradient cost the same). Per critic step: G(z) forward; D(real) and
    D(fake): forward, weight gradients, input gradients but for the first layer
    (images need none); the penalty: D(x^) forward, its input gradient (every
    layer), then the penalty's gradient through that input-gradient chain: one
    input and one weight gradient of each transposed conv in it. The chain's
    LeakyReLU and dropout masks are constants, so nothing flows back into D(x^)'s
    forward graph (PyTorch computes that zero flow in full). Generator step: G
    forward, D forward and input gradient (D frozen), G input and weight gradients.
    """
    crit, gen = conv_layers(c)
    F = lambda l: 2 * l[1] * l[3] * l[5] * l[6] * l[2] * l[4] ** 2  # noqa: E731
    FD = sum(F(l) for l in crit)
    FG = sum(F(l) for l in gen)
    FD1 = F(crit[0])
    critic_step = FG + 2 * (3 * FD - FD1) + 4 * FD
    gen_step = 3 * FG + 2 * FD
    return (c.n_disc * critic_step + gen_step) / 1e9


# ------------------------------------------------------------------------- workers
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _refgan_engine(c, threads, weights_path):
    import numpy as np

    import refgan
    from refgan import backend
    from refgan.gans import MODEL_CLASSES

    backend.set_num_threads(threads)
    model = MODEL_CLASSES["wgan-gp"](1).build(c)
    with np.load(weights_path) as state:
        model.load_state_dict({**model.state_dict(), **dict(state)})
    rng = np.random.default_rng(1)
    real = [refgan.tensor(rng.uniform(-1, 1, (c.batch, 3, c.size, c.size))
                          .astype(np.float32)) for _ in range(c.n_disc)]

    def iteration():
        for k in range(c.n_disc):
            model.discriminator_step((real[k], None))
        model.generator_step()

    return iteration


def _jax_engine(c, threads, weights_path):
    import jax
    import numpy as np

    import refgan
    from refgan.export import to_jax
    from refgan.jax_engine.step import (WganGpHyper, init_state, make_wgan_gp_step,
                                         noise_from_key)
    from refgan.gans import MODEL_CLASSES

    refgan.manual_seed(0)
    model = MODEL_CLASSES["wgan-gp"](1).build(c)
    gapply, gvars = to_jax(model.nets["G"])
    capply, cvars = to_jax(model.nets["D"])
    hyper = WganGpHyper(gp_lambda=c.gp_lambda, n_disc=c.n_disc, lr_d=c.lr_d,
                        lr_g=c.lr_g, betas=(c.beta1, c.beta2))
    step = jax.jit(make_wgan_gp_step(gapply, capply, hyper))
    rng = np.random.default_rng(1)
    B, n, S, Z = c.batch, c.n_disc, c.size, c.latent_dim
    batch = {"real": rng.uniform(-1, 1, (n, B, 3, S, S)).astype(np.float32),
             "z_critic": rng.standard_normal((n, B, Z)).astype(np.float32),
             "eps": rng.uniform(0, 1, (n, B, 1, 1, 1)).astype(np.float32),
             "z_gen": rng.standard_normal((B, Z)).astype(np.float32),
             "noise": noise_from_key(jax.random.key(0), n)}
    holder = {"state": init_state(gvars, cvars)}

    def iteration():
        holder["state"], logs = step(holder["state"], batch)
        jax.block_until_ready(logs)

    return iteration


def _torch_engine(c, threads, weights_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from torch_wgan import torch_iteration

    return torch_iteration(c, threads, weights_path)


def write_initial_weights(row: str, path: str) -> None:
    """refgan's initial weights (seed 0) of a row's model, for every engine to load."""
    import numpy as np

    import refgan
    from refgan.gans import MODEL_CLASSES

    refgan.manual_seed(0)
    model = MODEL_CLASSES["wgan-gp"](1).build(row_config(row))
    np.savez(path, **{k: np.asarray(v) for k, v in model.state_dict().items()
                      if k.startswith("net.")})


def worker(engine: str, row: str, threads: int, weights_path: str) -> None:
    """Line protocol on stdin/stdout: 'step' -> seconds of one iteration; 'mem' -> JSON."""
    sys.path.insert(0, str(ROOT))
    c = row_config(row)
    make = {"refgan": _refgan_engine, "torch": _torch_engine, "jax": _jax_engine}[engine]
    iteration = make(c, threads, weights_path)
    rss_built = _rss_bytes()
    iteration()  # warm-up: compiles, allocator pools, first-touch pages
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "step":
            t0, c0 = time.perf_counter(), time.process_time()
            iteration()
            print(f"{time.perf_counter() - t0:.6f} {time.process_time() - c0:.6f}", flush=True)
        elif cmd == "mem":
            print(json.dumps({"peak": _maxrss_bytes(), "work": _maxrss_bytes() - rss_built}),
                  flush=True)
        else:
            return


def sgemm_worker(threads: int) -> None:
    """Print the best sgemm GFLOP/s (2048^3) and OpenBLAS's kernel, as JSON."""
    import numpy as np
    from threadpoolctl import threadpool_info

    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    best = min(_time(lambda: a @ a) for _ in range(5))
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    print(json.dumps({"gflops": 2 * 2048 ** 3 / best / 1e9,
                      "kernel": blas[0].get("architecture") if blas else None,
                      "blas": blas[0].get("internal_api") if blas else None,
                      "threads": blas[0].get("num_threads") if blas else None}))


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ------------------------------------------------------------------------- parent
def worker_env(threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENV}
    env.update({k: str(threads) for k in THREAD_ENV})
    env["PYTHONPATH"] = str(ROOT)
    return env


def _spawn(args, threads):
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve())] + args,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=worker_env(threads), cwd=ROOT)


def _ask(proc, cmd):
    proc.stdin.write(cmd + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"worker {proc.args[2:]} died (exit {proc.wait()})")
    return line.strip()


def measure_cell(row, threads, engines, repeats, tmp):
    """{engine: {"times": [...], "peak": bytes, "work": bytes}} for one (row, threads)."""
    weights = str(Path(tmp) / f"weights_{row}.npz")
    write_initial_weights(row, weights)
    if "refgan" in engines and not Path(weights + ".compiled").exists():
        # Numba compiles into its disk cache on a first run: do it in a throwaway worker,
        # so that no measured worker's peak memory holds the compiler's.
        p = _spawn(["--worker", "refgan", "--row", row, "--threads", str(threads),
                    "--weights", weights], threads)
        p.communicate("quit\n")
        Path(weights + ".compiled").touch()
    procs = {}
    for e in engines:
        p = _spawn(["--worker", e, "--row", row, "--threads", str(threads),
                    "--weights", weights], threads)
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{e} worker failed to start (exit {p.wait()})")
        procs[e] = p
    out = {e: {"times": [], "cpu": []} for e in engines}
    for _ in range(repeats):
        for e, p in procs.items():
            time.sleep(SETTLE_S)
            wall, cpu = map(float, _ask(p, "step").split())
            out[e]["times"].append(wall)
            out[e]["cpu"].append(cpu)
    for e, p in procs.items():
        out[e].update(json.loads(_ask(p, "mem")))
        p.stdin.write("quit\n")
        p.stdin.close()
        p.wait()
    return out


def sgemm_peak(threads):
    res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--sgemm",
                          str(threads)], capture_output=True, text=True,
                         env=worker_env(threads), cwd=ROOT, check=True)
    return json.loads(res.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--threads", nargs="+", default=["1", "all"])
    ap.add_argument("--engines", nargs="+", default=["refgan", "torch"], choices=ENGINES)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="also write the raw measurements here")
    ap.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--row", help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    ap.add_argument("--sgemm", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a.worker, a.row, int(a.threads[0]), a.weights)
    if a.sgemm:
        return sgemm_worker(a.sgemm)

    import tempfile

    threads = sorted({os.cpu_count() if t == "all" else int(t) for t in a.threads})
    print(f"# load average at start: {os.getloadavg()}, {os.cpu_count()} cores")
    peaks = {t: sgemm_peak(t) for t in threads}
    k = peaks[threads[0]]
    print(f"# OpenBLAS kernel: {k['kernel']} ({k['blas']}); unset for the workers: "
          f"{', '.join(PINNED_ENV)} (was: "
          f"{', '.join(f'{v}={os.environ.get(v)}' for v in PINNED_ENV)})")
    for t in threads:
        print(f"# sgemm peak, {t} thread(s): {peaks[t]['gflops']:.0f} GFLOP/s")
    results = []
    header = ("| row | thr | engine | median s | min s | ratio vs torch | GFLOP/s | %peak "
              "| CPU s | peak RSS MB | work MB |")
    print(header)
    print("|" + "---|" * 11)
    with tempfile.TemporaryDirectory() as tmp:
        for row in a.rows:
            gflop = useful_gflop(row_config(row))
            for t in threads:
                cell = measure_cell(row, t, a.engines, a.repeats, tmp)
                ref_t = statistics.median(cell["torch"]["times"]) if "torch" in cell else None
                for e, r in cell.items():
                    med = statistics.median(r["times"])
                    ratio = f"{med / ref_t:.2f}" if ref_t else "-"
                    rate = gflop / med
                    print(f"| {row} ({gflop:.0f} GFLOP) | {t} | {e} | {med:.3f} | "
                          f"{min(r['times']):.3f} | {ratio} | {rate:.0f} | "
                          f"{100 * rate / peaks[t]['gflops']:.0f}% | "
                          f"{statistics.median(r['cpu']):.3f} | {r['peak'] / 2**20:.0f} | "
                          f"{r['work'] / 2**20:.0f} |", flush=True)
                    results.append(dict(row=row, threads=t, engine=e, gflop=gflop, **r))
    print(f"# load average at end: {os.getloadavg()}")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(peaks=peaks, results=results), indent=1))


if __name__ == "__main__":
    main()
