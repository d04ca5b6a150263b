"""The paper's numerical figures as experiments: each one runs, writes tidy results, then plots from them.

Every experiment module exposes ``run(out_dir, quick=False, overwrite=False) -> dict``
(writes its results file(s) and figures into ``out_dir``) and ``plot(results_path, out_dir)``
(draws only from the saved results). ``rmft figure NAME`` and the scripts in
``experiments/`` call them.
"""

from __future__ import annotations

import importlib

FIGURES = {
    "fig2": "rmft_jax.experiments.fig2",
    "reward-generalization": "rmft_jax.experiments.reward_generalization",
    "online": "rmft_jax.experiments.online",
    "iterations": "rmft_jax.experiments.iterations",
    "ablation": "rmft_jax.experiments.ablation",
    "exploration": "rmft_jax.experiments.exploration",
    "horizons": "rmft_jax.experiments.horizons",
    "baselines": "rmft_jax.experiments.baselines",
    "bayes-reference": "rmft_jax.experiments.bayes_reference",
    "published-baselines": "rmft_jax.experiments.published_baselines",
    "paradigms": "rmft_jax.experiments.paradigms",
    "extrapolation": "rmft_jax.experiments.extrapolation",
    "generalist": "rmft_jax.experiments.generalist",
    "generalist-ablation": "rmft_jax.experiments.generalist_ablation",
    "nonstationary": "rmft_jax.experiments.nonstationary",
}


def get(name: str):
    """The experiment module called ``name``; ``ValueError`` if there is none."""
    if name not in FIGURES:
        raise ValueError(f"figure: must be one of {', '.join(FIGURES)} (got {name!r})")
    return importlib.import_module(FIGURES[name])
