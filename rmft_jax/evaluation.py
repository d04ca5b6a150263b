"""Evaluate any policy (a baseline or a trained model) on fresh tasks: regret and metrics.

:func:`evaluate_policy` draws ``runs`` independent tasks from the environment's
prior, rolls the policy out once on each through :func:`rmft_jax.rollout.rollout`
(``vmap`` over runs, in chunks when asked), and summarises the batch with
:func:`rmft_jax.metrics.summarize`. It returns the result dict of ``rmft evaluate``
(schema in ``docs/evaluate.md``), ready for :func:`rmft_jax.results.save_json`.

Randomness: the seed gives one key per run (``split(key(seed), runs)``), and run
``i`` draws its task and its rollout from its own key only: ``split(key_i) =
(k_task, k_roll)``, the task from ``k_task`` and the rest as
:func:`rmft_jax.rollout.rollout` draws it from ``k_roll``
(:func:`rmft_jax.rollout.draw_episodes`). Chunking therefore
changes how runs are batched, not which tasks and noise they see; the same seed
gives the same result bit for bit for a given chunk size.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from rmft_jax import checks, metrics
from rmft_jax.envs.bandit import BanditEnv
from rmft_jax.envs.nonstationary import DriftingBanditEnv, variation_budget
from rmft_jax.rollout import check_compatible, draw_episodes, rollout_episode
from rmft_jax.types import Array, Environment, Policy, PyTree, Trajectory

# Runs per chunk when none is given: keep the per-chunk arrays (T·(n + 4) floats per
# run for a baseline) well under a gigabyte. Models pass their own, smaller chunk.
_AUTO_CHUNK_BUDGET = 2**26  # float32 elements
# Show a progress bar without delay only when the caller chunked explicitly;
# otherwise only if the evaluation takes longer than this (seconds).
_PROGRESS_DELAY = 3.0


@functools.partial(jax.jit, static_argnames=("env", "policy"))
def _run_chunk(env: Environment, policy: Policy, keys: Array, params: PyTree) -> tuple[Trajectory, Array]:
    """Roll out one run per key; also return each task's variation budget (0 if stationary).

    Run ``i`` is ``rollout(env, policy, k_roll, env.sample_task(k_task), params)``
    with ``(k_task, k_roll) = split(keys[i])``, each run its own ``vmap`` row.
    """
    k = jax.vmap(jax.random.split)(keys)
    k_task, k_roll = k[:, 0], k[:, 1]
    tasks, episodes, k_pol = draw_episodes(env, k_roll, jax.vmap(env.sample_task)(k_task))
    traj = jax.vmap(rollout_episode, in_axes=(None, None, 0, 0, None))(env, policy, episodes, k_pol, params)
    if isinstance(env, DriftingBanditEnv):
        vt = jax.vmap(variation_budget)(tasks.means)
    else:
        vt = jnp.zeros(keys.shape)
    return traj, vt


def _field_values(obj: Any) -> dict[str, Any]:
    """The dataclass fields of ``obj`` by name (none if it is not a dataclass)."""
    if not dataclasses.is_dataclass(obj):
        return {}
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as JSON can hold them (others as ``repr``)."""
    out = {}
    for name, v in values.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[name] = v
        elif isinstance(v, tuple) and all(isinstance(x, (int, float)) for x in v):
            out[name] = list(v)
        else:
            out[name] = repr(v)
    return out


def describe_env(env: Environment) -> dict[str, Any]:
    """The environment's settings for ``config``; a custom sequence by shape and hash, not by value."""
    fields = _field_values(env)
    data = fields.pop("data", None)
    out = {"class": type(env).__name__, **_jsonable(fields)}
    if data is not None:
        arr = np.asarray(data, np.float64)
        out["data_shape"] = list(arr.shape)
        out["data_sha256"] = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
    return out


def describe_policy(policy: Policy, name: str | None = None) -> dict[str, Any]:
    """``{"name", "class", "hyperparameters"}`` of a policy (its static dataclass fields)."""
    return {
        "name": name or type(policy).__name__,
        "class": type(policy).__name__,
        "hyperparameters": _jsonable(_field_values(policy)),
    }


def _default_chunk(env: Environment, runs: int) -> int:
    per_run = env.horizon * (env.num_actions + 4)
    return max(1, min(runs, _AUTO_CHUNK_BUDGET // per_run))


def memory_estimate(env: Environment, runs: int, chunk: int | None = None, num_resamples: int = 1000) -> tuple[int, str]:
    """``(bytes, how they were counted)``: the largest arrays of :func:`evaluate_policy`, 4 bytes each.

    Counted: every run's trajectory and task (``runs × T × (n + 4)`` values, ``n``
    arms or dimensions), kept on the host for the metrics; the bandit metrics' arm
    counts (``runs × T × K``); the bootstrap's resample weights and means
    (``B × (runs + T)``); a jitted chunk's working set (twice its trajectories). A
    lower bound, good enough to refuse what cannot fit before anything is allocated.
    """
    n, horizon = env.num_actions, env.horizon
    chunk = min(chunk or _default_chunk(env, runs), runs)
    per_run = horizon * (n + 4)
    stored = runs * per_run + (runs * horizon * n if env.feedback == "bandit" else 0)
    values = stored + num_resamples * (runs + horizon) + 2 * chunk * per_run
    what = (
        f"runs={runs} x horizon={horizon} x (actions={n} + 4) trajectory values, plus bootstrap={num_resamples} "
        f"x (runs + horizon) and a chunk of {chunk} runs, 4 bytes each"
    )
    return 4 * values, what


def check_memory(env: Environment, runs: int, chunk: int | None = None, num_resamples: int = 1000) -> None:
    """Refuse an evaluation whose :func:`memory_estimate` exceeds the memory limit (a one-line ``ValueError``)."""
    nbytes, what = memory_estimate(env, runs, chunk, num_resamples)
    limit = checks.MEMORY_SHARE * checks.available_memory()
    if nbytes <= limit:
        return
    # Name the flag to change: the one run that already does not fit, else the bootstrap, else runs.
    if memory_estimate(env, 1, 1, 1)[0] > limit:
        field = "horizon" if env.horizon >= env.num_actions else ("arms" if env.feedback == "bandit" else "dim")
    elif 4 * num_resamples * (runs + env.horizon) > nbytes / 2:
        field = "bootstrap"
    else:
        field = "runs"
    checks.fits_in_memory(field, nbytes, what)


def _instance_gap(env: Environment) -> tuple[float | None, float]:
    """``(Δ, center)`` for the MedianReward rescaling: only for a fixed bandit instance."""
    if isinstance(env, BanditEnv) and env.prior == "fixed":
        lo, hi = min(env.means), max(env.means)
        if hi > lo:
            return hi - lo, (hi + lo) / 2.0
    return None, 0.5


def evaluate_policy(
    env: Environment,
    policy: Policy,
    seed: int | Array,
    runs: int,
    params: PyTree = None,
    chunk: int | None = None,
    progress: bool = True,
    *,
    name: str | None = None,
    num_resamples: int = 1000,
    level: float = 0.95,
    t_min: int | None = None,
    unplayed: str = "ignore",
    extra: Callable[[Trajectory], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run ``policy`` on ``runs`` fresh tasks of ``env`` and compute every metric.

    Args:
      env: any :class:`~rmft_jax.types.Environment`.
      policy: any compatible :class:`~rmft_jax.types.Policy` (baseline or model).
      seed: an int seed or a JAX key.
      runs: number of independent runs ``N >= 1`` (one fresh task each).
      params: the policy's traced parameters (a model's weights), or ``None``.
      chunk: runs per jitted batch (``None``: all at once unless memory says
        otherwise). Chunked evaluation shows a tqdm progress bar on stderr.
      progress: allow the progress bar.
      name: the policy's name for ``config`` (e.g. its registry name).
      num_resamples, level: of the bootstrap CI of the mean regret.
      t_min: burn-in of the growth-exponent fit (``None``: ``max(2, T // 10)``).
      unplayed: GreedyFrac's convention (see :func:`rmft_jax.metrics.greedy_frac`).
      extra: more metrics: a function of the whole batch's trajectories (NumPy, ``(N, T)``
        leaves) whose dict is merged into the result (e.g. ``metrics.change_diagnostics``
        of ``traj.actions, traj.best``).
    Returns:
      the result dict: ``config`` plus the keys of
      :func:`rmft_jax.metrics.summarize`, ``variation_budget`` (mean over runs;
      ``None`` unless the env drifts), ``variation_budget_runs`` and
      ``wall_time_s``. Arrays are NumPy; pass to ``results.save_json`` as is.
    """
    runs = checks.integer("runs", runs, 1)
    if chunk is not None:
        chunk = checks.integer("chunk", chunk, 1)
    check_compatible(env, policy)
    check_memory(env, runs, chunk, num_resamples)
    start = time.perf_counter()
    explicit_chunk = chunk is not None
    chunk = min(chunk or _default_chunk(env, runs), runs)
    root = jax.random.key(seed) if isinstance(seed, (int, np.integer)) else seed
    k_runs, k_boot = jax.random.split(root)
    keys = jax.random.split(k_runs, runs)
    n_chunks = math.ceil(runs / chunk)
    pieces = []
    bar = tqdm(
        total=runs,
        unit="run",
        desc="evaluate",
        file=sys.stderr,
        disable=not progress or n_chunks == 1,
        delay=0.0 if explicit_chunk else _PROGRESS_DELAY,
        leave=False,
    )
    with bar:
        for i in range(n_chunks):
            ks = keys[i * chunk : (i + 1) * chunk]
            n = ks.shape[0]
            if n < chunk:  # pad the last chunk so every chunk has one shape: one compilation
                ks = jnp.concatenate([ks, jnp.broadcast_to(ks[-1:], (chunk - n,))])
            out = _run_chunk(env, policy, ks, params)
            pieces.append(jax.tree.map(lambda x, n=n: np.asarray(x[:n]), out))
            bar.update(n)
    traj, vt = jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *pieces)
    delta, center = _instance_gap(env)
    result: dict[str, Any] = {
        "config": {
            "env": describe_env(env),
            "policy": describe_policy(policy, name),
            "horizon": env.horizon,
            "num_actions": env.num_actions,
            "feedback": env.feedback,
            "runs": runs,
            "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
            "chunk": chunk,
            "bootstrap_resamples": num_resamples,
            "ci_level": level,
            "growth_t_min": metrics.default_t_min(env.horizon) if t_min is None else t_min,
            "greedy_unplayed": unplayed,
            "median_reward_delta": delta,
            "median_reward_center": center if delta is not None else None,
        }
    }
    result.update(
        metrics.summarize(
            traj,
            env.feedback,
            env.num_actions,
            key=k_boot,
            num_resamples=num_resamples,
            level=level,
            t_min=t_min,
            delta=delta,
            center=center,
            unplayed=unplayed,
        )
    )
    if extra is not None:
        result.update(extra(traj))
    drifting = isinstance(env, DriftingBanditEnv)
    result["variation_budget"] = float(np.mean(vt)) if drifting else None
    result["variation_budget_runs"] = np.asarray(vt, np.float64) if drifting else None
    result["wall_time_s"] = time.perf_counter() - start
    return result


__all__ = ["check_memory", "describe_env", "describe_policy", "evaluate_policy", "memory_estimate"]
