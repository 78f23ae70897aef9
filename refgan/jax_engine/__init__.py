"""``train --engine jax``: refgan's training loop with the WGAN-GP step jitted by JAX/XLA.

* :mod:`refgan.jax_engine.step` -- the WGAN-GP iteration and Adam in ``jax.numpy``,
  on one device or data-parallel over a device mesh;
* :mod:`refgan.jax_engine.trainer` -- :class:`JaxWganGpTrainer`, refgan's
  :class:`~refgan.training.trainer.Trainer` whose step runs there.

The networks reach JAX through :mod:`refgan.export` (``to_jax``). refgan itself never
imports this package; importing it imports JAX (``pip install '.[jax]'``).
"""
from refgan.jax_engine.trainer import JaxWganGpTrainer

__all__ = ["JaxWganGpTrainer"]
