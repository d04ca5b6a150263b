"""The Bayesian reference: what a classical algorithm that knows the task prior achieves (issue 13, point 4).

Two blocks.

* ``fig2``: the Figure 2 setting (K = 5, means ~ U[0, 1], Gaussian rewards σ = 0.5;
  the env of :data:`rmft_jax.experiments.fig2.TRAIN` at each horizon) at
  T = 25, 100 and 1000: Thompson sampling, Bayes-UCB and the finite-horizon
  knowledge gradient on the true prior (``thompson``, ``bayes_ucb``, ``kg`` of the
  registry), and UCB. Per method: regret(T) ± s.e., its ratio to Thompson
  sampling's, SuffFailFreq(T/2), K·MinFrac(T) and β̂. Same seeds and run counts as
  ``rmft figure horizons`` (seed ``6000 + T``), so its Thompson and UCB rows are the
  same runs.
* ``dp``: two arms, Bernoulli rewards, means ~ U[0, 1] (independent Beta(1, 1)
  priors), T = 10, 20, 50: the exact Bayes-optimal regret from the dynamic
  programme (:mod:`rmft_jax.policies.bayes_optimal`), the exact Bayes regret of
  the index policies ``bayes_ucb`` and ``kg`` (every belief state evaluated), and
  the simulated regret of the registry baselines and of the DP policy itself.

A learned algorithm evaluated on the training prior can be held to these numbers:
Bayes-UCB and KG are stronger than Thompson sampling there, and the DP optimum is
the bar no policy can beat.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rmft_jax import results
from rmft_jax.config import TrainConfig
from rmft_jax.envs import BanditEnv
from rmft_jax.evaluation import evaluate_policy
from rmft_jax.experiments import common, fig2, plots
from rmft_jax.policies import bayes_optimal, make_policy

NAME = "bayes_reference"
HORIZONS = ((25, 1000), (100, 1000), (1000, 500))  # (T, runs)
QUICK_HORIZONS = ((25, 100),)
METHODS = ("thompson", "bayes_ucb", "kg", "ucb")
DP_HORIZONS, QUICK_DP_HORIZONS = (10, 20, 50), (10,)
DP_RUNS, QUICK_DP_RUNS = 4000, 200
DP_METHODS = ("thompson", "bayes_ucb", "kg", "ucb", "greedy", "epsilon_greedy")
QUICK_DP_METHODS = ("thompson", "kg")
EXACT = ("bayes_ucb", "kg")  # index policies whose Bayes regret is computed exactly
COLUMNS = [("final_regret_mean", "regret(T)"), ("final_regret_sem", "s.e."), ("ratio_to_thompson", "÷ Thompson"),
           ("suff_fail_freq_half", "SuffFailFreq(T/2)"), ("k_min_frac_end", "K·MinFrac(T)"), ("beta_hat", "β̂")]
COLORS = {"thompson": "#2ca02c", "bayes_ucb": "#9467bd", "kg": "#d62728", "ucb": "#1f77b4", "greedy": "#ff7f0e",
          "epsilon_greedy": "#8c564b", "dp_optimal": "#000000"}
DP_COLUMNS = [("exact", "exact Bayes regret"), ("above_optimum", "÷ optimum − 1"),
              ("final_regret_mean", "simulated"), ("final_regret_sem", "s.e."),
              ("suff_fail_freq_half", "SuffFailFreq(T/2)")]


def _fig2_block(horizons, progress: bool) -> dict:
    cfg = TrainConfig.from_dict(fig2.TRAIN)
    out = {}
    for T, runs in horizons:
        env = cfg.env_at(T)
        seed = 6000 + T
        methods = common.evaluate_baselines(env, list(METHODS), seed, runs, progress)
        summary = common.summaries_vs_thompson(methods)
        out[str(T)] = {"runs": runs, "seed": seed, "summary": summary,
                       "policies": {n: m["config"]["policy"] for n, m in methods.items()}}
    return out


def _dp_block(horizons, runs: int, names, progress: bool) -> dict:
    out = {}
    for T in horizons:
        env = BanditEnv(arms=2, horizon=T, reward="bernoulli")
        t0 = time.perf_counter()
        sol = bayes_optimal.solve(T)
        solve_s = time.perf_counter() - t0
        seed = 7000 + T
        methods = common.evaluate_baselines(env, list(names), seed, runs, progress)
        table = bayes_optimal.TablePolicy.table(sol)
        methods["dp_optimal"] = evaluate_policy(env, bayes_optimal.TablePolicy(), seed, runs, table,
                                                progress=progress, name="dp_optimal")
        summary = {n: common.summary_row(m) for n, m in methods.items()}
        exact = {"dp_optimal": sol.regret}
        for n in EXACT:
            probs = bayes_optimal.index_policy_probs(make_policy(n, env), T)
            exact[n] = bayes_optimal.policy_bayes_regret(T, probs)
        for n, s in summary.items():
            s["exact"] = exact.get(n)
            s["above_optimum"] = None if n not in exact else exact[n] / sol.regret - 1.0
            s["z_vs_optimum"] = (s["final_regret_mean"] - sol.regret) / max(s["final_regret_sem"], 1e-12)
        out[str(T)] = {"runs": runs, "seed": seed, "optimal_bayes_regret": sol.regret,
                       "optimal_value": sol.value, "solve_s": solve_s, "exact": exact, "summary": summary}
    return out


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    payload = {
        **common.header(NAME, quick),
        "setting": {
            "fig2": {"env": TrainConfig.from_dict(fig2.TRAIN).to_dict()["env"], "methods": list(METHODS)},
            "dp": {"arms": 2, "reward": "bernoulli", "prior": "Beta(1, 1) = U[0, 1] per arm",
                   "methods": [*(QUICK_DP_METHODS if quick else DP_METHODS), "dp_optimal"],
                   "exact": ["dp_optimal", *EXACT]},
        },
        "fig2": _fig2_block(QUICK_HORIZONS if quick else HORIZONS, progress),
        "dp": _dp_block(QUICK_DP_HORIZONS if quick else DP_HORIZONS, QUICK_DP_RUNS if quick else DP_RUNS,
                        QUICK_DP_METHODS if quick else DP_METHODS, progress),
    }
    payload["timing"] = {"total_s": time.perf_counter() - t0, "device": common.device_summary()}
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {
        "results": str(paths["json"]),
        "regret": {T: {n: s["final_regret_mean"] for n, s in b["summary"].items()} for T, b in payload["fig2"].items()},
        "optimal_bayes_regret": {T: b["optimal_bayes_regret"] for T, b in payload["dp"].items()},
    }


def plot(results_path, out_dir="figures") -> None:
    """Regret ÷ Thompson's and SuffFailFreq(T/2) against T (Figure 2 setting); the 2-arm Bayes regrets vs the optimum."""
    data = results.load_json(results_path)
    out = Path(out_dir)
    hs = sorted(data["fig2"], key=int)
    ts = [int(h) for h in hs]
    fig, axes = plots.subplots(1, 3, figsize=(14, 3.9))
    for i, name in enumerate(METHODS):
        c = COLORS.get(name, plots._color(name, i))
        col = lambda key: [data["fig2"][h]["summary"][name][key] for h in hs]  # noqa: E731
        axes[0].errorbar(ts, col("final_regret_mean"), yerr=[2 * s for s in col("final_regret_sem")], marker="o",
                         color=c, label=name, capsize=2)
        axes[1].plot(ts, col("suff_fail_freq_half"), marker="o", color=c, label=name)
    axes[0].set(xlabel="horizon T", ylabel="regret(T) (±2 s.e.)", xscale="log", yscale="log",
                title="Figure 2 setting: K = 5, U[0,1], σ = 0.5")
    axes[1].set(xlabel="horizon T", ylabel="SuffFailFreq(T/2)", xscale="log", ylim=(-0.02, 1.02),
                title="runs that abandon the best arm")
    axes[0].legend(fontsize=8)
    ds = sorted(data["dp"], key=int)
    dts = np.array([int(h) for h in ds], float)
    opt = np.array([data["dp"][h]["optimal_bayes_regret"] for h in ds])
    axes[2].plot(dts, np.ones_like(dts), "k-", lw=1.0, label="Bayes optimum (DP, exact)")
    names = [n for n in data["dp"][ds[0]]["summary"] if n != "dp_optimal"] + ["dp_optimal"]
    for i, name in enumerate(names):
        rows = [data["dp"][h]["summary"][name] for h in ds]
        y = np.array([r["final_regret_mean"] for r in rows]) / opt
        e = 2 * np.array([r["final_regret_sem"] for r in rows]) / opt
        jitter = dts * (1.0 + 0.02 * (i - len(names) / 2))
        axes[2].errorbar(jitter, y, yerr=e, marker="o", ls="none", color=COLORS.get(name, plots._color(name, i)), label=name, capsize=2)
    axes[2].set(xlabel="horizon T", ylabel="simulated Bayes regret ÷ optimum (±2 s.e.)", xscale="log", yscale="log",
                title="2 arms, Bernoulli, Beta(1,1) priors")
    axes[2].set_xticks(dts, [str(int(t)) for t in dts])
    axes[2].minorticks_off()
    axes[2].set_yticks([0.9, 1, 1.25, 1.5, 2, 3, 4], ["0.9", "1", "1.25", "1.5", "2", "3", "4"])
    axes[2].legend(fontsize=7)
    fig.suptitle(f"Bayesian reference policies ({data['mode']} mode)", fontsize=10)
    plots.save_figure(fig, out, NAME)

    parts = [f"# Bayesian reference policies ({data['mode']} mode)\n\n",
             "Figure 2 setting (K = 5, means ~ U[0, 1], Gaussian rewards σ = 0.5); Bayes-UCB (c = 0) and the "
             "knowledge gradient KG(*) use the true prior (exact truncated-normal posteriors).\n"]
    for h in hs:
        b = data["fig2"][h]
        parts.append(f"\n## T = {h} ({b['runs']} runs, seed {b['seed']})\n\n" + plots.markdown_table(b["summary"], COLUMNS))
    parts.append("\n# Two arms, Bernoulli rewards, Beta(1, 1) priors: the exact Bayes optimum\n\n"
                 "`exact`: Bayes regret computed exactly over every belief state (no sampling); "
                 "`simulated`: mean final regret of the runs (means drawn from the prior).\n")
    for h in ds:
        b = data["dp"][h]
        parts.append(f"\n## T = {h}: optimal Bayes regret {b['optimal_bayes_regret']:.4f} "
                     f"({b['runs']} simulated runs per policy, seed {b['seed']})\n\n"
                     + plots.markdown_table(b["summary"], DP_COLUMNS))
    results.atomic_write_bytes(out / f"{NAME}.md", "".join(parts).encode())

