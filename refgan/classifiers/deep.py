"""Classifiers on pretrained ImageNet backbones (Gaur et al., Saquib and Rodriguez, Georgiev).

:class:`BackboneClassifier` puts a small head on a backbone with refgan.backbones' API
(``preprocess``, ``features``, ``blocks``, ``name``, ``family``, ``feature_dim``):

* **frozen** (``fine_tune_blocks=0``): the backbone's penultimate vector ``f(x)`` (D,)
  is computed once per image and kept in :data:`FEATURE_CACHE`, then only the head is
  trained. ``head='linear'``: ``z = W f + b`` (Gaur et al.: only the last layer
  trained); ``head='fc320'``: ``z = W_2 relu(W_1 f + b_1) + b_2`` with 320 hidden
  units (Georgiev). With two classes the head has one output, ``P(class 1) =
  sigmoid(z)``, trained with binary cross-entropy; with K > 2 classes it has K
  outputs and a softmax cross-entropy.
* **fine-tuned** (``fine_tune_blocks=N``): the last N of ``backbone.blocks`` on the
  path of the features (a pretrained classifier's own output layer, a block after
  them, does not count: :func:`feature_blocks`) are trained with the head, every
  earlier parameter frozen (``requires_grad=False``, so the autograd records nothing
  for them), on a copy of the backbone; the shared network is never changed. Batch norms stay in inference mode (their running
  statistics are the pretrained ones; Keras' transfer-learning rule).

The loss weights sample ``i`` by ``s_i`` = its class weight times its sample weight:
``L = sum_i s_i l_i / sum_i s_i`` over a batch (``class_weight='balanced'`` is
Saquib and Rodriguez's class-weighted loss). Adam (``refgan.optim``) for ``epochs``
passes over the training set.

Images are ``(N, 3, H, W)`` with values in ``value_range`` ((-1, 1): refgan's datasets
and GANs). Before the backbone's own ``preprocess`` (resize to its input size,
normalisation of its weight family) an image is centre-cropped to ``crop`` of its
side (Georgiev: 300 of 450), rotated (training only) and mapped to [0, 1].

Rotation during training (Georgiev: uniform in [-45, 45] degrees). Fine-tuned, every
batch is rotated anew by angles drawn uniformly from ``[-rotation, rotation]``.
Frozen, features cannot be computed per draw without losing the cache, so each image
has ``rotation_views`` fixed views at evenly spaced angles
``linspace(-rotation, rotation, rotation_views)`` (9 views: steps of 11.25 degrees
for 45), each computed once and cached; every epoch draws one view per image,
uniformly. Prediction uses the unrotated image.

:data:`FEATURE_CACHE`: one in-process LRU store of frozen features, keyed by (backbone
identity, a BLAKE2 digest of the image's pixels, crop, value range, rotation angle),
bounded by ``FEATURE_CACHE.max_bytes`` (default 512 MiB; least recently used entries
are dropped first). A study's folds, conditions and repeated fits in one process share
it: an image seen before is never run through the backbone again. Joblib workers
(separate processes) each keep their own. The identity of a backbone loaded from a
file is its name, family and the file's path, size and modification time; of a
network passed as an object, a digest of its weights taken at ``fit``, so do not
change a network's weights between ``fit`` and ``predict``.
"""
from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array, check_is_fitted

import refgan
from refgan import backend, nn, ops, optim
from refgan import random as rrandom
from refgan.augment import Rotate
from refgan.classifiers.backbone_files import file_key, find_weights, load_backbone
from refgan.classifiers.base import ClassifierBase

HEADS = ("linear", "fc320")
FC_HIDDEN = 320  # Georgiev's FC(320)


class FeatureCache:
    """LRU map ``key -> features (D,) float32`` with a bound on the bytes held.

    ``hits`` and ``misses`` count lookups since the last :meth:`clear`. A lock keeps
    it whole when fits run in threads (the study's ``--joblib-backend threading``).
    """

    def __init__(self, max_bytes: int = 512 * 2 ** 20):
        self.max_bytes = int(max_bytes)
        self._store: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = self.misses = 0

    def get(self, key):
        with self._lock:
            v = self._store.get(key)
            if v is None:
                self.misses += 1
                return None
            self._store.move_to_end(key)
            self.hits += 1
            return v

    def put(self, key, value: np.ndarray) -> None:
        value = np.array(value, dtype=np.float32)  # a private copy: callers may write theirs
        with self._lock:
            old = self._store.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            if value.nbytes > self.max_bytes:
                return
            self._store[key] = value
            self.nbytes += value.nbytes
            while self.nbytes > self.max_bytes:
                _, dropped = self._store.popitem(last=False)
                self.nbytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._store.clear()
            self.nbytes = 0
            self.hits = self.misses = 0

    def __len__(self):
        return len(self._store)


FEATURE_CACHE = FeatureCache()


def image_digests(x: np.ndarray) -> list:
    """BLAKE2b digest (hex) of each image's float32 pixels and shape ``(C, H, W)``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    shape = repr(x.shape[1:]).encode()
    return [hashlib.blake2b(shape + img.tobytes(), digest_size=16).hexdigest() for img in x]


def network_digest(model) -> str:
    """Identity of a network passed as an object: its class, name, family and a BLAKE2b
    digest of every parameter and buffer."""
    h = hashlib.blake2b(digest_size=16)
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(np.ascontiguousarray(v).tobytes())
    name, family = getattr(model, "name", ""), getattr(model, "family", "")
    return f"{type(model).__name__}:{name}:{family}:{h.hexdigest()}"


def centre_crop(x: np.ndarray, fraction) -> np.ndarray:
    """The central ``round(fraction * H) x round(fraction * W)`` of images (N, C, H, W)."""
    if fraction is None or fraction == 1:
        return x
    h, w = x.shape[2:]
    ch, cw = max(1, int(round(fraction * h))), max(1, int(round(fraction * w)))
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[:, :, top:top + ch, left:left + cw]


def build_head(kind: str, in_features: int, n_outputs: int) -> nn.Module:
    """``'linear'``: Linear(D, n); ``'fc320'``: Linear(D, 320) -> ReLU -> Linear(320, n)."""
    if kind == "linear":
        return nn.Sequential(nn.Linear(in_features, n_outputs))
    if kind == "fc320":
        return nn.Sequential(nn.Linear(in_features, FC_HIDDEN), nn.ReLU(), nn.Linear(FC_HIDDEN, n_outputs))
    raise ValueError(f"head must be one of {', '.join(HEADS)}, got {kind!r}")


def weighted_loss(logits, y_idx, s):
    """``sum_i s_i l_i / sum_i s_i``. One output (two classes): logits (B,) or (B, 1),
    ``l_i = softplus(z_i) - y_i z_i`` (binary cross-entropy of sigmoid(z_i)); K outputs:
    ``l_i = -log softmax(z_i)[y_i]``."""
    w = np.asarray(s, np.float64)
    w = refgan.tensor((w / w.sum()).astype(np.float32))
    if logits.ndim == 1 or logits.shape[1] == 1:
        z = ops.reshape(logits, (logits.shape[0],))
        l_i = ops.binary_cross_entropy_with_logits(z, np.asarray(y_idx, np.float32), reduction="none")
    else:
        l_i = ops.cross_entropy(logits, y_idx, reduction="none")
    return ops.sum(l_i * w)


def reachable_leaves(output) -> set:
    """``id`` of every leaf tensor the graph of ``output`` reaches through tensors that
    require gradients (no backward is run)."""
    leaves, seen = set(), set()
    stack = [output.creator] if output.creator is not None else []
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        for x in f.inputs:
            if x.creator is None:
                leaves.add(id(x))
            elif x.requires_grad:
                stack.append(x.creator)
    return leaves


def feature_blocks(net, x01: np.ndarray) -> list:
    """The blocks of ``net.blocks`` (in order) whose parameters ``net.features`` depends
    on, found by one recorded forward pass of ``x01`` (1, 3, H, W): a pretrained
    network's own classifier (Keras' 'predictions' stage) is a block but lies after the
    features, so fine-tuning "the last N blocks" counts from the features back."""
    net.requires_grad_(True)
    try:
        with refgan.enable_grad():
            inp = net.preprocess(x01)
            out = net.features(inp if isinstance(inp, refgan.Tensor) else refgan.tensor(inp))
        used = reachable_leaves(out)
    finally:
        net.requires_grad_(False)
    return [b for b in net.blocks if any(id(p) in used for p in b.parameters())]


class BackboneClassifier(ClassifierBase):
    """A head on a pretrained backbone, frozen or with its last blocks fine-tuned.

    Parameters
    ----------
    backbone : a network with refgan.backbones' API, or its name ('vgg16', 'resnet50',
        'inception_v3', 'efficientnet_b0') with ``weights``
    weights : the weight file, or the folder holding it (names in
        :mod:`refgan.classifiers.backbone_files`); used when ``backbone`` is a name
    head : 'linear' (Gaur et al.) or 'fc320' (Georgiev)
    fine_tune_blocks : 0 (frozen, features cached) or N: the last N blocks trained too
    epochs, lr, batch_size : Adam's passes, rate and batch
    class_weight : None, 'balanced' or {label: weight}
    rotation : training images rotated by up to this many degrees (0: none)
    rotation_views : frozen mode: the fixed views per image (see the module docstring)
    crop : centre crop, as a fraction of the side, before everything else (None: none)
    value_range : (lo, hi) of the input pixel values, mapped to [0, 1] for the backbone
    random_state : seed of the head's initial weights, the order of batches and the
        rotation draws

    Attributes
    ----------
    classes_, head_ (the trained head, a ``refgan.nn`` module), network_ (the
    fine-tuned copy of the backbone; None when frozen), trained_blocks_ (its blocks
    that were trained; [] when frozen), backbone_key_ (the identity
    the feature cache uses), feature_dim_, loss_curve_ (weighted training loss per
    epoch), n_iter_ (epochs run).
    """

    def __init__(self, backbone="vgg16", weights=None, head: str = "linear", fine_tune_blocks: int = 0,
                 epochs: int = 40, lr: float = 1e-5, batch_size: int = 32, class_weight=None,
                 rotation: float = 0.0, rotation_views: int = 9, crop=None, value_range=(-1.0, 1.0),
                 random_state=0, verbose: bool = False):
        self.backbone = backbone
        self.weights = weights
        self.head = head
        self.fine_tune_blocks = fine_tune_blocks
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.rotation = rotation
        self.rotation_views = rotation_views
        self.crop = crop
        self.value_range = value_range
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images (N, C, H, W); see CNNClassifier
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ inputs
    def _check_params(self):
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        for name in ("epochs", "batch_size", "rotation_views"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"{name} must be a whole number >= 1, got {v!r}")
        if not (isinstance(self.fine_tune_blocks, (int, np.integer)) and self.fine_tune_blocks >= 0):
            raise ValueError(f"fine_tune_blocks must be a whole number >= 0, got {self.fine_tune_blocks!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.rotation <= 180:
            raise ValueError(f"rotation is a number of degrees in [0, 180], got {self.rotation!r}")
        if self.rotation and self.rotation_views < 2 and not self.fine_tune_blocks:
            raise ValueError(f"rotation={self.rotation} needs rotation_views >= 2 (the cached views span "
                             f"[-rotation, rotation]), got {self.rotation_views}")
        if self.crop is not None and not 0 < self.crop <= 1:
            raise ValueError(f"crop is a fraction of the side in (0, 1], got {self.crop!r}")
        lo, hi = self.value_range
        if not hi > lo:
            raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {self.value_range!r}")

    def _images(self, X, reset: bool = False) -> np.ndarray:
        """Checked images ``(N, C, H, W)`` float32; after fit, of the fitted ``(C, H, W)``."""
        if not reset:
            check_is_fitted(self)
        x = check_array(X if sp.issparse(X) else backend.to_numpy(X), allow_nd=True, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"BackboneClassifier expects images (N, C, H, W), got shape {x.shape}")
        if reset:
            self.image_shape_ = x.shape[1:]
        elif x.shape[1:] != self.image_shape_:
            raise ValueError(f"X has images of shape {x.shape[1:]} (C, H, W); this BackboneClassifier was "
                             f"fitted on {self.image_shape_}")
        return x

    def _network_key(self) -> str:
        """The cache identity of the backbone (see the module docstring)."""
        if isinstance(self.backbone, str):
            return file_key(self.backbone, find_weights(self.backbone, self.weights))
        return network_digest(self.backbone)

    def _network(self):
        """The shared (never trained) network: loaded by name from ``weights``, or given."""
        if isinstance(self.backbone, str):
            return load_backbone(self.backbone, find_weights(self.backbone, self.weights))
        return self.backbone

    # ---------------------------------------------------------------- features
    def _views(self, x: np.ndarray, angle: float, rng=None) -> np.ndarray:
        """Crop, rotate by ``angle`` degrees (or, with ``rng``, by angles drawn in
        [-rotation, rotation]) and map to [0, 1]."""
        x = centre_crop(x, self.crop)
        if rng is not None:
            x = Rotate(limit=float(self.rotation), p=1.0)(x, rng)
        elif angle:
            x = Rotate(angles=[angle], p=1.0)(x, np.random.default_rng(0))
        lo, hi = self.value_range
        return ((x - lo) / (hi - lo)).astype(np.float32)

    @staticmethod
    def _forward(net, x01: np.ndarray):
        inp = net.preprocess(x01)
        return net.features(inp if isinstance(inp, refgan.Tensor) else refgan.tensor(inp))

    def _frozen_features(self, key, x: np.ndarray, angle: float = 0.0, batch: int = 32) -> np.ndarray:
        """Features ``(N, D)`` of images ``x`` viewed at ``angle``, from the cache where
        it has them, else through the shared network (then cached; it is loaded only
        then)."""
        keys = [(key, d, self.crop, tuple(self.value_range), round(float(angle), 6))
                for d in image_digests(x)]
        found = [FEATURE_CACHE.get(k) for k in keys]
        todo = [i for i, f in enumerate(found) if f is None]
        if todo:
            net = self._network()
            net.eval()
            with refgan.no_grad():
                for s in range(0, len(todo), batch):
                    idx = todo[s:s + batch]
                    f = backend.to_numpy(self._forward(net, self._views(x[idx], angle)).data)
                    for i, row in zip(idx, np.asarray(f, np.float32)):
                        found[i] = row
                        FEATURE_CACHE.put(keys[i], row)
        return np.stack(found) if found else np.zeros((0, 0), np.float32)

    def _train_angles(self) -> np.ndarray:
        if not self.rotation:
            return np.zeros(1)
        return np.linspace(-float(self.rotation), float(self.rotation), int(self.rotation_views))

    # ------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Train on images ``X`` (N, C, H, W) with values in ``value_range`` and labels ``y``."""
        self._check_params()
        X = self._images(X, reset=True)
        y_idx, s = self._targets(X, y, sample_weight)
        self.backbone_key_ = self._network_key()
        rng = np.random.default_rng(self.random_state)
        n_out = 1 if len(self.classes_) == 2 else len(self.classes_)
        if self.fine_tune_blocks:
            self.network_ = copy.deepcopy(self._network())
            blocks = feature_blocks(self.network_, self._views(X[:1], 0.0))
            if self.fine_tune_blocks > len(blocks):
                raise ValueError(f"fine_tune_blocks={self.fine_tune_blocks}, but "
                                 f"{getattr(self.network_, 'name', 'the backbone')} has {len(blocks)} blocks "
                                 "on the path of its features")
            self.trained_blocks_ = blocks[len(blocks) - self.fine_tune_blocks:]
            self.feature_dim_ = int(self.network_.feature_dim)
            self._init_head(n_out)
            self._fit_fine_tune(X, y_idx, s, rng)
        else:
            self.network_, self.trained_blocks_ = None, []
            views = np.stack([self._frozen_features(self.backbone_key_, X, a) for a in self._train_angles()])
            self.feature_dim_ = int(views.shape[-1])
            self._init_head(n_out)
            self._fit_frozen(views, y_idx, s, rng)
        self.head_.eval()
        self.n_iter_ = len(self.loss_curve_)
        return self

    def _init_head(self, n_out: int) -> None:
        with rrandom.using(np.random.default_rng(self.random_state)):
            self.head_ = build_head(self.head, self.feature_dim_, n_out)

    def _step(self, opt, logits, y_b, s_b) -> float:
        opt.zero_grad()
        loss = weighted_loss(logits, y_b, s_b)
        loss.backward()
        opt.step()
        return float(backend.to_numpy(loss.data))

    def _fit_frozen(self, views: np.ndarray, y_idx, s, rng) -> None:
        """Head only, on cached features ``views`` (V, N, D): one view per image per epoch."""
        opt = optim.Adam(self.head_.parameters(), lr=self.lr)
        n_views, n = views.shape[:2]
        self.head_.train()
        self.loss_curve_ = []
        for epoch in range(self.epochs):
            order = rng.permutation(n)
            pick = rng.integers(0, n_views, n) if n_views > 1 else np.zeros(n, np.int64)
            total = 0.0
            for i in range(0, n, self.batch_size):
                b = order[i:i + self.batch_size]
                logits = self.head_(refgan.tensor(views[pick[b], b]))
                total += self._step(opt, logits, y_idx[b], s[b]) * s[b].sum()
            self.loss_curve_.append(total / s.sum())
            if self.verbose:
                print(f"epoch {epoch + 1}: loss {self.loss_curve_[-1]:.4f}")

    def _fit_fine_tune(self, X, y_idx, s, rng) -> None:
        """Head and the last ``fine_tune_blocks`` blocks, images rotated on the fly."""
        net = self.network_
        net.eval()  # batch norms keep their pretrained statistics; dropout off
        net.requires_grad_(False)
        train = []
        for block in self.trained_blocks_:
            block.requires_grad_(True)
            train += block.parameters()
        opt = optim.Adam(self.head_.parameters() + train, lr=self.lr)
        self.head_.train()
        self.loss_curve_ = []
        n = len(X)
        for epoch in range(self.epochs):
            order = rng.permutation(n)
            total = 0.0
            for i in range(0, n, self.batch_size):
                b = order[i:i + self.batch_size]
                x01 = self._views(X[b], 0.0, rng if self.rotation else None)
                total += self._step(opt, self.head_(self._forward(net, x01)), y_idx[b], s[b]) * s[b].sum()
            self.loss_curve_.append(total / s.sum())
            if self.verbose:
                print(f"epoch {epoch + 1}: loss {self.loss_curve_[-1]:.4f}")
        net.requires_grad_(False)

    # --------------------------------------------------------------- predict
    def features(self, X) -> np.ndarray:
        """The backbone's features ``(N, D)`` of unrotated images (the fine-tuned
        network's after fine-tuning)."""
        X = self._images(X)
        if self.network_ is None:
            return self._frozen_features(self.backbone_key_, X)
        out = []
        self.network_.eval()
        with refgan.no_grad():
            for i in range(0, len(X), 32):
                out.append(backend.to_numpy(self._forward(self.network_, self._views(X[i:i + 32], 0.0)).data))
        return np.concatenate(out).astype(np.float32)

    def _logits(self, X) -> np.ndarray:
        f = self.features(X)
        self.head_.eval()
        with refgan.no_grad():
            z = backend.to_numpy(self.head_(refgan.tensor(f)).data)
        return np.asarray(z, np.float64)

    def decision_function(self, X):
        """Two classes: the logit of class 1, (N,); K classes: the K logits, (N, K)."""
        z = self._logits(X)
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, X):
        """Class probabilities (N, K): sigmoid of the one logit, or softmax of the K."""
        z = self._logits(X)
        if z.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1 - p, p], axis=1)
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)
