"""The study's training sets (refgan/study/conditions.py)."""
from refgan.data import make_blood_cells
from refgan.study import CONDITIONS
from refgan.study import conditions as C

from study_helpers import stub_gan


def test_conditions_shapes():
    ds = make_blood_cells(10, size=16, seed=0)
    ds.role = "train"
    gen = stub_gan(ds, {"healthy": 40, "blast": 40}, 0, None).generated
    real = C.real_sets(ds, CONDITIONS, "rotations", 0)
    assert {k: len(v[0]) for k, v in real.items()} == {
        "real": 20, "real+classic": 160, "real+inplace-flip": 20, "real+inplace-rotate": 20,
        "real+inplace-blur": 20, "real+inplace-noise": 20, "real+rotate-on-the-fly": 20}
    assert real["real+rotate-on-the-fly"][2] is not None  # a batch transform for the CNN
    changed = (real["real+inplace-noise"][0].images != ds.images).any(axis=(1, 2, 3)).mean()
    assert 0 < changed < 0.7  # each image replaced with probability 0.33
    gen_sets = C.gen_sets(ds, gen, CONDITIONS, 5, "rotations", True, [0.5, 2], 0)
    assert {k: len(v[0]) for k, v in gen_sets.items()} == {
        "real+gen": 20 + 80, "real+classic+gen": 160 + 80, "real+gen x0.5": 30, "real+gen x2": 60}
    assert C.real_sets(ds, CONDITIONS, "none", 0).keys() == real.keys() - {"real+classic"}
    assert len(C.real_sets(ds, ("real+classic",), "affine", 0)["real+classic"][0]) == 160
    imb = C.make_imbalanced(ds, {"blast": 0.5}, 0)
    assert imb.class_counts() == {"healthy": 10, "blast": 5}
    b = C.balance_sets(imb, 0)
    assert b["oversample"][0].class_counts() == {"healthy": 10, "blast": 10}
    assert b["undersample"][0].class_counts() == {"healthy": 5, "blast": 5}
    assert b["class-weights"][1] == "balanced"
    assert C.gan_balance_set(imb, gen)["gan-balance"][0].class_counts() == {"healthy": 10, "blast": 10}


def test_imbalance_cuts_several_classes():
    """Guruswamy et al.: Fashion-MNIST classes 1, 3, 7 cut to 50%, 65%, 80%."""
    from refgan.study.datasets import sklearn_digits

    ds = sklearn_digits(size=8, n_per_class=20)
    ds.role = "train"
    imb = C.make_imbalanced(ds, {"1": 0.5, "3": 0.65, "7": 0.8}, 0)
    counts = imb.class_counts()
    assert (counts["1"], counts["3"], counts["7"]) == (10, 13, 16)
    assert all(counts[c] == 20 for c in "0245689")
    assert C.deficits(imb)["1"] == 10
