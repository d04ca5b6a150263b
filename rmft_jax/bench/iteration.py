"""One RMFT iteration: its split into rollout, selection and SFT, compile times, recompiles, memory along a long run."""

from __future__ import annotations

import time

import jax

from rmft_jax import rmft
from rmft_jax.bench.sizes import Sizes
from rmft_jax.bench.timing import compile_timed, count_compiles, rss_mb, time_best
from rmft_jax.config import TrainConfig
from rmft_jax.evaluation import evaluate_policy
from rmft_jax.experiments import fig2
from rmft_jax.training import build_learner, model_policy


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
    tcfg = TrainConfig.from_dict(fig2.QUICK_TRAIN if sizes.quick_train else fig2.TRAIN)
    env, cfg = tcfg.environment, tcfg.rmft
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
    eval_env = tcfg.env_at(tcfg.environment.horizon if sizes.quick_train else fig2.EVAL_HORIZON)
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
    key = jax.random.key(1)
    if reuse is None:
        tcfg = TrainConfig.from_dict(fig2.QUICK_TRAIN)
        env, cfg = tcfg.environment, tcfg.rmft
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
