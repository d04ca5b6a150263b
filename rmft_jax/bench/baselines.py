"""Baseline rollouts (UCB, Gaussian Thompson) through :func:`rmft_jax.rollout.run` against the NumPy reference.

``baseline_vs_numpy`` (4096 runs) and ``baseline_vs_numpy_small`` (64 runs) at ``K = 5``,
``T = 1000``: the headline is the smaller of the two policies' ratios; each row also
gives the bound that drawing the run's random numbers alone puts on the ratio.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from rmft_jax import rollout
from rmft_jax.bench.sizes import ARMS, PRIOR_MEAN, PRIOR_STD, SIGMA, Sizes
from rmft_jax.bench.timing import time_best
from rmft_jax.bench_numpy import bandits as np_bandits
from rmft_jax.envs.bandit import BanditEnv
from rmft_jax.policies import UCB, GaussianThompson


def baseline_policy(name: str, arms: int = ARMS):
    if name == "ucb":
        return UCB(arms=arms, c=2.0 * SIGMA**2)
    return GaussianThompson(arms=arms, noise_std=SIGMA, prior_mean=PRIOR_MEAN, prior_std=PRIOR_STD)


def numpy_kwargs(name: str) -> dict:
    if name == "ucb":
        return {"c": 2.0 * SIGMA**2, "reward_noise": SIGMA}
    return {"noise_std": SIGMA, "prior_mean": PRIOR_MEAN, "prior_std": PRIOR_STD, "reward_noise": SIGMA}


def bench_baseline(name: str, num_runs: int, horizon: int, repeats: int, seed: int = 0) -> dict:
    """One baseline at one size: JAX :func:`rollout.run` against the NumPy reference, under the
    active generator (:mod:`rmft_jax.generator`; every generator: :mod:`rmft_jax.bench.generators`)."""
    env = BanditEnv(arms=ARMS, horizon=horizon, reward="gaussian", noise=SIGMA)
    policy = baseline_policy(name)
    keys = list(jax.random.split(jax.random.key(seed + 1), repeats + 1))
    # Through the jit cache (not lower().compile()), so equal sizes share one compilation;
    # the compile time is the first call's excess over the best call.
    first_s = time_best(lambda: rollout.run(env, policy, keys[-1], num_runs), 1)
    keys.pop()
    rng = np.random.default_rng(seed)
    jax_s, np_s = float("inf"), float("inf")
    for key in keys:  # interleaved: the same background load hits both
        jax_s = min(jax_s, time_best(lambda k=key: rollout.run(env, policy, k, num_runs), 1))
        t0 = time.perf_counter()
        np_bandits.simulate(name, num_runs, horizon, ARMS, rng, **numpy_kwargs(name))
        np_s = min(np_s, time.perf_counter() - t0)
    draw = randomness_of_run(env, policy, num_runs)
    jax.block_until_ready(draw(keys[0]))
    noise_s = time_best(lambda: draw(keys[0]), len(keys))
    steps = num_runs * horizon
    return {
        "policy": name, "num_runs": num_runs, "horizon": horizon, "arms": ARMS, "compile_s": max(first_s - jax_s, 0.0),
        "jax_run_s": jax_s, "numpy_run_s": np_s, "jax_steps_per_s": steps / jax_s, "numpy_steps_per_s": steps / np_s,
        "ratio": np_s / jax_s, "repeats": repeats,
        "jax_randomness_s": noise_s, "ratio_bound": np_s / noise_s,
    }


def randomness_of_run(env, policy, num_runs: int):
    """A jitted function drawing exactly the random numbers of ``rollout.run(env, policy, key, num_runs)``
    (tasks, environment noise, the policy's bulk noise) and nothing else: the time a run
    cannot go below with the key's generator, so ``numpy_run_s / its time`` bounds the ratio."""

    @jax.jit
    def draw(key):
        episodes, k_pol = rollout.run_episodes(env, key, num_runs)
        return episodes, rollout.bulk_noise(policy, k_pol, env.horizon)

    return draw


def bench_baselines(sizes: Sizes) -> dict:
    rows = [
        bench_baseline(name, n, sizes.base_horizon, sizes.base_repeats)
        for n in (sizes.base_runs, sizes.base_runs_small)
        for name in ("ucb", "thompson")
    ]
    ratio = lambda n, p: next(r["ratio"] for r in rows if r["num_runs"] == n and r["policy"] == p)  # noqa: E731
    return {
        "rows": rows,
        "baseline_vs_numpy": min(ratio(sizes.base_runs, p) for p in ("ucb", "thompson")),
        "baseline_vs_numpy_small": min(ratio(sizes.base_runs_small, p) for p in ("ucb", "thompson")),
        "baseline_vs_numpy_by_policy": {p: ratio(sizes.base_runs, p) for p in ("ucb", "thompson")},
        "baseline_vs_numpy_small_by_policy": {p: ratio(sizes.base_runs_small, p) for p in ("ucb", "thompson")},
        "ratio_bound_by_policy": {p: next(r["ratio_bound"] for r in rows if r["num_runs"] == sizes.base_runs
                                          and r["policy"] == p) for p in ("ucb", "thompson")},
    }
