"""Run refgan graphs with JAX/XLA (CPU, GPU, TPU, several devices); needs ``.[jax]``.

* :mod:`refgan.export.jax_ops` -- the one table of JAX twins of refgan's ops;
* :mod:`refgan.export.to_jax` -- ``to_jax(module) -> (apply, variables)``;
* :mod:`refgan.export.bundle` -- ``cli.py export``: a run's networks as weights,
  StableHLO and a loader.

The ``--engine jax`` training loop built on these lives in :mod:`refgan.jax_engine`.

refgan itself never imports this package; importing it imports JAX.
"""
from refgan.export.to_jax import load_variables, to_jax, to_state_dict, to_variables

__all__ = ["load_variables", "to_jax", "to_state_dict", "to_variables"]
