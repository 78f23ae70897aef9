"""The WGAN-GP step data-parallel over 4 (forced host) devices gives the one-device
result. XLA_FLAGS must be set before JAX starts, so this runs in a subprocess and the
other JAX tests in this pytest process keep their single CPU device."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("jax")

SCRIPT = textwrap.dedent("""
    import json, sys, time
    t0 = time.time()
    import jax, numpy as np
    sys.path.insert(0, sys.argv[1])
    import refgan
    from test_jax_models import B, SIDE, Z, critic, generator
    from refgan.export import to_jax, to_state_dict
    from refgan.export.oracle import FAST_COMPILE
    from refgan.jax_engine.step import (WganGpHyper, data_parallel, init_state,
                                          make_wgan_gp_step, noise_from_key)

    assert jax.local_device_count() == 4, jax.devices()
    from refgan.export import jax_ops
    jax_ops.CONV_IMPL = "xla"  # compiles 2x faster than CPU's GEMM form; not under test here
    refgan.manual_seed(0)
    gapply, gvars = to_jax(generator())
    capply, cvars = to_jax(critic())
    hyper = WganGpHyper(n_disc=1, lr_d=1e-3, lr_g=1e-3)
    step = make_wgan_gp_step(gapply, capply, hyper)
    rng, n = np.random.default_rng(0), 2 * B  # the global batch: 2 samples per device
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    batches = [{"real": np.tanh(f32(1, n, 1, SIDE, SIDE)), "z_critic": f32(1, n, Z),
                "eps": rng.uniform(size=(1, n, 1, 1, 1)).astype(np.float32),
                "z_gen": f32(n, Z), "noise": noise_from_key(jax.random.key(i), 1)}
               for i in range(2)]

    one_device = jax.devices()[0]
    single = jax.jit(step, compiler_options=FAST_COMPILE)
    s1 = jax.device_put(init_state(gvars, cvars), one_device)
    for b in batches:
        s1, m1 = single(s1, jax.device_put(b, one_device))

    parallel, shard = data_parallel(step, compiler_options=FAST_COMPILE)
    s4 = init_state(gvars, cvars)
    compiled = None
    for b in batches:
        s4, b4 = shard(s4, b)
        compiled = compiled or parallel.lower(s4, b4).compile()  # compile once, keep HLO
        s4, m4 = compiled(s4, b4)
    hlo = compiled.as_text()

    err = 0.0
    for which in ("gen", "critic"):
        a, e = to_state_dict(s4[which]), to_state_dict(s1[which])
        for k in e:
            scale = max(float(np.abs(e[k]).max()), 1e-30)
            err = max(err, float(np.abs(a[k].astype(np.float64) - e[k]).max()) / scale)
    print(json.dumps({
        "err": err, "g_loss": [float(m1["g_loss"]), float(m4["g_loss"])],
        "real_devices": len(b4["real"].sharding.device_set),
        "param_devices": len(s4["gen"]["params"]["0.weight"].sharding.device_set),
        "all_reduce": "all-reduce" in hlo, "seconds": time.time() - t0}))
""")


def test_data_parallel_step_equals_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    tests_dir = str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, tests_dir], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(out)
    assert out["real_devices"] == 4  # the batch is split over the mesh
    assert out["param_devices"] == 4  # parameters replicated on every device
    assert out["all_reduce"]  # gradients (batch means) are summed across devices
    assert out["err"] < 1e-5, out  # same parameters after two steps
    assert abs(out["g_loss"][0] - out["g_loss"][1]) <= 1e-5 * abs(out["g_loss"][0]), out
