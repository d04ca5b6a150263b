"""What every figure experiment shares: train-or-load a model, evaluate methods, save, plot."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rmft_jax import checkpoint, results
from rmft_jax.config import TrainConfig
from rmft_jax.evaluation import evaluate_policy
from rmft_jax.policies import make_policy
from rmft_jax.training import model_policy, train
from rmft_jax.types import Environment


def output_paths(out_dir: str | Path, stem: str, overwrite: bool, figures=None) -> dict[str, Path]:
    """``{json, png, pdf, md}`` paths for ``stem`` in ``out_dir``; refuse existing outputs unless ``overwrite``.

    ``figures``: the keys of an experiment that draws one figure per key
    (``STEM_KEY.png/.pdf``) instead of ``STEM.png/.pdf``; those are the files checked.
    Everything is checked before anything runs, so nothing saved is overwritten.
    """
    out = Path(out_dir)
    paths = {ext: out / f"{stem}.{ext}" for ext in ("json", "png", "pdf", "md")}
    drawn = [paths["png"], paths["pdf"]] if figures is None else [
        out / f"{stem}_{key}.{ext}" for key in figures for ext in ("png", "pdf")]
    for p in [paths["json"], paths["md"], *drawn]:
        results.check_writable(p, overwrite, field="out")
    return paths


def header(name: str, quick: bool) -> dict[str, str]:
    """The keys every experiment's results file starts with: what ran and the command that reruns it."""
    return {
        "experiment": name,
        "mode": "quick" if quick else "full",
        # the CLI names figures with hyphens (FIGURES), the modules with underscores
        "command": f"rmft figure {name.replace('_', '-')}" + (" --quick" if quick else ""),
    }


def run_dir_for(out_dir: str | Path, name: str, cfg: TrainConfig) -> Path:
    """``out_dir/runs/NAME-HASH``: one directory per distinct training config."""
    digest = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    return Path(out_dir) / "runs" / f"{name}-{digest}"


def train_model(cfg: TrainConfig, progress: bool, out_dir: str | Path | None = None, name: str = "run"):
    """Train ``cfg`` (resuming or reusing a finished run of the same config under ``out_dir/runs``).

    Returns ``(learner, trained params, metric rows, seconds spent training now)``.
    Experiments that share a training config (Figure 2 and reward generalisation)
    therefore train once.
    """
    t0 = time.perf_counter()
    if out_dir is None:
        state, learner, rows = train(cfg, None, progress=progress)
        return learner, state.params, rows, time.perf_counter() - t0
    run_dir = run_dir_for(out_dir, name, cfg)
    resume = (run_dir / checkpoint.CONFIG).exists()
    state, learner, rows = train(cfg, run_dir, resume=resume, progress=progress)
    return learner, state.params, rows, time.perf_counter() - t0


def evaluate_model(
    cfg: TrainConfig, learner, params, env: Environment, seed: int, runs: int, name: str, progress: bool, **overrides
) -> dict:
    """Evaluate the model on ``env``: its rollout policy at the training temperature unless
    ``overrides`` (``temperature=``, ``explore_std=``) say otherwise."""
    policy = model_policy(cfg, learner.policy.graphdef, horizon=env.horizon, **overrides)
    return evaluate_policy(env, policy, seed, runs, params, progress=progress, name=name)


def evaluate_baselines(env: Environment, names: list[str], seed: int, runs: int, progress: bool) -> dict[str, dict]:
    return {n: evaluate_policy(env, make_policy(n, env), seed, runs, progress=progress, name=n) for n in names}


def summary_row(result: dict) -> dict[str, Any]:
    """The scalar summary of one method's evaluation (for tables and closing notes)."""
    row = {
        "final_regret_mean": float(np.mean(result["final_regret"])),
        "final_regret_sem": float(np.std(result["final_regret"]) / np.sqrt(len(result["final_regret"]))),
        "beta_hat": result.get("beta_hat"),
        "p_reg": result.get("p_reg"),
        "p_trend": result.get("p_trend"),
    }
    if result.get("suff_fail_freq") is not None:
        T = len(result["suff_fail_freq"])
        row["suff_fail_freq_half"] = float(result["suff_fail_freq"][T // 2 - 1])
        row["k_min_frac_end"] = float(result["k_min_frac"][-1])
        row["greedy_frac"] = result.get("greedy_frac")
    return row


def ratio_to_thompson(row: dict, thompson: dict) -> dict:
    """``row`` (a :func:`summary_row`) with ``ratio_to_thompson``: its mean final regret ÷ that of
    ``thompson``, Thompson sampling's row on the same instances and seeds."""
    return {**row, "ratio_to_thompson": row["final_regret_mean"] / thompson["final_regret_mean"]}


def summaries_vs_thompson(methods: dict[str, dict]) -> dict[str, dict]:
    """:func:`summary_row` of every method, each with its ratio to the ``"thompson"`` method among them."""
    rows = {n: summary_row(m) for n, m in methods.items()}
    return {n: ratio_to_thompson(r, rows["thompson"]) for n, r in rows.items()}


def device_summary() -> str:
    d = jax.devices()[0]
    return f"{d.platform}:{d.device_kind}"
