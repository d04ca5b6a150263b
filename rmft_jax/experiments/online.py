"""Online learning, Env I (l2 ball) and Env II (simplex): RMFT on the numerical Transformer vs FTRL and Hedge.

For each environment the Transformer is trained by Iterative RMFT at T = 25 on the
stochastic family of ``THEORY.md`` (latent mean ``μ ~ N(0, I)``, ``R_t = μ + ε_t``),
ranking rollouts by static regret, and evaluated at T = 25 and T = 100 against the
horizon-tuned FTRL (ball) or Hedge (simplex), Follow-the-Leader and the base
model. Reported: regret curves with 95% bands, β̂, p_reg, p_trend. The model is
evaluated deterministically (``explore_std = 0``: its mean policy ``map_Π(y_t)``);
the exploration noise is a device for generating diverse rollouts, not part of
the learned algorithm.

Reconstruction: the paper's online-learning setting for the numerical Transformer
is not available to us; dimensions, distribution and RMFT settings are ours.
"""

from __future__ import annotations

import time
from pathlib import Path

from rmft_jax import results
from rmft_jax.config import TrainConfig
from rmft_jax.experiments import common, fig2, plots

NAME = "online"
ENVS = {
    "env1_ball": {"name": "fol-ball", "dim": 3, "horizon": 25, "sequence": "stochastic", "noise": 1.0, "mean_scale": 1.0},
    "env2_simplex": {"name": "fol-simplex", "dim": 3, "horizon": 25, "sequence": "stochastic", "noise": 1.0, "mean_scale": 1.0},
}
BASELINES = {"env1_ball": ["ftrl", "ftl"], "env2_simplex": ["hedge", "ftl"]}
# Exploration noise is added to the model output y_t before the map onto Π: on the ball
# y is in policy units (radius 1), on the simplex in logits, where 0.2 barely moves
# softmax(y) and the L rollouts of an instance hardly differ (a first full run with 0.2
# left the simplex model at the base model's regret), so the simplex explores at 1.0.
EXPLORE = {"env1_ball": 0.2, "env2_simplex": 1.0}
MODEL = {"layers": 2, "heads": 2, "width": 32}
# The L rollouts of an instance share its reward sequence (common random numbers): with a
# fresh sequence per rollout, static regret ranks lucky sequences, not better policies.
RMFT = {"tasks": 128, "rollouts": 16, "keep": 8, "iterations": 40, "sft_steps": 16, "learning_rate": 1e-3,
        "shared_env_noise": True}
QUICK_MODEL = {"layers": 1, "heads": 1, "width": 16}
QUICK_RMFT = {"tasks": 32, "rollouts": 8, "keep": 4, "iterations": 6, "sft_steps": 4, "learning_rate": 1e-3,
              "shared_env_noise": True}
EVAL_HORIZONS, QUICK_EVAL_HORIZONS, RUNS, QUICK_RUNS = (25, 100), (25,), 1000, 100
COLUMNS = fig2.COLUMNS[:5]  # regret, s.e., β̂, p_reg, p_trend: the bandit-only columns do not apply


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite, figures=ENVS)
    t0 = time.perf_counter()
    runs = QUICK_RUNS if quick else RUNS
    payload = {
        **common.header(NAME, quick),
        "envs": {},
    }
    for env_key, env_spec in ENVS.items():
        rmft = dict(QUICK_RMFT if quick else RMFT, explore_std=EXPLORE[env_key])
        cfg = TrainConfig.from_dict({"env": env_spec, "model": QUICK_MODEL if quick else MODEL, "rmft": rmft, "seed": 0})
        learner, params, rows, train_s = common.train_model(cfg, progress, out_dir, f"{NAME}-{env_key}")
        per_horizon = {}
        for T in QUICK_EVAL_HORIZONS if quick else EVAL_HORIZONS:
            env = cfg.make_env(horizon=T)
            seed = 2000 + T
            methods = {
                "rmft": common.evaluate_model(cfg, learner, params, env, seed, runs, "rmft", progress, explore_std=0.0),
                "base": common.evaluate_model(cfg, learner, learner.base_params, env, seed, runs, "base", progress, explore_std=0.0),
            }
            methods.update(common.evaluate_baselines(env, BASELINES[env_key], seed, runs, progress))
            per_horizon[str(T)] = {"methods": methods, "summary": {n: common.summary_row(m) for n, m in methods.items()}}
        payload["envs"][env_key] = {"train_config": cfg.to_dict(), "training": rows, "train_s": train_s, "horizons": per_horizon}
    payload["timing"] = {"total_s": time.perf_counter() - t0, "device": common.device_summary()}
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {
        "results": str(paths["json"]),
        "summary": {k: v["horizons"][max(v["horizons"], key=int)]["summary"] for k, v in payload["envs"].items()},
        "timing": payload["timing"],
    }


def plot(results_path, out_dir="figures") -> None:
    data = results.load_json(results_path)
    out = Path(out_dir)
    md = []
    for env_key, block in data["envs"].items():
        T = max(block["horizons"], key=int)
        env = block["train_config"]["env"]
        title = (
            f"{env_key}: RMFT trained at T={env['horizon']}, evaluated at T={T} "
            f"(d={env['dim']}, {env['sequence']}, {data['mode']} mode)"
        )
        plots.plot_methods(block["horizons"][T]["methods"], [out / f"{NAME}_{env_key}.png", out / f"{NAME}_{env_key}.pdf"], title)
        for h, hb in block["horizons"].items():
            md.append(f"## {env_key}, T = {h}\n\n" + plots.markdown_table(hb["summary"], COLUMNS))
    results.atomic_write_bytes(out / f"{NAME}.md", ("# Online learning: RMFT vs FTRL / Hedge\n\n" + "\n".join(md)).encode())
