"""The speed benchmark behind ``rmft bench``: ratios against references and the machine, in one run.

What one run measures (every JAX call ends in ``block_until_ready``; run times are
the best of several repeats, JAX and its reference interleaved so that load from
other processes hits both alike; compile time is measured apart, with
``jit(...).lower(...).compile()``):

* ``baseline_vs_numpy`` / ``baseline_vs_numpy_small``: UCB and Gaussian Thompson
  rollouts through :func:`rmft_jax.rollout.run` (task sampling, bulk noise, the
  scan, exact regret) against :mod:`rmft_jax.bench_numpy.bandits` (same algorithms,
  float32) on a Gaussian bandit, ``K = 5``, ``T = 1000``, at 4096 and 64 runs. The
  headline is the **smaller** of the two policies' ratios; both are in ``rows``,
  with the bound that drawing the run's random numbers alone puts on the ratio,
  and (4096 runs) the ratio under ``jax.threefry_partitionable(False)``.
* ``decode_vs_recompute`` / ``transformer_vs_numpy``: Transformer rollouts (``K = 5``,
  ``T = 100``, 2 layers, width 64, 2 heads) with KV-cache decoding (the cache grown
  in segments, the batch run in tiles on CPU: what ``rollout.run`` does by default)
  against the same policy recomputing the full prefix every round, and against the
  same incremental algorithm in NumPy (:mod:`rmft_jax.bench_numpy.transformer`), in
  rollout-steps/s; and, in the same run, the decoding on one static cache of ``T`` slots.
* ``iteration``: one RMFT iteration of the Figure 2 config (:data:`rmft_jax.experiments.fig2.TRAIN`)
  split into rollout, selection and SFT, each its own jitted function, against the
  whole jitted iteration.
* ``compile_s``: the compile time of every entry point above.
* ``fraction_of_matmul_peak``: the decode rollout's FLOP rate (matrix-product FLOPs
  of a decode step counted analytically, :func:`decode_step_flops`) over the rate of
  a large ``jnp.dot`` measured in the same run.
* ``memory``: peak RSS, device memory stats where the backend has them, and the
  resident memory along a long run of iterations (it must not grow).
* ``recompiles``: XLA compilations (counted by a :mod:`jax.monitoring` listener)
  during repeated RMFT iterations and evaluation calls after warm-up; must be 0.
* ``cost_curves`` (full mode): rollout and iteration time against ``T``, the number
  of rollouts, ``K`` and the model width, with fitted log-log exponents.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import resource
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rmft_jax import rmft, rollout
from rmft_jax.bench_numpy import bandits as np_bandits
from rmft_jax.bench_numpy import transformer as np_transformer
from rmft_jax.envs.bandit import UNIFORM_STD, BanditEnv
from rmft_jax.models.transformer import TransformerConfig, init_model
from rmft_jax.policies import UCB, GaussianThompson
from rmft_jax.results import save_figure

ARMS, SIGMA = 5, 1.0
PRIOR_MEAN, PRIOR_STD = 0.5, UNIFORM_STD
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes of one benchmark run (``FULL`` is the issue's setting, ``QUICK`` a smoke test)."""

    base_horizon: int = 1000
    base_runs: int = 4096
    base_runs_small: int = 64
    base_repeats: int = 7
    tf_horizon: int = 100
    tf_runs: int = 4096
    tf_recompute_runs: int = 256
    tf_numpy_runs: int = 4096
    tf_repeats: int = 3
    matmul_n: int = 2048
    quick_train: bool = False  # iteration timings on fig2.QUICK_TRAIN instead of fig2.TRAIN
    iteration_parts: bool = True  # time rollout / selection / SFT as separate jitted functions
    iter_repeats: int = 3
    long_iterations: int = 1000
    eval_runs: int = 1000
    curves: bool = True
    scale_runs: int = 65536  # 2^16 rollouts: measured on accelerators (and in quick mode, small, to test the path)


FULL = Sizes()
# Quick mode is a smoke test of every code path (the test suite runs it): the smallest sizes,
# and the same run counts everywhere (64), so that the throughput rows reuse the programs
# compiled for the rows before them.
QUICK = Sizes(
    base_horizon=100, base_runs=64, base_repeats=2, iteration_parts=False, tf_horizon=25, tf_runs=64, tf_recompute_runs=16,
    tf_numpy_runs=64, tf_repeats=2, matmul_n=256, quick_train=True, iter_repeats=2, long_iterations=20,
    eval_runs=64, curves=False, scale_runs=64,
)


# --- measuring ------------------------------------------------------------------------------


def time_best(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time (s) of ``repeats`` calls of ``fn``, each blocked until ready."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def compile_timed(jitted, *args, **kwargs):
    """``(compiled, seconds)``: ``jitted.lower(*args, **kwargs).compile()``, timed."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - t0


@contextlib.contextmanager
def count_compiles():
    """Count XLA backend compilations inside the block: ``with count_compiles() as n: ...; n[0]``."""
    count = [0]

    def listener(event, duration, **_):
        if event == COMPILE_EVENT:
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield count
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def rss_mb() -> float:
    """Current resident set size (MiB), from ``/proc/self/statm`` (peak RSS where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MiB; ``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_memory() -> dict | None:
    """``memory_stats()`` of the first device (``None`` on backends without them, e.g. CPU)."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - optional on every backend
        return None
    if not stats:
        return None
    keep = ("bytes_in_use", "peak_bytes_in_use", "bytes_limit")
    return {k: int(v) for k, v in stats.items() if k in keep}


def loglog_exponent(xs, ys) -> float:
    """Least-squares slope of ``log y`` on ``log x`` (cost ``∝ x^slope``)."""
    return float(np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)[0])


def linear_quadratic_fit(xs, ys) -> dict:
    """Non-negative least squares ``y ≈ c + a·x + b·x²`` (relative errors): the per-round
    (linear) and attention-over-history (quadratic) parts of a cost against the horizon.

    Returns the coefficients and ``quadratic_share``, the fraction of the cost at the
    largest ``x`` that the quadratic term accounts for.
    """
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    basis = np.stack([np.ones_like(x), x, x * x], axis=1)
    coef = _nnls(basis / y[:, None], np.ones_like(y))
    fitted = basis @ coef
    return {"const": float(coef[0]), "linear": float(coef[1]), "quadratic": float(coef[2]),
            "quadratic_share": float(coef[2] * x[-1] ** 2 / fitted[-1]) if fitted[-1] > 0 else 0.0}


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with non-negative coefficients, by trying every support (3 columns: 7 subsets)."""
    best, best_err = np.zeros(a.shape[1]), float(np.sum(b * b))
    n = a.shape[1]
    for mask in range(1, 2**n):
        cols = [i for i in range(n) if mask >> i & 1]
        sol, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
        if np.all(sol >= 0):
            coef = np.zeros(n)
            coef[cols] = sol
            err = float(np.sum((a @ coef - b) ** 2))
            if err < best_err:
                best, best_err = coef, err
    return best


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu, "cpu_count": os.cpu_count(), "load_avg_1min": load, "backend": jax.default_backend(),
        "devices": [d.device_kind for d in jax.devices()],
    }


# --- (a) baselines vs NumPy --------------------------------------------------------------------


def baseline_policy(name: str, arms: int = ARMS):
    if name == "ucb":
        return UCB(arms=arms, c=2.0 * SIGMA**2)
    return GaussianThompson(arms=arms, noise_std=SIGMA, prior_mean=PRIOR_MEAN, prior_std=PRIOR_STD)


def _numpy_kwargs(name: str) -> dict:
    if name == "ucb":
        return {"c": 2.0 * SIGMA**2, "reward_noise": SIGMA}
    return {"noise_std": SIGMA, "prior_mean": PRIOR_MEAN, "prior_std": PRIOR_STD, "reward_noise": SIGMA}


def bench_baseline(name: str, num_runs: int, horizon: int, repeats: int, seed: int = 0,
                   partitionable: bool = True) -> dict:
    """One baseline at one size: JAX :func:`rollout.run` against the NumPy reference.

    ``partitionable=False`` runs JAX under ``jax.threefry_partitionable(False)``: the same
    threefry generator with the older counter layout, which draws bulk random numbers
    faster on CPU but gives different numbers for a seed (an option for users, not our default).
    """
    if not partitionable:
        with jax.threefry_partitionable(False):
            return {**bench_baseline(name, num_runs, horizon, repeats, seed), "threefry_partitionable": False}
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
        np_bandits.simulate(name, num_runs, horizon, ARMS, rng, **_numpy_kwargs(name))
        np_s = min(np_s, time.perf_counter() - t0)
    draw = _randomness_of_run(env, policy, num_runs)
    jax.block_until_ready(draw(keys[0]))
    noise_s = time_best(lambda: draw(keys[0]), len(keys))
    steps = num_runs * horizon
    return {
        "policy": name, "num_runs": num_runs, "horizon": horizon, "arms": ARMS, "compile_s": max(first_s - jax_s, 0.0),
        "jax_run_s": jax_s, "numpy_run_s": np_s, "jax_steps_per_s": steps / jax_s, "numpy_steps_per_s": steps / np_s,
        "ratio": np_s / jax_s, "repeats": repeats,
        "jax_randomness_s": noise_s, "ratio_bound": np_s / noise_s,
    }


def _randomness_of_run(env, policy, num_runs: int):
    """A jitted function drawing exactly the random numbers of ``rollout.run(env, policy, key, num_runs)``
    (tasks, environment noise, the policy's bulk noise) and nothing else: the time a run
    cannot go below with JAX's default generator, so ``numpy_run_s / its time`` bounds the ratio."""

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
        # Not in the headline: what jax.threefry_partitionable(False) gives a user who wants the speed.
        "nonpartitionable_rows": [bench_baseline(name, sizes.base_runs, sizes.base_horizon, sizes.base_repeats,
                                                 partitionable=False) for name in ("ucb", "thompson")],
    }


# --- (b) Transformer rollouts ----------------------------------------------------------------


def attended_slots(horizon: int, first: int) -> float:
    """Mean cache length a decode step attends over in a rollout of ``horizon`` rounds
    (:func:`rmft_jax.models.policy.decode_segments` with first segment ``first``)."""
    from rmft_jax.models.policy import decode_segments

    start, total = 0, 0
    for end, length in decode_segments(horizon, first):
        total += (end - start) * length
        start = end
    return total / horizon


def decode_step_flops(cfg: TransformerConfig, cache_len: float) -> float:
    """Matrix-product FLOPs (multiply and add counted apart) of one decode step of one rollout.

    Embedding; per layer the QKV projection, attention scores and weighted values
    over ``cache_len`` slots (the mean cache length of a rollout's steps, :func:`attended_slots`), the output
    projection and the MLP; the head. LayerNorm, softmax and GELU (``O(width)``) are
    left out, so the rate is a slight under-count.
    """
    w, m = cfg.width, cfg.mlp_ratio * cfg.width
    per_layer = 2 * w * 3 * w + 2 * 2 * cache_len * w + 2 * w * w + 2 * 2 * w * m
    return 2 * cfg.token_dim * w + cfg.layers * per_layer + 2 * w * cfg.actions


def transformer_setup(horizon: int, arms: int = ARMS, width: int = 64, layers: int = 2, heads: int = 2):
    cfg = TransformerConfig(task="bandit", actions=arms, layers=layers, heads=heads, width=width,
                            max_horizon=max(horizon, 1024))
    graphdef, params = init_model(cfg, jax.random.key(0))
    env = BanditEnv(arms=arms, horizon=horizon, reward="gaussian", noise=SIGMA)
    return cfg, graphdef, params, env


def bench_policy_run(env, policy, params, runs: int, repeats: int) -> dict:
    """Compile :func:`rollout.run` once (timed), then the best of ``repeats`` runs."""
    compiled, compile_s = compile_timed(rollout.run, env, policy, jax.random.key(0), runs, params)
    keys = iter(jax.random.split(jax.random.key(1), repeats + 1))
    jax.block_until_ready(compiled(next(keys), params))
    run_s = time_best(lambda: compiled(next(keys), params), repeats)
    return {"runs": runs, "compile_s": compile_s, "run_s": run_s, "steps_per_s": runs * env.horizon / run_s}


def bench_numpy_transformer(P, cfg, horizon: int, runs: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    means = rng.uniform(size=(runs, cfg.actions)).astype(np.float32)
    xi = rng.standard_normal((runs, horizon)).astype(np.float32)
    gumbel = rng.gumbel(size=(runs, horizon, cfg.actions)).astype(np.float32)
    run_s = time_best(lambda: np_transformer.bandit_rollouts(P, cfg, means, xi, gumbel), repeats)
    return {"runs": runs, "run_s": run_s, "steps_per_s": runs * horizon / run_s}


def matmul_rate(n: int, repeats: int) -> float:
    """Measured dense float32 matmul rate (FLOP/s) of an ``n × n`` ``jnp.dot``."""
    a = jax.random.normal(jax.random.key(2), (n, n))
    b = jax.random.normal(jax.random.key(3), (n, n))
    dot = jax.jit(jnp.dot)
    jax.block_until_ready(dot(a, b))
    return 2 * n**3 / time_best(lambda: dot(a, b), repeats)


def bench_transformer(sizes: Sizes) -> dict:
    from rmft_jax.models import BanditPrefixPolicy, BanditTransformerPolicy

    T = sizes.tf_horizon
    cfg, graphdef, params, env = transformer_setup(T)
    policy = BanditTransformerPolicy(cfg, graphdef, horizon=T)
    decode = bench_policy_run(env, policy, params, sizes.tf_runs, sizes.tf_repeats)
    decode["segments"] = [list(p) for p in policy.segments(T)]
    decode["batch_tile"] = rollout._batch_tile(policy, sizes.tf_runs)
    one_cache = untiled = None
    if len(policy.segments(T)) > 1:  # the same rollouts on one static cache of T slots
        one_cache = bench_policy_run(env, dataclasses.replace(policy, decode_segment=0), params, sizes.tf_runs,
                                     max(1, sizes.tf_repeats - 1))
    if one_cache is not None and decode["batch_tile"]:  # ... and, in addition, the whole batch at once
        untiled = bench_policy_run(env, dataclasses.replace(policy, decode_segment=0, tile=0), params,
                                   sizes.tf_runs, max(1, sizes.tf_repeats - 1))
    recompute = bench_policy_run(env, BanditPrefixPolicy(cfg, graphdef, horizon=T), params,
                                 sizes.tf_recompute_runs, max(1, sizes.tf_repeats - 1))
    numpy_ = bench_numpy_transformer(np_transformer.numpy_params(params), cfg, T, sizes.tf_numpy_runs,
                                     max(1, sizes.tf_repeats - 1))
    peak = matmul_rate(sizes.matmul_n, sizes.tf_repeats + 2)
    slots = attended_slots(T, policy.decode_segment)
    flops = decode_step_flops(cfg, slots)
    achieved = flops * decode["steps_per_s"]
    return {
        "model": {"layers": cfg.layers, "width": cfg.width, "heads": cfg.heads, "mlp_ratio": cfg.mlp_ratio,
                  "arms": cfg.actions},
        "horizon": T, "decode": decode, "decode_one_cache": one_cache, "decode_one_cache_untiled": untiled,
        "recompute": recompute, "numpy": numpy_,
        "segments_vs_one_cache": None if one_cache is None else decode["steps_per_s"] / one_cache["steps_per_s"],
        "layout_vs_one_cache_untiled": None if untiled is None else decode["steps_per_s"] / untiled["steps_per_s"],
        "attended_slots_per_step": slots,
        "decode_vs_recompute": decode["steps_per_s"] / recompute["steps_per_s"],
        "transformer_vs_numpy": decode["steps_per_s"] / numpy_["steps_per_s"],
        "flops_per_decode_step": flops, "achieved_flops_per_s": achieved, "matmul_flops_per_s": peak,
        "matmul_n": sizes.matmul_n, "fraction_of_matmul_peak": achieved / peak,
    }


def bench_scale(sizes: Sizes, quick: bool) -> dict:
    """Throughput at ``sizes.scale_runs`` rollouts: Transformer decoding (``T = tf_horizon``) and UCB
    (``T = base_horizon``), through the plain path and through :mod:`rmft_jax.sharding` over every
    visible device (with one device the sharded call *is* the plain path, so it cannot be slower).

    Full mode measures it on accelerators only: on a CPU the 4096-rollout rows already
    show the throughput, and 2^16 Transformer rollouts would add a minute.
    """
    from rmft_jax import sharding
    from rmft_jax.models import BanditTransformerPolicy

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


# --- (c, d, f) one RMFT iteration, recompilation, memory ------------------------------------


def iteration_parts(env, cfg: rmft.RMFTConfig, learner: rmft.Learner):
    """The iteration's three stages as separately jitted functions (the same computation as
    :func:`rmft_jax.rmft.iteration` with its keys): ``rollout(params, key) -> traj``,
    ``select(traj, buffer, i) -> buffer``, ``sft(params, opt_state, buffer, key)``."""

    @jax.jit
    def rollout_part(params, key):
        k_task, k_roll, _ = jax.random.split(key, 3)
        return rmft.roll_out(env, cfg, learner.policy, params, k_task, k_roll)[1]

    @jax.jit
    def select_part(traj, buffer, i):
        _, acts, fb = rmft.keep_lowest(env, cfg, traj)
        return rmft.push(buffer, acts, fb, i)

    @jax.jit
    def sft_part(params, opt_state, buffer, key):
        return rmft.sft(learner, cfg, params, opt_state, buffer, jax.random.split(key, 3)[2])

    return rollout_part, select_part, sft_part


def bench_iteration(sizes: Sizes) -> dict:
    """(c) the split of one iteration, (d) compile times, recompiles across iterations and evaluations."""
    from rmft_jax.config import TrainConfig
    from rmft_jax.evaluation import evaluate_policy
    from rmft_jax.experiments import fig2
    from rmft_jax.training import build_learner, model_policy

    tcfg = TrainConfig.from_dict(fig2.QUICK_TRAIN if sizes.quick_train else fig2.TRAIN)
    env, cfg = tcfg.make_env(), tcfg.rmft
    learner = build_learner(tcfg)
    state = rmft.init_state(env, cfg, learner)
    key = jax.random.key(1)
    compile_s, split, r = {}, {}, sizes.iter_repeats
    if sizes.iteration_parts:
        rollout_part, select_part, sft_part = iteration_parts(env, cfg, learner)
        roll_c, compile_s["iteration_rollout"] = compile_timed(rollout_part, state.params, key)
        traj = roll_c(state.params, key)
        sel_c, compile_s["iteration_selection"] = compile_timed(select_part, traj, state.buffer, state.iteration)
        buffer = sel_c(traj, state.buffer, state.iteration)
        sft_c, compile_s["iteration_sft"] = compile_timed(sft_part, state.params, state.opt_state, buffer, key)
        jax.block_until_ready(sft_c(state.params, state.opt_state, buffer, key))
        split = {
            "rollout_s": time_best(lambda: roll_c(state.params, key), r),
            "selection_s": time_best(lambda: sel_c(traj, state.buffer, state.iteration), r),
            "sft_s": time_best(lambda: sft_c(state.params, state.opt_state, buffer, key), r),
        }
    step = rmft.make_iteration(env, cfg, learner)
    t0 = time.perf_counter()
    state, _ = jax.block_until_ready(step(state, key, learner.base_params))  # warm-up: compiles
    compile_s["iteration"] = time.perf_counter() - t0
    total = float("inf")
    for _ in range(r):
        t0 = time.perf_counter()
        state, _ = jax.block_until_ready(step(state, key, learner.base_params))
        total = min(total, time.perf_counter() - t0)
    split["iteration_s"] = total
    if sizes.iteration_parts:
        split["parts_sum_s"] = split["rollout_s"] + split["selection_s"] + split["sft_s"]

    # Evaluation at the Figure 2 horizon, warmed up once, then new params and a new seed.
    eval_env = tcfg.make_env(horizon=tcfg.make_env().horizon if sizes.quick_train else fig2.EVAL_HORIZON)
    policy = model_policy(tcfg, learner.policy.graphdef, horizon=eval_env.horizon)
    t0 = time.perf_counter()
    evaluate_policy(eval_env, policy, 0, sizes.eval_runs, state.params, progress=False, name="rmft")
    compile_s["evaluate_model"] = time.perf_counter() - t0
    with count_compiles() as n:
        for i in range(3):
            state, metrics = step(state, key, learner.base_params)
            jax.device_get(metrics)
        for s in (1, 2):
            evaluate_policy(eval_env, policy, s, sizes.eval_runs, state.params, progress=False, name="rmft")
    return {
        "config": "fig2.QUICK_TRAIN" if sizes.quick_train else "fig2.TRAIN",
        "train_config": tcfg.to_dict(),
        "split": split,
        "compile_s": compile_s,
        "recompiles": n[0],
        "recompile_check": "3 iterations + 2 evaluate_policy calls (new seed, new params) after warm-up",
        "eval_horizon": eval_env.horizon,
        "_reuse": (tcfg, learner, step, state),
    }


def bench_long_run(sizes: Sizes, reuse=None) -> dict:
    """Resident memory along ``long_iterations`` iterations of the jitted loop (fig2.QUICK_TRAIN sizes).

    ``reuse``: ``(learner, step, state)`` of that config, already compiled.
    """
    from rmft_jax.config import TrainConfig
    from rmft_jax.experiments import fig2
    from rmft_jax.training import build_learner

    key = jax.random.key(1)
    if reuse is None:
        tcfg = TrainConfig.from_dict(fig2.QUICK_TRAIN)
        env, cfg = tcfg.make_env(), tcfg.rmft
        learner = build_learner(tcfg)
        step = rmft.make_iteration(env, cfg, learner)
        state, _ = step(rmft.init_state(env, cfg, learner), key, learner.base_params)  # warm-up: compiles
    else:
        learner, step, state = reuse
    n = sizes.long_iterations
    marks = sorted({max(1, n // 10), n // 4, n // 2, 3 * n // 4, n})
    samples = []
    rows = []  # what the training loop keeps: one row of floats per iteration
    t0 = time.perf_counter()
    with count_compiles() as compiles:
        for i in range(1, n + 1):
            state, metrics = step(state, key, learner.base_params)
            rows.append({k: float(v) for k, v in jax.device_get(metrics).items()})
            if i in marks:
                samples.append({"iteration": i, "rss_mb": rss_mb()})
    first_mark = samples[0]["rss_mb"]
    return {
        "iterations": n, "seconds": time.perf_counter() - t0, "rss_mb": samples,
        "rss_growth_mb": samples[-1]["rss_mb"] - first_mark,
        "compiles_during_run": compiles[0],
    }


# --- (2) cost curves --------------------------------------------------------------------------


def _rollout_seconds(env, policy, params, runs: int, repeats: int = 3) -> float:
    compiled, _ = compile_timed(rollout.run, env, policy, jax.random.key(0), runs, params)
    jax.block_until_ready(compiled(jax.random.key(1), params))
    return time_best(lambda: compiled(jax.random.key(2), params), repeats)


def _iteration_seconds(env_overrides: dict, model: dict, rmft_overrides: dict, repeats: int = 2) -> float:
    from rmft_jax.config import TrainConfig
    from rmft_jax.experiments import fig2
    from rmft_jax.training import build_learner

    d = {k: dict(v) if isinstance(v, dict) else v for k, v in fig2.QUICK_TRAIN.items()}
    d["env"].update(env_overrides)
    d["model"].update(model)
    d["rmft"].update(rmft_overrides)
    tcfg = TrainConfig.from_dict(d)
    env, learner = tcfg.make_env(), build_learner(tcfg)
    state = rmft.init_state(env, tcfg.rmft, learner)
    step = rmft.make_iteration(env, tcfg.rmft, learner)
    key = jax.random.key(1)
    state, _ = jax.block_until_ready(step(state, key, learner.base_params))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        state, _ = jax.block_until_ready(step(state, key, learner.base_params))
        best = min(best, time.perf_counter() - t0)
    return best


def cost_curves(quick: bool = False) -> dict:
    """Seconds per call against one size at a time, and the fitted log-log exponents.

    Curves: baseline (UCB) and Transformer-decode rollouts against ``T``, rollouts,
    ``K`` and (Transformer) width; one RMFT iteration (fig2.QUICK_TRAIN sizes)
    against ``T``, instances ``M`` and width.
    """
    from rmft_jax.models import BanditTransformerPolicy

    def ucb_point(T=1000, runs=1024, K=5):
        env = BanditEnv(arms=K, horizon=T, reward="gaussian", noise=SIGMA)
        return _rollout_seconds(env, baseline_policy("ucb", K), None, runs)

    def tf_point(T=100, runs=256, K=5, width=64):
        cfg, g, p, env = transformer_setup(T, arms=K, width=width)
        return _rollout_seconds(env, BanditTransformerPolicy(cfg, g, horizon=T), p, runs)

    small = quick
    grid = {
        ("baseline_rollout", "horizon"): ([100, 200] if small else [250, 500, 1000, 2000], lambda x: ucb_point(T=x)),
        ("baseline_rollout", "rollouts"): ([256, 512] if small else [256, 1024, 4096], lambda x: ucb_point(runs=x)),
        ("baseline_rollout", "arms"): ([2, 5] if small else [2, 5, 10, 20], lambda x: ucb_point(K=x)),
        ("transformer_rollout", "horizon"): ([25, 50] if small else [25, 50, 100, 200, 400],
                                             lambda x: tf_point(T=x)),
        ("transformer_rollout", "rollouts"): ([32, 64] if small else [64, 256, 1024], lambda x: tf_point(runs=x)),
        ("transformer_rollout", "arms"): ([2, 5] if small else [2, 5, 10, 20], lambda x: tf_point(K=x)),
        ("transformer_rollout", "width"): ([16, 32] if small else [16, 32, 64, 128], lambda x: tf_point(width=x)),
        ("iteration", "horizon"): ([25, 50] if small else [25, 50, 100, 200],
                                   lambda x: _iteration_seconds({"horizon": x}, {}, {})),
        ("iteration", "tasks"): ([16, 32] if small else [16, 32, 64, 128],
                                 lambda x: _iteration_seconds({}, {}, {"tasks": x})),
        ("iteration", "width"): ([16, 32] if small else [16, 32, 64, 128],
                                 lambda x: _iteration_seconds({}, {"width": x}, {})),
    }
    curves = []
    for (what, axis), (xs, point) in grid.items():
        ys = [point(x) for x in xs]
        curve = {"what": what, "axis": axis, "x": xs, "seconds": ys, "exponent": loglog_exponent(xs, ys)}
        if axis == "horizon":
            curve["linear_quadratic"] = linear_quadratic_fit(xs, ys)
        curves.append(curve)
    return {
        "curves": curves,
        "defaults": {"baseline_rollout": {"horizon": 1000, "rollouts": 1024, "arms": 5},
                     "transformer_rollout": {"horizon": 100, "rollouts": 256, "arms": 5, "width": 64},
                     "iteration": "fig2.QUICK_TRAIN"},
    }


# --- the whole suite -------------------------------------------------------------------------


def run_all(quick: bool = False, curves: bool | None = None, log: Callable[[str], None] = lambda s: None) -> dict:
    """Every measurement of one ``rmft bench`` run, as a JSON-ready dict."""
    sizes = QUICK if quick else FULL
    t0 = time.perf_counter()
    log("baselines vs NumPy")
    base = bench_baselines(sizes)
    log("Transformer rollouts")
    tf = bench_transformer(sizes)
    log(f"throughput at {sizes.scale_runs} rollouts")
    scale = bench_scale(sizes, quick)
    log("RMFT iteration")
    it = bench_iteration(sizes)
    tcfg, *reuse = it.pop("_reuse")
    log("long run (memory)")
    long = bench_long_run(sizes, reuse if sizes.quick_train else None)
    curves = sizes.curves if curves is None else curves
    if curves:
        log("cost curves")
    cc = cost_curves(quick) if curves else None
    compile_s = {f"run_{r['policy']}_{r['num_runs']}": r["compile_s"] for r in base["rows"]}
    compile_s["run_transformer_decode"] = tf["decode"]["compile_s"]
    compile_s["run_transformer_recompute"] = tf["recompute"]["compile_s"]
    compile_s.update(it["compile_s"])
    return {
        "benchmark": "rmft bench",
        "mode": "quick" if quick else "full",
        "command": "rmft bench" + (" --quick" if quick else ""),
        "machine": machine(),
        "sizes": dataclasses.asdict(sizes),
        "baseline_vs_numpy": base["baseline_vs_numpy"],
        "baseline_vs_numpy_small": base["baseline_vs_numpy_small"],
        "decode_vs_recompute": tf["decode_vs_recompute"],
        "transformer_vs_numpy": tf["transformer_vs_numpy"],
        "fraction_of_matmul_peak": tf["fraction_of_matmul_peak"],
        "recompiles": it["recompiles"] + long["compiles_during_run"],
        "baselines": base,
        "transformer": tf,
        "scale": scale,
        "iteration": it,
        "compile_s": compile_s,
        "memory": {"peak_rss_mb": peak_rss_mb(), "device": device_memory(), "long_run": long},
        "cost_curves": cc,
        "total_s": time.perf_counter() - t0,
    }


def markdown(r: dict) -> str:
    """The headline table (and the cost-curve exponents, when measured) as Markdown."""
    m, b, tf, it = r["machine"], r["baselines"], r["transformer"], r["iteration"]
    sp = it["split"]
    long = r["memory"]["long_run"]
    pol = lambda d: ", ".join(f"{k} {v:.1f}x" for k, v in d.items())  # noqa: E731
    rows = [
        ("baseline_vs_numpy", f"{r['baseline_vs_numpy']:.1f}x",
         f"min over policies ({pol(b['baseline_vs_numpy_by_policy'])}); {r['sizes']['base_runs']} runs, "
         f"T = {r['sizes']['base_horizon']}"
         + (f"; bound from drawing the random numbers alone: {pol(b['ratio_bound_by_policy'])}"
            if "ratio_bound_by_policy" in b else "")),
        *([("baseline_vs_numpy, threefry_partitionable(False)",
            f"{min(x['ratio'] for x in b['nonpartitionable_rows']):.1f}x",
            "option, not the default (other random numbers for a seed): "
            + ", ".join(f"{x['policy']} {x['ratio']:.1f}x (bound {x['ratio_bound']:.1f}x)"
                        for x in b["nonpartitionable_rows"]))] if b.get("nonpartitionable_rows") else []),
        ("baseline_vs_numpy_small", f"{r['baseline_vs_numpy_small']:.1f}x",
         f"min over policies ({pol(b['baseline_vs_numpy_small_by_policy'])}); {r['sizes']['base_runs_small']} runs"),
        ("decode_vs_recompute", f"{r['decode_vs_recompute']:.1f}x",
         f"T = {tf['horizon']}, rollout-steps/s, {tf['decode']['runs']} vs {tf['recompute']['runs']} rollouts"),
        ("transformer_vs_numpy", f"{r['transformer_vs_numpy']:.1f}x",
         f"same incremental algorithm, {tf['numpy']['runs']} rollouts; caches "
         f"{', '.join(str(n) for _, n in tf['decode'].get('segments', []))}, tiles of "
         f"{tf['decode'].get('batch_tile') or 'all'}"
         + (f"; {tf['segments_vs_one_cache']:.2f}x one cache of T slots" if tf.get("segments_vs_one_cache") else "")
         + (f", {tf['layout_vs_one_cache_untiled']:.2f}x one cache and the batch at once"
            if tf.get("layout_vs_one_cache_untiled") else "")),
        ("fraction_of_matmul_peak", f"{r['fraction_of_matmul_peak']:.3f}",
         f"{tf['achieved_flops_per_s'] / 1e9:.2f} of {tf['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s "
         f"({tf['matmul_n']}² matmul)"),
        *([(f"throughput at {r['scale']['runs']} rollouts",
            f"{r['scale']['transformer']['plain']['steps_per_s']:,.0f}",
            f"Transformer rollout-steps/s (UCB {r['scale']['ucb']['plain']['steps_per_s']:,.0f}); sharded over "
            f"{r['scale']['devices']} device(s) / plain: Transformer "
            f"{r['scale']['transformer']['sharded_vs_plain']:.2f}x, UCB {r['scale']['ucb']['sharded_vs_plain']:.2f}x")]
          if r.get("scale") and "skipped" not in r["scale"] else []),
        ("recompiles", str(r["recompiles"]), it["recompile_check"] + f"; {long['iterations']}-iteration run"),
        ("iteration (s)", f"{sp['iteration_s']:.3f}",
         f"{it['config']}: rollout {sp['rollout_s']:.3f} + selection {sp['selection_s']:.4f} + SFT {sp['sft_s']:.3f}"
         if "rollout_s" in sp else f"{it['config']} (split measured in full mode)"),
        ("compile (s)", f"{sum(r['compile_s'].values()):.1f}",
         ", ".join(f"{k} {v:.1f}" for k, v in r["compile_s"].items())),
        ("peak RSS (MiB)", f"{r['memory']['peak_rss_mb']:.0f}",
         f"RSS growth over iterations {long['rss_mb'][0]['iteration']}–{long['iterations']}: "
         f"{long['rss_growth_mb']:+.1f} MiB"),
    ]
    lines = [
        f"`{r['command']}` on {m['cpu']} ({m['cpu_count']} cores, {m['backend']}; load average "
        f"{m['load_avg_1min']:.1f} at the end), total {r['total_s']:.0f} s",
        "",
        "| quantity | value | notes |",
        "| --- | ---: | --- |",
    ] + [f"| {a} | {v} | {n} |" for a, v, n in rows]
    if r.get("cost_curves"):
        lines += ["", "| cost of | against | points | seconds | log-log exponent | quadratic share at the largest T |",
                  "| --- | --- | --- | --- | ---: | ---: |"]
        for c in r["cost_curves"]["curves"]:
            lq = c.get("linear_quadratic")
            lines.append(
                f"| {c['what']} | {c['axis']} | {', '.join(map(str, c['x']))} | "
                f"{', '.join(f'{s:.3g}' for s in c['seconds'])} | {c['exponent']:.2f} | "
                f"{'' if lq is None else format(lq['quadratic_share'], '.2f')} |"
            )
    return "\n".join(lines) + "\n"


def plot_cost_curves(results: dict, paths) -> None:
    """Draw the cost curves (log-log, one panel per cost) from a saved ``rmft bench`` result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = results["cost_curves"]["curves"]
    whats = list(dict.fromkeys(c["what"] for c in curves))
    fig, axes = plt.subplots(1, len(whats), figsize=(5 * len(whats), 4))
    for ax, what in zip(np.atleast_1d(axes), whats):
        for c in (c for c in curves if c["what"] == what):
            x = np.asarray(c["x"], float)
            y = np.asarray(c["seconds"], float)
            ax.loglog(x / x[0], y, "o-", label=f"{c['axis']} (slope {c['exponent']:.2f})")
        ax.set_title(what.replace("_", " "))
        ax.set_xlabel("size / smallest size")
        ax.set_ylabel("seconds per call")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(f"Cost curves ({m['cpu']}, {m['cpu_count']} cores, {m['backend']})", fontsize=10)
    fig.tight_layout()
    for p in paths:
        save_figure(fig, p, dpi=120)
    plt.close(fig)


__all__ = [
    "FULL", "QUICK", "Sizes", "run_all", "markdown", "plot_cost_curves", "cost_curves", "bench_baselines",
    "bench_transformer", "bench_iteration", "bench_long_run", "decode_step_flops", "count_compiles", "time_best",
    "loglog_exponent",
]
