"""Per-model defaults and options (refgan/training/presets.py): options a model does
not read are refused, the cpu preset's WGAN-GP extras stay with WGAN-GP, plain AC-GAN
by default, one-class data for unconditional GANs, --epochs, --crop, and a cosine
decay that spans a run cut short by its time budget."""
import json
import re
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import refgan
from refgan.commands import main
from refgan.errors import UserError
from refgan.gans.acgan import real_fraction
from refgan.training import presets
from refgan.training.data import prepare
from refgan.training.trainer import Trainer


def test_options_a_model_does_not_read_are_refused(tmp_path, capsys):
    # DCGAN reads DiffAugment and a lazy penalty (the toolkit's R1), not a minibatch-std critic
    code = main(["train", "--model", "dcgan", "--diffaugment", "translation,cutout", "--minibatch-std",
                 "4", "--gp-every", "3", "--gp-lambda", "5", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "dcgan does not use --minibatch-std, --gp-lambda;" in err[0]
    assert "its own options are --gp-every, --diffaugment" in err[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model, option, value", [("cgan", "n_cat", 3), ("infogan", "embed_dim", 8),
                                                  ("wgan-gp", "real_fraction", "v1"),
                                                  ("acgan", "dropout", 0.2)])
def test_each_model_refuses_others_options_and_names_its_own(model, option, value):
    with pytest.raises(UserError, match=f"{model} does not use --{option.replace('_', '-')}; its own"):
        presets.resolve(model, "cpu", strict=True, **{option: value})
    assert getattr(presets.resolve(model, "cpu", **{option: value}), option) != value  # dropped
    for own in presets.own_options(model):
        assert model in presets.MODEL_OPTIONS[own]


def test_every_model_accepts_its_own_options():
    assert presets.resolve("wgan-gp", "cpu", True, diffaugment="translation", minibatch_std=2, gp_every=2,
                           dropout=0.1).gp_every == 2
    assert presets.resolve("infogan", "cpu", True, n_cat=3, info_lambda=0.5).n_cat == 3
    assert presets.resolve("cgan", "cpu", True, embed_dim=8).embed_dim == 8
    assert presets.resolve("acgan", "cpu", True, real_fraction="v2").real_fraction == "v2"


def test_the_cpu_preset_trains_the_latent_design_where_it_fits_and_the_pixel_one_elsewhere():
    """The main job (64 x 64, the refgan engine) trains WGAN-GP on an autoencoder's codes;
    a run that cannot (the study's 32 x 32 GANs, the JAX engine, an option that reads the
    critic's input as an image, too few steps) trains the pixel generator, and says why;
    options given still win, and --latent-ae given is checked, never replaced."""
    main_job = presets.resolve("wgan-gp", "cpu")
    assert {k: getattr(main_job, k) for k in presets.LATENT_DESIGN} == presets.LATENT_DESIGN
    assert presets.pixel_design_note(main_job, {}) is None
    for given, reason in [(dict(size=32), "it needs --size 64 or more"),
                          (dict(engine="jax"), "the JAX engine does not train --latent-ae"),
                          (dict(diffaugment="translation"), "--diffaugment cannot act on"),
                          (dict(steps=1000), "leaves none of --steps 1000")]:
        c = presets.resolve("wgan-gp", "cpu", **given)
        pixel = {**presets.PIXEL_DESIGN, **{k: v for k, v in given.items()
                                             if k in presets.PIXEL_DESIGN}}
        assert {k: getattr(c, k) for k in presets.PIXEL_DESIGN} == pixel, given
        note = presets.pixel_design_note(c, {k: v for k, v in given.items() if k != "engine"})
        assert note.startswith("note: the cpu preset trains WGAN-GP on an autoencoder's codes")
        assert reason in note and "--latent-ae 0 --appearance stain)" in note
    assert presets.resolve("wgan-gp", "cpu", size=32, appearance="white").appearance == "white"
    with pytest.raises(UserError, match="it needs --size 64 or more"):
        presets.resolve("wgan-gp", "cpu", size=32, latent_ae=600)
    pixel = presets.resolve("wgan-gp", "cpu", latent_ae=0)   # the preset up to 2026-12-07
    assert {k: getattr(pixel, k) for k in presets.PIXEL_DESIGN} == presets.PIXEL_DESIGN
    other = presets.resolve("wgan-gp", "cpu", latent_ae=600)
    assert other.latent_ae == 600 and presets.pixel_design_note(other, {"latent_ae": 600}) is None
    assert presets.resolve("wgan-gp", "paper").latent_ae == 0


def test_train_says_when_the_cpu_preset_trains_the_pixel_design(tmp_path, capsys, numpy_backend):
    code = main(["train", "--size", "16", "--steps", "1", "--width-g", "4", "--width-d", "4",
                 "--latent-dim", "8", "--batch", "8", "--n-per-class", "12", "--grow", "none",
                 "--no-quality", "--no-progress", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 0
    assert "note: the cpu preset trains WGAN-GP on an autoencoder's codes (--latent-ae 1200), " \
           "which this run cannot (--latent-ae trains on codes of side --size / 8" in err
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["latent_ae"], config["appearance"]) == (0, "stain")


def test_cpu_preset_keeps_the_wgan_gp_extras_to_wgan_gp():
    w = presets.resolve("wgan-gp", "cpu")
    assert (w.ema, w.best_metric, w.use_best, w.time_budget, w.width_g, w.minibatch_std) == \
        (0.999, "c2st", True, 540.0, 16, 4)
    for model in ("dcgan", "cgan", "acgan", "infogan"):
        c = presets.resolve(model, "cpu")
        assert (c.ema, c.use_best, c.time_budget, c.minibatch_std) == (0.0, False, 0.0, 0), model
        assert c.best_metric == "kid_simple" and c.steps == 1500
    d = presets.resolve("dcgan", "cpu")  # Nizam and Md Ali's first pair, Adam (0.5, 0.999)
    assert (d.lr_g, d.lr_d, d.beta1, d.beta2, d.n_disc) == (2e-4, 2e-4, 0.5, 0.999, 1)


def test_acgan_is_plain_by_default_and_the_variants_by_name():
    assert presets.resolve("acgan", "cpu").real_fraction == "plain"
    assert [real_fraction("plain", e) for e in range(3)] == [0.5, 0.5, 0.5]
    assert presets.resolve("acgan", "cpu", real_fraction="v3").real_fraction == "v3"
    with pytest.raises(UserError, match="plain, v1, v2, v3"):
        presets.resolve("acgan", "cpu", real_fraction="v4")


def _folder(root, classes, n=12, side=20, width=None):
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(n):
            iio.imwrite(root / name / f"{i}.png", rng.integers(0, 255, (side, width or side, 3), np.uint8))
    return root


def test_one_class_folder_trains_an_unconditional_gan(tmp_path, capsys):
    data = _folder(tmp_path / "neutrophils", ["neutrophil"])
    assert main(["--backend", "numpy", "train", "--model", "dcgan", "--preset", "smoke", "--data", str(data),
                 "--steps", "2", "--batch", "4", "--run-dir", str(tmp_path / "r")]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["classes"] == ["neutrophil"]
    code = main(["--backend", "numpy", "train", "--model", "cgan", "--preset", "smoke", "--data", str(data),
                 "--steps", "2", "--run-dir", str(tmp_path / "r2")])
    assert code == 2 and "one class only" in capsys.readouterr().err


def test_epochs_set_the_steps_from_the_gan_set(numpy_backend, tmp_path):
    c = presets.resolve("dcgan", "smoke", epochs=2, batch=4)
    t = Trainer(c, prepare(c), tmp_path / "r", log=lambda m: None).setup()
    largest = max(len(v) for v in t.images.values())
    assert t.config.steps == int(np.ceil(2 * largest / 4))
    with pytest.raises(UserError, match="--steps or --epochs, not both"):
        presets.resolve("dcgan", "smoke", strict=True, epochs=2, steps=10)


def test_crop_is_applied_before_resizing(tmp_path):
    data = _folder(tmp_path / "d", ["a", "b"], n=6, side=40)
    for name in ("a", "b"):  # a bright centre 20 px wide on a black border
        for i in range(6):
            img = np.zeros((40, 40, 3), np.uint8)
            img[10:30, 10:30] = 255
            iio.imwrite(data / name / f"{i}.png", img)
    full = prepare(presets.resolve("dcgan", "smoke", data=str(data), size=16, grow="none"), log=lambda m: None)
    cropped = prepare(presets.resolve("dcgan", "smoke", data=str(data), size=16, grow="none", crop=20),
                      log=lambda m: None)
    assert full.train.images.min() < -0.9 and cropped.train.images.min() > 0.9
    with pytest.raises(UserError, match="--crop crops images of a dataset on disk"):
        presets.resolve("dcgan", "smoke", crop=20)


def test_cosine_decay_spans_a_run_cut_short_by_its_time_budget(tmp_path):
    with refgan.using_backend("numpy"):
        c = presets.resolve("dcgan", "smoke", steps=100000, schedule="cosine", time_budget=1.5,
                            log_every=1, sample_every=100000, ckpt_every=100000)
        t = Trainer(c, prepare(c), tmp_path / "r", log=lambda m: None).setup()
        assert t.run() == 0 and t.step < 100000
    lrs = [json.loads(line)["lr_G"] for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
           if '"lr_G"' in line]
    assert lrs[0] > 0.9 * c.lr_g and lrs[-1] < 0.05 * c.lr_g


def test_study_crop_reaches_the_loader(tmp_path):
    from refgan.commands import build_parser
    from refgan.study.datasets import load_study_data

    data = _folder(tmp_path / "d", ["a", "b"], n=4, side=40)
    for name in ("a", "b"):
        for i in range(4):
            img = np.zeros((40, 40, 3), np.uint8)
            img[10:30, 10:30] = 255
            iio.imwrite(data / name / f"{i}.png", img)
    ds = load_study_data(str(data), 0, 16, 0, log=lambda m: None, crop=20)
    assert ds.images.min() > 0.9
    assert build_parser().parse_args(["study", "--crop", "300"]).crop == 300
    with pytest.raises(UserError, match="--crop crops images of a dataset on disk"):
        load_study_data("synthetic", 4, 16, 0, crop=20)


def test_the_manuals_table_of_who_reads_what_is_model_options():
    """docs/models.md's table 'option | read by' lists every entry of MODEL_OPTIONS."""
    text = (Path(__file__).parents[1] / "docs" / "models.md").read_text()
    table = text[text.index("| option | read by |"):].split("\n\n")[0].splitlines()[2:]
    documented = {}
    for row in table:
        options, models = row.strip("|").split("|")
        for opt in re.findall(r"`--([a-z0-9-]+)`", options):
            documented[opt.replace("-", "_")] = tuple(re.findall(r"`([a-z0-9-]+)`", models))
    assert documented == presets.MODEL_OPTIONS


def test_the_main_job_with_an_odd_batch_names_both_fixes():
    """The preset's latent design carries --mode-seeking 1, which pairs the batch's halves:
    an odd --batch given alone is refused with the two ways out, and either works."""
    with pytest.raises(UserError, match=r"--mode-seeking 1 pairs the batch's halves: give an "
                                        r"even --batch \(got 15\) or --mode-seeking 0"):
        presets.resolve("wgan-gp", "cpu", batch=15)
    assert presets.resolve("wgan-gp", "cpu", batch=15, mode_seeking=0.0).mode_seeking == 0
    assert presets.resolve("wgan-gp", "cpu", batch=14).mode_seeking == 1
