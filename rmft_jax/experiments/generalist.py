"""One learned bandit algorithm for any number of arms and any horizon (issue 22).

Trains the arm-equivariant model (:mod:`rmft_jax.models.equivariant`, with pooled time
queries: no key/value cache; the token-query form is a row of ``rmft figure
generalist-ablation``, where it lost) by Iterative RMFT
on a task distribution (:mod:`rmft_jax.generalist`: ``K`` ∈ {2, 4, 8}, ``T`` ∈ {100,
1000}, Gaussian σ = 0.5 and Bernoulli rewards, a mixture of ``U[0, 1]`` and small-gap
``U[0.4, 0.6]`` means), then evaluates the one trained model, its base model and the
baselines on a grid: ``K`` ∈ {2, 3, 5, 10, 20} × ``T`` ∈ {25, 100, 1000} × rewards
{Gaussian σ = 0.5, Bernoulli, gamma (shape 1)}, plus ``T = 500`` at ``K = 5`` for Bernoulli
and gamma. Means ~ ``U[0, 1]`` (gamma: ``U[0.05, 1]``, its means must be positive);
1000 runs at ``T <= 100``, 500 beyond; the same instances, reward tapes and seeds for
every method of a cell (``evaluate_policy``'s seed).

Methods: the trained model (``generalist``, sampling at its training temperature 1),
the base model (``base``), Thompson sampling (``thompson``: Beta–Bernoulli for
Bernoulli rewards, Gaussian with the true prior's moments otherwise), UCB, Greedy; for
gamma rewards also Thompson sampling with the exact gamma likelihood
(``gamma_thompson``, a conjugate prior on the rate that does not match the cell's
uniform prior on the means); at ``K = 5`` with Gaussian rewards Bayes-UCB and the
knowledge gradient KG* on the true prior. Ratios are to ``thompson`` in every cell
(for gamma it measured lower regret than ``gamma_thompson`` at T = 100 and 1000, so
it is the stricter bar).
Outside the training distribution: ``K = 20`` (more arms than any training bucket),
``K`` = 3, 5, 10 are inside the trained range but not trained values, every gamma
cell (a reward process never trained on); ``T = 25`` is shorter than any training
horizon.

Everything here is our reconstruction; no number is the paper's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np
from matplotlib.patches import Rectangle

from rmft_jax import checkpoint, generalist, results
from rmft_jax.envs.bandit import BanditEnv
from rmft_jax.evaluation import evaluate_policy
from rmft_jax.experiments import common, plots
from rmft_jax.policies import make_policy

NAME = "generalist"
NOISE = 0.5
TRAIN = {
    "kind": generalist.KIND,
    "model": {"width": 32, "heads": 2, "mlp_ratio": 4, "max_horizon": 4096, "time_query": "pooled"},
    "mix": {"arms": [2, 4, 8], "horizons": [100, 1000], "rewards": ["gaussian", "bernoulli"], "noise": NOISE,
            "gap_share": 0.5, "gap_width": 0.1, "rounds": 32768, "gamma_low": 0.05},
    "rmft": {"rollouts": 8, "keep": 4, "sft_steps": 8, "learning_rate": 1e-3, "iterations": 300,
             "shared_env_noise": True},
    "seed": 0,
}
QUICK_TRAIN = {
    **TRAIN,
    "mix": dict(TRAIN["mix"], arms=[2, 5], horizons=[50], rewards=["gaussian"], rounds=12800),
    "rmft": dict(TRAIN["rmft"], iterations=20),
}
ARMS = (2, 3, 5, 10, 20)
HORIZONS = ((25, 1000), (100, 1000), (1000, 500))  # (T, runs)
REWARDS = ("gaussian", "bernoulli", "gamma")
EXTRA = (("bernoulli", 5, 500, 500), ("gamma", 5, 500, 500))  # (reward, K, T, runs)
BASELINES = ("thompson", "ucb", "greedy")
BAYES = ("bayes_ucb", "kg")  # at K = 5, Gaussian rewards: the true-prior references of the targets
QUICK = {"arms": (2, 5), "horizons": ((25, 200), (100, 200)), "rewards": ("gaussian",), "extra": (),
         "baselines": ("thompson", "greedy"), "bayes": ()}


def eval_env(reward: str, arms: int, horizon: int) -> BanditEnv:
    """A grid cell's environment: means ~ U[0, 1] (gamma: U[0.05, 1]), Gaussian σ = 0.5, gamma shape 1."""
    low = TRAIN["mix"]["gamma_low"] if reward == "gamma" else 0.0
    return BanditEnv(arms=arms, horizon=horizon, reward=reward, noise=NOISE, prior="uniform", prior_low=low)


def cell_seed(reward: str, arms: int, horizon: int) -> int:
    """The evaluation seed of a cell, shared by every method."""
    return 22_000 + 1000 * REWARDS.index(reward) + 10 * arms + horizon


def run_dir_for(out_dir, cfg: generalist.GeneralistConfig, name: str = NAME) -> Path:
    """``out_dir/runs/NAME-HASH``: one folder per distinct training config."""
    return common.run_dir_for(out_dir, name, cfg)


def train_or_load(cfg: generalist.GeneralistConfig, out_dir, progress: bool, name: str = NAME):
    """``(state, graphdef, base params, metric rows, seconds spent training now)``: train, resume, or reuse
    a finished run of ``cfg`` under ``out_dir/runs/NAME-HASH`` (``out_dir=None``: train in memory, keep nothing)."""
    t0 = time.perf_counter()
    graphdef, base = generalist.base_model(cfg)
    if out_dir is None:
        state, rows = generalist.train(cfg, None, progress=progress)
        return state, graphdef, base, rows, time.perf_counter() - t0
    run_dir = run_dir_for(out_dir, cfg, name)
    if (run_dir / checkpoint.CONFIG).exists() and checkpoint.latest_step(run_dir) == cfg.rmft.iterations:
        _, state, _, _ = generalist.load(run_dir)
        return state, graphdef, base, checkpoint.read_metrics(run_dir), 0.0
    state, rows = generalist.train(cfg, run_dir, resume=(run_dir / checkpoint.CONFIG).exists(), progress=progress)
    return state, graphdef, base, rows, time.perf_counter() - t0


def cells(quick: bool) -> list[tuple[str, int, int, int]]:
    """Every ``(reward, K, T, runs)`` of the grid."""
    spec = QUICK if quick else {"arms": ARMS, "horizons": HORIZONS, "rewards": REWARDS, "extra": EXTRA}
    grid = [(r, k, t, n) for r in spec["rewards"] for k in spec["arms"] for t, n in spec["horizons"]]
    return grid + list(spec["extra"])


def evaluate_cell(cfg, graphdef, params, base, reward: str, arms: int, horizon: int, runs: int, quick: bool,
                  progress: bool) -> dict[str, dict]:
    """Summary rows (with the ratio to Thompson sampling) of every method on one cell."""
    env, seed = eval_env(reward, arms, horizon), cell_seed(reward, arms, horizon)
    policy = generalist.policy_for(cfg, graphdef, arms, horizon)
    out = {
        "generalist": evaluate_policy(env, policy, seed, runs, params, progress=progress, name="generalist"),
        "base": evaluate_policy(env, policy, seed, runs, base, progress=progress, name="base"),
    }
    names = list(QUICK["baselines"] if quick else BASELINES)
    if reward == "gaussian" and arms == 5:
        names += list(QUICK["bayes"] if quick else BAYES)
    if reward == "gamma":
        names.append("gamma_thompson")  # the exact (gamma-likelihood) sampler beside the Gaussian approximation
    out.update(common.evaluate_baselines(env, names, seed, runs, progress))
    rows = common.summaries_vs_thompson(out)
    for name, res in out.items():  # where the regret distribution's mass is, not only its mean
        rows[name]["final_regret_median"] = float(np.median(res["final_regret"]))
        rows[name]["final_regret_q25"] = float(np.quantile(res["final_regret"], 0.25))
    return rows


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    cfg = generalist.GeneralistConfig.from_dict(QUICK_TRAIN if quick else TRAIN)
    state, graphdef, base, rows, train_s = train_or_load(cfg, None if quick else out_dir, progress)
    grid = {}
    for reward, arms, horizon, runs in cells(quick):
        t1 = time.perf_counter()
        methods = evaluate_cell(cfg, graphdef, state.params, base, reward, arms, horizon, runs, quick, progress)
        grid.setdefault(reward, {}).setdefault(str(arms), {})[str(horizon)] = {
            "runs": runs, "seed": cell_seed(reward, arms, horizon), "in_training": cfg.mix.covers(arms, horizon, reward),
            "methods": methods, "wall_s": time.perf_counter() - t1,
        }
        # Each cell compiles its own programs (six policies at a new K, T and reward); dropping them
        # keeps the process's memory maps bounded (two full runs ended in an LLVM "Cannot allocate
        # memory" after about 40 cells without this). Results are unchanged.
        jax.clear_caches()
        if progress:
            g = methods["generalist"]
            print(f"{reward} K={arms} T={horizon}: generalist {g['final_regret_mean']:.2f} "
                  f"({g['ratio_to_thompson']:.2f}x Thompson)", flush=True)
    payload = {
        **common.header(NAME, quick),
        "train": {"config": cfg.to_dict(), "iterations": len(rows), "train_s": train_s,
                  "run": None if quick else str(run_dir_for(out_dir, cfg)),
                  "curve": [{k: r[k] for k in ("iteration", "arms", "horizon", "reward", "rollout_regret_mean",
                                               "sft_nll", "sft_entropy", "seconds")} for r in rows]},
        "setting": {"noise": NOISE, "prior": "means ~ U[0, 1] (gamma: U[0.05, 1])", "gamma_shape": 1.0,
                    "temperature": cfg.rmft.temperature},
        "grid": grid,
        "timing": {"total_s": time.perf_counter() - t0, "device": common.device_summary()},
    }
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "table": str(paths["md"]), "figure": str(paths["png"]),
            "ratio_to_thompson": {r: {k: {t: c["methods"]["generalist"]["ratio_to_thompson"] for t, c in ts.items()}
                                      for k, ts in ks.items()} for r, ks in grid.items()}}


def table_rows(data: dict) -> dict[str, dict]:
    """One row per (reward, K, T) cell: the generalist's regret, its ratios to Thompson and the base model,
    SuffFailFreq(T/2), K·MinFrac(T), β̂, and the other methods' ratios to Thompson."""
    out = {}
    for reward, ks in data["grid"].items():
        for k, ts in ks.items():
            for t, cell in ts.items():
                m = cell["methods"]
                g = m["generalist"]
                row = {
                    "in training": "yes" if cell["in_training"] else "**no**",
                    "regret": plots.plus_minus(g["final_regret_mean"], g["final_regret_sem"]),
                    "÷TS": g["ratio_to_thompson"],
                    "÷base": g["final_regret_mean"] / m["base"]["final_regret_mean"],
                    "SFF(T/2)": g.get("suff_fail_freq_half"),
                    "K·MinFrac(T)": g.get("k_min_frac_end"),
                    "β̂": g["beta_hat"],
                    "TS regret": m["thompson"]["final_regret_mean"],
                    "TS SFF(T/2)": m["thompson"].get("suff_fail_freq_half"),
                }
                for name in ("ucb", "greedy", "bayes_ucb", "kg", "gamma_thompson"):
                    row[f"{name} ÷TS"] = m[name]["ratio_to_thompson"] if name in m else None
                out[f"{reward}, K={k}, T={t}"] = row
    return out


def plot(results_path, out_dir="figures") -> None:
    """Heat maps of the generalist's regret ÷ Thompson's (one panel per reward process; cells outside the
    training distribution hatched), and the table."""
    data = results.load_json(results_path)
    out = Path(out_dir)
    rewards = list(data["grid"])
    fig, axes = plots.subplots(1, len(rewards), figsize=(4.4 * len(rewards), 3.8), squeeze=False)
    for ax, reward in zip(axes[0], rewards):
        ks = list(data["grid"][reward])
        ts = sorted({t for k in ks for t in data["grid"][reward][k]}, key=int)
        grid = np.full((len(ks), len(ts)), np.nan)
        for i, k in enumerate(ks):
            for j, t in enumerate(ts):
                cell = data["grid"][reward][k].get(t)
                if cell is None:
                    continue
                grid[i, j] = cell["methods"]["generalist"]["ratio_to_thompson"]
                color = "white" if abs(np.log2(grid[i, j])) > 0.8 else "black"
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8, color=color)
                if not cell["in_training"]:
                    ax.add_patch(plots_rect(j, i))
        im = ax.imshow(np.log2(grid), cmap="RdBu_r", vmin=-1.5, vmax=1.5, aspect="auto")
        ax.set(xticks=range(len(ts)), xticklabels=ts, yticks=range(len(ks)), yticklabels=ks,
               xlabel="horizon T", ylabel="arms K", title=f"{reward}: regret ÷ Thompson")
    fig.colorbar(im, ax=axes[0, -1], label="log2(regret ÷ Thompson)")  # one axis: tight_layout keeps it clear
    fig.suptitle(f"One generalist model across K, T and rewards ({data['mode']} mode; hatched: outside training)",
                 fontsize=9)
    plots.save_figure(fig, out, NAME)
    rows = table_rows(data)
    tr = data["train"]
    plots.save_table(out, NAME, f"One generalist model across K, T and reward processes ({data['mode']} mode)",
                     f"Command: `{data['command']}`. Trained by Iterative RMFT on {json.dumps(tr['config']['mix'])} "
                     f"({tr['iterations']} iterations; {sum(r['seconds'] for r in tr['curve']):.0f} s of training as recorded by the run, "
                     f"{tr['train_s']:.0f} s in this command, 0 when it reused the saved run). "
                     "Evaluation: means ~ U[0, 1] (gamma: U[0.05, 1]), Gaussian σ = 0.5, gamma shape 1; the same instances and "
                     "seeds for every method of a cell; the model samples at temperature 1. ÷TS: regret ÷ Thompson sampling's.",
                     rows, first="cell")


def plots_rect(j: int, i: int) -> Rectangle:
    """A hatched outline over cell ``(i, j)`` of a heat map: outside the training distribution."""
    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="0.35", lw=0)


__all__ = ["run", "plot", "table_rows", "cells", "eval_env", "train_or_load", "TRAIN", "QUICK_TRAIN"]
