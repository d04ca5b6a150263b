"""The classical bandit baselines on two fixed instances: a reference table for the validation framework.

* ``bernoulli_hard``: Krishnamurthy et al.'s (2024) hard instance, K = 5, Bernoulli
  rewards, best arm 0.6, the others 0.4 (Δ = 0.2), T = 100.
* ``gaussian``: K = 5, Gaussian rewards with σ = 1, means (0.9, 0.7, 0.5, 0.3, 0.1),
  T = 100 (our choice: evenly spaced gaps, unit noise).

UCB, Thompson sampling and Greedy as configured by the registry
(:mod:`rmft_jax.policies`), 1000 runs each: final regret, SuffFailFreq(T/2),
K·MinFrac(T), GreedyFrac and β̂ / p_reg / p_trend.
"""

from __future__ import annotations

import time
from pathlib import Path

from rmft_jax import results
from rmft_jax.envs import BanditEnv
from rmft_jax.experiments import common, fig2, plots

NAME = "baselines"
INSTANCES = {
    "bernoulli_hard": BanditEnv(arms=5, horizon=100, reward="bernoulli", means=(0.6, 0.4, 0.4, 0.4, 0.4)),
    "gaussian": BanditEnv(arms=5, horizon=100, reward="gaussian", noise=1.0, means=(0.9, 0.7, 0.5, 0.3, 0.1)),
}
POLICIES = ["ucb", "thompson", "greedy"]
RUNS, QUICK_RUNS = 1000, 50


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite, figures=INSTANCES)
    t0 = time.perf_counter()
    runs = QUICK_RUNS if quick else RUNS
    payload = {
        **common.header(NAME, quick),
        "instances": {},
    }
    for key, env in INSTANCES.items():
        methods = common.evaluate_baselines(env, POLICIES, 6000, runs, progress)
        payload["instances"][key] = {
            "env": {"reward": env.reward, "means": env.means, "noise": env.noise, "horizon": env.horizon},
            "methods": methods,
            "summary": {n: common.summary_row(m) for n, m in methods.items()},
        }
    payload["timing"] = {"total_s": time.perf_counter() - t0, "device": common.device_summary()}
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "summary": {k: v["summary"] for k, v in payload["instances"].items()}}


def plot(results_path, out_dir="figures") -> None:
    data = results.load_json(results_path)
    out = Path(out_dir)
    md = []
    for key, block in data["instances"].items():
        e = block["env"]
        title = f"{key}: {e['reward']} rewards, means {e['means']}, T = {e['horizon']} ({data['mode']} mode)"
        plots.plot_methods(block["methods"], [out / f"{NAME}_{key}.png", out / f"{NAME}_{key}.pdf"], title)
        md.append(f"## {title}\n\n" + plots.markdown_table(block["summary"], fig2.COLUMNS))
    results.atomic_write_bytes(out / f"{NAME}.md", ("# Classical bandit baselines\n\n" + "\n".join(md)).encode())
