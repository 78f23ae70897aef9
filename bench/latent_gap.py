"""Where a latent run's two-sample gap is: decoder, drawn appearance, or codes.

A ``--latent-ae`` run with a measured ``--appearance`` makes each sample in three steps
(refgan/gans/latent.py, refgan/gans/appearance.py): the latent GAN draws a code, the
decoder draws the normalised image, and an appearance drawn from the training images'
table is put on it. Each step can give the samples away. This script scores, against
fresh cells, sets that add one step at a time::

    own        fresh cells (others than the reference's), encoded and decoded, each given
               back its own measured appearance and noise: the decoder alone
    permuted   the same redrawings, each given another fresh cell's appearance: the cost
               of drawing appearance independently of what the image shows
    drawn      the same redrawings with appearances drawn from the run's table, as
               samples get theirs: the cost of the table (the training images') on top
    samples    the run's samples (the latent GAN's codes, decoded, a drawn appearance)

Usage (run folders of the embedded cells, trained with --latent-ae and --appearance)::

    python bench/latent_gap.py RUN_DIR [RUN_DIR ...] [--n 200] [--repeats 3]

prints, per run and class, the pixel and colour two-sample figures of each set
(``refgan.training.quality.two_sample_test``, the run summary's tests; the mean of
``--repeats`` fold splits, whose spread is most of the figure's noise at these sizes:
with more images per side each figure is higher, as the classifiers train on more),
and the spread over images of the codes' per-image means, real codes against the
latent GAN's (a GAN that draws too little per-image variety has the smaller). The
reference cells are fresh renderings (seed data_seed + 20,000, as the run summary's),
the redrawn ones seed data_seed + 30,000, samples from the reported checkpoint with z
from seed 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import refgan
from refgan.data import make_blood_cells
from refgan.errors import UserError
from refgan.gans.appearance import measure
from refgan.training.config import TrainConfig
from refgan.training.load import load_models
from refgan.training.quality import two_sample_test

SETS = ("own", "permuted", "drawn", "samples")


def _in_batches(fn, x: np.ndarray, batch: int = 100) -> np.ndarray:
    with refgan.no_grad():
        return np.concatenate([fn(refgan.tensor(x[i:i + batch])).numpy()
                               for i in range(0, len(x), batch)])


def latent_gap(run_dir, n: int = 200, repeats: int = 3) -> dict:
    """{class: {set: (pixels, colour) for set in SETS, 'code_spread': (real, generated)}}
    for one latent run folder (module docstring)."""
    models, meta = load_models(Path(run_dir))
    c = TrainConfig.from_json(meta["config"])
    if not c.latent_ae or c.appearance == "generator" or c.data != "synthetic":
        raise UserError(f"{run_dir} is not a --latent-ae run with a measured --appearance "
                        "on the embedded cells; this script reads such runs only")
    classes = list(c.classes)
    reference = make_blood_cells(n_per_class=n, classes=tuple(classes), size=c.size,
                                 seed=int(c.data_seed) + 20_000)
    redrawn = make_blood_cells(n_per_class=n, classes=tuple(classes), size=c.size,
                               seed=int(c.data_seed) + 30_000)
    out = {}
    for i, name in enumerate(classes):
        m = models[name]
        ap, ae, G = m.aux["appearance"], m.nets["AE"], m.generator()
        real, x = reference.images[reference.labels == i], redrawn.images[redrawn.labels == i]
        own = measure(x, ap.kind)
        z = np.random.default_rng(1).standard_normal((len(x), m.latent_dim)).astype(np.float32)
        codes = _in_batches(ae.encoder, ap.normalise(x, own))
        redraw = _in_batches(ae.decoder, codes)
        G.eval()
        try:
            fake_codes = _in_batches(G.latent, z)
        finally:
            G.train()
        others = own[np.random.default_rng(2).permutation(len(own))]
        drawn = ap.draw(z)
        images = {"own": ap.apply(redraw, own, ap.noise(z, own, redraw.shape)),
                  "permuted": ap.apply(redraw, others, ap.noise(z, others, redraw.shape)),
                  "drawn": ap.apply(redraw, drawn, ap.noise(z, drawn, redraw.shape)),
                  "samples": m.sample(len(z), z=z)}
        res = {}
        for key, img in images.items():
            figs = [two_sample_test(real, img, seed=s) for s in range(repeats)]
            res[key] = (float(np.mean([f["lr_pixels"] for f in figs])),
                        float(np.mean([f["svm_colour"] for f in figs])))
        res["code_spread"] = (float(codes.mean((2, 3)).std(0).mean()),
                              float(fake_codes.mean((2, 3)).std(0).mean()))
        out[name] = res
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--n", type=int, default=200, help="images per side (default 200)")
    p.add_argument("--repeats", type=int, default=3, help="fold splits averaged (default 3)")
    a = p.parse_args(argv)
    for path in a.runs:
        try:
            gap = latent_gap(path, a.n, a.repeats)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2)
        for name, res in gap.items():
            figs = ", ".join(f"{k} {res[k][0]:.3f} / {res[k][1]:.3f}" for k in SETS)
            real, fake = res["code_spread"]
            print(f"{path}  {name:8s} pixels / colour: {figs}; "
                  f"code means' spread: real {real:.3f}, generated {fake:.3f}")


if __name__ == "__main__":
    main()
