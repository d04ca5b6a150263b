"""Cost curves (full mode): rollout and iteration time against one size at a time, with log-log exponents."""

from __future__ import annotations

import time

import jax

from rmft_jax import rmft, rollout
from rmft_jax.bench.baselines import baseline_policy
from rmft_jax.bench.fits import linear_quadratic_fit, loglog_exponent
from rmft_jax.bench.sizes import SIGMA
from rmft_jax.bench.timing import compile_timed, time_best
from rmft_jax.bench.transformer import transformer_setup
from rmft_jax.config import TrainConfig
from rmft_jax.envs.bandit import BanditEnv
from rmft_jax.experiments import fig2
from rmft_jax.models import BanditTransformerPolicy
from rmft_jax.training import build_learner


def _rollout_seconds(env, policy, params, runs: int, repeats: int = 3) -> float:
    compiled, _ = compile_timed(rollout.run, env, policy, jax.random.key(0), runs, params)
    jax.block_until_ready(compiled(jax.random.key(1), params))
    return time_best(lambda: compiled(jax.random.key(2), params), repeats)


def _iteration_seconds(env_overrides: dict, model: dict, rmft_overrides: dict, repeats: int = 2) -> float:
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in fig2.QUICK_TRAIN.items()}
    d["env"].update(env_overrides)
    d["model"].update(model)
    d["rmft"].update(rmft_overrides)
    tcfg = TrainConfig.from_dict(d)
    env, learner = tcfg.environment, build_learner(tcfg)
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
