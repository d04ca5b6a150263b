"""Data parallelism over 8 (virtual CPU) devices equals the single-device run.

(The seed and learning-rate sweeps are in ``test_sharding_sweeps.py``, a file of their own so
that the parallel test run can put them and the 8-device subprocess on different workers.)

The 8-device checks run in a subprocess: ``XLA_FLAGS=--xla_force_host_platform_device_count=8``
must be set before JAX initialises its backend, and this pytest session has one device.

Tolerances: rollouts (actions, rewards, regret) are compared bit for bit, and means
over them, reduced across devices, to ``1e-6``. SFT sums gradients over a batch split
across devices, and a vmapped seed sweep batches its matrix products, so parameters
agree to float rounding amplified by Adam's normalisation: ``atol = 5e-4`` (half of
one Adam step at the learning rate 1e-3 used here; scaled with the learning rate in
the learning-rate sweep), metrics ``atol = 1e-5``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

from rmft_jax import sharding

PARAM_ATOL, METRIC_ATOL = 5e-4, 1e-5

TINY = {
    "env": {"name": "mab", "arms": 5, "horizon": 10, "noise": 0.5},
    "model": {"layers": 1, "heads": 1, "width": 16, "max_horizon": 16},
    "rmft": {"tasks": 16, "rollouts": 4, "keep": 2, "iterations": 3, "sft_steps": 2, "learning_rate": 1e-3},
}

EIGHT_DEVICES = textwrap.dedent(
    """
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax, numpy as np
    from rmft_jax import rmft, rollout, sharding
    from rmft_jax.config import TrainConfig
    from rmft_jax.policies import GaussianThompson
    from rmft_jax.training import build_learner, train

    out = {"devices": len(jax.devices())}
    # Compared on the host: an eager jnp comparison would compile once per leaf shape and sharding.
    host = lambda tree: [np.asarray(x) for x in jax.tree.leaves(tree)]
    same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(host(a), host(b)))
    cfg = TrainConfig.from_dict(json.loads(sys.argv[1]))
    env, learner = cfg.environment, build_learner(cfg)
    key = jax.random.key(3)

    # Baseline rollouts: the run axis split over 8 devices, bit for bit. (params=None passed as
    # sharding.run passes it, so the plain calls share one jit cache entry: one compilation.)
    pol = GaussianThompson(arms=5)
    a = sharding.run(env, pol, key, 64)
    plain = rollout.run(env, pol, key, 64, None)
    out["run_equal"] = same(a, plain)
    out["run_split"] = a.actions.sharding.spec == jax.sharding.PartitionSpec("data")
    out["run_shard_shape"] = list(a.actions.addressable_shards[0].data.shape)
    out["run_1_device_is_plain"] = same(sharding.run(env, pol, key, 64, devices=1), plain)

    # Transformer rollouts of M tasks: the task axis split, bit for bit.
    tasks = rollout.sample_tasks(env, jax.random.key(4), 16)
    b = sharding.rollout_tasks(env, learner.policy, key, tasks, 4, learner.base_params)
    out["rollout_tasks_equal"] = same(b, rollout.rollout_tasks(env, learner.policy, key, tasks, 4, learner.base_params))

    # The training loop: automatic (all 8 devices) against devices=1, the plain jitted iteration.
    s8, _, rows8 = train(cfg, None, progress=False, learner=learner)
    s1, _, rows1 = train(cfg, None, progress=False, learner=learner, devices=1)
    out["buffer_split"] = s8.buffer.actions.sharding.spec == jax.sharding.PartitionSpec("data")
    out["params_replicated"] = all(x.sharding.is_fully_replicated for x in jax.tree.leaves(s8.params))
    out["first_regret_diff"] = abs(rows8[0]["rollout_regret_mean"] - rows1[0]["rollout_regret_mean"])
    out["param_max_diff"] = max(float(np.max(np.abs(x - y))) for x, y in zip(host(s1.params), host(s8.params)))
    out["metric_max_diff"] = max(abs(r8[k] - r1[k]) for r8, r1 in zip(rows8, rows1) for k in r8 if k not in ("seconds", "iteration"))
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def eight():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", EIGHT_DEVICES, json.dumps(TINY)], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_rollouts_on_eight_devices_are_bit_identical(eight):
    assert eight["devices"] == 8
    assert eight["run_equal"] and eight["rollout_tasks_equal"] and eight["run_1_device_is_plain"]
    # The work is split: each device holds 64 / 8 runs.
    assert eight["run_split"] and eight["run_shard_shape"] == [8, 10]


def test_rmft_on_eight_devices_matches_one_device(eight):
    # Buffer split over devices, weights replicated. The first iteration's rollouts are
    # identical; their mean regret is a cross-device sum, equal to rounding.
    assert eight["buffer_split"] and eight["params_replicated"]
    assert eight["first_regret_diff"] <= 1e-6
    assert eight["param_max_diff"] <= PARAM_ATOL
    assert eight["metric_max_diff"] <= METRIC_ATOL


def test_devices_argument_is_validated():
    with pytest.raises(ValueError, match="^devices: must be between 1 and"):
        sharding.make_mesh(len(jax.devices()) + 1)
    assert sharding.resolve_mesh(1) is None
