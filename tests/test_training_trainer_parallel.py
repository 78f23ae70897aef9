"""The per-class models of one run trained in parallel threads (``--parallel-classes``):
thread-local grad mode and random streams, and bit-identical results to the
sequential loop (refgan/training/trainer.py)."""
import threading

import numpy as np
import pytest

import refgan
from refgan.errors import UserError
from refgan.training import presets
from refgan.training.trainer import Trainer, models_in_parallel

from test_gans import trainer


def test_no_grad_in_one_thread_does_not_switch_off_recording_in_another():
    inside, recorded = threading.Event(), {}

    def holds_no_grad():
        with refgan.no_grad():
            inside.set()
            done.wait(5)

    def records():
        inside.wait(5)
        x = refgan.tensor(np.ones(3), requires_grad=True)
        recorded["grad_enabled"] = refgan.is_grad_enabled()
        recorded["creator"] = (x * x).creator is not None
        done.set()

    done = threading.Event()
    threads = [threading.Thread(target=holds_no_grad), threading.Thread(target=records)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert recorded == {"grad_enabled": True, "creator": True}


def test_a_stream_of_its_own_leaves_the_global_stream_alone():
    refgan.manual_seed(5)
    expected = refgan.random.generator().random(3)
    refgan.manual_seed(5)
    own = np.random.default_rng(9)
    with refgan.random.using(own):
        inside = refgan.random.uniform((2,), np.float64)
    assert np.array_equal(inside, np.random.default_rng(9).random(2))
    assert np.array_equal(refgan.random.generator().random(3), expected)


def config(parallel, **kw):
    kw.setdefault("steps", 3)
    kw.setdefault("n_disc", 2)
    return presets.resolve("wgan-gp", "smoke", parallel_classes=parallel, threads=2,
                           ema=0.9, diffaugment="color,translation,cutout", **kw)


def threads_of_steps(t):
    """Wrap each model's generator step to record the thread it runs on."""
    seen = set()
    for m in t.models.values():
        step = m.generator_step
        m.generator_step = lambda *a, _step=step: (seen.add(threading.get_ident()), _step(*a))[1]
    return seen


def weights(t):
    return t.state()[0]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_parallel_and_sequential_classes_give_bit_identical_weights(backend, tmp_path):
    with refgan.using_backend(backend):
        runs = {}
        for mode in ("off", "on"):
            t = trainer(config(mode), tmp_path / mode, log=lambda m: None).setup()
            seen = threads_of_steps(t)
            assert t.run() == 0
            runs[mode] = weights(t)
            on_main = seen == {threading.main_thread().ident}
            assert on_main == (mode == "off"), (mode, seen)
        a, b = runs["off"], runs["on"]
        assert a.keys() == b.keys()
        for k in a:
            assert np.array_equal(a[k], b[k]), k


def test_parallel_run_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    with refgan.using_backend("numba"):
        full = trainer(config("on"), tmp_path / "full", log=lambda m: None).setup()
        assert full.run() == 0
        part = trainer(config("on"), tmp_path / "part", log=lambda m: None).setup()
        assert part.run(max_steps=1) == 130
        resumed = Trainer.resume(tmp_path / "part", part.data, log=lambda m: None)
        assert resumed.config.parallel_classes == "on"
        assert resumed.run() == 0
        a, b = weights(full), weights(resumed)
        for k in a:
            assert np.array_equal(a[k], b[k]), k


def test_auto_runs_classes_in_parallel_with_two_threads_only():
    def parallel(n_models, **kw):
        return models_in_parallel(presets.resolve("wgan-gp", "smoke", **kw), n_models)
    assert parallel(2, threads=2)
    assert not parallel(2, threads=1)
    assert not parallel(1, threads=2)
    assert parallel(2, threads=1, parallel_classes="on")
    assert not parallel(2, threads=2, parallel_classes="off")
    with pytest.raises(UserError, match="--parallel-classes must be"):
        presets.resolve("wgan-gp", "smoke", parallel_classes="sometimes")
