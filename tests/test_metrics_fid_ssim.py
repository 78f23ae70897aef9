"""FID (refgan.metrics.fid), SSIM (refgan.metrics.ssim) and generator_metrics
(refgan.metrics.generator): against scipy's sqrtm formula, skimage and naive loops;
networks are the stand-in of tests/backbone_standin.py."""
import json

import numpy as np
import pytest
import scipy.linalg

import refgan
from backbone_standin import StandIn
from refgan import backbones, nn
from refgan.classifiers import backbone_files
from refgan.errors import UserError
from refgan.metrics import fid as F
from refgan.metrics import ssim as S
from refgan.metrics.generative import _kid
from refgan.metrics.generator import generator_metrics
from refgan.safetensors import write_safetensors


def reference_fid(a, b):
    """pytorch-fid's formula: scipy's sqrtm of S1 S2, offset by 1e-6 I when singular."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        off = np.eye(len(s1)) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = covmean.real
    d = mu1 - mu2
    return d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


@pytest.mark.parametrize("dim", [3, 16, 64])
def test_fid_matches_scipy_sqrtm_reference(dim):
    rng = np.random.default_rng(dim)
    mix = rng.standard_normal((dim, dim))
    a = rng.standard_normal((400, dim)) @ mix
    b = rng.standard_normal((300, dim)) @ (mix + 0.3 * rng.standard_normal((dim, dim))) + 0.5
    assert F.fid(a, b) == pytest.approx(reference_fid(a, b), rel=1e-6)


def test_frechet_distance_of_diagonal_gaussians_has_its_closed_form():
    # commuting covariances: tr sqrt(S1 S2) = sum sqrt(a_i b_i), so FD = |dmu|^2 + sum (sqrt a - sqrt b)^2
    a, b = np.array([1.0, 4.0, 0.0, 2.0]), np.array([9.0, 1.0, 3.0, 0.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    want = 1 + 4 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert F.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-12)


def test_fid_is_zero_on_identical_sets_and_handles_fewer_samples_than_dimensions():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20, 50))                          # rank-deficient covariance
    assert F.fid(a, a) == pytest.approx(0, abs=1e-8)
    shifted = F.fid(a, a + 1.0)
    assert shifted == pytest.approx(50.0, rel=1e-8)            # only the means differ


def test_frechet_distance_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="one D"):
        F.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="at least 2"):
        F.fid(np.zeros((1, 3)), np.zeros((5, 3)))


def test_fid_kid_floor_uses_same_n_and_same_reference():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((80, 4))
    good = rng.standard_normal((60, 4))
    bad = rng.standard_normal((60, 4)) + 2.0
    r_good = F.fid_kid_from_features(real, good, seed=3, n_boot=20)
    r_bad = F.fid_kid_from_features(real, bad, seed=3, n_boot=20)
    assert r_good.n == r_bad.n == 40 and r_good.floor.startswith("disjoint halves")
    assert r_good.fid_floor == r_bad.fid_floor                   # same halves for both
    assert r_bad.fid > r_bad.fid_floor + 10 and r_good.fid < r_bad.fid
    # the floor is FID between two disjoint real halves of that size, and KID is _kid's
    perm = np.random.default_rng(3).permutation(80)
    a, b = real[perm[:40]], real[perm[40:80]]
    assert r_good.fid_floor == pytest.approx(F.fid(a, b), rel=1e-12)
    assert r_good.kid_floor["kid"] == pytest.approx(_kid(a, b, n_boot=20, seed=3)["kid"], rel=1e-12)
    held = F.fid_kid_from_features(real, good, held_out=rng.standard_normal((30, 4)), n_boot=20)
    assert held.n == 30 and held.floor == "held-out real images"


def test_fid_kid_on_a_network_names_it_and_refuses_a_non_network():
    rng = np.random.default_rng(2)
    real = rng.uniform(-1, 1, (12, 3, 16, 16)).astype(np.float32)
    fake = rng.uniform(-1, 1, (8, 3, 16, 16)).astype(np.float32)
    net = StandIn()
    r = F.fid_kid(real, fake, net, n_boot=10)
    assert r.network == "standin" and r.feature_dim == 6 and r.n == 6
    feats = F.network_features(real, net)
    assert feats.shape == (12, 6)
    with pytest.raises(TypeError, match="features"):
        F.fid_kid(real, fake, 42)


# ------------------------------------------------------------------------------- SSIM
def _pairs(shape=(3, 3, 21, 24), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, shape)
    y = np.clip(0.7 * x + 0.4 * rng.standard_normal(shape), -1, 1)
    return x, y


def test_ssim_matches_naive_loops():
    x, y = _pairs((2, 3, 14, 17))
    got = S.ssim(x, y, data_range=2.0)
    want = [S.ssim_naive(x[i], y[i], 2.0) for i in range(2)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_ssim_matches_skimage():
    skm = pytest.importorskip("skimage.metrics")
    x, y = _pairs()
    got = S.ssim(x, y, data_range=2.0)
    want = [skm.structural_similarity(x[i], y[i], gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=2.0, channel_axis=0)
            for i in range(len(x))]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    g = x[0, 0] * 0.5 + 0.5                                       # one grey image in [0, 1]
    h = y[0, 0] * 0.5 + 0.5
    assert S.ssim(g, h, data_range=1.0) == pytest.approx(
        skm.structural_similarity(g, h, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=1.0), rel=1e-10)


def test_ssim_of_an_image_with_itself_is_one_and_refuses_bad_input():
    x, _ = _pairs((2, 3, 12, 12))
    np.testing.assert_allclose(S.ssim(x, x, 2.0), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="one shape"):
        S.ssim(x, x[:, :2], 2.0)
    with pytest.raises(ValueError, match="at least that size"):
        S.ssim(x[..., :8], x[..., :8], 2.0)
    with pytest.raises(ValueError, match="data_range"):
        S.ssim(x, x, 0)


def test_ssim_to_nearest_finds_the_nearest_real_image():
    rng = np.random.default_rng(4)
    real = rng.uniform(-1, 1, (10, 3, 16, 16))
    fake = real[[7, 2, 2]] + 0.05 * rng.standard_normal((3, 3, 16, 16))
    r = S.ssim_to_nearest(fake, real, data_range=2.0)
    assert r["nearest"] == [7, 2, 2]
    np.testing.assert_allclose(r["per_image"], S.ssim(fake, real[[7, 2, 2]], 2.0))
    assert r["mean"] == pytest.approx(np.mean(r["per_image"]))
    with pytest.raises(ValueError, match="differ"):
        S.ssim_to_nearest(fake[:, :, :12, :12], real, 2.0)


# ------------------------------------------------------------------- generator_metrics
def test_generator_metrics_ssim_always_fid_only_with_a_network(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    real = rng.uniform(-1, 1, (20, 3, 16, 16))
    fake = np.clip(real[:8] + 0.1 * rng.standard_normal((8, 3, 16, 16)), -1, 1)
    m = generator_metrics(real, fake)
    assert m.fid_kid is None and "weights_dir" in m.fid_skipped
    assert m.floor == "disjoint halves of the real images" and m.ssim["n"] == 8 and m.ssim_floor["n"] == 10
    # near-copies of real images score above the real-vs-real floor; the reference is half A
    perm = np.random.default_rng(0).permutation(20)
    ref = real[perm[:10]]
    assert m.ssim["mean"] == pytest.approx(S.ssim_to_nearest(fake, ref, 2.0)["mean"])
    assert m.ssim_floor["mean"] == pytest.approx(S.ssim_to_nearest(real[perm[10:]], ref, 2.0)["mean"])
    net = StandIn()
    with_net = generator_metrics(real, fake, network=net, n_boot=10)
    assert with_net.fid_kid.network == "standin" and with_net.fid_kid.n == 8 and with_net.fid_skipped is None
    assert json.loads(json.dumps(with_net.to_dict()))["fid_kid"]["fid_floor"] == with_net.fid_kid.fid_floor
    held = generator_metrics(real, fake, held_out=real[:5], value_range=(-1, 1))
    assert held.floor == "held-out real images" and held.ssim_floor["mean"] == pytest.approx(1.0)
    with pytest.raises(UserError, match="inception_v3_fid needs its pretrained weights"):
        generator_metrics(real, fake, weights_dir=tmp_path)
    (tmp_path / "inception_v3_fid.safetensors").write_bytes(b"x")
    monkeypatch.setattr(backbone_files.backbones, "load", lambda name, weights: StandIn(name=name))
    backbone_files._LOADED.clear()
    r = generator_metrics(real, fake, weights_dir=tmp_path, n_boot=10)
    backbone_files._LOADED.clear()
    assert r.fid_kid.network == "inception_v3_fid" and r.fid_kid.fid >= 0
    with pytest.raises(ValueError, match="at least 4"):
        generator_metrics(real[:3], fake)


def _calibrated(model, rng):
    """Random batch-norm scales and statistics from one training-mode pass: a randomly
    initialised deep network otherwise gives (nearly) constant features."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.weight.data = rng.uniform(0.5, 1.5, bn.num_features).astype(np.float32)
        bn.bias.data = rng.normal(0, 0.2, bn.num_features).astype(np.float32)
        bn.momentum = 1.0
    with refgan.no_grad():
        model.train()
        model.features(refgan.tensor(rng.uniform(-1, 1, (4, 3, 75, 75)).astype(np.float32)))
        model.eval()
    return model


@pytest.mark.slow
def test_fid_from_a_weights_folder_is_fid_on_the_network_it_holds(tmp_path):
    """pytorch-fid's InceptionV3 (refgan.backbones, calibrated random weights) written as
    DIR/pt_inception-2015-12-05-6726825d.safetensors: generator_metrics(weights_dir=DIR)
    finds, loads and uses it."""
    rng = np.random.default_rng(0)
    net = _calibrated(backbones.build("inception_v3_fid", family="torchvision", seed=0), rng)
    write_safetensors(tmp_path / "pt_inception-2015-12-05-6726825d.safetensors", net.state_dict())
    real = rng.uniform(-1, 1, (8, 3, 32, 32)).astype(np.float32)
    fake = np.clip(real[:4] + 0.3 * rng.standard_normal((4, 3, 32, 32)), -1, 1).astype(np.float32)
    backbone_files._LOADED.clear()
    m = generator_metrics(real, fake, weights_dir=tmp_path, n_boot=10)
    (loaded,) = backbone_files._LOADED.values()                       # the network it used
    backbone_files._LOADED.clear()
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v, err_msg=k)
    assert m.fid_kid.network == "inception_v3_fid" and m.fid_kid.feature_dim == 2048
    feats = F.network_features(real, loaded)
    assert feats.std(0).max() > 1e-3                                   # not a degenerate network
    perm = np.random.default_rng(0).permutation(8)                     # the floor's two halves
    assert m.fid_kid.fid_floor == pytest.approx(F.fid(feats[perm[:4]], feats[perm[4:]]), rel=1e-6)
    assert np.isfinite(m.fid_kid.fid) and m.fid_kid.fid > 0
