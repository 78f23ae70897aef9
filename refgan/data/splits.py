"""Train/val/test splits that cannot leak, and duplicate detection.

Guarantees of :func:`split`
---------------------------
* stratified: each class is split in the requested proportions (largest
  remainder rounding, so 130/130 at ``test=0.2`` gives exactly 26 + 26);
* grouped: when the dataset has group ids (patients), a group never straddles
  two splits; groups are assigned greedily so class proportions stay close;
* duplicate-aware: exact and near-duplicate images (see :func:`find_duplicates`)
  are merged into one group before splitting, so copies of one image cannot sit
  on both sides; the report in ``train.meta['split']`` lists what was found and
  a final cross-split check is run on the result;
* roles: the three datasets get ``role = 'train' | 'val' | 'test'``; augmentation,
  GAN training and statistics refuse val/test data (``Dataset.role``).
"""
from __future__ import annotations

import warnings

import numpy as np

from refgan.data.dataset import Dataset, require_train
from refgan.data.imops import resize, rgb_to_gray
from refgan.errors import UserError

__all__ = ["split", "find_duplicates", "duplicate_groups", "fit_normalizer", "Normalizer"]


# ---------------------------------------------------------------------------
# duplicates
# ---------------------------------------------------------------------------
def _signatures(images: np.ndarray, dihedral: bool) -> tuple[np.ndarray, np.ndarray]:
    """Zero-mean unit-norm 16x16 grey thumbnails ``(N, V, 256)`` (V = 8
    dihedral variants or 1), and exact-content hashes ``(N,)``."""
    x = np.asarray(images, np.float32)
    q = np.clip(np.rint((x + 1) * 127.5), 0, 255).astype(np.uint8)
    hashes = np.array([hash(im.tobytes()) ^ hash(im.shape) for im in q])
    g = resize(rgb_to_gray(x)[:, 0], 16)
    variants = [g]
    if dihedral:
        variants = [np.rot90(g, k, axes=(1, 2)) for k in range(4)]
        variants += [v[:, :, ::-1] for v in variants]
    v = np.stack(variants, 1).reshape(len(x), len(variants), -1).astype(np.float64)
    v -= v.mean(-1, keepdims=True)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    # flat images: compare by mean level instead of (undefined) shape
    v = np.where(norm > 1e-6, v / np.maximum(norm, 1e-12), 0.0)
    return v, hashes


def find_duplicates(a, b=None, threshold: float = 0.98, dihedral: bool = True, chunk: int = 1024) -> list[tuple]:
    """Exact and near-duplicate image pairs between ``a`` and ``b`` (or within ``a``).

    Two images are *exact* duplicates when their uint8 pixels are identical, and
    *near* duplicates when the Pearson correlation of their 16x16 grey
    thumbnails is at least ``threshold`` (optionally after any of the 8
    rotations/flips of the first) and their mean grey levels differ by < 0.05:
    re-encoded, resized, slightly noised or rotated copies are caught, different
    cells are not.

    Parameters
    ----------
    a, b : Dataset or float images (N, 3, H, W) in [-1, 1]
    threshold : correlation above which a pair is reported
    dihedral : also match rotated (90-degree steps) and flipped copies

    Returns
    -------
    list of ``(i, j, kind, score)`` with ``i`` indexing ``a`` and ``j`` indexing
    ``b`` (``i < j`` when ``b`` is None), kind ``'exact'`` or ``'near'``.
    """
    xa = a.images if isinstance(a, Dataset) else np.asarray(a)
    same = b is None
    xb = xa if same else (b.images if isinstance(b, Dataset) else np.asarray(b))
    if len(xa) == 0 or len(xb) == 0:
        return []
    sa, ha = _signatures(xa, dihedral)
    sb, hb = _signatures(xb, False)
    sb = sb[:, 0]
    ma = xa.reshape(len(xa), -1).mean(1)
    mb = xb.reshape(len(xb), -1).mean(1)
    out = []
    for s in range(0, len(xa), chunk):
        corr = np.einsum("nvd,md->nvm", sa[s:s + chunk], sb).max(1)  # (n, M)
        close = (corr >= threshold) & (np.abs(ma[s:s + chunk, None] - mb[None]) < 0.1)
        exact = ha[s:s + chunk, None] == hb[None]
        for i, j in zip(*np.nonzero(close | exact)):
            gi = s + i
            if same and j <= gi:
                continue
            if exact[i, j] and xa[gi].shape == xb[j].shape and np.array_equal(xa[gi], xb[j]):
                out.append((int(gi), int(j), "exact", 1.0))
            elif close[i, j]:
                out.append((int(gi), int(j), "near", float(corr[i, j])))
    return out


def duplicate_groups(ds: Dataset, threshold: float = 0.98) -> tuple[np.ndarray, list[tuple]]:
    """Connected components of the within-dataset duplicate graph: ``(N,)``
    component ids (singletons get their own id) and the pairs found."""
    pairs = find_duplicates(ds, None, threshold)
    parent = np.arange(len(ds))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _, _ in pairs:
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([root(i) for i in range(len(ds))]), pairs


# ---------------------------------------------------------------------------
# splitting
# ---------------------------------------------------------------------------
def _largest_remainder(total: int, fracs: list[float]) -> list[int]:
    raw = np.array(fracs) * total
    k = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - k), kind="stable")[: total - k.sum()]:
        k[i] += 1
    return k.tolist()


def _stratified(labels, fracs, rng, stratify):
    assign = np.empty(len(labels), np.int64)
    strata = [np.arange(len(labels))] if not stratify else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for idx in strata:
        idx = rng.permutation(idx)
        counts = _largest_remainder(len(idx), fracs)
        assign[idx] = np.repeat(np.arange(len(fracs)), counts)
    return assign


def _grouped(labels, groups, fracs, rng, n_classes, stratify):
    """Greedy: groups in random order (largest first), each to the split with the
    largest remaining per-class deficit weighted by the group's class counts."""
    uniq, inv = np.unique(groups, return_inverse=True)
    counts = np.zeros((len(uniq), n_classes))
    np.add.at(counts, (inv, labels), 1)
    if not stratify:
        counts = counts.sum(1, keepdims=True)
    target = np.array(fracs)[:, None] * counts.sum(0)[None]  # (S, C)
    have = np.zeros_like(target)
    order = rng.permutation(len(uniq))
    order = order[np.argsort(-counts[order].sum(1), kind="stable")]
    gsplit = np.empty(len(uniq), np.int64)
    for g in order:
        deficit = (target - have) / np.maximum(target, 1)
        score = deficit @ counts[g] / max(counts[g].sum(), 1)
        score[np.array(fracs) == 0] = -np.inf
        s = int(np.argmax(score))
        gsplit[g] = s
        have[s] += counts[g]
    return gsplit[inv]


def split(dataset: Dataset, test: float = 0.2, val: float = 0.0, seed: int = 0, stratify: bool = True,
          groups="auto", dedupe: bool = True, threshold: float = 0.98,
          check_duplicates: bool = True) -> tuple[Dataset, Dataset, Dataset]:
    """Split into ``(train, val, test)`` without leaks.

    Parameters
    ----------
    dataset : Dataset
    test, val : fractions of the images (or of the groups' images) held out
    seed : permutation seed
    stratify : keep class proportions in every split
    groups : ``'auto'`` (use ``dataset.groups`` when present), ``None`` (ignore
        them) or an ``(N,)`` array of group ids (e.g. patients)
    dedupe : put exact/near duplicates in one group first (see module doc)
    threshold : near-duplicate correlation threshold (:func:`find_duplicates`)
    check_duplicates : with ``dedupe=False``, still look for duplicates across
        the finished splits and report (and warn about) them

    Returns
    -------
    train, val, test : Datasets with ``role`` set; ``val`` is empty when
    ``val == 0``.  ``train.meta['split']`` holds the report: sizes, whether
    grouping was used, duplicate pairs found and those that still cross splits
    (only possible with ``dedupe=False``; a warning names them).
    """
    if not (0 <= test < 1 and 0 <= val < 1 and test + val < 1):
        raise UserError(f"split fractions must be in [0, 1) with test + val < 1, got test={test}, val={val}")
    if len(dataset) == 0:
        raise UserError("cannot split an empty dataset")
    require_train(dataset, "splitting")
    rng = np.random.default_rng(seed)
    fracs = [1 - test - val, val, test]
    g = dataset.groups if isinstance(groups, str) and groups == "auto" else groups
    g = None if g is None else np.asarray(g)
    if g is not None and g.shape != (len(dataset),):
        raise UserError("groups must have one id per image")
    pairs = []
    if dedupe:
        comp, pairs = duplicate_groups(dataset, threshold)
        if pairs:
            base = np.arange(len(dataset)) if g is None else np.unique(g, return_inverse=True)[1]
            # merge duplicate components with the existing groups (union of both relations)
            parent = {}

            def root(x):
                while parent.setdefault(x, x) != x:
                    x = parent[x]
                return x

            for i in range(len(dataset)):
                a, b = root(("g", int(base[i]))), root(("d", int(comp[i])))
                if a != b:
                    parent[a] = b
            # component ids numbered by first appearance: deterministic across processes
            roots = [root(("g", int(base[i]))) for i in range(len(dataset))]
            ids = {}
            g = np.array([ids.setdefault(r, len(ids)) for r in roots])
    if g is not None:
        assign = _grouped(dataset.labels, g, fracs, rng, dataset.n_classes, stratify)
    else:
        assign = _stratified(dataset.labels, fracs, rng, stratify)
    parts = []
    for s, role in enumerate(("train", "val", "test")):
        sub = dataset.subset(np.flatnonzero(assign == s))
        sub.role = role
        parts.append(sub)
    train, valset, testset = parts
    if dedupe:
        crossing = [p for p in pairs if assign[p[0]] != assign[p[1]]]  # empty by construction
    elif check_duplicates:
        crossing = []
        for (a, b) in ((0, 2), (0, 1), (1, 2)):
            ia, ib = np.flatnonzero(assign == a), np.flatnonzero(assign == b)
            crossing += [(int(ia[i]), int(ib[j]), kind, score)
                         for i, j, kind, score in find_duplicates(parts[a], parts[b], threshold)]
    else:
        crossing = []
    report = dict(sizes=[len(p) for p in parts], grouped=g is not None, seed=seed,
                  duplicates=len(pairs) if dedupe else None, crossing_duplicates=crossing)
    for p in parts:
        p.meta = dict(p.meta, split=report)
    if crossing:
        warnings.warn(f"{len(crossing)} duplicate image pair(s) cross the split (first: {crossing[:3]}); "
                      "indices are into the dataset given; use dedupe=True to keep duplicates together", stacklevel=2)
    if len(testset) and stratify:
        missing = [dataset.class_names[c] for c in np.unique(dataset.labels) if not (testset.labels == c).any()]
        if missing:
            warnings.warn(f"test split has no images of {missing}; use a larger test fraction", stacklevel=2)
    return train, valset, testset


# ---------------------------------------------------------------------------
# statistics from the training split only
# ---------------------------------------------------------------------------
class Normalizer:
    """Per-channel standardisation ``(x - mean_c) / std_c`` with statistics fitted
    on a training split only (:func:`fit_normalizer`)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, fitted_on: np.ndarray):
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
        self.fitted_on = fitted_on  # origins of the images the statistics saw

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return (np.asarray(images, np.float32) - self.mean) / self.std

    def inverse(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(images, np.float32) * self.std + self.mean


def fit_normalizer(train: Dataset) -> Normalizer:
    """Channel means and stds of ``train`` (refuses val/test splits)."""
    require_train(train, "normalisation statistics")
    x = train.images.astype(np.float64)
    return Normalizer(x.mean((0, 2, 3)), x.std((0, 2, 3)) + 1e-6, train.sources())
