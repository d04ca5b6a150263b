"""Iterations: regret at the evaluation horizon against RMFT iteration; single round vs iterative; k sweep.

Three panels, all on the Figure 2 setting (train at T = 25, evaluate at T = 100):

1. regret(T = 100) of snapshots of one Iterative-RMFT run after 0, …, N iterations;
2. the single-round ablation (:func:`rmft_jax.rmft.single_round`: the same number of
   instances, rollouts and SFT steps, but every rollout from the base model and
   one SFT round) against the iterative method;
3. k ∈ {1, 2, 4, 8} lowest-regret rollouts kept out of a fixed L = 16.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax

from rmft_jax import results
from rmft_jax.config import TrainConfig
from rmft_jax.experiments import common, fig2, plots
from rmft_jax.rmft import init_state, make_iteration, single_round
from rmft_jax.training import build_learner, iteration_key

NAME = "iterations"
KS = (1, 2, 4, 8)
QUICK_KS = (2, 4)


ITERATIONS = 50  # per training run in full mode (the Figure 2 run itself uses 100)


def _snapshots(total: int, quick: bool) -> list[int]:
    points = [0, 1, 2, 4, 8] if quick else [0, 5, 10, 20, 30, 40, 50]
    return sorted({p for p in points if p <= total} | {total})


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    base = TrainConfig.from_dict(fig2.QUICK_TRAIN_T25 if quick else fig2.TRAIN_T25)
    if not quick:  # a shorter budget than Figure 2, so that five trainings fit the experiment
        base = dataclasses.replace(base, rmft=dataclasses.replace(base.rmft, iterations=ITERATIONS))
    eval_env = base.env_at(fig2.EVAL_HORIZON)
    runs = fig2.QUICK_RUNS if quick else 500
    seed = 3000

    # 1. regret against iteration, from snapshots of one run (resumed chunk by chunk: the
    #    chunks end with exactly the parameters of an uninterrupted run).
    learner = build_learner(base)
    step = make_iteration(base.environment, base.rmft, learner)
    curve = {"iteration": [], "regret_mean": [], "regret_sem": []}
    state = None
    for it in _snapshots(base.rmft.iterations, quick):
        if it == 0:
            params = learner.base_params
        else:
            done = 0 if state is None else int(state.iteration)
            state = _train_until(base, learner, step, state, it - done)
            params = state.params
        res = common.evaluate_model(base, learner, params, eval_env, seed, runs, f"iter{it}", progress)
        row = common.summary_row(res)
        curve["iteration"].append(it)
        curve["regret_mean"].append(row["final_regret_mean"])
        curve["regret_sem"].append(row["final_regret_sem"])

    # 2. single round vs iterative (the iterative point is the last snapshot).
    sr_params, sr_metrics = jax.jit(lambda k: single_round(base.environment, base.rmft, learner, k))(
        jax.random.fold_in(jax.random.key(base.seed), 7)
    )
    sr = common.summary_row(common.evaluate_model(base, learner, sr_params, eval_env, seed, runs, "single_round", progress))
    comparison = {
        "iterative": {"final_regret_mean": curve["regret_mean"][-1], "final_regret_sem": curve["regret_sem"][-1]},
        "single_round": sr,
        "base": {"final_regret_mean": curve["regret_mean"][0], "final_regret_sem": curve["regret_sem"][0]},
    }

    # 3. k sweep at fixed L (the snapshot run is the k of the base config).
    k_sweep = {str(base.rmft.keep): common.summary_row(res)}  # the snapshot run's last point
    L = base.rmft.rollouts
    for k in QUICK_KS if quick else KS:
        if k > L or k == base.rmft.keep:
            continue
        cfg = dataclasses.replace(base, rmft=dataclasses.replace(base.rmft, keep=k))
        lk, params, _, _ = common.train_model(cfg, progress, out_dir, f"{NAME}-k{k}")
        k_sweep[str(k)] = common.summary_row(common.evaluate_model(cfg, lk, params, eval_env, seed, runs, f"k{k}", progress))

    payload = {
        **common.header(NAME, quick),
        "train_config": base.to_dict(),
        "eval": {"horizon": fig2.EVAL_HORIZON, "runs": runs, "seed": seed},
        "regret_vs_iteration": curve,
        "single_round_vs_iterative": comparison,
        "single_round_sft": {k: float(v) for k, v in jax.device_get(sr_metrics).items()},
        "k_sweep": {"rollouts": L, "results": k_sweep},
        "timing": {"total_s": time.perf_counter() - t0, "device": common.device_summary()},
    }
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "comparison": comparison, "k_sweep": k_sweep, "timing": payload["timing"]}


def _train_until(cfg, learner, step, state, more: int):
    """``more`` further iterations from ``state`` (a fresh state when ``None``), as ``train`` runs them."""
    state = init_state(cfg.environment, cfg.rmft, learner) if state is None else state
    key = iteration_key(cfg)  # the key train() uses, so snapshots are points of one run
    for _ in range(more):
        state, _ = step(state, key, learner.base_params)
    return state


def plot(results_path, out_dir="figures") -> None:
    data = results.load_json(results_path)
    out = Path(out_dir)
    fig, axes = plots.subplots(1, 3, figsize=(13, 3.6))
    c = data["regret_vs_iteration"]
    axes[0].errorbar(c["iteration"], c["regret_mean"], yerr=[2 * s for s in c["regret_sem"]], marker="o", color="#d62728")
    axes[0].set(xlabel="RMFT iteration", ylabel=f"regret at T={data['eval']['horizon']}", title="regret vs iteration (±2 s.e.)")
    comp = data["single_round_vs_iterative"]
    names = list(comp)
    axes[1].bar(names, [comp[n]["final_regret_mean"] for n in names], yerr=[2 * comp[n]["final_regret_sem"] for n in names],
                color=["#d62728", "#9467bd", "#7f7f7f"])
    axes[1].set(ylabel=f"regret at T={data['eval']['horizon']}", title="iterative vs single round")
    ks = {k: data["k_sweep"]["results"][k] for k in sorted(data["k_sweep"]["results"], key=int)}
    axes[2].errorbar([int(k) for k in ks], [ks[k]["final_regret_mean"] for k in ks],
                     yerr=[2 * ks[k]["final_regret_sem"] for k in ks], marker="o")
    axes[2].set_xscale("log", base=2)
    axes[2].set(xlabel=f"k (of L = {data['k_sweep']['rollouts']})", ylabel=f"regret at T={data['eval']['horizon']}", title="k sweep")
    fig.suptitle(f"Iterative RMFT ablations ({data['mode']} mode, {data['eval']['runs']} evaluation runs)", fontsize=10)
    plots.save_figure(fig, out, NAME)
    rows = {"base (iteration 0)": comp["base"], "single round": comp["single_round"], "iterative": comp["iterative"]}
    rows.update({f"k = {k}": v for k, v in ks.items()})
    table = plots.markdown_table(rows, [("final_regret_mean", "regret(T)"), ("final_regret_sem", "s.e."), ("beta_hat", "β̂")])
    results.atomic_write_bytes(out / f"{NAME}.md", (f"# Iterative RMFT ablations ({data['mode']} mode)\n\n" + table).encode())
