"""Frozen-feature extraction with the ImageNet backbones: refgan vs PyTorch.

    python bench/backbones.py                                  # every network, 1 and 2 threads
    python bench/backbones.py --nets resnet50 --threads 1 --batch 2 --repeats 2

What is timed is ``model.features(x)`` without a graph (refgan ``no_grad``, PyTorch
``inference_mode``) on a batch of ``--batch`` random images at the network's native
size (224x224; 299x299 for InceptionV3), i.e. the penultimate vector a frozen-feature
classifier reads. Both engines run the torchvision-family architecture with the same
weights: refgan's ``refgan.backbones.build(name, family='torchvision', seed=0)``, and
its state dict loaded into the PyTorch twin of ``bench/torch_backbones.py``
(torchvision itself does not install here).

Every (network, threads, engine) cell runs in its own worker process, so thread
settings are fixed before any library loads and each peak memory is its own: ``peak
RSS`` is the worker's ``ru_maxrss``, ``work`` that peak minus the RSS after the model
was built. After one warm-up batch, ``--repeats`` timed batches; the table gives the
median images per second; the last column is max |refgan - torch| / max |torch| of
the features of the same batch (refgan's default initialisation, so a rough check
only; the tests compare on calibrated weights). Workers run one after the other (on
a shared machine, keep the run short and read the numbers as rough). This is a benchmark, not a test.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NETS = ("vgg16", "resnet50", "inception_v3", "efficientnet_b0")
ENGINES = ("refgan", "torch")


def _rss_mib() -> float:
    """Current resident set size (Linux /proc), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def worker(engine: str, net: str, threads: int, batch: int, repeats: int) -> dict:
    import refgan
    from refgan import backbones

    refgan.set_num_threads(threads)
    model = backbones.build(net, family="torchvision", seed=0)
    size = model.input_size
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
    if engine == "refgan":
        xt = refgan.tensor(x)

        def run():
            with refgan.no_grad():
                return model.features(xt).numpy()
    else:
        import torch

        sys.path.insert(0, str(ROOT / "bench"))
        import torch_backbones

        torch.set_num_threads(threads)
        twin = torch_backbones.build(net)
        twin.load_state_dict({k: torch.from_numpy(np.asarray(v))
                              for k, v in model.state_dict().items()})
        del model
        xt = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                return twin.penultimate(xt).numpy()
    built = _rss_mib()
    features = run()  # warm-up (Numba compilation, allocator)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(engine=engine, net=net, threads=threads, batch=batch,
                img_per_s=batch / statistics.median(times), peak_mib=peak,
                work_mib=peak - built, features=features.tolist())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nets", nargs="+", choices=NETS, default=list(NETS))
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", nargs=5, metavar=("ENGINE", "NET", "THREADS", "BATCH", "REPEATS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        e, n, t, b, r = args.worker
        print(json.dumps(worker(e, n, int(t), int(b), int(r))))
        return
    rows = []
    print("| network | input | threads | engine | images/s | peak RSS MiB | work MiB | "
          "features vs torch |")
    print("|---|---|---|---|---|---|---|---|")
    for net in args.nets:
        for threads in args.threads:
            for engine in args.engines:
                env = {k: v for k, v in os.environ.items()
                       if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
                env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "OPENBLAS_NUM_THREADS")})
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", engine, net, str(threads),
                     str(args.batch), str(args.repeats)],
                    env=env, capture_output=True, text=True, check=False, cwd=ROOT)
                if out.returncode != 0:
                    tail = (out.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"| {net} | | {threads} | {engine} | failed: {tail} | | |")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(r)
                size = 299 if net == "inception_v3" else 224
                mine = next((q for q in rows if q["engine"] == "refgan" and q["net"] == net
                             and q["threads"] == threads), None)
                diff = ""
                if engine == "torch" and mine is not None:  # same net, threads, batch
                    a, b = np.asarray(mine["features"]), np.asarray(r["features"])
                    diff = f"{np.abs(a - b).max() / np.abs(b).max():.1e}"
                print(f"| {net} | {args.batch}x3x{size}x{size} | {threads} | {engine} | "
                      f"{r['img_per_s']:.2f} | {r['peak_mib']:.0f} | {r['work_mib']:.0f} | "
                      f"{diff} |", flush=True)


if __name__ == "__main__":
    main()
