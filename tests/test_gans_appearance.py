"""--appearance white|stain[-peak][-noise] (refgan/gans/appearance.py): the normalise / apply
maps, the smoothed bootstrap, the noise estimate and the noise drawn on samples, the
independence assumption it rests on, and the option wired
through training, sampling, checkpoints, generate and export's refusal of conditional runs."""
import numpy as np
import pytest

from refgan.data import make_blood_cells
from refgan.errors import UserError
from refgan.export.bundle import export_run
from refgan.gans.appearance import Appearance, measure, noise_sigma
from refgan.training import presets
from refgan.training.load import load_models
from refgan.training.quality import two_sample_test

from test_gans import trainer


@pytest.fixture(scope="module")
def cells():
    return make_blood_cells(n_per_class=100, size=32, seed=3)


def test_measure_reads_a_known_white_point_and_stain(cells):
    x = (cells.images[:4] + 1) / 2
    w = np.array([0.9, 0.8, 0.7])
    # an image scaled by a white point and with its optical density doubled:
    # w' = w * (w_0 ratio), s' = 2 s
    a0 = measure(cells.images[:4])
    w0 = np.exp(a0[:, :3])[..., None, None]
    y = w[None, :, None, None] * (np.clip(x, 1 / 255, 1) / w0) ** 2
    a = measure(2 * y - 1)
    assert np.allclose(np.exp(a[:, :3]), w, rtol=1e-6)
    assert np.allclose(a[:, 3:], a0[:, 3:] + np.log(2), atol=1e-3)   # clipping at 1/255 aside


@pytest.mark.parametrize("kind", ["stain", "stain-peak"])
def test_normalising_then_applying_an_images_own_appearance_gives_it_back(cells, kind):
    ap = Appearance(kind)
    images = cells.images[cells.labels == 0]
    norm = ap.fit_normalise(images, np.zeros(len(images)))
    back = ap.apply(norm, measure(images, kind))
    kept = norm < 1          # normalising clips the few pixels it maps above white
    assert kept.mean() > 0.99
    assert np.abs(back - np.clip(images, 2 / 255 - 1, 1))[kept].max() < 1e-4
    # every normalised image has the reference appearance (the maps are monotone)
    assert np.allclose(measure(norm, kind), ap.reference, atol=2e-3)
    # the spread of each image's mean colour shrinks to a fraction; not with the peak,
    # which leaves in the image how much of it is stained (content, not appearance)
    shrink = norm.mean((2, 3)).std(0) / images.mean((2, 3)).std(0)
    assert (shrink < 0.5).all() if kind == "stain" else (shrink < 1).all()


@pytest.mark.parametrize("kind", ["stain", "stain-noise", "stain-peak-noise"])
def test_grown_copies_count_once_and_classes_keep_their_own_table(cells, kind):
    """Rotations keep the percentiles, and the noise estimate (its mask is symmetric)."""
    ap = Appearance(kind)
    rotated = np.concatenate([cells.images, np.rot90(cells.images, 1, (2, 3))])
    ap.fit_normalise(rotated, np.r_[cells.labels, cells.labels])
    assert len(ap.table) == len(cells.images)
    assert np.array_equal(np.sort(ap.labels), np.sort(cells.labels))


def test_draws_are_fixed_by_z_and_keep_the_tables_mean_and_covariance(cells):
    ap = Appearance()
    ap.fit_normalise(cells.images, cells.labels)
    z = np.random.default_rng(0).standard_normal((4000, 8)).astype(np.float32)
    a = ap.draw(z, np.ones(len(z)))
    assert np.array_equal(a[:10], ap.draw(z[:10], np.ones(10)))
    assert not np.array_equal(a[0], a[1])
    rows = ap.table[ap.labels == 1]
    sd = rows.std(0)
    assert np.all(np.abs(a.mean(0) - rows.mean(0)) < 0.1 * sd)
    assert np.allclose(a.std(0), sd, rtol=0.1)
    # class 0's draws come from class 0's rows
    other = ap.table[ap.labels == 0]
    a0 = ap.draw(z[:2000], np.zeros(2000))
    assert np.allclose(a0.mean(0), other.mean(0), atol=0.1 * other.std(0).max())


@pytest.mark.parametrize("kind", ["white", "stain-noise", "stain-peak-noise"])
def test_saved_appearances_load_and_draw_the_same(cells, tmp_path, kind):
    """What exports carry (``save``) loads back (``load``) to the same table and draws."""
    ap = Appearance(kind)
    norm = ap.fit_normalise(cells.images, cells.labels)
    ap.save(tmp_path / "a.npz")
    back = Appearance.load(tmp_path / "a.npz", kind)
    assert back.kind == kind
    for k, v in ap.state_dict().items():
        assert np.array_equal(back.state_dict()[k], v), k
    z = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    assert np.array_equal(back.draw(z, np.ones(5)), ap.draw(z, np.ones(5)))
    assert np.array_equal(back.sample(norm[:5], z, np.ones(5)), ap.sample(norm[:5], z, np.ones(5)))


def test_peak_stain_reads_how_strongly_a_field_is_stained_not_how_much_of_it(cells):
    """A red cell added to the background raises the mean optical density that 'stain'
    reads by far more than the densest stain that 'stain-peak' reads; a stronger stain
    (the optical density times 1.5) raises both alike."""
    x = np.clip((cells.images[:20].astype(np.float64) + 1) / 2, 1 / 255, 1)
    size = x.shape[-1]
    u, v = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    corner = ((u - 5) ** 2 + (v - 5) ** 2 <= 16)           # a disc of radius 4 px
    pale_cell = np.exp(-0.5 * np.array([0.4, 1.0, 0.8]))[:, None, None] ** corner
    crowded = 2 * (x * pale_cell) - 1
    a = {kind: measure(cells.images[:20], kind) for kind in ("stain", "stain-peak")}
    more = {kind: measure(crowded, kind)[:, 3:] - a[kind][:, 3:] for kind in a}
    assert np.median(more["stain"]) > 0.05
    assert np.abs(np.median(more["stain-peak"], 0)).max() < 0.1 * np.median(more["stain"])
    np.testing.assert_array_equal(a["stain-peak"][:, :3], a["stain"][:, :3])   # one white point
    w = np.exp(a["stain"][:, :3])[..., None, None]
    stronger = 2 * w * (x / w) ** 1.5 - 1                   # OD x 1.5, white point kept
    for kind in a:
        np.testing.assert_allclose(measure(stronger, kind)[:, 3:], a[kind][:, 3:] + np.log(1.5),
                                   atol=0.01)     # clipping at 1/255 aside


def test_peak_noise_kind_adds_the_noise_to_the_peak_stain(cells):
    a = measure(cells.images, "stain-peak-noise")
    assert a.shape == (len(cells.images), 9)
    assert np.array_equal(a[:, :6], measure(cells.images, "stain-peak"))
    assert np.array_equal(a[:, 6:], measure(cells.images, "stain-noise")[:, 6:])
    z = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float32)
    for kind, draws_noise in (("stain-peak", False), ("stain-peak-noise", True)):
        ap = Appearance(kind)
        ap.fit_normalise(cells.images, cells.labels)
        assert (ap.noise(z, ap.draw(z), (4, 3, 32, 32)) is not None) == draws_noise


def _shaded_planes(n=6, size=64, seed=0):
    """(n, 3, size, size) unit-space planes a + b u + c v (slow shading, no noise)."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    abc = rng.uniform([0.4, -0.2, -0.2], [0.6, 0.2, 0.2], (n, 3, 3))
    return abc[..., 0, None, None] + abc[..., 1, None, None] * u + abc[..., 2, None, None] * v


@pytest.mark.parametrize("sigma", [0.005, 0.02])
def test_noise_sigma_reads_a_known_noise_level_and_not_the_shading(sigma):
    planes = _shaded_planes()
    assert noise_sigma(2 * planes - 1).max() < 1e-12            # M cancels planes
    rng = np.random.default_rng(1)
    noisy = planes + sigma * rng.standard_normal(planes.shape)
    np.testing.assert_allclose(noise_sigma(2 * noisy - 1), sigma, rtol=0.06)


def test_noise_sigma_on_the_cells_adds_up_with_known_noise(cells):
    """On rendered cells (edges, their own sensor noise s0), noise of a known sigma
    added to the images raises the estimate to about sqrt(s0^2 + sigma^2): what the
    estimate reads on cells is mostly noise, not edges."""
    images = cells.images[:40].astype(np.float64)
    s0 = noise_sigma(images)
    noisy = images + 2 * 0.02 * np.random.default_rng(2).standard_normal(images.shape)
    np.testing.assert_allclose(np.median(noise_sigma(noisy) / np.hypot(s0, 0.02)), 1, atol=0.05)
    assert 0.002 < np.median(s0) < 0.03      # the renderer's sensor noise: 0.004-0.02


def test_stain_noise_draws_the_measured_noise_on_the_samples(cells):
    a = measure(cells.images, "stain-noise")
    assert a.shape == (len(cells.images), 9)
    assert np.array_equal(a[:, :6], measure(cells.images, "stain"))
    assert np.array_equal(a[:, 6:], np.log(noise_sigma(cells.images)))
    ap = Appearance("stain-noise")
    ap.fit_normalise(cells.images, cells.labels)
    flat = np.zeros((300, 3, 32, 32), np.float32)          # a generator drawing no noise
    z = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)
    x = ap.sample(flat, z, np.ones(300))
    assert np.array_equal(x[:5], ap.sample(flat[:5], z[:5], np.ones(5)))  # fixed z, fixed image
    drawn = ap.draw(z, np.ones(300))
    plain = ap.apply(flat, drawn)
    assert np.allclose((x - plain).mean((2, 3)), 0, atol=0.01)          # zero-mean noise
    ratio = noise_sigma(x) / np.exp(drawn[:, 6:])      # the estimate's own error: ~5% at 32x32
    assert abs(np.median(ratio) - 1) < 0.02 and np.abs(ratio - 1).max() < 0.3
    # its levels spread as the training images' do
    rows = ap.table[ap.labels == 1][:, 6:]
    np.testing.assert_allclose(np.log(noise_sigma(x)).std(0), rows.std(0), rtol=0.25)
    stain = Appearance("stain")
    stain.fit_normalise(cells.images, cells.labels)
    assert stain.noise(z, stain.draw(z), flat.shape) is None


@pytest.mark.parametrize("kind", ["white", "stain", "stain-peak"])
def test_appearance_and_content_are_separable_on_the_cells(cells, kind):
    """The assumption behind the design: cells normalised and given another cell's
    appearance are told from fresh cells not much better than the cells themselves."""
    fresh = make_blood_cells(n_per_class=100, size=32, seed=20_003)
    ap = Appearance(kind)
    for k in (0, 1):
        images = cells.images[cells.labels == k]
        norm = ap.fit_normalise(images, np.zeros(len(images)))
        swapped = ap.apply(norm, np.roll(measure(images, kind), 7, axis=0))
        ref = fresh.images[fresh.labels == k]
        same, other = two_sample_test(ref, images), two_sample_test(ref, swapped)
        assert other["svm_colour"] < same["svm_colour"] + 0.2 and other["svm_colour"] < 0.75
        assert other["lr_pixels"] < 0.7
        # and without their appearance they are told apart: the appearance matters
        assert two_sample_test(ref, norm)["svm_colour"] > 0.7


def test_white_reads_the_white_point_only(cells):
    a = measure(cells.images, "white")
    assert np.array_equal(a[:, :3], measure(cells.images)[:, :3]) and not a[:, 3:].any()
    ap = Appearance("white")
    norm = ap.fit_normalise(cells.images, cells.labels)
    assert np.allclose(np.exp(measure(norm, "white")[:, :3]), np.exp(ap.reference[:3]), atol=2e-3)
    assert np.abs(ap.draw(np.ones((5, 4), np.float32))[:, 3:]).max() < 1e-5
    with pytest.raises(ValueError, match="kind"):
        Appearance("hue")


def test_a_run_trains_on_normalised_images_and_samples_with_appearance(tmp_path, numpy_backend):
    c = presets.resolve("wgan-gp", "smoke", steps=2, n_disc=1, appearance="stain")
    t = trainer(c, tmp_path / "run", log=lambda m: None).setup()
    m = t.models["healthy"]
    ap = m.aux["appearance"]
    assert np.allclose(measure(t.images["healthy"][:8]), ap.reference, atol=2e-3)
    assert t.run() == 0
    z = np.random.default_rng(1).standard_normal((6, m.latent_dim)).astype(np.float32)
    images = m.sample(6, z=z)
    assert np.array_equal(images, m.sample(6, z=z))          # a fixed z, a fixed image
    loaded, _ = load_models(tmp_path / "run")
    assert np.array_equal(loaded["healthy"].sample(6, z=z), images)


def test_export_refuses_a_conditional_run_with_appearance(tmp_path, numpy_backend):
    """A conditional model draws its appearance within the class asked for, which the
    export's loader (z in, images out) cannot be told; per-class runs export with it
    (tests/test_export_cli.py)."""
    c = presets.resolve("cgan", "smoke", steps=1, appearance="stain")
    assert trainer(c, tmp_path / "run", log=lambda m: None).setup().run() == 0
    with pytest.raises(UserError, match="conditional model trained with --appearance stain"):
        export_run(tmp_path / "run", tmp_path / "export")
    assert not (tmp_path / "export").exists()
