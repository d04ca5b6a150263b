"""Throughput against processes and devices, and the SFT step's FLOP rate against a matmul's.

For each layout ``P × D`` (``P`` local processes of ``D`` CPU devices each, one job on JAX's
distributed runtime; :func:`rmft_jax.bench.jobs.run_job`), one job measures on an RMFT recipe
(``rmft bench``: the Figure 2 recipe :data:`rmft_jax.experiments.fig2.TRAIN`, quick mode
``QUICK_TRAIN``), data-parallel over the ``P·D`` devices (:mod:`rmft_jax.sharding`):

* ``rollouts_per_s``: the iteration's rollout stage (``M`` instances from the prior, ``L``
  rollouts each, exact regret, the mean regret reduced across devices), ``M·L`` over the
  best of ``repeats`` calls;
* ``iterations_per_s``: whole RMFT iterations (rollouts, selection, SFT with the gradient
  all-reduce), one over the median of ``iterations`` timed iterations;

each after a compilation timed apart (``compile_s``); process 0 reports, with the load
average before and after the job. Then, in the calling process on one device, the SFT step
alone (:func:`sft_fraction`): its matrix-product FLOPs counted analytically (forward ``B·T``
tokens at :func:`rmft_jax.bench.decode_step_flops` with all ``T`` slots attended, as teacher
forcing computes the masked ``T × T`` scores; backward twice the forward: ``3×``) over its
time, as a fraction of the rate of a ``matmul_n²`` ``jnp.dot`` measured right after
(:func:`rmft_jax.bench.matmul_rate`, what ``fraction_of_matmul_peak`` of the decode rollout
divides by); XLA's own FLOP count of the compiled step is reported beside the analytic one.

Every layout shares the host's cores, so on a CPU more devices or processes split the same
cores: the table shows the cost of the split (and of gloo's collectives), not a speed-up; on
a host with one accelerator per process it would be the scaling.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from rmft_jax import rmft, sharding
from rmft_jax.bench.iteration import iteration_parts
from rmft_jax.bench.jobs import run_job
from rmft_jax.bench.timing import compile_timed, time_best, xla_cost
from rmft_jax.bench.transformer import decode_step_flops, matmul_rate
from rmft_jax.config import TrainConfig
from rmft_jax.training import build_learner, iteration_key

LAYOUTS = ((1, 1), (1, 2), (2, 1), (2, 2))
MAX_LAYOUT = 8  # processes and devices per process: a CPU host's layouts, not a cluster's


def parse_layouts(text: str, field: str = "process_layouts") -> tuple[tuple[int, int], ...]:
    """``"1x1,2x1"`` as ``((1, 1), (2, 1))``; a one-line ``ValueError`` naming ``field`` otherwise."""
    out = []
    for item in str(text).split(","):
        p, x, d = item.strip().partition("x")
        if not (x and p.isdigit() and d.isdigit() and 1 <= int(p) <= MAX_LAYOUT and 1 <= int(d) <= MAX_LAYOUT):
            raise ValueError(f"{field}: must be a comma-separated list of PxD (P processes of D CPU devices each, "
                             f"1 to {MAX_LAYOUT}), e.g. 1x1,2x1 (got {item.strip()!r})")
        out.append((int(p), int(d)))
    if len(set(out)) != len(out):
        raise ValueError(f"{field}: must not repeat a layout (got {text!r})")
    return tuple(out)


def measure_layout(train: dict, iterations: int, repeats: int) -> dict:
    """One layout's measurement, run in every process of the job (collectives: all must call it)."""
    tcfg = TrainConfig.from_dict(train)
    env, cfg = tcfg.environment, tcfg.rmft
    learner = build_learner(tcfg)
    mesh = sharding.resolve_mesh(None)
    shard = (lambda tree: tree) if mesh is None else functools.partial(sharding.constrain_batch, mesh=mesh)

    def rollout_stage(params, key):
        k_task, k_roll = jax.random.split(key)
        traj = rmft.roll_out(env, cfg, learner.policy, params, k_task, k_roll, shard)[1]
        return traj, jnp.mean(traj.regret[..., -1])

    rep = None if mesh is None else sharding.replicated(mesh)
    roll = jax.jit(rollout_stage) if mesh is None else jax.jit(rollout_stage, in_shardings=(rep, rep))
    params = learner.base_params if mesh is None else jax.device_put(learner.base_params, rep)
    keys = iter(jax.random.split(jax.random.key(7), repeats + 2))
    roll_c, roll_compile = compile_timed(roll, params, next(keys))
    jax.block_until_ready(roll_c(params, next(keys)))
    roll_s = time_best(lambda: roll_c(params, next(keys)), repeats)

    state = sharding.place_state(rmft.init_state(env, cfg, learner))
    step = sharding.make_iteration(env, cfg, learner)
    key = iteration_key(tcfg)
    step_c, step_compile = compile_timed(step, state, key, learner.base_params)
    state, m = jax.block_until_ready(step_c(state, key, learner.base_params))  # warm-up
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        state, m = step_c(state, key, learner.base_params)
        jax.device_get(m)  # replicated metrics: every process has finished its part of the iteration
        times.append(time.perf_counter() - t0)
    rollouts = cfg.tasks * cfg.rollouts
    return {
        "processes": jax.process_count(), "devices": jax.device_count(),
        "devices_per_process": jax.local_device_count(), "rollouts": rollouts, "horizon": env.horizon,
        "rollout_s": roll_s, "rollouts_per_s": rollouts / roll_s, "rollout_compile_s": roll_compile,
        "iteration_s_median": statistics.median(times), "iteration_s_best": min(times),
        "iterations_per_s": 1 / statistics.median(times), "iteration_compile_s": step_compile,
        "iterations_timed": iterations,
    }


def sft_fraction(train: dict, repeats: int, matmul_n: int) -> dict:
    """The SFT step's analytic matmul FLOP rate over a measured ``matmul_n²`` matmul's (this process, one device)."""
    tcfg = TrainConfig.from_dict(train)
    env, cfg, mcfg = tcfg.environment, tcfg.rmft, tcfg.transformer
    learner = build_learner(tcfg)
    state = rmft.init_state(env, cfg, learner)
    key = jax.random.key(1)
    rollout_part, select_part, sft_part = iteration_parts(env, cfg, learner)
    buffer = select_part(rollout_part(state.params, key), state.buffer, state.iteration)
    sft_c, compile_s = compile_timed(sft_part, state.params, state.opt_state, buffer, key)
    jax.block_until_ready(sft_c(state.params, state.opt_state, buffer, key))
    sft_s = time_best(lambda: sft_c(state.params, state.opt_state, buffer, key), repeats)
    batch = cfg.batch_size or cfg.buffer_size
    T = env.horizon
    flops = cfg.sft_steps * 3 * batch * T * decode_step_flops(mcfg, T)
    peak = matmul_rate(matmul_n, repeats + 2)
    try:
        xla_flops = xla_cost(sft_c)["flops"]
    except Exception:  # noqa: BLE001 - not every backend reports a cost analysis
        xla_flops = None
    return {
        "sft_steps": cfg.sft_steps, "batch": batch, "horizon": T, "sft_s": sft_s, "sft_compile_s": compile_s,
        "flops_analytic": flops, "flops_xla": xla_flops,
        # XLA's cost analysis counts a loop's body once: the SFT scan's one step, times the steps.
        "xla_vs_analytic": None if xla_flops is None else xla_flops * cfg.sft_steps / flops,
        "achieved_flops_per_s": flops / sft_s,
        "matmul_n": matmul_n, "matmul_flops_per_s": peak, "fraction_of_matmul_peak": flops / sft_s / peak,
    }


def bench_processes(train: dict, recipe: str, layouts: Sequence[tuple[int, int]] = LAYOUTS, iterations: int = 5,
                    repeats: int = 3, matmul_n: int = 2048, sft: bool = True,
                    log: Callable[[str], None] = lambda s: None) -> dict:
    """The process-scaling table (see the module docstring) as a JSON-ready dict.

    ``train``: a :class:`rmft_jax.config.TrainConfig` dict (``recipe`` names it in the result);
    ``layouts``: ``(processes, devices per process)`` pairs, one job each, one after another.
    """
    TrainConfig.from_dict(train)  # a bad recipe is refused here, not in every process of a job
    out = {"recipe": recipe, "cpus": os.cpu_count(), "layouts": []}
    for p, d in layouts:
        log(f"process scaling: {p} x {d}")
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        row = run_job("rmft_jax.bench.processes:measure_layout",
                      {"train": train, "iterations": iterations, "repeats": repeats}, processes=p, devices=d)
        row.update(job_wall_s=time.perf_counter() - t0, load_avg_1min_before=load_before,
                   load_avg_1min_after=os.getloadavg()[0])
        out["layouts"].append(row)
    if sft:
        log("SFT FLOP rate")
        load_before = os.getloadavg()[0]
        out["sft"] = {**sft_fraction(train, repeats, matmul_n), "load_avg_1min_before": load_before,
                      "load_avg_1min_after": os.getloadavg()[0]}
    return out


__all__ = ["LAYOUTS", "parse_layouts", "measure_layout", "sft_fraction", "bench_processes"]
