"""Load networks that ``python cli.py export RUN_DIR --to jax`` wrote to this folder.

Needs only ``jax`` and ``numpy`` where the ``.stablehlo`` files exist (refgan is
then not needed); without them it rebuilds the networks with refgan::

    import loader
    G = loader.load("healthy.G")            # names: loader.names()
    images = G(z)                           # z (n, latent_dim) -> (n, 3, S, S) in [-1, 1]
    variables = loader.variables("healthy.G")  # the weights, PyTorch names

Each network was traced once, in eval mode (batch-norm running statistics, no
dropout), and saved as StableHLO for a fixed batch; ``load`` feeds any number of
rows through it in batches, padding the last one.

A generator of a run trained with ``--appearance white|stain[-peak][-noise]`` draws images with their
appearance removed; ``load`` puts one back, drawn from the training images' for each
row of z (``appearance.py``, copied from refgan: a fixed z gives a fixed image, the
same as ``refgan generate``'s).
"""
import importlib.util
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE / "manifest.json").read_text())


def names():
    return sorted(MANIFEST["models"])


def variables(name):
    """{"params": {name: array}, "state": {name: array}} of network ``name``."""
    entry = MANIFEST["models"][name]
    with np.load(HERE / f"{name}.npz") as f:  # the dtypes the network was traced with
        return {group: {k: f[k].astype(entry["dtypes"][k]) for k in entry[group]}
                for group in ("params", "state")}


def _refgan_forward(name):
    """Without a StableHLO file: the network rebuilt by refgan and run by JAX."""
    import jax

    from refgan.export import to_jax
    from refgan.gans import MODEL_CLASSES
    from refgan.training.config import TrainConfig

    config = TrainConfig.from_json(MANIFEST["config"])
    key, net = name.split(".", 1)
    n_classes = 1 if config.per_class else len(config.classes)
    nets = MODEL_CLASSES[config.model](n_classes).build(config).nets
    apply, _ = to_jax(nets[net] if net in nets else nets["G"])  # G_ema: G's architecture
    return jax.jit(lambda v, x: apply(v, x, train=False)[0])


def load(name, weights=None):
    """``f(x) -> y`` for network ``name`` (weights: a variables dict, default the saved)."""
    entry = MANIFEST["models"][name]
    path = HERE / f"{name}.stablehlo"
    if path.exists():
        from jax import export

        forward = export.deserialize(bytearray(path.read_bytes())).call
    else:
        forward = _refgan_forward(name)
    v = variables(name) if weights is None else weights
    batch = entry["input_shape"][0]

    def network(x):
        x = np.asarray(x, np.float32)
        n, out = len(x), []
        for i in range(0, n, batch):
            chunk = x[i:i + batch]
            pad = batch - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
            out.append(np.asarray(forward(v, chunk))[:batch - pad])
        return np.concatenate(out)

    if "appearance" not in entry:
        return network
    appearance = _appearance(entry["appearance"])
    return lambda z: appearance.sample(network(z), np.asarray(z, np.float32))


def _appearance(filename):
    """The run's measured appearances (refgan.gans.appearance.Appearance) from ``filename``."""
    spec = importlib.util.spec_from_file_location("refgan_export_appearance", HERE / "appearance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Appearance.load(HERE / filename, MANIFEST["config"]["appearance"])


if __name__ == "__main__":
    for name in names():
        shape = MANIFEST["models"][name]["input_shape"]
        y = load(name)(np.random.default_rng(0).standard_normal([3] + shape[1:]))
        print(f"{name}: input {shape[1:]} -> output {list(y.shape[1:])}")
