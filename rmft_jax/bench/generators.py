"""The generator table: the project's bulk draws and the baseline rollouts under each typed-key implementation.

For every generator JAX 0.10 offers on CPU (:mod:`rmft_jax.generator`: threefry2x32 with
and without the partitionable layout, which the package offers, and philox2x32, philox4x32,
rbg, unsafe_rbg, which it does not, each for a stated reason; threefry4x32 is left out, its
rollout does not compile in bounded memory), in one run:

* ``vmap_equals_loop``: a small check that draws under ``vmap`` (normals, uniforms,
  categoricals, ``split``, ``fold_in``) equal the per-key loop. A generator that fails it is
  listed and not timed: the package's rollouts are ``vmap`` over per-run keys.
* ``draws``: the bulk draws of the rollouts, one key per run and ``vmap`` over runs, as
  :func:`rmft_jax.rollout.run` makes them: standard normals ``(runs, T, K)`` (Gaussian
  rewards, Thompson's samples), uniforms ``(runs, T)`` (UCB's tie-breaking) at the baseline
  sizes, and Gumbel noise ``(runs, T, K)`` at the Transformer sizes (the model samples its
  categorical actions by Gumbel-max). Run time (best of repeats) and compile time apart.
* ``baselines``: ``baseline_vs_numpy`` (and ``_small``) under each generator: UCB and
  Gaussian Thompson through :func:`rmft_jax.rollout.run` against the NumPy reference, the
  NumPy run timed once per repeat and every generator's run right after it (the same load
  hits all of them, and the ratios share one NumPy time), with the bound that drawing the
  run's random numbers alone puts on the ratio.

* ``sharded`` (:mod:`~rmft_jax.bench.generator_sharding`): each offered generator's bulk normals
  and baseline rollouts with the batch split over two devices against one device (in a child
  process of two CPU devices), and whether a one-key draw is generated whole on every device.

Correctness under ``split`` / ``fold_in`` and under sharding over two devices is tested in
``tests/test_generator.py``; the fastest generator is chosen among the offered ones.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from rmft_jax import generator, rollout
from rmft_jax.bench.baselines import baseline_policy, numpy_kwargs, randomness_of_run
from rmft_jax.bench.generator_sharding import bench_generator_sharding
from rmft_jax.bench.sizes import ARMS, SIGMA, Sizes
from rmft_jax.bench.timing import compile_timed
from rmft_jax.bench_numpy import bandits as np_bandits
from rmft_jax.envs.bandit import BanditEnv

CANDIDATES = (*generator.GENERATORS, *generator.NOT_OFFERED)
POLICIES = ("ucb", "thompson")


def _small_draws(key):
    """One of each kind of draw the package makes from a key, small."""
    a, b, c = jax.random.split(key, 3)
    return (
        jax.random.normal(a, (5, 3)),
        jax.random.uniform(b, (7,)),
        jax.random.categorical(c, jnp.zeros((4, 5))),
        jax.random.gumbel(c, (3, 5)),
        jax.random.key_data(jax.random.fold_in(key, 11)),
        jax.random.key_data(jax.random.split(key, 2)),
    )


def vmap_equals_loop(name: str, batch: int = 4) -> bool:
    """Whether ``vmap`` over ``batch`` keys draws exactly what the loop over the keys draws."""
    with generator.using(name, measured_only=True):
        keys = jax.random.split(jax.random.key(0), batch)
        batched = jax.jit(jax.vmap(_small_draws))(keys)
        one = jax.jit(_small_draws)
        looped = [one(k) for k in keys]
    return all(
        np.array_equal(np.asarray(b[i]), np.asarray(one))
        for b, leaves in zip(batched, zip(*looped))
        for i, one in enumerate(leaves)
    )


def _draw_fns(sizes: Sizes) -> dict:
    """The bulk draws of the rollouts: ``name -> (jitted fn(key), numbers drawn)``."""
    T, R, K = sizes.base_horizon, sizes.base_runs, ARMS
    per_run = lambda draw: jax.jit(lambda key: jax.vmap(draw)(jax.random.split(key, R)))  # noqa: E731
    tf = lambda draw: jax.jit(  # noqa: E731
        lambda key: jax.vmap(draw)(jax.random.split(key, sizes.tf_runs)))
    return {
        "normal": (per_run(lambda k: jax.random.normal(k, (T, K))), R * T * K),
        "uniform": (per_run(lambda k: jax.random.uniform(k, (T,))), R * T),
        "categorical_gumbel": (tf(lambda k: jax.random.gumbel(k, (sizes.tf_horizon, K))),
                               sizes.tf_runs * sizes.tf_horizon * K),
    }


def bench_draws(name: str, sizes: Sizes, repeats: int) -> dict:
    """Compile and run time of each bulk draw under generator ``name``."""
    out = {}
    with generator.using(name, measured_only=True):
        key = jax.random.key(0)
        for kind, (fn, count) in _draw_fns(sizes).items():
            compiled, compile_s = compile_timed(fn, key)
            jax.block_until_ready(compiled(key))
            best = float("inf")
            for i in range(repeats):
                k = jax.random.fold_in(key, i + 1)
                t0 = time.perf_counter()
                jax.block_until_ready(compiled(k))
                best = min(best, time.perf_counter() - t0)
            out[kind] = {"numbers": count, "run_s": best, "ns_per_number": best / count * 1e9, "compile_s": compile_s}
    return out


def bench_baselines_by_generator(names, policy_name: str, num_runs: int, horizon: int, repeats: int) -> list[dict]:
    """One baseline at one size under every generator in ``names``, interleaved with one NumPy run per repeat."""
    env = BanditEnv(arms=ARMS, horizon=horizon, reward="gaussian", noise=SIGMA)
    policy = baseline_policy(policy_name)
    progs = {}
    for name in names:
        with generator.using(name, measured_only=True):
            keys = list(jax.random.split(jax.random.key(1), repeats + 1))
            run_c, run_compile = compile_timed(rollout.run, env, policy, keys[0], num_runs, None)
            draw_c, draw_compile = compile_timed(randomness_of_run(env, policy, num_runs), keys[0])
        jax.block_until_ready((run_c(keys[0], None), draw_c(keys[0])))  # warm
        progs[name] = (run_c, draw_c, keys[1:], {"run": run_compile, "randomness": draw_compile})
    rng = np.random.default_rng(0)
    np_s = float("inf")
    jax_s = {name: float("inf") for name in names}
    for r in range(repeats):
        t0 = time.perf_counter()
        np_bandits.simulate(policy_name, num_runs, horizon, ARMS, rng, **numpy_kwargs(policy_name))
        np_s = min(np_s, time.perf_counter() - t0)
        for name, (run_c, _, keys, _) in progs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(run_c(keys[r], None))
            jax_s[name] = min(jax_s[name], time.perf_counter() - t0)
    rows = []
    for name, (_, draw_c, keys, compile_s) in progs.items():
        noise_s = float("inf")
        for r in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(draw_c(keys[r]))
            noise_s = min(noise_s, time.perf_counter() - t0)
        rows.append({
            "generator": name, "policy": policy_name, "num_runs": num_runs, "horizon": horizon,
            "jax_run_s": jax_s[name], "numpy_run_s": np_s, "ratio": np_s / jax_s[name],
            "jax_randomness_s": noise_s, "ratio_bound": np_s / noise_s, "compile_s": compile_s, "repeats": repeats,
        })
    return rows


def bench_generators(sizes: Sizes, names=CANDIDATES, policies=POLICIES, sharded: bool | None = None) -> dict:
    """The generator table (see the module docstring) as a JSON-ready dict: ``names`` (default: every
    candidate) checked, the ones correct under ``vmap`` timed; baselines ``policies``; ``sharded``
    (default ``sizes.gen_sharded``): the sharded column."""
    safe = {name: vmap_equals_loop(name) for name in names}
    timed = [name for name in names if safe[name]]
    draws = {name: bench_draws(name, sizes, sizes.gen_repeats) for name in timed}
    run_counts = tuple(dict.fromkeys((sizes.base_runs, sizes.base_runs_small)))
    rows = [row for n in run_counts for p in policies
            for row in bench_baselines_by_generator(timed, p, n, sizes.base_horizon, sizes.gen_repeats)]

    def ratio(name, n):  # the headline's rule: the smaller of the two policies' ratios
        return min(r["ratio"] for r in rows if r["generator"] == name and r["num_runs"] == n)

    table = {
        name: {
            "vmap_equals_loop": safe[name],
            "offered": name in generator.GENERATORS,
            **({} if name in generator.GENERATORS else {"why_not": generator.NOT_OFFERED[name][1]}),
            **({} if name not in draws else {
                "draws": draws[name],
                "baseline_vs_numpy": ratio(name, sizes.base_runs),
                "baseline_vs_numpy_small": ratio(name, sizes.base_runs_small),
                "ratio_bound": min(r["ratio_bound"] for r in rows
                                   if r["generator"] == name and r["num_runs"] == sizes.base_runs),
            }),
        }
        for name in names
    }
    offered = [name for name in timed if name in generator.GENERATORS]
    sharded = sizes.gen_sharded if sharded is None else sharded
    shard = None
    if sharded and offered:
        shard = bench_generator_sharding(sizes, offered, [n for n in timed if n not in offered], policies)
        for name, row in shard.pop("generators").items():
            table[name]["sharded"] = row
    fastest = max(offered, key=lambda name: table[name]["baseline_vs_numpy"])
    return {
        "generators": table,
        "rows": rows,
        "fastest": fastest,
        "fastest_by_normals": min(offered, key=lambda name: draws[name]["normal"]["run_s"]),
        "vs_default": {name: table[name]["baseline_vs_numpy"] / table[generator.DEFAULT]["baseline_vs_numpy"]
                       for name in offered} if generator.DEFAULT in offered else None,
        "active": generator.current(),
        "sharded": shard,
        "sizes": {"runs": sizes.base_runs, "runs_small": sizes.base_runs_small, "horizon": sizes.base_horizon,
                  "tf_runs": sizes.tf_runs, "tf_horizon": sizes.tf_horizon, "arms": ARMS},
    }
