"""Reward generalisation: the Figure 2 model (trained on Gaussian rewards, T = 25) on other reward processes.

Evaluated at T = 100 on Bernoulli rewards (means ~ U[0, 1]) and on mean-parameterised
gamma rewards (means ~ U[0.05, 1], shape 1, i.e. exponential), against the base
model, UCB, Thompson sampling and Greedy configured for the evaluation process.
The model is the Figure 2 run (reused from ``OUT/runs`` when it exists).
"""

from __future__ import annotations

import time
from pathlib import Path

from rmft_jax import results
from rmft_jax.config import TrainConfig
from rmft_jax.envs import BanditEnv
from rmft_jax.experiments import common, fig2, plots

NAME = "reward_generalization"
TARGETS = {
    "gaussian_to_bernoulli": {"reward": "bernoulli"},
    "gaussian_to_gamma": {"reward": "gamma", "prior_low": 0.05, "gamma_shape": 1.0},
}


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite, figures=TARGETS)
    t0 = time.perf_counter()
    cfg = TrainConfig.from_dict(fig2.QUICK_TRAIN if quick else fig2.TRAIN)
    learner, params, _, train_s = common.train_model(cfg, progress, out_dir, fig2.NAME)
    runs = fig2.QUICK_RUNS if quick else fig2.RUNS
    payload = {
        **common.header(NAME, quick),
        "train_config": cfg.to_dict(),
        "targets": {},
    }
    for key, change in TARGETS.items():
        env = BanditEnv(arms=cfg.environment.arms, horizon=fig2.EVAL_HORIZON, **change)
        seed = 5000
        methods = {
            "rmft": common.evaluate_model(cfg, learner, params, env, seed, runs, "rmft", progress),
            "base": common.evaluate_model(cfg, learner, learner.base_params, env, seed, runs, "base", progress),
        }
        baselines = ["thompson"] if quick else fig2.BASELINES  # quick: one reference, fewer compilations
        methods.update(common.evaluate_baselines(env, baselines, seed, runs, progress))
        payload["targets"][key] = {
            "env": change,
            "methods": methods,
            "summary": {n: common.summary_row(m) for n, m in methods.items()},
        }
    payload["timing"] = {"train_s": train_s, "total_s": time.perf_counter() - t0, "device": common.device_summary()}
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "summary": {k: v["summary"] for k, v in payload["targets"].items()}}


def plot(results_path, out_dir="figures") -> None:
    data = results.load_json(results_path)
    out = Path(out_dir)
    md = []
    for key, block in data["targets"].items():
        title = f"Reward generalisation {key.replace('_', ' ')} at T={fig2.EVAL_HORIZON} ({data['mode']} mode)"
        plots.plot_methods(block["methods"], [out / f"{NAME}_{key}.png", out / f"{NAME}_{key}.pdf"], title)
        md.append(f"## {key}\n\n" + plots.markdown_table(block["summary"], fig2.COLUMNS))
    results.atomic_write_bytes(out / f"{NAME}.md", ("# Reward generalisation\n\n" + "\n".join(md)).encode())
