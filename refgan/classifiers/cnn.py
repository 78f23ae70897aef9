"""Guruswamy et al.'s small CNN classifier on ``refgan.nn``, with scikit-learn's API.

Architecture (input ``(N, 3, H, W)``, H and W divisible by 8)::

    [Conv2d 3x3 'same' -> ReLU -> MaxPool2d(2) -> Dropout(p)] x 3   (channels c1, c2, c3)
    -> Flatten -> Linear(c3 * H/8 * W/8, dense) -> ReLU -> Dropout(p) -> Linear(dense, K)

Training: softmax cross-entropy weighted by class (and sample) weights,
``sum_i s_i nll_i / sum_i s_i`` (PyTorch's weighted mean); Adam (lr 1e-3), batch 64;
after every epoch the loss on a validation set is measured, and training stops after
``patience`` epochs without improvement, restoring the weights of the best epoch.
Without ``validation_data`` a stratified ``val_fraction`` of the training set is held
out for this.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array, check_is_fitted

import refgan
from refgan import backend, nn, ops, optim
from refgan.classifiers.base import ClassifierBase
from refgan.data.imops import resize


def build_cnn(in_channels: int, n_classes: int, image_size, channels=(16, 32, 64), dense: int = 64,
              dropout: float = 0.25) -> nn.Module:
    """The network described in the module docstring."""
    h, w = image_size
    if h % 8 or w % 8:
        raise ValueError(f"CNN input size must be divisible by 8, got {h}x{w}; set image_size")
    layers, c_in = [], in_channels
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(dropout)]
        c_in = c
    layers += [nn.Flatten(), nn.Linear(c_in * (h // 8) * (w // 8), dense), nn.ReLU(),
               nn.Dropout(dropout), nn.Linear(dense, n_classes)]
    return nn.Sequential(*layers)


class CNNClassifier(ClassifierBase):
    """Small CNN (Guruswamy et al.) with early stopping on validation loss.

    Parameters
    ----------
    channels : widths of the three conv blocks;  dense : hidden units of the dense layer;
    dropout : drop probability after each block and the dense layer;
    lr, batch_size : Adam's rate and the batch (Guruswamy et al.: 1e-3, 64);
    max_epochs, patience : early stopping (best weights restored);
    val_fraction : held out from the training set when no ``validation_data``;
    image_size : resize inputs to this square size first (None: as given);
    class_weight : None, 'balanced' or {label: weight};  random_state : seed.
    augment : a transform of refgan.augment applied to every training batch, drawn anew
        each epoch (Georgiev's on-the-fly random rotation); validation images untouched.

    Attributes
    ----------
    model_ : the trained ``refgan.nn`` network; history_ : dict with per-epoch
    ``train_loss``, ``val_loss``, ``val_accuracy``; ``loss_curve_`` (= train_loss),
    ``validation_loss_curve_``, ``best_epoch_`` (0-based), ``n_iter_`` (epochs run).
    """

    def __init__(self, channels=(16, 32, 64), dense: int = 64, dropout: float = 0.25,
                 lr: float = 1e-3, batch_size: int = 64, max_epochs: int = 30, patience: int = 5,
                 val_fraction: float = 0.15, image_size=None, class_weight=None, random_state=0,
                 verbose: bool = False, augment=None):
        self.channels = channels
        self.dense = dense
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.image_size = image_size
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose
        self.augment = augment

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # images (N, C, H, W): scikit-learn has no 4-D tag; "not 2-D, n-D" is what it reads
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def _images(self, X, reset: bool = False) -> np.ndarray:
        """Checked images ``(N, C, H, W)`` float32 (finite; resized to ``image_size``);
        after fit, of the fitted ``(C, H, W)``."""
        if not reset:
            check_is_fitted(self)
        x = check_array(X if sp.issparse(X) else backend.to_numpy(X), allow_nd=True, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"CNNClassifier expects images (N, C, H, W), got shape {x.shape}")
        if self.image_size and x.shape[2:] != (self.image_size, self.image_size):
            x = resize(x, int(self.image_size))
        if reset:
            self.image_shape_ = x.shape[1:]
        elif x.shape[1:] != self.image_shape_:
            raise ValueError(f"X has images of shape {x.shape[1:]} (C, H, W); this CNNClassifier was fitted on "
                             f"{self.image_shape_}")
        return x

    def _loss(self, X, y_idx, s, batch=256):
        """Weighted mean cross-entropy and accuracy of ``X`` in eval mode."""
        logits = self._logits(X, batch)
        z = logits - logits.max(1, keepdims=True)
        nll = np.log(np.exp(z).sum(1)) - z[np.arange(len(z)), y_idx]
        return float((s * nll).sum() / s.sum()), float((logits.argmax(1) == y_idx).mean())

    def _logits(self, X, batch=256) -> np.ndarray:
        self.model_.eval()
        out = []
        with refgan.no_grad():
            for i in range(0, len(X), batch):
                out.append(backend.to_numpy(self.model_(refgan.tensor(X[i:i + batch])).data))
        return np.concatenate(out).astype(np.float64)

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Train on images ``X`` (N, C, H, W) and labels ``y``; ``validation_data`` =
        ``(X_val, y_val)`` drives early stopping (else a stratified hold-out)."""
        X = self._images(X, reset=True)
        y_idx, s = self._targets(X, y, sample_weight)
        cw = s / (1 if sample_weight is None else np.asarray(sample_weight, float))
        rng = np.random.default_rng(self.random_state)
        if validation_data is not None:
            Xv = self._images(validation_data[0])
            yv = np.searchsorted(self.classes_, np.asarray(validation_data[1]))
            if not np.array_equal(self.classes_[np.clip(yv, 0, len(self.classes_) - 1)],
                                  np.asarray(validation_data[1])):
                raise ValueError("validation labels must be among the training classes")
            Xt, yt, st = X, y_idx, s
        else:
            val = np.zeros(len(X), bool)
            for c in range(len(self.classes_)):
                idx = rng.permutation(np.flatnonzero(y_idx == c))
                val[idx[:int(round(self.val_fraction * len(idx)))]] = True
            Xv, yv = X[val], y_idx[val]
            Xt, yt, st = X[~val], y_idx[~val], s[~val]
        class_w = np.ones(len(self.classes_))
        for c in range(len(self.classes_)):  # per-class weight, for the validation loss
            if (y_idx == c).any():
                class_w[c] = cw[y_idx == c][0]
        sv = class_w[yv]
        refgan.manual_seed(int(self.random_state))
        self.model_ = build_cnn(X.shape[1], len(self.classes_), X.shape[2:], tuple(self.channels),
                                self.dense, self.dropout)
        opt = optim.Adam(self.model_.parameters(), lr=self.lr)
        hist = dict(train_loss=[], val_loss=[], val_accuracy=[])
        best, best_state, best_epoch, waited = np.inf, None, -1, 0
        for epoch in range(self.max_epochs):
            self.model_.train()
            order = rng.permutation(len(Xt))
            total, weight = 0.0, 0.0
            for i in range(0, len(order), self.batch_size):
                b = order[i:i + self.batch_size]
                sb = st[b]
                opt.zero_grad()
                xb = Xt[b] if self.augment is None else self.augment(Xt[b], rng)  # on the fly
                nll = ops.cross_entropy(self.model_(refgan.tensor(xb)), yt[b], reduction="none")
                loss = ops.sum(nll * refgan.tensor(sb / sb.sum()))
                loss.backward()
                opt.step()
                total += float(backend.to_numpy(loss.data)) * sb.sum()
                weight += sb.sum()
            hist["train_loss"].append(total / weight)
            vl, va = self._loss(Xv, yv, sv) if len(Xv) else (hist["train_loss"][-1], np.nan)
            hist["val_loss"].append(vl)
            hist["val_accuracy"].append(va)
            if self.verbose:
                print(f"epoch {epoch + 1}: train {total / weight:.4f}  val {vl:.4f}  acc {va:.3f}")
            if vl < best - 1e-6:
                best, best_state, best_epoch, waited = vl, self.model_.state_dict(), epoch, 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        self.model_.load_state_dict(best_state)
        self.model_.eval()
        self.history_ = hist
        self.loss_curve_ = hist["train_loss"]
        self.validation_loss_curve_ = hist["val_loss"]
        self.best_epoch_ = best_epoch
        self.n_iter_ = len(hist["train_loss"])
        return self

    def decision_function(self, X):
        """Logits: (N,) difference ``z_1 - z_0`` for two classes, else (N, K)."""
        z = self._logits(self._images(X))
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X):
        z = self._logits(self._images(X))
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def embed(self, X, batch: int = 256) -> np.ndarray:
        """Penultimate-layer features (N, dense): the domain feature extractor used by
        KID and precision/recall (the CNN trained on the real training split)."""
        X = self._images(X)
        trunk = list(self.model_._modules.values())[:-2]  # up to the dense layer's ReLU
        self.model_.eval()
        out = []
        with refgan.no_grad():
            for i in range(0, len(X), batch):
                h = refgan.tensor(X[i:i + batch])
                for m in trunk:
                    h = m(h)
                out.append(backend.to_numpy(h.data))
        return np.concatenate(out).astype(np.float64)
