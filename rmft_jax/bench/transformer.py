"""Transformer rollouts: KV-cache decoding against full-prefix recomputation and against NumPy, and the FLOP rate.

``decode_vs_recompute`` and ``transformer_vs_numpy`` in rollout-steps/s (``K = 5``, 2 layers,
width 64, 2 heads); ``fraction_of_matmul_peak``: the decode rollout's matrix-product FLOP
rate (counted analytically, :func:`decode_step_flops`) over a large ``jnp.dot``'s.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from rmft_jax import rollout
from rmft_jax.bench.sizes import ARMS, SIGMA, Sizes
from rmft_jax.bench.timing import compile_timed, time_best
from rmft_jax.bench_numpy import transformer as np_transformer
from rmft_jax.envs.bandit import BanditEnv
from rmft_jax.models import BanditPrefixPolicy, BanditTransformerPolicy
from rmft_jax.models.policy import decode_segments
from rmft_jax.models.transformer import TransformerConfig, init_model
from rmft_jax.types import BANDIT


def attended_slots(horizon: int, first: int) -> float:
    """Mean cache length a decode step attends over in a rollout of ``horizon`` rounds
    (:func:`rmft_jax.models.policy.decode_segments` with first segment ``first``)."""
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
    cfg = TransformerConfig(feedback=BANDIT, actions=arms, layers=layers, heads=heads, width=width,
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
