"""Why the naive RMFT loop collapses, and what fixes it: an ablation on the Figure 2 setting.

Each variant changes one or two levers of the naive loop (RMFT-NOTES: M = 128,
L = 16, k = 2, 4 Adam steps at 3e-4 per iteration, warm start, sampling at
temperature 1) and is trained for the same number of iterations. Reported per
variant: regret at the training horizon (T = 25) and at T = 100, the policy's
entropy on its kept trajectories at the end of training (nats; uniform over
K = 5 arms is ln 5 ≈ 1.609), and the rollout regret over iterations.

Our reading, which the table tests: kept trajectories are, above all, *consistent*
ones, so aggressive selection (k/L = 1/8) teaches "repeat what you played" faster
than "follow the rewards", and warm-started self-imitation sharpens the policy
until the L rollouts stop differing (entropy → 0) while regret stays near the
random level. Keeping a larger fraction (k/L = 1/2) makes each iteration a
small, unbiased policy-improvement step, in the manner of the cross-entropy
method with a wide elite set.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rmft_jax import results
from rmft_jax.config import TrainConfig
from rmft_jax.experiments import common, fig2, plots

NAME = "ablation"
NAIVE = {"tasks": 128, "rollouts": 16, "keep": 2, "sft_steps": 4, "learning_rate": 3e-4}
CHOSEN = {"keep": 8, "learning_rate": 1e-3, "sft_steps": 16}
# name -> (changes to the naive RMFT settings, changes to the environment)
VARIANTS = {
    "naive (k=2 of L=16)": ({}, {}),
    "keep quarter (k=4 of L=16)": ({"keep": 4}, {}),
    "keep half (k=8 of L=16)": ({"keep": 8}, {}),
    "naive + entropy bonus 0.05": ({"entropy_bonus": 0.05}, {}),
    "naive + temperature 1.5": ({"temperature": 1.5}, {}),
    "naive + 8-iteration buffer": ({"buffer_iterations": 8, "batch_size": 512, "sft_steps": 8}, {}),
    "naive + lr 1e-3, 16 steps": ({"learning_rate": 1e-3, "sft_steps": 16}, {}),
    "chosen: keep half + lr 1e-3, 16 steps": (CHOSEN, {}),
    "chosen + entropy bonus 0.05": (dict(CHOSEN, entropy_bonus=0.05), {}),
    "chosen, re-fit from base on a 4-iteration buffer": (
        dict(CHOSEN, warm_start=False, buffer_iterations=4, batch_size=1024, sft_steps=32), {}),
    "chosen at σ = 1.0": (CHOSEN, {"noise": 1.0}),
    "chosen at σ = 0.1": (CHOSEN, {"noise": 0.1}),
}
QUICK_VARIANTS = ("naive (k=2 of L=16)", "keep half (k=8 of L=16)")
ITERATIONS, QUICK_ITERATIONS = 40, 6
RUNS, QUICK_RUNS = 300, 50
REFERENCES = ("thompson", "ucb")  # evaluated at each noise level, for scale


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    base = fig2.QUICK_TRAIN_T25 if quick else fig2.TRAIN_T25
    rows, curves = {}, {}
    references = {}
    for name, (change, env_change) in VARIANTS.items():
        if quick and name not in QUICK_VARIANTS:
            continue
        rmft = dict(NAIVE, iterations=QUICK_ITERATIONS if quick else ITERATIONS, **change)
        if quick:
            rmft.update(tasks=16, rollouts=8, keep=min(rmft["keep"], 4))
        env_spec = dict(base["env"], **env_change)
        cfg = TrainConfig.from_dict({"env": env_spec, "model": base["model"], "rmft": rmft, "seed": base["seed"]})
        learner, params, hist, train_s = common.train_model(cfg, progress, out_dir, f"{NAME}-{len(rows)}")
        row = {"train_s": train_s, "entropy_end": hist[-1]["sft_entropy"], "rmft": rmft}
        # quick mode: the evaluation horizon only (one compilation fewer per variant)
        for T in (fig2.EVAL_HORIZON,) if quick else (cfg.environment.horizon, fig2.EVAL_HORIZON):
            res = common.evaluate_model(cfg, learner, params, cfg.env_at(T), 4000 + T,
                                        QUICK_RUNS if quick else RUNS, name, progress)
            s = common.summary_row(res)
            row[f"regret_T{T}"] = s["final_regret_mean"]
            row[f"regret_T{T}_sem"] = s["final_regret_sem"]
            if T == fig2.EVAL_HORIZON:
                row["beta_hat"], row["suff_fail_freq_half"] = s["beta_hat"], s["suff_fail_freq_half"]
        noise = env_spec["noise"]
        if noise not in references:
            ref_env = cfg.env_at(fig2.EVAL_HORIZON)
            refs = common.evaluate_baselines(ref_env, list(REFERENCES), 4000 + fig2.EVAL_HORIZON,
                                             QUICK_RUNS if quick else RUNS, progress)
            references[noise] = {n: common.summary_row(r)["final_regret_mean"] for n, r in refs.items()}
        row["noise"] = noise
        row.update({f"{n}_T100": v for n, v in references[noise].items()})
        rows[name] = row
        curves[name] = {
            "iteration": [h["iteration"] for h in hist],
            "rollout_regret_mean": [h["rollout_regret_mean"] for h in hist],
            "entropy": [h["sft_entropy"] for h in hist],
        }
    payload = {
        **common.header(NAME, quick),
        "env": base["env"],
        "model": base["model"],
        "variants": rows,
        "curves": curves,
        "timing": {"total_s": time.perf_counter() - t0, "device": common.device_summary()},
    }
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "variants": {k: {kk: v[kk] for kk in v if kk != "rmft"} for k, v in rows.items()}}


def plot(results_path, out_dir="figures") -> None:
    data = results.load_json(results_path)
    out = Path(out_dir)
    fig, axes = plots.subplots(1, 2, figsize=(11, 3.8))
    for name, c in data["curves"].items():
        it = np.asarray(c["iteration"])
        w = max(1, len(it) // 20)
        smooth = np.convolve(c["rollout_regret_mean"], np.ones(w) / w, mode="valid")
        axes[0].plot(it[w - 1 :], smooth, label=name)
        axes[1].plot(it, c["entropy"], label=name)
    T = data["env"]["horizon"]
    axes[0].set(xlabel="RMFT iteration", ylabel=f"mean rollout regret at T={T}", title="rollout regret")
    axes[1].axhline(np.log(data["env"]["arms"]), color="k", ls=":", lw=0.8)
    axes[1].set(xlabel="RMFT iteration", ylabel="policy entropy on kept trajectories (nats)", title="policy entropy")
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Collapse ablation ({data['mode']} mode; Gaussian σ={data['env']['noise']}, K={data['env']['arms']})", fontsize=10)
    plots.save_figure(fig, out, NAME)
    cols = [("noise", "σ"), (f"regret_T{T}", f"regret T={T}"), (f"regret_T{100}", "regret T=100"), ("regret_T100_sem", "s.e."),
            ("thompson_T100", "TS T=100"), ("ucb_T100", "UCB T=100"),
            ("beta_hat", "β̂ (T=100)"), ("suff_fail_freq_half", "SuffFailFreq(50)"), ("entropy_end", "entropy (end)"),
            ("train_s", "train s")]
    table = plots.markdown_table(data["variants"], cols)
    results.atomic_write_bytes(out / f"{NAME}.md", (f"# Collapse ablation ({data['mode']} mode)\n\n" + table).encode())
