"""Policy gradient on regret: REINFORCE with a group-relative baseline (GRPO-style; Shao et al. 2024).

Each iteration rolls the model out ``L`` times on each of the ``M`` instances (as
RMFT does, with RMFT's reward tapes: shared by the ``L`` rollouts of an instance
when ``cfg.shared_env_noise``). A rollout's reward is its negative per-round
pseudo-regret ``R = −Regret(T)/T``, and its advantage is relative to the other
rollouts of its instance, the leave-one-out mean (RLOO; Kool et al. 2019)::

    A_l = R_l − mean_{j ≠ l} R_j = L/(L − 1) · (R_l − mean_j R_j)

Unlike GRPO, ``A`` is not divided by the group's standard deviation, which
biases the gradient; the leave-one-out baseline keeps it unbiased, also with
shared reward tapes (given the tape, rollouts differ only through their
independent policy noise, so another rollout's reward is independent of this
one's score). The ``cfg.sft_steps`` optimiser steps of an iteration reuse its
rollouts through PPO's clipped ratio (as GRPO does), per token::

    loss = −mean_{rollouts, t} min(ρ_t A, clip(ρ_t, 1 − ε, 1 + ε) A) + β · mean_t KL(π_θ(·|h_t) ‖ π_base(·|h_t))
    ρ_t  = π_θ(a_t | h_{t−1}) / π_old(a_t | h_{t−1})

At the first step ``ρ = 1`` and the gradient is the REINFORCE estimator
``mean_{l,t} A_l ∇ log π_θ(a_t^l | h^l_{t−1})``, whose mean is ``∇ E[R] / T``
(``tests/test_paradigms.py`` checks it by enumeration). ``β = 0``: no KL term
(the ``policy_gradient`` paradigm); ``β > 0``: the exact KL over the ``K`` arms to
the base model at every round of the history (``policy_gradient_kl``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rmft_jax.paradigms.common import Paradigm, flatten, log_probs
from rmft_jax.rollout import rollout_tasks
from rmft_jax.types import Array

CLIP = 0.2  # PPO's and GRPO's ε
KL_COEF = 0.04  # GRPO's β (DeepSeekMath), for the KL variant


def group_advantages(reward: Array) -> Array:
    """Leave-one-out advantages ``(M, L)`` of rewards ``(M, L)`` (``L >= 2`` rollouts per instance)."""
    n = reward.shape[-1]
    if n < 2:
        raise ValueError(f"rollouts: must be >= 2 for a group baseline (got {n})")
    return n / (n - 1) * (reward - jnp.mean(reward, axis=-1, keepdims=True))


def clipped_surrogate(logp_actions: Array, old_logp: Array, advantage: Array, clip: float = CLIP) -> Array:
    """``−mean_{l,t} min(ρ A, clip(ρ) A)``: ``logp_actions``, ``old_logp`` ``(B, T)``, ``advantage (B,)``."""
    ratio = jnp.exp(logp_actions - old_logp)
    adv = advantage[:, None]
    return -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip, 1.0 + clip) * adv))


def collect(env, cfg, learner, params, tasks, key):
    traj = rollout_tasks(env, learner.policy, key, tasks, cfg.rollouts, params, cfg.shared_env_noise)
    reward = -traj.regret[..., -1] / env.horizon
    actions, rewards = flatten(traj.actions), flatten(traj.rewards)
    old = jnp.take_along_axis(log_probs(learner, params, actions, rewards), actions[..., None], axis=-1)[..., 0]
    rows = {"actions": actions, "rewards": rewards, "advantage": flatten(group_advantages(reward)),
            "old_logp": jax.lax.stop_gradient(old)}
    return rows, {"rollout_regret_mean": jnp.mean(traj.regret[..., -1])}


def make_loss(kl_coef: float = 0.0, clip: float = CLIP):
    """The loss with KL coefficient ``β = kl_coef`` to the base model (``learner.base_params``)."""

    def loss(learner, params, rows):
        logp = log_probs(learner, params, rows["actions"], rows["rewards"])
        taken = jnp.take_along_axis(logp, rows["actions"][..., None], axis=-1)[..., 0]
        surrogate = clipped_surrogate(taken, rows["old_logp"], rows["advantage"], clip)
        aux = {"surrogate": surrogate}
        if not kl_coef:
            return surrogate, aux
        base = jax.lax.stop_gradient(log_probs(learner, learner.base_params, rows["actions"], rows["rewards"]))
        kl = jnp.mean(jnp.sum(jnp.exp(logp) * (logp - base), axis=-1))
        aux["kl_to_base"] = kl
        return surrogate + kl_coef * kl, aux

    return loss


PARADIGM = Paradigm(collect=collect, loss=make_loss(0.0))
WITH_KL = Paradigm(collect=collect, loss=make_loss(KL_COEF))
