"""Orbax checkpoints of a state sharded over a mesh (2 virtual CPU devices) restore bit for bit.

The check runs in a subprocess: ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` must be
set before JAX initialises its backend, and this pytest session has one device. No training:
the state's leaves are filled with random values so that every byte of it is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

TINY = {
    "env": {"name": "mab", "arms": 3, "horizon": 6, "noise": 0.5},
    "model": {"layers": 1, "heads": 1, "width": 8},
    "rmft": {"tasks": 4, "rollouts": 4, "keep": 2, "iterations": 4, "sft_steps": 2},
}

TWO_DEVICES = textwrap.dedent(
    """
    import json, sys, tempfile
    import jax, numpy as np
    from jax.sharding import PartitionSpec
    from rmft_jax import checkpoint, sharding
    from rmft_jax.config import TrainConfig
    from rmft_jax.rmft import init_state
    from rmft_jax.training import build_learner

    cfg = TrainConfig.from_dict(json.loads(sys.argv[1]))
    plain = init_state(cfg.environment, cfg.rmft, build_learner(cfg))
    rng = np.random.default_rng(0)
    fill = lambda x: (rng.standard_normal(x.shape) if x.dtype.kind == "f" else rng.integers(0, 9, x.shape)).astype(x.dtype)
    plain = jax.tree.map(fill, plain)._replace(iteration=np.int32(7))
    state = sharding.place_state(plain, 2)
    host = lambda tree: [np.asarray(x) for x in jax.tree.leaves(tree)]
    same = lambda a, b: all(x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in zip(host(a), host(b)))
    out = {"devices": len(jax.devices()),
           "buffer_split": any(x.sharding.spec == PartitionSpec("data") for x in jax.tree.leaves(state.buffer))}
    with tempfile.TemporaryDirectory() as run:
        checkpoint.save_state(run, state)
        back = checkpoint.load_state(run, state)
        out["equal"] = same(back, plain)
        out["shardings"] = all(a.sharding == b.sharding for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state)))
        out["equal_one_device"] = same(checkpoint.load_state(run, jax.device_put(plain, jax.devices()[0])), plain)
    print("RESULT " + json.dumps(out))
    """
)


def test_a_state_sharded_over_two_devices_round_trips():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES, json.dumps(TINY)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))[len("RESULT "):])
    assert out["devices"] == 2 and out["buffer_split"]
    assert out["equal"] and out["shardings"] and out["equal_one_device"]
