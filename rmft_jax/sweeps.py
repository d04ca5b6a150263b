"""Seed and learning-rate sweeps: ``jit(vmap(train))`` over seeds (and learning rates), one program.

Beside :mod:`rmft_jax.training` (a sweep is many training runs at once), not in
:mod:`rmft_jax.sharding`, which is the device layer both build on.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rmft_jax import rmft
from rmft_jax.training import build_learner, seed_array, seed_learner
from rmft_jax.types import Array


def sweep_seeds(cfg, seeds: Sequence[int] | Array, learner: rmft.Learner | None = None,
                learning_rates: Sequence[float] | Array | None = None):
    """``jit(vmap(train))`` over seeds (and learning rates): ``cfg.rmft.iterations`` RMFT iterations each, one program.

    Each seed ``s`` gets what :func:`rmft_jax.training.train` gives the config with
    ``seed = s``: base weights from ``fold_in(key(s), 0)`` and the iteration key
    ``fold_in(key(s), 1)`` — but through :func:`rmft_jax.rmft.train_scan`, so
    metrics are reduced inside the scan. With ``learning_rates``, every seed runs
    at every learning rate (a grid, ``vmap`` over both): what ``train`` gives the
    config with that ``rmft.learning_rate``.

    Args:
      cfg: a :class:`rmft_jax.config.TrainConfig` (its ``seed`` is ignored, and its
        learning rate too when ``learning_rates`` is given).
      seeds: ``(S,)`` integer seeds.
      learner: the learner of ``cfg`` (built if omitted; only its policy and loss
        are used, the base weights are drawn per seed).
      learning_rates: optional ``(R,)`` positive learning rates.
    Returns:
      ``(states, metrics)``: a :class:`rmft_jax.rmft.TrainState` and a dict of
      ``(S, iterations)`` arrays, every leaf with a leading seed axis ``S``; with
      ``learning_rates``, leading axes ``(R, S)``.
    """
    learner = build_learner(cfg) if learner is None else learner
    seeds = seed_array(seeds)
    sweep = _sweep(cfg.make_env(), cfg.rmft, cfg.model_config(), learner.policy, learner.loss, learning_rates is not None)
    if learning_rates is None:
        return sweep(seeds)
    rates = np.asarray(learning_rates, np.float32)
    if rates.ndim != 1 or not rates.size or not np.all(np.isfinite(rates) & (rates > 0)):
        raise ValueError(f"learning_rates: must be a 1-D sequence of positive numbers (got {np.asarray(learning_rates).tolist()})")
    return sweep(seeds, jnp.asarray(rates))


@functools.lru_cache(maxsize=16)
def _sweep(env, rmft_cfg, model_cfg, policy, loss, over_rates: bool):
    def one(seed, learning_rate=None):
        learner, key = seed_learner(model_cfg, policy, loss, seed)
        return rmft.train_scan(env, rmft_cfg, learner, key, learning_rate=learning_rate)

    if not over_rates:
        return jax.jit(jax.vmap(one))
    # Outer axis: learning rates; inner: seeds.
    return jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0)))


__all__ = ["sweep_seeds"]
