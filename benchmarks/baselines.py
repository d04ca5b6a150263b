"""Speed of the JAX rollout engine against a straightforward NumPy simulation of the same policies.

    python benchmarks/baselines.py [--quick] [--out FILE.json]

UCB (``c = 2σ²``) and Gaussian Thompson sampling on a Gaussian bandit (``K = 5``,
``T = 1000``, ``σ = 1``, means ``~ U[0, 1]``), at 4096 and 64 independent runs.
JAX: :func:`rmft_jax.rollout.run` (task sampling, bulk noise, the scan, exact
regret; everything in the :class:`~rmft_jax.types.Trajectory`). NumPy:
:mod:`benchmarks.numpy_reference` (same algorithms, same float32 precision, same
outputs). Compile time is reported apart from run time; run times are the best of
several repeats, JAX and NumPy interleaved so that load from other processes hits
both alike, and every JAX call is ``block_until_ready``-ed. Reported:
environment steps per second (runs × rounds / seconds) and the ratios
``baseline_vs_numpy`` (4096 runs) and ``baseline_vs_numpy_small`` (64 runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from benchmarks import numpy_reference  # noqa: E402
from rmft_jax.envs import BanditEnv  # noqa: E402
from rmft_jax.policies import UCB, GaussianThompson  # noqa: E402
from rmft_jax.results import save_json  # noqa: E402
from rmft_jax.rollout import run  # noqa: E402

ARMS, HORIZON, SIGMA = 5, 1000, 1.0
PRIOR_MEAN, PRIOR_STD = 0.5, float(np.sqrt(1 / 12))


def jax_policy(name: str):
    if name == "ucb":
        return UCB(arms=ARMS, c=2.0 * SIGMA**2)
    return GaussianThompson(arms=ARMS, noise_std=SIGMA, prior_mean=PRIOR_MEAN, prior_std=PRIOR_STD)


def numpy_kwargs(name: str) -> dict:
    if name == "ucb":
        return {"c": 2.0 * SIGMA**2, "reward_noise": SIGMA}
    return {"noise_std": SIGMA, "prior_mean": PRIOR_MEAN, "prior_std": PRIOR_STD, "reward_noise": SIGMA}


def measure(name: str, num_runs: int, repeats: int, seed: int = 0) -> dict:
    env = BanditEnv(arms=ARMS, horizon=HORIZON, reward="gaussian", noise=SIGMA)
    policy = jax_policy(name)
    rng = np.random.default_rng(seed)

    t0 = time.perf_counter()
    jax.block_until_ready(run(env, policy, jax.random.key(seed), num_runs))
    first_call = time.perf_counter() - t0

    jax_times, np_times = [], []
    for r in range(repeats):
        key = jax.random.key(seed + 1 + r)
        t0 = time.perf_counter()
        jax.block_until_ready(run(env, policy, key, num_runs))
        jax_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        numpy_reference.simulate(name, num_runs, HORIZON, ARMS, rng, **numpy_kwargs(name))
        np_times.append(time.perf_counter() - t0)
    steps = num_runs * HORIZON
    jax_best, np_best = min(jax_times), min(np_times)
    return {
        "policy": name,
        "num_runs": num_runs,
        "horizon": HORIZON,
        "arms": ARMS,
        "compile_s": max(first_call - jax_best, 0.0),
        "jax_run_s": jax_best,
        "numpy_run_s": np_best,
        "jax_steps_per_s": steps / jax_best,
        "numpy_steps_per_s": steps / np_best,
        "ratio": np_best / jax_best,
        "repeats": repeats,
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| policy | runs | compile (s) | JAX run (s) | NumPy run (s) | JAX steps/s | NumPy steps/s | JAX / NumPy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['policy']} | {r['num_runs']} | {r['compile_s']:.2f} | {r['jax_run_s']:.4f} | "
            f"{r['numpy_run_s']:.4f} | {r['jax_steps_per_s']:.3g} | {r['numpy_steps_per_s']:.3g} | "
            f"{r['ratio']:.1f}x |"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (3 instead of 7)")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file (overwritten)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    rows = [measure(name, n, repeats) for n in (4096, 64) for name in ("ucb", "thompson")]
    big = [r["ratio"] for r in rows if r["num_runs"] == 4096]
    small = [r["ratio"] for r in rows if r["num_runs"] == 64]
    result = {
        "benchmark": "baselines",
        "device": jax.devices()[0].device_kind,
        "rows": rows,
        # The weaker policy sets each headline ratio.
        "baseline_vs_numpy": min(big),
        "baseline_vs_numpy_small": min(small),
    }
    print(markdown(rows))
    print(f"\nbaseline_vs_numpy (4096 runs, min over policies): {result['baseline_vs_numpy']:.1f}x")
    print(f"baseline_vs_numpy_small (64 runs, min over policies): {result['baseline_vs_numpy_small']:.1f}x")
    if args.out:
        save_json(args.out, result, overwrite=True)
    return result


if __name__ == "__main__":
    main()
