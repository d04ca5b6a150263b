"""The regret-loss (Park et al. 2025, ICLR, "Do LLM agents have regret?"), our reconstruction for bandits.

Park et al. train on the regret of the model's *decisions* in full-information
online learning, where the loss vectors do not depend on what the model plays,
so the regret of the model's (mixed) decisions is a differentiable function of
its outputs. For a bandit we take the same object, the expected pseudo-regret of
the model's mixed decision ``π_θ(·|h_{t−1})`` in every round::

    loss = mean_{histories, t}  Σ_a π_θ(a | h_{t−1}) (μ* − μ_a)

on teacher-forced histories from the model's own rollouts (sampled at the start
of the iteration with the current weights, then held fixed for the iteration's
optimiser steps). Park et al.'s ``h`` is the identity here and there is no
max-type aggregation over sequences (their ``f(R, k)`` weights): the mean, their
``N = 1`` case.

What this reading implies: the gradient flows through the decision in each
round, not through the history the decision leads to (the actions are samples,
the histories data), so nothing rewards an action for what it *reveals*. The
minimiser at a history is all mass on ``argmax_a E[μ_a | h]``: the posterior
greedy policy, which explores only through the sampling temperature and the
history it was trained on. Compare DPT, whose minimiser is ``P(a* = a | h)``.
"""

from __future__ import annotations

import jax.numpy as jnp

from rmft_jax.paradigms.common import Paradigm, flatten, log_probs
from rmft_jax.rollout import rollout_tasks
from rmft_jax.types import Array


def expected_regret(log_probs: Array, gaps: Array) -> Array:
    """``mean_t Σ_a π_t(a) Δ_a`` for one history: ``log_probs (T, K)``, gaps ``Δ = μ* − μ`` ``(K,)``."""
    return jnp.mean(jnp.exp(log_probs) @ gaps)


def collect(env, cfg, learner, params, tasks, key):
    traj = rollout_tasks(env, learner.policy, key, tasks, cfg.rollouts, params, cfg.shared_env_noise)
    gaps = jnp.max(tasks.means, axis=-1, keepdims=True) - tasks.means
    rows = {"actions": flatten(traj.actions), "rewards": flatten(traj.rewards),
            "gaps": jnp.repeat(gaps, cfg.rollouts, axis=0)}
    return rows, {"rollout_regret_mean": jnp.mean(traj.regret[..., -1])}


def loss(learner, params, rows):
    logp = log_probs(learner, params, rows["actions"], rows["rewards"])
    value = jnp.mean(jnp.einsum("btk,bk->bt", jnp.exp(logp), rows["gaps"]))
    return value, {"expected_regret_per_round": value}


PARADIGM = Paradigm(collect=collect, loss=loss)
