"""What every model of the zoo provides, and the helpers they share.

A model owns its networks (``self.nets``: name -> Module) and optimisers
(``self.opts``: name -> Optimizer). The shared trainer (:mod:`refgan.training.trainer`)
only ever calls

* ``build(config)``: make networks and optimisers from the resolved config;
* ``discriminator_step(batch) -> dict``: one update of D (critic, Q head, ...);
* ``generator_step(batch) -> dict``: one update of G (and E for ALI); ``batch`` is
  None unless ``needs_real_in_g_step`` (ALI's encoder loss reads real images);
* ``sample(n, labels=None, z=None) -> ndarray (n, 3, S, S)`` in [-1, 1];
* ``state_dict()`` / ``load_state_dict()``: flat dict of NumPy arrays.

A batch is ``(x, y)``: images as a Tensor (N, 3, S, S) and integer labels (N,).
Losses are written as quantities to *minimise*, with the paper's sign conventions
noted where they maximise.
"""
from __future__ import annotations

import contextlib

import numpy as np

import refgan
from refgan import nn, ops, optim, random
from refgan.errors import UserError
from refgan.gans.ada import ADA
from refgan.gans.appearance import Appearance
from refgan.gans.colour_critic import WithColourBranch
from refgan.gans.multiscale import WithLowResCritic
from refgan.gans.patch_critic import WithPatchHead
from refgan.gans.diffaugment import diff_augment, parse_policy
from refgan.gans.fastgan import SelfSupervisedCritic
from refgan.gans.regularizers import LeCam, hinge_d_loss, mode_seeking, r1_penalty
from refgan.nn.spectral_norm import apply_spectral_norm

bce = ops.binary_cross_entropy_with_logits


class GAN:
    """Base class: bookkeeping shared by all models (see module docstring)."""

    name = "gan"
    conditional = False          # True: one model sees labels; False: one model per class
    needs_real_in_g_step = False

    def __init__(self, n_classes: int = 1):
        self.n_classes = n_classes
        self.nets: dict[str, nn.Module] = {}
        self.opts: dict[str, optim.Optimizer] = {}
        # state that is neither a network nor an optimiser (ADA's p, LeCam's averages):
        # saved under ``aux.`` so checkpoints carry it
        self.aux: dict[str, nn.Module] = {}
        self.epoch = 0           # set by the trainer (AC-GAN's real-fraction schedule)
        self.step = 0            # set by the trainer: the step being trained (--progressive's schedule)

    # -- construction helpers -------------------------------------------------
    def build(self, config) -> "GAN":
        """Networks and optimisers from the resolved config (see presets.py)."""
        self.config = config
        self.batch_size, self.latent_dim = config.batch, config.latent_dim
        self.make(config)
        return self

    def make(self, config) -> None:
        raise NotImplementedError

    def _optimizer(self, params, lr, config):
        """Adam(lr, betas) or RMSprop(lr), as config.optimizer says."""
        if config.optimizer == "adam":
            return optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2))
        if config.optimizer == "rmsprop":
            return optim.RMSprop(params, lr=lr)
        raise UserError(f"unknown optimizer {config.optimizer!r}; use adam or rmsprop")

    def z(self, n: int):
        """Latent draws z ~ N(0, I) from refgan's seeded stream."""
        return refgan.tensor(random.normal((n, self.latent_dim)))

    def random_labels(self, n: int) -> np.ndarray:
        return (random.generator().integers(0, self.n_classes, n)).astype(np.int64)

    @staticmethod
    @contextlib.contextmanager
    def frozen(*modules):
        """Modules whose weights get no gradient inside the block (D during a G step:
        the loss still flows through D to G, D's weight gradients are not computed)."""
        for m in modules:
            m.requires_grad_(False)
        try:
            yield
        finally:
            for m in modules:
                m.requires_grad_(True)

    @staticmethod
    def update(opt, loss, *modules):
        """Zero the modules' grads, backpropagate ``loss``, step ``opt``."""
        for m in modules:
            m.zero_grad()
        loss.backward()
        opt.step()

    # -- the limited-data toolkit (refgan/gans/regularizers.py, ada.py, docs/toolkit.md)
    def make_toolkit(self, c, critic):
        """Set up what the config asks of the critic ``critic`` and return it: the
        low-resolution critic and the colour branch beside it, spectral norm on its layers
        (before its optimiser is made), DiffAugment or ADA, R1 and LeCam. Options a config
        lacks (an older run's) are off."""
        self.loss = getattr(c, "loss", "wgan")
        self.r1_gamma = float(getattr(c, "r1", 0.0))
        self.lecam_weight = float(getattr(c, "lecam", 0.0))
        self.mode_seeking_weight = float(getattr(c, "mode_seeking", 0.0))
        self.penalty_every = int(getattr(c, "gp_every", 1))
        self.policy = ",".join(parse_policy(getattr(c, "diffaugment", "")))
        self.recon_weight = float(getattr(c, "recon", 0.0))
        if int(getattr(c, "low_res_critic", 0)):
            critic = WithLowResCritic(critic, c.size, c.width_d, int(c.low_res_critic),
                                      int(getattr(c, "minibatch_std", 0)))
        if int(getattr(c, "colour_critic", 0)):
            critic = WithColourBranch(critic, int(c.colour_critic))
        if getattr(c, "patch_critic", False):
            critic = WithPatchHead(critic)
        if self.recon_weight > 0:
            critic = SelfSupervisedCritic(critic, c.size)
        if getattr(c, "spectral_norm", False):
            apply_spectral_norm(critic)
        if float(getattr(c, "ada_target", 0.0)) > 0:
            self.aux["ada"] = ADA(self.policy or "color,translation,cutout", c.ada_target)
        if self.lecam_weight > 0:
            self.aux["lecam"] = LeCam()
        if getattr(c, "appearance", "generator") != "generator":
            self.aux["appearance"] = Appearance(c.appearance)
        return critic

    def prepare(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The training images as this model learns them: as given, or with their
        measured appearance removed (``--appearance white|stain[-peak][-noise]``,
        :mod:`refgan.gans.appearance`; :meth:`sample` puts one back)."""
        if "appearance" in self.aux:
            return self.aux["appearance"].fit_normalise(images, labels)
        return images

    def augment(self, x):
        """T(x) for the critic: ADA's T_p, DiffAugment's T, or the identity."""
        if "ada" in self.aux:
            return self.aux["ada"].augment(x)
        return diff_augment(x, self.policy) if self.policy else x

    def judge_real(self, critic, x):
        """``(D(x), L_recon(x))`` for the real images ``x``: with ``--recon`` the critic
        also redraws them from its features (FastGAN, :mod:`refgan.gans.fastgan`);
        otherwise L_recon is None."""
        if self.recon_weight > 0:
            return critic.with_reconstruction(x)
        return critic(x), None

    def critic_loss(self, d_real, d_fake, bce_loss):
        """The critic's loss from its outputs: hinge with ``--loss hinge``, else the
        model's own (``bce_loss``, a callable of the two)."""
        if self.loss == "hinge":
            return hinge_d_loss(d_real, d_fake)
        return bce_loss(d_real, d_fake)

    def generator_loss(self, d_fake, own_loss, fake=None, z=None):
        """G's loss from D(G(z)): -E[D(G(z))] with ``--loss hinge`` (Lim & Ye 2017),
        else the model's own (``own_loss``, a callable of d_fake); plus the
        mode-seeking term of the images ``fake`` and their latents ``z`` when
        ``--mode-seeking`` is on."""
        loss = -d_fake.mean() if self.loss == "hinge" else own_loss(d_fake)
        if self.mode_seeking_weight > 0:
            loss = loss + self.mode_seeking_weight * mode_seeking(fake, z)
        return loss

    def regularise(self, d_loss, critic, real, d_real, d_fake, updates: int, recon=None):
        """``(d_loss + the toolkit's terms, logs)`` after one critic evaluation:
        ADA observes D(real); LeCam's weight * R_LC; FastGAN's weight * L_recon
        (``recon``, from :meth:`judge_real`); R1 lazily, ``every`` *
        gamma / 2 * E||grad D(real)||^2 on every ``every``-th critic update (``updates``
        the critic optimiser's count, which checkpoints restore)."""
        logs = {}
        if recon is not None:
            d_loss = d_loss + self.recon_weight * recon
            logs["recon"] = mean_of(recon)
        if "ada" in self.aux:
            self.aux["ada"].observe(d_real)
            logs["ada_p"] = float(self.aux["ada"].p)
        if "lecam" in self.aux:
            lc = self.aux["lecam"].penalty(d_real, d_fake)
            d_loss = d_loss + self.lecam_weight * lc
            logs["lecam"] = mean_of(lc)
        if self.r1_gamma > 0 and updates % self.penalty_every == 0:
            r1, _ = r1_penalty(critic, real.detach())
            d_loss = d_loss + (self.penalty_every * self.r1_gamma / 2) * r1
            logs["r1"] = mean_of(r1)
        return d_loss, logs

    # -- generator EMA ------------------------------------------------------------
    def update_ema(self, decay: float, step: int, warmup: int = 10) -> float:
        """theta_ema <- d theta_ema + (1 - d) theta_G after G's update ``step`` (1-based),
        with the warm-up d = min(decay, (1 + step) / (warmup + step)): early on the
        average forgets fast, so it does not hold the untrained first weights (a plain
        0.999 average still remembers its start after 1,000 steps: 0.999^1000 = 0.37).
        While the warm-up term is the smaller one (up to step 8,990 for 0.999 and
        warmup 10) the average weighs G's weights after update s by
        (1 - d_s) prod_{k>s} d_k ~ (w - 1) s^(w-2) / t^(w-1): their mean age is t / w
        steps (250 at step 2,500), whatever ``decay`` is.
        Batch-norm statistics are copied, not averaged (``standing_statistics``
        recomputes them for the EMA weights before each sample grid and checkpoint).
        Returns the d used."""
        d = min(float(decay), (1.0 + step) / (warmup + step))
        G, E = self.nets["G"], self.nets["G_ema"]
        for pe, p in zip(E.parameters(), G.parameters()):
            pe.data = pe.data * d + p.data * (1.0 - d)
        for me, mg in zip(E.modules(), G.modules()):
            for name in mg._buffers:
                object.__setattr__(me, name, getattr(mg, name))
        return d

    def standing_statistics(self, seed: int = 0, batches: int = 8, batch: int = 32) -> None:
        """The EMA generator's batch-norm running statistics recomputed for its own
        weights ("standing statistics", Brock et al. 2019).

        ``update_ema`` averages G's weights but copies G's running statistics, which
        belong to the training weights, not to their average; sampled in eval mode
        with them, the EMA G's fields came out paler and its samples easier to tell
        from real cells (docs/main-job.md). Here ``batches`` batches of ``batch``
        latents go through the EMA G in training mode and each statistic becomes the
        plain mean of the batches' (momentum 1/k for the k-th batch). The latents come
        from their own stream ``[seed, 5]``, so training's streams never move; the next
        ``update_ema`` copies G's statistics back, so training itself is unchanged.
        """
        E = self.nets.get("G_ema")
        norms = [] if E is None else [m for m in E.modules() if isinstance(m, nn.layers._BatchNorm)]
        if not norms:
            return
        rng = np.random.default_rng([seed, 5])
        momenta = [b.momentum for b in norms]
        E.train()
        with refgan.no_grad():
            for k in range(batches):
                for b in norms:
                    b.momentum = 1.0 / (k + 1)
                z = refgan.tensor(rng.standard_normal((batch, self.latent_dim)).astype(np.float32))
                labels = rng.integers(0, self.n_classes, batch) if self.conditional else None
                E(self.generator_input(z, labels))
        for b, momentum in zip(norms, momenta):
            b.momentum = momentum

    # -- sampling ---------------------------------------------------------------
    def generator(self):
        """The network to sample from (the EMA copy when the trainer keeps one)."""
        return self.nets.get("G_ema", self.nets["G"])

    def generator_input(self, z, labels):
        """What G reads: z alone (unconditional models) or z with the label."""
        return z

    def sample(self, n: int, labels=None, z=None) -> np.ndarray:
        """n images (n, 3, S, S) in [-1, 1]; G in eval mode (batch-norm running
        statistics), so a fixed z always gives the same image. With
        ``--appearance white|stain[-peak][-noise]`` each image gets an appearance drawn from
        z's row."""
        G = self.generator()
        if z is None:
            z = random.generator().standard_normal((n, self.latent_dim)).astype(np.float32)
        z = refgan.backend.to_numpy(z)
        labels = None if labels is None else np.asarray(labels, np.int64)
        G.eval()
        try:
            with refgan.no_grad():
                out = []
                for i in range(0, n, 256):
                    zi = refgan.tensor(z[i:i + 256])
                    yi = None if labels is None else labels[i:i + 256]
                    out.append(G(self.generator_input(zi, yi)).numpy())
        finally:
            G.train()
        out = np.concatenate(out)
        if hasattr(G, "full_size"):   # a growing generator below its full size (--progressive)
            out = G.full_size(out)
        if "appearance" in self.aux:
            out = self.aux["appearance"].sample(out, z, labels)
        return out

    # -- state --------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {}
        for name, net in self.nets.items():
            state.update({f"net.{name}.{k}": v for k, v in net.state_dict().items()})
        for name, opt in self.opts.items():
            state.update({f"opt.{name}.{k}": np.asarray(v) for k, v in opt.state_dict().items()})
        for name, mod in self.aux.items():
            state.update({f"aux.{name}.{k}": v for k, v in mod.state_dict().items()})
        return state

    def sized_by_data(self) -> set[str]:
        """State keys whose shape follows the training data, not the config (the
        appearance table): a checkpoint's shape is taken as it is for these."""
        return {f"aux.{name}.{k}" for name, mod in self.aux.items()
                if getattr(mod, "sized_by_data", False) for k in mod.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for name, net in self.nets.items():
            p = f"net.{name}."
            net.load_state_dict({k[len(p):]: v for k, v in state.items() if k.startswith(p)})
        for name, opt in self.opts.items():
            p = f"opt.{name}."
            opt.load_state_dict({k[len(p):]: v for k, v in state.items() if k.startswith(p)})
        for name, mod in self.aux.items():
            p = f"aux.{name}."
            mod.load_state_dict({k[len(p):]: v for k, v in state.items() if k.startswith(p)})


def one_hot(labels, k: int):
    """(N,) ints -> (N, k) float32 Tensor."""
    return refgan.tensor(np.eye(k, dtype=np.float32)[np.asarray(labels, np.int64)])


def mean_of(t) -> float:
    return float(t.numpy().mean())
