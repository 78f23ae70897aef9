"""Losses and the WGAN-GP gradient penalty, all composed from ops."""
from __future__ import annotations

import numpy as np

from refgan import backend, random
from refgan.autograd import Tensor, as_tensor, grad
from refgan.ops.math import relu, softplus, sqrt
from refgan.ops.reduce import log_softmax, mean, sum
from refgan.ops.shape import getitem, reshape


def _reduce(loss, reduction):
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def binary_cross_entropy_with_logits(logits, targets, weight=None, reduction="mean"):
    """-[t log s(x) + (1 - t) log(1 - s(x))] = softplus(x) - t x, stable for any x."""
    targets = as_tensor(targets, like=logits)
    loss = softplus(logits) - logits * targets
    if weight is not None:
        loss = loss * as_tensor(weight, like=logits)
    return _reduce(loss, reduction)


def cross_entropy(logits, labels, weight=None, reduction="mean"):
    """Softmax cross-entropy, logits (N, K), integer labels (N,).

    With class weights w, the mean is weighted as in PyTorch:
    sum_n w[y_n] * (-log p_n[y_n]) / sum_n w[y_n].
    """
    labels = labels.data if isinstance(labels, Tensor) else labels
    xp = backend.get_array_module(logits.data)
    labels = xp.asarray(labels).astype(np.int64)
    n = logits.shape[0]
    nll = -getitem(log_softmax(logits, axis=1), (xp.arange(n), labels))
    if weight is None:
        return _reduce(nll, reduction)
    w = xp.asarray(weight, dtype=logits.dtype)[labels]
    weighted = nll * Tensor(w)
    if reduction == "mean":
        return sum(weighted) * (1.0 / float(w.sum()))
    return _reduce(weighted, reduction)


def mse_loss(x, target, reduction="mean"):
    d = x - as_tensor(target, like=x)
    return _reduce(d * d, reduction)


def hinge_loss(scores, targets, reduction="mean"):
    """max(0, 1 - t * s) with targets t in {-1, +1}."""
    return _reduce(relu(1.0 - scores * as_tensor(targets, like=scores)), reduction)


def gradient_penalty(critic, real, fake, eps=None, target: float = 1.0):
    """WGAN-GP penalty E[(||grad_x D(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017).

    x_hat = eps * real + (1 - eps) * fake with eps ~ U(0, 1) drawn once per sample
    (shape (N, 1, 1, 1)), not per pixel. The input gradient is taken with
    ``create_graph=True``, so the penalty is an ordinary differentiable function of the
    critic's weights (and of the generator, through ``fake``), for any critic.

    Returns ``(penalty, grad_norms)``; ``grad_norms`` is (N,) for logging.
    """
    if eps is None:
        eps = random.uniform((real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    eps = as_tensor(eps, like=real)
    x_hat = eps * real + (1.0 - eps) * fake
    if not x_hat.requires_grad:  # real and fake both detached: differentiate wrt x_hat
        x_hat.requires_grad_()
    (g,) = grad(sum(critic(x_hat)), x_hat, create_graph=True)
    norms = sqrt(sum(reshape(g * g, (g.shape[0], -1)), axis=1) + 1e-12)
    return mean((norms - target) ** 2), norms
