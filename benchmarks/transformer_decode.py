"""Transformer rollout throughput: KV-cache decoding vs full-prefix recomputation vs NumPy.

One run measures, on the same machine and the same weights (a ``K = 5`` Gaussian
bandit, horizon ``T``, the 2-layer, width-64, 2-head model of RMFT-NOTES):

* ``decode``: :class:`rmft_jax.models.BanditTransformerPolicy` through
  :func:`rmft_jax.rollout.run` (one token per round against a static-length cache);
* ``recompute``: :class:`rmft_jax.models.BanditPrefixPolicy`, the same policy
  re-running the full causal pass over the padded prefix every round (fewer
  rollouts: it costs ``~T`` times more; throughput is per rollout-step);
* ``numpy``: ``benchmarks/numpy_transformer.py``, the incremental algorithm in
  NumPy (Python loop over rounds, vectorised over rollouts, BLAS matmuls).

Compile time is reported apart from run time (best of a few repeats, each ending in
``block_until_ready``). ``fraction_of_matmul_peak`` is the decode rollout's achieved
FLOP rate (decode-step FLOPs counted analytically, see :func:`decode_step_flops`)
over the rate of a large ``jnp.dot`` measured in the same run.

Usage: ``python benchmarks/transformer_decode.py [--quick] [--out FILE.json]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_transformer as npt  # noqa: E402

from rmft_jax import rollout  # noqa: E402
from rmft_jax.envs.bandit import BanditEnv  # noqa: E402
from rmft_jax.models import BanditPrefixPolicy, BanditTransformerPolicy, TransformerConfig, init_model  # noqa: E402
from rmft_jax.results import save_json  # noqa: E402

FULL = dict(horizon=100, runs=4096, recompute_runs=256, numpy_runs=4096, repeats=3, matmul_n=2048)
QUICK = dict(horizon=100, runs=256, recompute_runs=32, numpy_runs=256, repeats=2, matmul_n=1024)


def decode_step_flops(cfg: TransformerConfig, cache_len: int) -> int:
    """FLOPs (multiply and add counted apart) of one decode step of one rollout.

    Counts the matrix products: embedding, per layer the QKV, attention scores and
    weighted values over all ``cache_len`` static slots (what the step computes),
    the output projection and the MLP; then the head. LayerNorm, softmax and GELU
    (``O(width)`` each) are left out.
    """
    w, m = cfg.width, cfg.mlp_ratio * cfg.width
    per_layer = 2 * w * 3 * w + 2 * 2 * cache_len * w + 2 * w * w + 2 * 2 * w * m
    return 2 * cfg.token_dim * w + cfg.layers * per_layer + 2 * w * cfg.actions


def time_best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def bench_jax_policy(env, policy, params, runs: int, repeats: int) -> dict:
    """Compile once (timed), then the best of ``repeats`` runs of ``rollout.run``."""
    key = jax.random.key(0)
    t0 = time.perf_counter()
    compiled = rollout.run.lower(env=env, policy=policy, key=key, num_runs=runs, params=params).compile()
    compile_s = time.perf_counter() - t0
    keys = iter(jax.random.split(jax.random.key(1), repeats))
    run_s = time_best(lambda: compiled(key=next(keys), params=params), repeats)
    steps = runs * env.horizon
    return dict(runs=runs, compile_s=compile_s, run_s=run_s, steps_per_s=steps / run_s)


def bench_numpy(P, cfg, horizon: int, runs: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    means = rng.uniform(size=(runs, cfg.actions)).astype(np.float32)
    xi = rng.standard_normal((runs, horizon)).astype(np.float32)
    gumbel = rng.gumbel(size=(runs, horizon, cfg.actions)).astype(np.float32)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        npt.bandit_rollouts(P, cfg, means, xi, gumbel)
        best = min(best, time.perf_counter() - t0)
    return dict(runs=runs, run_s=best, steps_per_s=runs * horizon / best)


def matmul_rate(n: int, repeats: int) -> float:
    """Measured dense float32 matmul rate (FLOP/s) of an ``n × n`` ``jnp.dot``."""
    a = jax.random.normal(jax.random.key(2), (n, n))
    b = jax.random.normal(jax.random.key(3), (n, n))
    dot = jax.jit(jnp.dot)
    jax.block_until_ready(dot(a, b))
    return 2 * n**3 / time_best(lambda: dot(a, b), repeats + 2)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (for tests)")
    ap.add_argument("--out", default=None, help="JSON results file (overwritten)")
    args = ap.parse_args(argv)
    s = QUICK if args.quick else FULL
    T = s["horizon"]

    cfg = TransformerConfig(task="bandit", actions=5, layers=2, heads=2, width=64, max_horizon=max(T, 1024))
    graphdef, params = init_model(cfg, jax.random.key(0))
    env = BanditEnv(arms=5, horizon=T, reward="gaussian", noise=1.0)
    decode = bench_jax_policy(env, BanditTransformerPolicy(cfg, graphdef, horizon=T), params, s["runs"], s["repeats"])
    recompute = bench_jax_policy(
        env, BanditPrefixPolicy(cfg, graphdef, horizon=T), params, s["recompute_runs"], max(1, s["repeats"] - 1)
    )
    numpy_ = bench_numpy(npt.numpy_params(params), cfg, T, s["numpy_runs"], max(1, s["repeats"] - 1))
    peak = matmul_rate(s["matmul_n"], s["repeats"])
    flops_step = decode_step_flops(cfg, T)
    achieved = flops_step * decode["steps_per_s"]

    res = dict(
        benchmark="transformer_decode",
        quick=args.quick,
        model=dict(layers=cfg.layers, width=cfg.width, heads=cfg.heads, mlp_ratio=cfg.mlp_ratio, arms=cfg.actions),
        horizon=T,
        machine=dict(backend=jax.default_backend(), devices=[d.device_kind for d in jax.devices()], cpus=os.cpu_count()),
        decode=decode,
        recompute=recompute,
        numpy=numpy_,
        decode_vs_recompute=decode["steps_per_s"] / recompute["steps_per_s"],
        transformer_vs_numpy=decode["steps_per_s"] / numpy_["steps_per_s"],
        flops_per_decode_step=flops_step,
        achieved_flops_per_s=achieved,
        matmul_flops_per_s=peak,
        matmul_n=s["matmul_n"],
        fraction_of_matmul_peak=achieved / peak,
    )
    print(table(res))
    if args.out:
        save_json(args.out, res, overwrite=True)
    return res


def table(r: dict) -> str:
    m = r["model"]
    rows = [
        f"Transformer rollouts: K = {m['arms']}, T = {r['horizon']}, {m['layers']} layers, width {m['width']}, "
        f"{m['heads']} heads ({r['machine']['backend']}, {r['machine']['cpus']} CPUs)",
        "",
        "| implementation | rollouts | compile (s) | run (s) | rollout-steps/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("decode", "recompute", "numpy"):
        b = r[name]
        comp = f"{b['compile_s']:.1f}" if "compile_s" in b else "-"
        rows.append(f"| {name} | {b['runs']} | {comp} | {b['run_s']:.3f} | {b['steps_per_s']:,.0f} |")
    rows += [
        "",
        f"decode_vs_recompute = {r['decode_vs_recompute']:.1f}x, transformer_vs_numpy = {r['transformer_vs_numpy']:.1f}x",
        f"decode FLOP rate {r['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s "
        f"({r['flops_per_decode_step']:,} FLOP/step) = {r['fraction_of_matmul_peak']:.3f} of the measured "
        f"{r['matmul_n']}x{r['matmul_n']} matmul rate ({r['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s)",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
