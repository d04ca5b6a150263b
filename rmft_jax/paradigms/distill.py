"""Algorithm distillation (Laskin et al. 2023; EVOLvE's oracle behaviour fine-tuning, Nie et al. 2025):
imitate a bandit algorithm's actions on its own histories.

Each iteration rolls the *teacher* (Thompson sampling with the true prior and
noise, or UCB with ``c = 2σ²``; :func:`rmft_jax.policies.make_policy`) out on the
iteration's instances and fits the model with the project's bandit SFT loss
(``learner.loss``, :func:`rmft_jax.training.build_learner`): the teacher-forced
negative log-likelihood of the teacher's actions at every round. Its minimiser is
the teacher's action distribution given the history, so a well-fitted model plays
the teacher (up to the history shift between its own play and the teacher's).

Reading: Laskin et al.'s histories span many episodes of a learning RL agent;
for a bandit one episode of a bandit algorithm *is* a learning history, so this
is AD with a single-episode context (as EVOLvE does with UCB).
"""

from __future__ import annotations

import jax.numpy as jnp

from rmft_jax.paradigms.common import Paradigm, flatten
from rmft_jax.policies import make_policy
from rmft_jax.rollout import rollout_tasks

TEACHERS = ("thompson", "ucb")


def make_collect(teacher: str):
    """``collect`` with ``teacher``'s rollouts (one of :data:`TEACHERS`)."""
    if teacher not in TEACHERS:
        raise ValueError(f"teacher: must be one of {', '.join(TEACHERS)} (got {teacher!r})")

    def collect(env, cfg, learner, params, tasks, key):
        traj = rollout_tasks(env, make_policy(teacher, env), key, tasks, cfg.rollouts, None, cfg.shared_env_noise)
        rows = {"actions": flatten(traj.actions), "rewards": flatten(traj.rewards)}
        return rows, {"teacher_regret_mean": jnp.mean(traj.regret[..., -1])}

    return collect


def loss(learner, params, rows):
    return learner.loss(params, rows["actions"], rows["rewards"])


THOMPSON = Paradigm(collect=make_collect("thompson"), loss=loss)
UCB = Paradigm(collect=make_collect("ucb"), loss=loss)
