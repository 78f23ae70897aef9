"""The shared machinery of ``refgan reproduce`` (refgan/reproduce/runner.py): the
deep classifiers' availability, the tables and decisions computed from predictions."""
import numpy as np
import pytest

from refgan import metrics as M
from refgan.reproduce.runner import deep_status, summarise


def test_deep_status_says_which_file_is_missing(tmp_path):
    ok, why = deep_status("vgg16", str(tmp_path))
    assert not ok and "vgg16.safetensors" in why and str(tmp_path) in why
    ok, why = deep_status("vgg16", None)
    assert not ok and "--weights DIR" in why
    (tmp_path / "vgg16.safetensors").write_bytes(b"")
    assert deep_status("vgg16", str(tmp_path)) == (True, f"weights {tmp_path / 'vgg16.safetensors'}")


def _records(rng, accuracies, n=40):
    """Records of one classifier: per condition, per fold, predictions right with the
    given probability."""
    out = []
    for cond, acc in accuracies.items():
        for fold in range(4):
            y = rng.integers(0, 2, n)
            p = np.where(rng.random(n) < acc, y, 1 - y)
            out.append(dict(classifier="lr", condition=cond, test="real", repeat=fold // 2, fold=fold % 2,
                            n_train=160, n_test=n, y_true=y.tolist(), y_pred=p.tolist(),
                            score=(p + 0.1 * rng.standard_normal(n)).tolist(), scores=None))
    return out


def test_summary_is_the_positive_class_metrics_and_the_corrected_t(rng):
    recs = _records(rng, {"real": 0.7, "real+gen": 0.9})
    s = summarise(recs, ["healthy", "blast"], "real")
    assert s["positive"] == "blast"
    row = s["table"]["real"]["lr"]["real+gen"]
    assert set(row) == {"accuracy", "precision", "recall", "f1", "specificity", "auc"}
    mine = [r for r in recs if r["condition"] == "real+gen"]
    for m in ("precision", "specificity"):  # of class 1 = blast, not a macro average
        want = [M.binary_metrics(r["y_true"], r["y_pred"], positive=1)[m] for r in mine]
        assert row[m]["per_fold"] == pytest.approx(want)
        assert row[m]["mean"] == pytest.approx(np.mean(want))
    c = s["comparisons"]["real"]["lr"][0]
    d = np.subtract(row["accuracy"]["per_fold"], s["table"]["real"]["lr"]["real"]["accuracy"]["per_fold"])
    t = M.corrected_resampled_t(d, 160, 40)
    assert c["condition"] == "real+gen" and c["diff"] == pytest.approx(d.mean())
    assert c["p_value"] == pytest.approx(t["p_value"]) and c["significant"] == (t["p_value"] < 0.05)


def test_extra_pairs_are_compared(rng):
    recs = _records(rng, {"real": 0.7, "a": 0.8, "b": 0.9})
    s = summarise(recs, ["healthy", "blast"], "real", pairs=[("b", "a")])
    got = {(c["condition"], c["baseline"]) for c in s["comparisons"]["real"]["lr"]}
    assert got == {("a", "real"), ("b", "real"), ("b", "a")}
