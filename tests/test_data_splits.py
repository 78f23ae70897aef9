"""Leak-free splits, duplicate detection, provenance (refgan/data/splits.py)."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refgan import augment as A
from refgan.data import (Dataset, LeakError, check_no_leak, find_duplicates, fit_normalizer, make_blood_cells,
                         split)
from refgan.errors import UserError


@pytest.fixture(scope="module")
def cells():
    return make_blood_cells(n_per_class=130, size=32, seed=0)


def _fake(labels, groups=None, seed=0, size=8):
    rng = np.random.default_rng(seed)
    n = len(labels)
    return Dataset(images=rng.uniform(-1, 1, (n, 3, size, size)), labels=labels, class_names=["a", "b", "c"][:max(labels) + 1],
                   groups=groups)


def test_stratified_exact_counts_and_disjoint(cells):
    train, val, test = split(cells, test=0.2, seed=0)
    assert test.class_counts() == {"healthy": 26, "blast": 26}   # Gaur et al.: 52 test images
    assert len(train) == 208 and len(val) == 0
    assert (train.role, val.role, test.role) == ("train", "val", "test")
    assert not set(train.origin) & set(test.origin)
    assert sorted(np.concatenate([train.origin, test.origin]).tolist()) == list(range(260))
    t2 = split(cells, test=0.2, seed=0)[2]
    np.testing.assert_array_equal(t2.origin, test.origin)          # reproducible
    assert not np.array_equal(split(cells, test=0.2, seed=1)[2].origin, test.origin)


@pytest.mark.filterwarnings("ignore:test split has no images")
@given(st.lists(st.integers(0, 2), min_size=6, max_size=80), st.floats(0.05, 0.5), st.floats(0.0, 0.3),
       st.integers(0, 5))
@settings(max_examples=25, deadline=None)
def test_split_partitions_and_keeps_proportions(labels, test, val, seed):
    if test + val >= 0.95:
        val = 0.0
    ds = _fake(np.array(labels), seed=seed)
    tr, va, te = split(ds, test=test, val=val, seed=seed, dedupe=False)
    allo = np.concatenate([tr.origin, va.origin, te.origin])
    assert sorted(allo.tolist()) == list(range(len(ds)))
    for c in np.unique(labels):
        n_c = int(np.sum(np.array(labels) == c))
        assert abs((te.labels == c).sum() - test * n_c) <= 1
        assert abs((va.labels == c).sum() - val * n_c) <= 1


@given(st.integers(4, 30), st.integers(0, 10))
@settings(max_examples=20, deadline=None)
def test_grouped_split_never_straddles_a_patient(n_groups, seed):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, 200)
    labels = (groups % 3 == 0).astype(int)  # each patient has one diagnosis (like C-NMC)
    labels[:2] = [0, 1]
    groups[:2] = [n_groups, n_groups + 1]
    ds = _fake(labels, groups=groups, seed=seed)
    tr, va, te = split(ds, test=0.25, val=0.15, seed=seed, dedupe=False)
    sets = [set(tr.groups), set(va.groups), set(te.groups)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert len(tr) + len(va) + len(te) == 200
    assert tr.meta["split"]["grouped"]


def test_grouped_split_proportions_reasonable():
    groups = np.repeat(np.arange(40), 10)
    labels = (np.arange(40) % 2).repeat(10)
    tr, _, te = split(_fake(labels, groups=groups), test=0.2, seed=0, dedupe=False)
    assert te.class_counts() == {"a": 40, "b": 40}


def test_find_duplicates_exact_near_rotated_and_not_different(cells):
    a = cells.subset(np.arange(10))
    b_imgs = cells.images[100:110].copy()
    b_imgs[0] = a.images[3]                                                     # exact copy
    b_imgs[1] = np.clip(a.images[5] + np.random.default_rng(0).normal(0, 0.02, a.images[5].shape), -1, 1)
    b_imgs[2] = np.rot90(a.images[7], 1, axes=(1, 2))                           # rotated copy
    b_imgs[3] = a.images[8][:, :, ::-1]                                         # mirrored copy
    found = {(i, j): kind for i, j, kind, _ in find_duplicates(a, b_imgs)}
    assert found == {(3, 0): "exact", (5, 1): "near", (7, 2): "near", (8, 3): "near"}
    assert find_duplicates(a, b_imgs, dihedral=False) and (7, 2) not in {
        (i, j) for i, j, *_ in find_duplicates(a, b_imgs, dihedral=False)}
    # generated cells are all different from each other
    assert find_duplicates(cells) == []


def test_split_keeps_duplicates_together_and_reports(cells):
    imgs = cells.images.copy()
    imgs[200:230] = imgs[0:30]   # a dataset with 30 duplicated images (e.g. a re-export)
    ds = Dataset(images=imgs, labels=cells.labels, class_names=cells.class_names)
    tr, _, te = split(ds, test=0.2, seed=0)
    assert tr.meta["split"]["duplicates"] >= 30 and tr.meta["split"]["crossing_duplicates"] == []
    assert find_duplicates(tr, te) == []
    with pytest.warns(UserWarning, match="duplicate image pair"):
        tr2, _, te2 = split(ds, test=0.5, seed=0, dedupe=False)
    crossing = tr2.meta["split"]["crossing_duplicates"]
    assert crossing and all(abs(i - j) == 200 for i, j, *_ in crossing)  # the planted copies


def test_no_augmented_or_generated_image_derives_from_a_test_image(cells):
    train, _, test = split(cells, test=0.2, seed=0)
    aug = A.rotations45(A.augment_in_place(train, A.saquib_transform(), p=0.33, seed=0))
    # a stand-in generator: any function of the training images only
    fake = Dataset.generated(aug.images[:50] * 0.9, aug.labels[:50], cells.class_names, trained_on=aug)
    for derived in (train, aug, fake):
        check_no_leak(derived, test)
        assert not np.intersect1d(derived.sources(), test.origin).size
    assert set(np.unique(aug.origin)) == set(train.origin)
    # the check is real: a planted leak is caught at every level
    relabelled = dataclasses.replace(test.subset([0]), role="train")  # a test image sneaks into training
    leaked = Dataset.concat([train, relabelled])
    with pytest.raises(LeakError):
        check_no_leak(A.rotations45(leaked), test)
    with pytest.raises(LeakError):
        check_no_leak(Dataset.generated(fake.images, fake.labels, cells.class_names, trained_on=leaked), test)
    with pytest.raises(LeakError):
        Dataset.generated(fake.images, fake.labels, cells.class_names, trained_on=test)


def test_statistics_use_training_split_only(cells):
    train, val, test = split(cells, test=0.2, val=0.1, seed=0)
    norm = fit_normalizer(train)
    z = norm(train.images)
    np.testing.assert_allclose(z.mean((0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(norm.inverse(z), train.images, atol=1e-5)
    assert set(norm.fitted_on) == set(train.origin)
    for held in (val, test):
        with pytest.raises(LeakError):
            fit_normalizer(held)
        with pytest.raises(LeakError):
            split(held)


def test_bad_split_arguments():
    ds = _fake(np.array([0, 1] * 5))
    for kw in (dict(test=1.0), dict(test=0.6, val=0.5), dict(test=-0.1)):
        with pytest.raises(UserError):
            split(ds, **kw)
