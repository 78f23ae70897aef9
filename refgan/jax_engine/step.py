"""A jitted WGAN-GP training step in JAX, on one device or data-parallel over many.

The step is refgan's WGAN-GP iteration (Gulrajani et al. 2017, Algorithm 1) on the
functions :func:`~refgan.export.to_jax` exports, with Adam written in ``jax.numpy``
exactly as ``refgan.optim.Adam`` (PyTorch semantics). For k = 1 .. n_disc::

    x~      = G(z_k)                       (train mode: batch-norm statistics update)
    x^      = eps_k x_k + (1 - eps_k) x~   (eps_k ~ U(0, 1) per sample)
    L_D     = mean D(x~) - mean D(x_k) + lambda mean_i (||grad_x D(x^_i)|| - 1)^2
    theta_D <- Adam(theta_D, grad L_D)

then, with D fixed, ``L_G = -mean D(G(z))`` and ``theta_G <- Adam(theta_G, grad L_G)``.

The gradient penalty differentiates D twice (``jax.grad`` inside ``jax.grad``), the
same double backprop refgan's autograd does by hand.

Randomness is an input. ``batch`` holds the real images, latents and eps for every
critic step; dropout noise is either a PRNG key (``noise_from_key``) or, to follow a
refgan run exactly, the uniform arrays refgan drew, one list per call site (D on the
real batch, on the fake batch, on x^; D in the generator step).

Data parallelism (:func:`data_parallel`): the batch is split over a 1-D device mesh
("batch") and the parameters replicated; the program is the same jitted step, and
XLA's SPMD partitioner turns every batch mean -- the losses, hence the gradients,
and the generator's batch-norm statistics -- into a per-device partial sum plus an
all-reduce. Gradients are therefore averaged over the global batch and the result is
the one-device result up to summation order.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


@dataclass(frozen=True)
class WganGpHyper:
    """WGAN-GP hyper-parameters (Gaur et al.: lambda 10, 5 critic steps, Adam 2e-4,
    betas (0.5, 0.9))."""

    gp_lambda: float = 10.0
    n_disc: int = 5
    lr_d: float = 1e-4
    lr_g: float = 1e-4
    betas: tuple = (0.5, 0.9)
    adam_eps: float = 1e-8


# ---------------------------------------------------------------------- Adam
def adam_init(params):
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"m": zeros, "v": zeros, "t": jnp.zeros((), jnp.int32)}


def adam_update(params, grads, opt, lr, betas, eps):
    """torch.optim.Adam / refgan.optim.Adam: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    b1, b2 = betas
    t = opt["t"] + 1
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, opt["m"], grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * (g * g), opt["v"], grads)

    def update(p, m, v):
        tf = t.astype(p.dtype)
        step_size = lr / (1 - b1 ** tf)
        denom = jnp.sqrt(v) / jnp.sqrt(1 - b2 ** tf) + eps
        return p - step_size * m / denom

    return jax.tree_util.tree_map(update, params, m, v), {"m": m, "v": v, "t": t}


# --------------------------------------------------------------------- losses
def _with(variables, params=None, state=None):
    return {"params": variables["params"] if params is None else params,
            "state": variables["state"] if state is None else state}


def gradient_penalty(critic, cvars, x_hat, rng, target: float = 1.0):
    """mean_i (||grad_x sum D(x^)||_2 - 1)^2 and the norms, as refgan.ops.gradient_penalty
    (the 1e-12 keeps the norm's gradient finite at 0)."""
    def d_sum(x):
        return jnp.sum(critic(cvars, x, train=True, rng=rng)[0])

    g = jax.grad(d_sum)(x_hat)
    norms = jnp.sqrt(jnp.sum(jnp.reshape(g * g, (g.shape[0], -1)), axis=1) + 1e-12)
    return jnp.mean((norms - target) ** 2), norms


def critic_loss(critic, cparams, cvars, real, fake, eps, noise, gp_lambda):
    """L_D = mean D(fake) - mean D(real) + gp_lambda * GP; returns (L_D, (metrics, state)).

    ``noise`` = {"real": rng, "fake": rng, "gp": rng}; D is called in that order."""
    cvars = _with(cvars, params=cparams)
    d_real, state = critic(cvars, real, train=True, rng=noise["real"])
    d_fake, state = critic(_with(cvars, state=state), fake, train=True, rng=noise["fake"])
    x_hat = eps * real + (1.0 - eps) * fake
    gp, norms = gradient_penalty(critic, _with(cvars, state=state), x_hat, noise["gp"])
    wasserstein = jnp.mean(d_real) - jnp.mean(d_fake)
    loss = jnp.mean(d_fake) - jnp.mean(d_real) + gp_lambda * gp
    return loss, ({"d_loss": loss, "wasserstein": wasserstein, "gp": gp,
                   "grad_norm": jnp.mean(norms)}, state)


def generator_loss(gen, critic, gparams, gvars, cvars, z, noise):
    """L_G = -mean D(G(z)); returns (L_G, new generator state)."""
    fake, gstate = gen(_with(gvars, params=gparams), z, train=True)
    d_fake, _ = critic(cvars, fake, train=True, rng=noise)
    return -jnp.mean(d_fake), gstate


# ----------------------------------------------------------------------- step
def init_state(gen_vars, critic_vars):
    """The training state: both models' variables and both Adam states."""
    return {"gen": gen_vars, "critic": critic_vars,
            "opt_g": adam_init(gen_vars["params"]), "opt_d": adam_init(critic_vars["params"])}


def noise_from_key(key, n_disc: int):
    """Dropout noise for one step from a PRNG key: per call site (and critic step)
    one key, so the step's randomness is one input."""
    k = jax.random.split(key, 4)
    per_step = lambda kk: jax.random.split(kk, n_disc)  # noqa: E731
    return {"critic": {"real": per_step(k[0]), "fake": per_step(k[1]),
                       "gp": per_step(k[2])}, "gen": k[3]}


def make_wgan_gp_step(gen, critic, hyper: WganGpHyper = WganGpHyper()):
    """``step(state, batch) -> (state, metrics)``, not yet jitted (``jax.jit`` it, or use
    :func:`data_parallel`).

    batch = {"real": (n_disc, B, C, H, W), "z_critic": (n_disc, B, Z),
             "eps": (n_disc, B, 1, 1, 1), "z_gen": (B, Z), "noise": see
             :func:`noise_from_key` (a key per site, or lists of uniform arrays with the
             same leading axes), optional "lr_d", "lr_g": this step's learning rates
             (schedules; default ``hyper``'s)}
    metrics (the names refgan.gans.wgan_gp logs): d_loss, wasserstein, gp, grad_norm
    per critic step (n_disc,), and g_loss.
    """
    critic_grad = jax.value_and_grad(critic_loss, argnums=1, has_aux=True)
    gen_grad = jax.value_and_grad(generator_loss, argnums=2, has_aux=True)

    def critic_step(carry, xs):
        gvars, cvars, opt_d = carry
        fake, gstate = gen(gvars, xs["z_critic"], train=True)
        fake = jax.lax.stop_gradient(fake)
        (_, (metrics, cstate)), grads = critic_grad(critic, cvars["params"], cvars,
                                                    xs["real"], fake, xs["eps"],
                                                    xs["noise"], hyper.gp_lambda)
        params, opt_d = adam_update(cvars["params"], grads, opt_d, xs["lr_d"],
                                    hyper.betas, hyper.adam_eps)
        return (_with(gvars, state=gstate), _with(cvars, params, cstate), opt_d), metrics

    def step(state, batch):
        lr_d = jnp.broadcast_to(batch.get("lr_d", hyper.lr_d), (hyper.n_disc,))
        xs = {"real": batch["real"], "z_critic": batch["z_critic"], "eps": batch["eps"],
              "noise": batch["noise"]["critic"], "lr_d": lr_d}
        (gvars, cvars, opt_d), metrics = jax.lax.scan(
            critic_step, (state["gen"], state["critic"], state["opt_d"]), xs)
        (loss_g, gstate), grads = gen_grad(gen, critic, gvars["params"], gvars, cvars,
                                           batch["z_gen"], batch["noise"]["gen"])
        params, opt_g = adam_update(gvars["params"], grads, state["opt_g"],
                                    batch.get("lr_g", hyper.lr_g), hyper.betas, hyper.adam_eps)
        new = {"gen": _with(gvars, params, gstate), "critic": cvars, "opt_g": opt_g,
               "opt_d": opt_d}
        return new, {**metrics, "g_loss": loss_g}

    return step


# ------------------------------------------------------------ data parallelism
def batch_mesh(devices=None) -> Mesh:
    """A 1-D mesh named "batch" over ``devices`` (default: all local devices)."""
    import numpy as np

    return Mesh(np.array(jax.local_devices() if devices is None else devices), ("batch",))


def _is_key(x) -> bool:
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key) or x.dtype == jnp.uint32


def batch_shardings(batch, mesh: Mesh):
    """Shardings that split each batch array along its sample axis (axis 1 under the
    critic steps' leading axis, else 0); PRNG keys and scalars are replicated."""
    def spec(path, x):
        if _is_key(x) or jnp.ndim(x) == 0:  # keys, learning rates
            return NamedSharding(mesh, P())
        stacked = path[0].key in ("real", "z_critic", "eps") or (
            path[0].key == "noise" and path[1].key == "critic")
        return NamedSharding(mesh, P(None, "batch") if stacked else P("batch"))

    return jax.tree_util.tree_map_with_path(spec, batch)


def data_parallel(step, mesh: Mesh | None = None, compiler_options=None):
    """``(jitted_step, shard)``: the step jitted for ``mesh`` (default: every local device)
    with replicated state, and ``shard(state, batch)`` placing the inputs. The global
    batch must divide by the number of devices."""
    mesh = batch_mesh() if mesh is None else mesh
    replicated = NamedSharding(mesh, P())

    def shard(state, batch):
        state = jax.device_put(state, replicated)
        return state, jax.device_put(batch, batch_shardings(batch, mesh))

    jitted = jax.jit(step, out_shardings=replicated, compiler_options=compiler_options)
    return jitted, shard
