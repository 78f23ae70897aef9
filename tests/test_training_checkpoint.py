"""Checkpoints (refgan/training/checkpoint.py): a damaged, foreign or hostile checkpoint record is one clear
line, never a traceback; a failed write leaves no .tmp and keeps the last checkpoint."""
import errno
import json
import os

import numpy as np
import pytest

from refgan import nn
from refgan.errors import UserError
from refgan.training import checkpoint


def _record(folder):
    return json.loads((folder / "latest.json").read_text())


def _write_record(folder, rec):
    (folder / "latest.json").write_text(json.dumps(rec))


@pytest.fixture
def ck(tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    checkpoint.save(folder, 2, {"a::w": np.arange(4.0)}, {"note": "second"})
    return folder


# --------------------------------------------------------------------- the record
@pytest.mark.parametrize("name", ["../../x.npz", "/tmp/elsewhere/x.npz", "ckpt-1.npz/../../../x.npz",
                                  "other.npz", 7])
def test_record_cannot_point_outside_the_checkpoint_folder(ck, tmp_path, name):
    victim = tmp_path / "x.npz"
    np.savez(victim, **{"a::w": np.zeros(2)})
    rec = _record(ck)
    rec["file"] = str(victim) if name == "/tmp/elsewhere/x.npz" else name
    rec["sha256"] = checkpoint.sha256_file(victim)
    _write_record(ck, rec)
    with pytest.raises(UserError, match="not a checkpoint file of this folder"):
        checkpoint.load(ck)
    checkpoint.save(ck, 3, {"a::w": np.ones(2)}, {})     # the next save deletes nothing outside
    assert victim.exists()


@pytest.mark.parametrize("content, message", [
    ("[]", "holds a JSON list, not the checkpoint record"),
    ("{}", "lacks file, sha256, step"),
    ('{"file": "ckpt-0000002.npz", "sha256": "x"}', "lacks step"),
    ('{"file": "ckpt-0000002.npz", "sha256": "x", "step": -1}', "step -1 is not a whole number"),
    ('{"file": "ckpt-0000002.npz", "sha256": 5, "step": 2}', "sha256 5 is not a hash"),
    ("{not json", "not valid JSON"),
])
def test_damaged_record_is_one_line(ck, content, message):
    (ck / "latest.json").write_text(content)
    with pytest.raises(UserError, match=message):
        checkpoint.load(ck)


def test_corrupt_npz_with_matching_hash(ck):
    npz = ck / "ckpt-0000002.npz"
    data = npz.read_bytes()
    npz.write_bytes(data[:40] + b"\0" * 200 + data[240:])   # damaged inside, then hashed
    rec = _record(ck)
    rec["sha256"] = checkpoint.sha256_file(npz)
    _write_record(ck, rec)
    with pytest.raises(UserError, match="cannot be read .* although its hash matches"):
        checkpoint.load(ck)
    npz.write_bytes(b"not a zip at all")
    rec["sha256"] = checkpoint.sha256_file(npz)
    _write_record(ck, rec)
    with pytest.raises(UserError, match="written damaged"):
        checkpoint.load(ck)


# --------------------------------------------------------------------- training state
def _meta():
    rng = np.random.default_rng(0).bit_generator.state
    return dict(config={"model": "wgan-gp"}, data_hash="ab", backend="numpy", refgan_rng=rng,
                batch_rng=dict(rng), schedules={"healthy": {"G": {"lr": 1e-4}}})


@pytest.mark.parametrize("change, message", [
    (dict(config=None), "'config' is a NoneType, not a JSON object"),
    (dict(config=[1]), "'config' is a list"),
    (dict(refgan_rng={"bit_generator": "PCG64", "state": "zero"}), "refgan_rng is not a valid random"),
    (dict(batch_rng={"bit_generator": "Nope"}), "batch_rng is not a valid random"),
    (dict(batch_rng=[]), "'batch_rng' is a list"),
    (dict(schedules={"healthy": 3}), "schedule state of 'healthy'"),
    (dict(data_hash=None), "'data_hash' is a NoneType, not a JSON string"),
])
def test_invalid_training_state_is_one_line(change, message):
    checkpoint.check_meta(_meta(), "latest.json")          # the valid one passes
    with pytest.raises(UserError, match=message):
        checkpoint.check_meta({**_meta(), **change}, "latest.json")
    missing = _meta()
    del missing["refgan_rng"]
    with pytest.raises(UserError, match="lacks 'refgan_rng'"):
        checkpoint.check_meta(missing, "latest.json")


def test_state_dict_mismatch_is_one_line():
    models = {"healthy": nn.Linear(2, 3)}
    good = checkpoint.join_models({"healthy": models["healthy"].state_dict()})
    checkpoint.restore_models(models, good, "ckpt")
    cases = [
        ({k: v for k, v in good.items() if not k.endswith("bias")}, r"missing \['bias'\]"),
        ({**good, "healthy::extra": np.zeros(1)}, r"unexpected \['extra'\]"),
        ({**good, "healthy::weight": np.zeros((5, 5))}, r"weight: shape \(5, 5\) saved, \(3, 2\) in the model"),
        ({k.replace("healthy", "blast"): v for k, v in good.items()}, r"holds models \['blast'\]"),
    ]
    for arrays, message in cases:
        with pytest.raises(UserError, match=message):
            checkpoint.restore_models(models, arrays, "ckpt")


# --------------------------------------------------------------------- failed writes
def test_full_disk_while_writing_the_npz(ck, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(UserError, match="ckpt-0000003.npz: the disk is full"):
        checkpoint.save(ck, 3, {"a::w": np.arange(5.0)}, {})
    monkeypatch.undo()
    assert sorted(p.name for p in ck.iterdir()) == ["ckpt-0000002.npz", "latest.json"]   # no .tmp
    assert checkpoint.load(ck)[1]["step"] == 2


def test_full_disk_while_writing_the_record(ck, monkeypatch):
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:             # the npz is written, the record is not
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(UserError, match="latest.json: the disk is full .its previous version is kept"):
        checkpoint.save(ck, 3, {"a::w": np.arange(5.0)}, {})
    monkeypatch.undo()
    assert sorted(p.name for p in ck.iterdir()) == ["ckpt-0000002.npz", "latest.json"]
    arrays, meta = checkpoint.load(ck)
    assert meta["step"] == 2 and np.array_equal(arrays["a::w"], np.arange(4.0))


def test_interrupt_while_writing_leaves_no_tmp(ck, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(ck, 3, {"a::w": np.arange(5.0)}, {})
    assert not list(ck.glob("*.tmp"))
