"""The closing figures of a GAN run (refgan/training/quality.py)."""
import numpy as np
import pytest

from refgan.data import make_blood_cells, split
from refgan.training import quality


@pytest.fixture(scope="module")
def cells():
    ds = make_blood_cells(n_per_class=60, size=32, seed=0)
    train, _, test = split(ds, test=0.25, seed=0)
    fresh = make_blood_cells(n_per_class=60, size=32, seed=1234)
    again = make_blood_cells(n_per_class=60, size=32, seed=4321)
    by_class = lambda d: {c: d.images[d.labels == i] for i, c in enumerate(d.class_names)}  # noqa: E731
    return train, test, by_class(fresh), by_class(again)


def test_two_sample_test_real_vs_real_is_near_half(cells):
    _, _, fresh, again = cells
    for c in fresh:
        acc = quality.two_sample_test(fresh[c], again[c])
        assert 0.3 < acc["lr_pixels"] < 0.7 and 0.3 < acc["svm_colour"] < 0.7, acc
        assert acc["n"] == 60


def test_two_sample_test_sees_a_colour_shift_and_lost_shapes(cells):
    """Each classifier catches what it looks at: the SVM a faded stain; the pixel LR
    cells whose pixels were shuffled (same colour statistics: the SVM sees nothing)."""
    _, _, fresh, again = cells
    real = fresh["blast"]
    faded = again["blast"] * 0.8 + 0.2
    assert quality.two_sample_test(real, faded)["svm_colour"] > 0.9
    rng = np.random.default_rng(0)
    flat = again["blast"].reshape(60, 3, -1)
    shuffled = np.stack([img[:, rng.permutation(flat.shape[2])] for img in flat])
    acc = quality.two_sample_test(real, shuffled.reshape(60, 3, 32, 32))
    assert acc["lr_pixels"] > 0.9 and acc["svm_colour"] < 0.7, acc


def test_two_sample_test_balances_the_sides():
    """Always answering 'generated' must score 0.5, not the share of generated images."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (10, 3, 8, 8)), rng.uniform(-1, 1, (40, 3, 8, 8))
    assert quality.two_sample_test(a, b)["n"] == 10


def test_colour_statistics_shape_and_values():
    x = np.zeros((2, 3, 4, 4))
    x[1, 0] = 0.5
    f = quality.colour_statistics(x)
    assert f.shape == (2, 24)
    assert f[1, 0] == 0.5 and f[0, 0] == 0.0        # red mean


def test_evaluate_figures_and_floors(cells):
    """Real images in place of generated ones score like the floors; noise fails
    every figure."""
    train, test, fresh, again = cells
    q = quality.evaluate(train, test, again, reference=fresh, classifiers=("lr", "svm"))
    for c in ("healthy", "blast"):
        assert q["c2st"][c]["lr_pixels"] < 0.7 and q["c2st_real"][c]["svm_colour"] < 0.7
        assert abs(q["kid_simple"][c]) < 0.5  # floor: kid_simple_real, same noise level
    assert q["table1"]["lr"]["generated"]["accuracy"] > 0.65
    assert set(q["table1"]["svm"]["generated"]) == {"accuracy", "precision", "recall", "f1"}
    rng = np.random.default_rng(0)
    noise = {c: rng.uniform(-1, 1, (60, 3, 32, 32)).astype(np.float32) for c in fresh}
    qn = quality.evaluate(train, test, noise, reference=fresh, classifiers=("lr",))
    for c in noise:
        assert qn["c2st"][c]["lr_pixels"] > 0.9 and qn["c2st"][c]["svm_colour"] > 0.9
        assert qn["kid_simple"][c] > 5.0, qn["kid_simple"]
    text = quality.table(q)
    assert "C2ST" in text and "Table 1" in text and "KID simple" in text


def test_table1_cnn_runs_on_small_images(cells):
    train, test, fresh, _ = cells
    t1 = quality.table1(train, test, fresh, classifiers=("cnn",))
    assert 0.0 <= t1["cnn"]["generated"]["f1"] <= 1.0


def test_generator_figures_ssim_always_fid_with_a_network(cells, monkeypatch):
    """SSIM of each generated image to its nearest training image, beside the fresh
    cells' own figure; copies of training images score 1, noise far below the floor.
    With a weights folder, FID / KID on that network's features join them."""
    from backbone_standin import StandIn

    from refgan.metrics import fid

    train, _, fresh, _ = cells
    real = train.images_by_class()
    rng = np.random.default_rng(0)
    generated = {"healthy": real["healthy"][:20],
                 "blast": rng.uniform(-1, 1, (20,) + real["blast"].shape[1:]).astype(np.float32)}
    figs = quality.generator_figures(generated, train, fresh)
    assert figs["healthy"]["ssim"]["mean"] == pytest.approx(1.0)
    assert figs["blast"]["ssim"]["mean"] < figs["blast"]["ssim_floor"]["mean"] - 0.2
    assert figs["blast"]["fid_kid"] is None and "weights" in figs["blast"]["fid_skipped"]
    seen = []
    real_loader = fid.load_fid_network
    monkeypatch.setattr(fid, "load_fid_network", lambda x: real_loader(x) if hasattr(x, "features")
                        else seen.append(x) or StandIn())
    figs = quality.generator_figures(generated, train, fresh, fid_weights="DIR")
    assert seen == ["DIR"]   # loaded once for every class
    fk = figs["blast"]["fid_kid"]
    assert fk["fid"] > fk["fid_floor"] >= 0 and fk["network"] == "standin"
    assert "healthy" in quality.generator_table(figs) and "FID" in quality.generator_table(figs)


def test_train_refuses_fid_weights_without_the_file_before_training(tmp_path, capsys):
    from refgan.commands import main

    assert main(["train", "--preset", "smoke", "--run-dir", str(tmp_path / "run"),
                 "--fid-weights", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "inception_v3_fid.safetensors" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
