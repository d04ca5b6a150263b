"""The generator table's sharded column: each generator with the batch split over two devices.

A generator is adopted only if it is fast when a batch is sharded, not only on one device
(the package's rollouts, training and sweeps split their batch over every device,
:mod:`rmft_jax.sharding`). In one child process of two CPU devices
(:func:`rmft_jax.bench.jobs.run_job`), for each generator offered by :mod:`rmft_jax.generator`:

* ``normal``: the bulk normals of the baseline rollouts, one key per run and ``vmap`` over
  runs (as :func:`rmft_jax.rollout.run` draws them), ``(runs, T, K)``;
* ``ucb`` / ``thompson``: the baseline rollouts, :func:`rmft_jax.rollout.run` against
  :func:`rmft_jax.sharding.run` over the two devices;
* ``one_key``: ``N`` normals from one key with the output split over the devices (the draw
  that JAX's ``jax_threefry_partitionable`` is about; the package draws this way only to
  split a key into per-run keys).

For both draws the per-device program is inspected besides the time: the largest ``uint32``
array it computes (the generator's bits), and XLA's FLOP and byte counts, each as a fraction
of the one-device program's. About ``1 / devices``: each device draws its own part; about 1:
each device generates the whole array and keeps its part.

each timed on one device (the plain path) and sharded, interleaved in the same process (the
same load hits both; ``speedup`` = one-device time / sharded time), after checking that both
give the same numbers. The generators measured but not offered that are correct under
``vmap`` (philox) are only compiled sharded, which is why they are not offered.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from rmft_jax import generator, rollout, sharding
from rmft_jax.bench.baselines import baseline_policy
from rmft_jax.bench.jobs import run_job
from rmft_jax.bench.sizes import ARMS, SIGMA, Sizes
from rmft_jax.bench.timing import xla_cost
from rmft_jax.envs.bandit import BanditEnv

DEVICES = 2
_U32 = re.compile(r"\bu32\[([0-9,]*)\]")


def _host(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def _race(one: Callable[[], object], split: Callable[[], object], repeats: int) -> dict:
    """Time ``one`` (one device) and ``split`` (sharded) interleaved, best of ``repeats``, after a first call
    of each (its time: compile and run) and a check that both give the same arrays."""
    first = {}
    outs = {}
    for name, fn in (("one_device", one), ("sharded", split)):
        t0 = time.perf_counter()
        outs[name] = jax.block_until_ready(fn())
        first[name] = time.perf_counter() - t0
    equal = all(np.array_equal(a, b) for a, b in zip(_host(outs["one_device"]), _host(outs["sharded"]), strict=True))
    best = {"one_device": float("inf"), "sharded": float("inf")}
    for _ in range(repeats):
        for name, fn in (("one_device", one), ("sharded", split)):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            best[name] = min(best[name], time.perf_counter() - t0)
    return {"one_device_s": best["one_device"], "sharded_s": best["sharded"],
            "speedup": best["one_device"] / best["sharded"], "equal": equal,
            "first_call_s": first}


def _largest_u32(hlo: str) -> int:
    sizes = [int(np.prod([int(d) for d in dims.split(",") if d])) for dims in _U32.findall(hlo)]
    return max(sizes, default=0)


def per_device_work(one_jit, split_jit, *args) -> dict:
    """The sharded program's per-device work as a fraction of the one-device program's: its largest
    ``uint32`` array (the generator's bits) and XLA's FLOP and byte counts."""
    one_c, split_c = one_jit.lower(*args).compile(), split_jit.lower(*args).compile()
    u32 = (_largest_u32(one_c.as_text()), _largest_u32(split_c.as_text()))
    cost_one, cost_split = xla_cost(one_c), xla_cost(split_c)
    return {
        "largest_u32_one_device": u32[0], "largest_u32_per_device": u32[1],
        "u32_fraction": u32[1] / u32[0] if u32[0] else float("nan"),
        "flops_fraction": cost_split["flops"] / cost_one["flops"],
        "bytes_fraction": cost_split["bytes accessed"] / cost_one["bytes accessed"],
    }


def measure(names: Sequence[str], compile_only: Sequence[str], runs: int, horizon: int, policies: Sequence[str],
            repeats: int) -> dict:
    """The sharded column, in a process of several devices (run by :func:`bench_generator_sharding`)."""
    mesh = sharding.make_mesh(None)
    if mesh.size < 2:
        raise ValueError(f"devices: the sharded column needs at least 2 devices (got {mesh.size})")
    rep, split = sharding.replicated(mesh), NamedSharding(mesh, PartitionSpec(sharding.DATA))
    env = BanditEnv(arms=ARMS, horizon=horizon, reward="gaussian", noise=SIGMA)

    def per_run(k):
        return jax.vmap(lambda kk: jax.random.normal(kk, (horizon, ARMS)))(jax.random.split(k, runs))

    def one_key(k):
        return jax.random.normal(k, (runs * horizon * ARMS,))

    out = {"devices": mesh.size, "generators": {}}
    for name in names:
        with generator.using(name, measured_only=True):
            key = jax.random.key(0)
            row = {}
            for kind, fn in (("normal", per_run), ("one_key", one_key)):
                one_jit, split_jit = jax.jit(fn), jax.jit(fn, in_shardings=rep, out_shardings=split)
                row[kind] = _race(lambda f=one_jit: f(key), lambda f=split_jit: f(key), repeats)
                row[kind].update(per_device_work(one_jit, split_jit, key), numbers=runs * horizon * ARMS)
            for p in policies:
                policy = baseline_policy(p)
                row[p] = _race(lambda pol=policy: rollout.run(env, pol, key, runs, None),
                               lambda pol=policy: sharding.run(env, pol, key, runs, None, devices=mesh), repeats)
        out["generators"][name] = row
    for name in compile_only:
        with generator.using(name, measured_only=True):
            try:
                jax.jit(per_run, in_shardings=rep, out_shardings=split).lower(jax.random.key(0)).compile()
                out["generators"][name] = {"compiles_sharded": True}
            except Exception as e:  # noqa: BLE001 - the failure is the measurement
                out["generators"][name] = {"compiles_sharded": False,
                                           "error": (str(e).splitlines() or [type(e).__name__])[0][:200]}
    return out


def bench_generator_sharding(sizes: Sizes, names: Sequence[str], compile_only: Sequence[str] = (),
                             policies: Sequence[str] = ("ucb", "thompson"), devices: int = DEVICES) -> dict:
    """:func:`measure` at the baseline sizes (``sizes.base_runs`` runs, ``T = base_horizon``; the one-key draw
    as many normals as the per-run draw) in a child process of ``devices`` CPU devices, with the load average
    before and after."""
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = run_job("rmft_jax.bench.generator_sharding:measure", {
        "names": list(names), "compile_only": list(compile_only), "runs": sizes.base_runs,
        "horizon": sizes.base_horizon, "policies": list(policies), "repeats": sizes.gen_repeats,
    }, processes=1, devices=devices)
    res.update(runs=sizes.base_runs, horizon=sizes.base_horizon, arms=ARMS, job_wall_s=time.perf_counter() - t0,
               load_avg_1min_before=load_before, load_avg_1min_after=os.getloadavg()[0])
    return res


__all__ = ["DEVICES", "measure", "per_device_work", "bench_generator_sharding"]
