"""``--engine jax``: refgan's WGAN-GP training loop with the step run by JAX/XLA.

Everything but the step is refgan's own trainer (:class:`refgan.training.trainer.Trainer`):
the data, the per-class models and their initial weights (same seed, same weights),
batches, latents, schedules, sample grids, health checks, metrics.jsonl, checkpoints,
resume and the quality figures. Only ``train_step`` differs: each class's models live
as JAX state and one jitted :func:`~refgan.jax_engine.step.make_wgan_gp_step` (one
compile shared by all classes) updates them, data-parallel over every local device
when there are several. Whenever refgan reads the models (sampling, checkpoints,
EMA) the JAX state is copied back into them, so a checkpoint of a JAX run *is* a
refgan checkpoint (``net.G.*``, ``opt.G.<i>.exp_avg`` ...): ``python cli.py train
--resume`` continues it on either engine and ``generate`` reads it.

Randomness: batches, z and eps come from the trainer's streams as in a refgan run;
dropout masks come from a JAX key derived from (seed, class, step), so a JAX run is
not bit-identical to a refgan run with the same seed (the step itself is: see
tests/test_jax_models.py).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from refgan import random
from refgan.errors import UserError
from refgan.export import load_variables, to_jax, to_variables
from refgan.training.config import jax_engine_refusal
from refgan.training.trainer import Trainer
from refgan.jax_engine.step import WganGpHyper, data_parallel, make_wgan_gp_step, noise_from_key


class JaxWganGpTrainer(Trainer):
    """:class:`Trainer` whose ``train_step`` runs on JAX (WGAN-GP, Adam)."""

    compiler_options = None  # tests pass oracle.FAST_COMPILE

    def setup(self):
        c = self.config
        if why := jax_engine_refusal(c):   # a resumed run of the refgan engine too
            raise UserError(why)
        super().setup()
        m0 = self.models[self.keys[0]]
        gapply, _ = to_jax(m0.nets["G"])
        capply, _ = to_jax(m0.nets["D"])
        hyper = WganGpHyper(gp_lambda=c.gp_lambda, n_disc=c.n_disc,
                            lr_d=c.lr_d, lr_g=c.lr_g, betas=(c.beta1, c.beta2))
        step = make_wgan_gp_step(gapply, capply, hyper)
        n_dev = jax.local_device_count()
        if n_dev > 1 and c.batch % n_dev == 0:
            self._step, self._place = data_parallel(step, compiler_options=self.compiler_options)
        else:
            self._step = jax.jit(step, compiler_options=self.compiler_options)
            self._place = lambda state, batch: (state, batch)
        self.devices = n_dev if n_dev > 1 and c.batch % n_dev == 0 else 1
        self._key = jax.random.key(c.seed)
        self.jax_states: dict = {}  # built lazily: resume loads the models after setup
        return self

    # -- refgan models <-> JAX state ------------------------------------------------
    def _to_jax_state(self, m):
        state = {}
        for net, opt_name in (("G", "opt_g"), ("D", "opt_d")):
            module, opt = m.nets[net], m.opts[net]
            variables = to_variables(module.state_dict(), module)
            names = [n for n, _ in module.named_parameters()]
            moments = {k: {n: jnp.asarray(s[key]) if key in s
                           else jnp.zeros_like(variables["params"][n])
                           for n, s in zip(names, opt.state)}
                       for k, key in (("m", "exp_avg"), ("v", "exp_avg_sq"))}
            state["gen" if net == "G" else "critic"] = variables
            state[opt_name] = {**moments, "t": jnp.asarray(opt.step_count, jnp.int32)}
        return state

    def _to_refgan(self, key):
        state, m = self.jax_states.get(key), self.models[key]
        if state is None:
            return
        for net, which, opt_name in (("G", "gen", "opt_g"), ("D", "critic", "opt_d")):
            module, opt = m.nets[net], m.opts[net]
            load_variables(module, state[which])
            names = [n for n, _ in module.named_parameters()]
            ost = state[opt_name]
            flat = {"step_count": np.asarray(int(ost["t"])), "lr": np.asarray(opt.lr)}
            if int(ost["t"]) > 0:
                for i, n in enumerate(names):
                    flat[f"{i}.exp_avg"] = np.asarray(ost["m"][n])
                    flat[f"{i}.exp_avg_sq"] = np.asarray(ost["v"][n])
            opt.load_state_dict(flat)

    def sync(self):
        """Copy every class's JAX state into its refgan models and optimisers."""
        for key in self.jax_states:
            self._to_refgan(key)

    # -- the step ---------------------------------------------------------------------
    def _batch(self, key, index, m):
        c = self.config
        B, n = c.batch, c.n_disc
        real = np.stack([self.batch(key)[0].numpy() for _ in range(n)])
        z_critic = np.stack([random.normal((B, c.latent_dim)) for _ in range(n)])
        eps = np.stack([random.uniform((B, 1, 1, 1)) for _ in range(n)])
        z_gen = random.normal((B, c.latent_dim))
        k = jax.random.fold_in(jax.random.fold_in(self._key, index), self.step)
        return {"real": real, "z_critic": np.asarray(z_critic), "eps": np.asarray(eps),
                "z_gen": np.asarray(z_gen), "noise": noise_from_key(k, n),
                "lr_d": np.float32(m.opts["D"].lr), "lr_g": np.float32(m.opts["G"].lr)}

    def train_step(self) -> dict:
        metrics = {}
        for index, (key, m) in enumerate(self.models.items()):
            if key not in self.jax_states:
                self.jax_states[key] = self._to_jax_state(m)
            state, batch = self._place(self.jax_states[key], self._batch(key, index, m))
            state, logs = self._step(state, batch)
            self.jax_states[key] = state
            logs = {name: float(np.mean(np.asarray(v))) for name, v in logs.items()}
            if self.config.ema > 0:
                self._to_refgan(key)  # the EMA reads refgan's copy of G
            self._finish_model_step(key, m, logs, metrics)
        self.step += 1
        return metrics

    # -- every place refgan reads the models: sync first -----------------------------
    def state(self):
        self.sync()
        arrays, meta = super().state()
        meta["backend"] = meta["engine"] = "jax"
        return arrays, meta

    def samples_grid(self):
        self.sync()
        return super().samples_grid()

    def finish(self):
        self.sync()
        return super().finish()

    def sample_class(self, name, n, seed):
        self.sync()
        return super().sample_class(name, n, seed)

