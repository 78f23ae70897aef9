"""Classic augmentation: invariants, probabilities, modes, provenance."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refgan import augment as A
from refgan.data import Dataset, LeakError, make_blood_cells, split

SHAPES = st.tuples(st.integers(1, 4), st.sampled_from([1, 3]), st.integers(3, 12))


def _batch(shape, seed=0):
    n, c, s = shape
    return np.random.default_rng(seed).uniform(-1, 1, (n, c, s, s)).astype(np.float32)


@given(SHAPES, st.integers(0, 100))
@settings(max_examples=25, deadline=None)
def test_flips_twice_are_identity(shape, seed):
    x = _batch(shape, seed)
    for t in (A.HorizontalFlip(p=1), A.VerticalFlip(p=1)):
        np.testing.assert_array_equal(t(t(x, seed=seed), seed=seed + 1), x)
        assert not np.array_equal(t(x), x) or shape[2] == 1


@given(SHAPES, st.integers(0, 100))
@settings(max_examples=25, deadline=None)
def test_rotations_full_turn_is_identity(shape, seed):
    x = _batch(shape, seed)
    r90 = A.Rotate90(ks=(1,), p=1)
    y = x
    for _ in range(4):
        y = r90(y)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_allclose(A.Rotate(angles=[360.0], p=1)(x), x, atol=1e-6)
    np.testing.assert_array_equal(A.Rotate(angles=[90.0], p=1)(x), np.rot90(x, 1, axes=(2, 3)))
    # two 45-degree steps equal one 90-degree step away from the (interpolated) corners
    r45 = A.Rotate45(steps=(2,), p=1)(x)
    np.testing.assert_array_equal(r45, np.rot90(x, 1, axes=(2, 3)))


def test_rotate_direction_is_counter_clockwise():
    x = -np.ones((1, 1, 5, 5), np.float32)
    x[0, 0, 2, 4] = 1  # a dot right of centre
    y = A.Rotate(angles=[90.0], p=1)(x)
    assert y[0, 0, 0, 2] == 1  # ends up above the centre


def test_rotate_constant_fill_and_reflect():
    x = np.zeros((1, 1, 9, 9), np.float32)
    c = A.Rotate(angles=[45.0], mode="constant", cval=-1.0, p=1)(x)
    assert c[0, 0, 0, 0] == -1.0 and abs(c[0, 0, 4, 4]) < 1e-6
    r = A.Rotate(angles=[45.0], mode="reflect", p=1)(x)
    assert np.allclose(r, 0)


def test_gaussian_noise_has_the_right_variance():
    x = np.zeros((64, 3, 32, 32), np.float32)
    y = A.GaussianNoise(std_limit=(0.1, 0.1), p=1)(x, seed=0)
    assert abs(y.std() - 0.1) < 0.002 and abs(y.mean()) < 0.002
    y = A.GaussianNoise(std_limit=(0.05, 0.05), p=1)(x, seed=1)
    assert abs(y.var() - 0.05 ** 2) < 0.05 ** 2 * 0.03


def test_blur_translate_scale_crop_colour_keep_shape_and_range():
    ds = make_blood_cells(n_per_class=4, size=32, seed=0)
    for t in (A.GaussianBlur(p=1), A.Translate(p=1), A.Scale(p=1), A.RandomCrop(p=1), A.Affine(rotate=30, p=1),
              A.BrightnessContrast(p=1), A.HueSaturation(p=1), A.StainJitter(p=1)):
        y = t(ds.images, seed=0)
        assert y.shape == ds.images.shape and y.dtype == np.float32, t
        assert y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5, t
        assert not np.allclose(y, ds.images), t
    g = np.zeros((2, 3, 8, 8), np.float32)
    np.testing.assert_allclose(A.HueSaturation(p=1)(g), g, atol=1e-6)  # grey stays grey
    np.testing.assert_allclose(A.GaussianBlur(p=1)(g + 0.3), g + 0.3, atol=1e-6)


def test_random_crop_full_scale_is_identity():
    x = _batch((2, 3, 10))
    np.testing.assert_allclose(A.RandomCrop(scale=(1.0, 1.0), p=1)(x), x, atol=1e-6)


def test_probability_p_and_reproducibility():
    x = _batch((2000, 1, 3))
    t = A.HorizontalFlip(p=0.3)
    y = t(x, seed=5)
    changed = ~np.all(y == x, axis=(1, 2, 3))
    assert abs(changed.mean() - 0.3) < 0.04
    np.testing.assert_array_equal(t(x, seed=5), y)
    assert not np.array_equal(t(x, seed=6), y)
    np.testing.assert_array_equal(A.HorizontalFlip(p=0)(x), x)
    with pytest.raises(ValueError):
        A.HorizontalFlip(p=1.5)


def test_oneof_applies_exactly_one_and_compose_chains():
    x = np.zeros((3000, 1, 1, 1), np.float32)

    class Add(A.Transform):
        def __init__(self, v, p):
            super().__init__(p)
            self.v = v

        def apply(self, x, rng):
            return x + self.v

    y = A.OneOf([Add(1, p=0.25), Add(10, p=0.75)])(x, seed=0)
    vals, counts = np.unique(y, return_counts=True)
    assert vals.tolist() == [1, 10]
    assert abs(counts[1] / 3000 - 0.75) < 0.03
    z = A.Compose([Add(1, p=1), Add(10, p=1)])(x[:5])
    assert np.all(z == 11)


def test_in_place_mode_keeps_size_labels_origin_and_rate():
    ds = make_blood_cells(n_per_class=150, size=32, seed=0)
    out = A.augment_in_place(ds, A.saquib_transform(), p=0.33, seed=0)
    assert len(out) == len(ds)
    np.testing.assert_array_equal(out.labels, ds.labels)
    np.testing.assert_array_equal(out.origin, ds.origin)
    m = out.meta["augmented"]
    assert abs(m.mean() - 0.33) < 0.07
    changed = ~np.all(out.images == ds.images, axis=(1, 2, 3))
    assert np.all(~changed[~m])            # unselected images untouched
    assert changed[m].mean() > 0.95        # selected images changed
    again = A.augment_in_place(ds, A.saquib_transform(), p=0.33, seed=0)
    np.testing.assert_array_equal(again.images, out.images)


def test_expand_and_rotation_helpers():
    ds = make_blood_cells(n_per_class=3, size=16, seed=0)
    r8 = A.rotations45(ds)
    assert len(r8) == 8 * len(ds)
    np.testing.assert_array_equal(r8.labels, np.tile(ds.labels, 8))
    np.testing.assert_array_equal(r8.origin, np.tile(ds.origin, 8))
    np.testing.assert_array_equal(r8.images[2 * 6:3 * 6], np.rot90(ds.images, 1, axes=(2, 3)))  # 3rd = 90 deg
    r4 = A.rotations90(ds)
    assert len(r4) == 4 * len(ds)
    d8 = A.dihedral(ds)
    assert len(d8) == 8 * len(ds)
    sig = {d8.images[i].tobytes() for i in range(len(d8)) if d8.origin[i] == 0}
    assert len(sig) == 8  # eight distinct symmetries of a non-symmetric image
    ex = A.expand(ds, A.GaussianNoise(p=1), k=3, seed=0, include_original=False)
    assert len(ex) == 3 * len(ds) and ex.class_counts() == {"healthy": 9, "blast": 9}
    with pytest.raises(ValueError):
        A.expand(ds, A.GaussianNoise(p=1))


def test_augmentation_refuses_held_out_splits():
    ds = make_blood_cells(n_per_class=10, size=16, seed=0)
    train, val, test = split(ds, test=0.2, val=0.2, seed=0)
    A.augment_in_place(train, A.HorizontalFlip(p=1))
    for held in (val, test):
        with pytest.raises(LeakError):
            A.augment_in_place(held, A.HorizontalFlip(p=1))
        with pytest.raises(LeakError):
            A.rotations45(held)


def test_labels_never_change_under_any_transform():
    ds = make_blood_cells(n_per_class=5, size=16, seed=1)
    all_t = A.Compose([A.HorizontalFlip(), A.VerticalFlip(), A.Rotate90(), A.Rotate45(), A.Rotate(),
                       A.Translate(), A.Scale(), A.RandomCrop(), A.GaussianBlur(), A.GaussianNoise(),
                       A.BrightnessContrast(), A.HueSaturation(), A.StainJitter()])
    out = A.expand(ds, all_t, k=4, seed=0)
    assert isinstance(out, Dataset)
    np.testing.assert_array_equal(out.labels, np.tile(ds.labels, 5))
