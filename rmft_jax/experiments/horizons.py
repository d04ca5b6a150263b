"""Anytime behaviour: the Figure 2 model and the baselines from T = 25 to T = 1000.

The Figure 2 model (reused from ``OUT/runs`` when it exists), its base model,
Thompson sampling, UCB and Greedy, each run at T = 25, 50, 100, 200, 500 and
1000 on the same fresh instances per horizon (Figure 2 setting: K = 5, means
~ U[0, 1], Gaussian σ = 0.5). Per method and horizon: regret(T) and its ratio to
Thompson sampling's, SuffFailFreq(T/2) (runs that never pull the best arm in the
second half), K·MinFrac(T) and the growth exponent β̂ of the mean regret curve.
A learner that abandons the best arm in a fixed fraction of runs has linear
regret, so its ratio to Thompson sampling grows with T: this figure tests the
claim where it can fail, far past the training horizon.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rmft_jax import results
from rmft_jax.config import TrainConfig
from rmft_jax.experiments import common, fig2, plots

NAME = "horizons"
HORIZONS = ((25, 1000), (50, 1000), (100, 1000), (200, 1000), (500, 500), (1000, 500))  # (T, runs)
QUICK_HORIZONS = ((25, 100), (100, 100), (200, 100))
METHODS = ("rmft", "base", "thompson", "ucb", "greedy")
COLUMNS = [("final_regret_mean", "regret(T)"), ("final_regret_sem", "s.e."), ("ratio_to_thompson", "÷ Thompson"),
           ("suff_fail_freq_half", "SuffFailFreq(T/2)"), ("k_min_frac_end", "K·MinFrac(T)"), ("beta_hat", "β̂")]


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    cfg = TrainConfig.from_dict(fig2.QUICK_TRAIN if quick else fig2.TRAIN)
    learner, params, _, train_s = common.train_model(cfg, progress, out_dir, fig2.NAME)
    horizons = QUICK_HORIZONS if quick else HORIZONS
    by_horizon = {}
    for T, runs in horizons:
        env = cfg.env_at(T)
        seed = 6000 + T
        methods = {
            "rmft": common.evaluate_model(cfg, learner, params, env, seed, runs, "rmft", progress),
            "base": common.evaluate_model(cfg, learner, learner.base_params, env, seed, runs, "base", progress),
        }
        methods.update(common.evaluate_baselines(env, list(METHODS[2:]), seed, runs, progress))
        summary = common.summaries_vs_thompson(methods)
        by_horizon[str(T)] = {
            "runs": runs,
            "seed": seed,
            "summary": summary,
            # per-round curves, for the figure (the full per-run results would be megabytes at T = 1000)
            "curves": {n: {k: m[k] for k in ("regret_mean", "suff_fail_freq", "k_min_frac")} for n, m in methods.items()},
        }
    payload = {
        **common.header(NAME, quick),
        "train_config": cfg.to_dict(),
        "horizons": by_horizon,
        "timing": {"train_s": train_s, "total_s": time.perf_counter() - t0, "device": common.device_summary()},
    }
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "summary": {T: h["summary"]["rmft"] for T, h in by_horizon.items()}}


def plot(results_path, out_dir="figures") -> None:
    """Ratio to Thompson sampling, SuffFailFreq(T/2) and β̂ against T; regret curves at the longest T; the table."""
    data = results.load_json(results_path)
    out = Path(out_dir)
    hs = sorted(data["horizons"], key=int)
    ts = [int(h) for h in hs]
    fig, axes = plots.subplots(1, 4, figsize=(17, 3.9))
    for i, name in enumerate(METHODS):
        c = plots._color(name, i)
        col = lambda key: [data["horizons"][h]["summary"][name][key] for h in hs]  # noqa: E731
        axes[0].plot(ts, col("ratio_to_thompson"), marker="o", color=c, label=name)
        axes[1].plot(ts, col("suff_fail_freq_half"), marker="o", color=c, label=name)
        axes[2].plot(ts, col("beta_hat"), marker="o", color=c, label=name)
        curve = np.asarray(data["horizons"][hs[-1]]["curves"][name]["regret_mean"], float)
        axes[3].plot(np.arange(1, len(curve) + 1), curve, color=c, label=name)
    train_T = data["train_config"]["env"]["horizon"]
    for ax in axes[:3]:
        ax.set_xscale("log")
        ax.axvline(train_T, color="k", lw=0.6, ls=":")
    axes[0].set(xlabel="horizon T", ylabel="regret(T) ÷ Thompson's", title="regret relative to Thompson sampling", yscale="log")
    axes[1].set(xlabel="horizon T", ylabel="SuffFailFreq(T/2)", title="runs that abandon the best arm", ylim=(-0.02, 1.02))
    axes[2].set(xlabel="horizon T", ylabel="β̂", title="regret growth exponent", ylim=(0, 1.1))
    axes[3].set(xlabel="round t", ylabel="regret", title=f"regret at T = {hs[-1]}", yscale="log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Anytime behaviour of the Figure 2 model (trained at T = {train_T}; {data['mode']} mode)", fontsize=10)
    plots.save_figure(fig, out, NAME)
    parts = [f"# Anytime behaviour of the Figure 2 model (trained at T = {train_T}; {data['mode']} mode)\n"]
    for h in hs:
        runs = data["horizons"][h]["runs"]
        parts.append(f"\n## T = {h} ({runs} runs)\n\n" + plots.markdown_table(data["horizons"][h]["summary"], COLUMNS))
    results.atomic_write_bytes(out / f"{NAME}.md", "".join(parts).encode())
