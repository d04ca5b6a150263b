"""Throughput at scale: 2^16 rollouts through the plain path and sharded over every visible device."""

from __future__ import annotations

import time

import jax

from rmft_jax import rollout, sharding
from rmft_jax.bench.baselines import baseline_policy
from rmft_jax.bench.sizes import ARMS, SIGMA, Sizes
from rmft_jax.bench.timing import time_best
from rmft_jax.bench.transformer import transformer_setup
from rmft_jax.envs.bandit import BanditEnv
from rmft_jax.models import BanditTransformerPolicy


def bench_scale(sizes: Sizes, quick: bool) -> dict:
    """Throughput at ``sizes.scale_runs`` rollouts: Transformer decoding (``T = tf_horizon``) and UCB
    (``T = base_horizon``), through the plain path and through :mod:`rmft_jax.sharding` over every
    visible device (with one device the sharded call *is* the plain path, so it cannot be slower).

    Full mode measures it on accelerators only: on a CPU the 4096-rollout rows already
    show the throughput, and 2^16 Transformer rollouts would add a minute.
    """
    if not quick and jax.default_backend() == "cpu":
        return {"skipped": "CPU backend: measured on accelerators only", "runs": sizes.scale_runs}
    runs = sizes.scale_runs
    out = {"runs": runs, "devices": jax.device_count()}
    cfg, graphdef, params, tf_env = transformer_setup(sizes.tf_horizon)
    base_env = BanditEnv(arms=ARMS, horizon=sizes.base_horizon, reward="gaussian", noise=SIGMA)
    cases = {"transformer": (tf_env, BanditTransformerPolicy(cfg, graphdef, horizon=sizes.tf_horizon), params),
             "ucb": (base_env, baseline_policy("ucb"), None)}
    for name, (env, policy, p) in cases.items():
        row = {}
        for path, fn in (("plain", rollout.run), ("sharded", sharding.run)):
            keys = iter(jax.random.split(jax.random.key(3), 2 + sizes.tf_repeats))
            t0 = time.perf_counter()
            jax.block_until_ready(fn(env, policy, next(keys), runs, p))
            first = time.perf_counter() - t0
            run_s = time_best(lambda: fn(env, policy, next(keys), runs, p), sizes.tf_repeats)
            row[path] = {"run_s": run_s, "first_call_s": first, "steps_per_s": runs * env.horizon / run_s}
        row["sharded_vs_plain"] = row["sharded"]["steps_per_s"] / row["plain"]["steps_per_s"]
        out[name] = row
    return out
