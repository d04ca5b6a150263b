"""Optimal-action pretraining (DPT-style; Lee et al. 2023, "Supervised Pretraining Can Learn
In-Context Reinforcement Learning").

The trainer knows the arm means. It rolls out a fixed *behaviour distribution*
(not the model) on the iteration's instances and fits the model, at every prefix
of every history, to the optimal arm ``a* = argmax_a μ_a`` of the instance::

    loss = mean_{histories, t}  −log π_θ(a* | h_{t−1})

Behaviour distribution (:class:`DPTBehaviour`): DPT's own bandit roll-in
(``collect_data.py``, ``rollin_bandit``, jon--lee/decision-pretrained-transformer
at commit 144c61d): each history draws ``c`` uniformly from ``{0, 0.1, …, 1}``,
``p ~ Dirichlet(1_K)`` and an arm ``i`` uniformly, and plays ``T`` i.i.d. actions
from ``(1 − c)·p + c·e_i``: non-adaptive histories from nearly uniform to
concentrated on one (random) arm. The minimiser of the loss is the posterior
probability ``P(a* = a | h)`` under these histories, so a well-fitted model plays
posterior sampling (Thompson sampling) on its own histories (DPT's Theorem 1),
to the extent that its own histories resemble the behaviour's.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rmft_jax import checks
from rmft_jax.paradigms.common import Paradigm, flatten, log_probs
from rmft_jax.policies.bandit import BanditPolicy
from rmft_jax.rollout import rollout_tasks
from rmft_jax.types import Array

MIXING = tuple(i / 10 for i in range(11))


@dataclasses.dataclass(frozen=True)
class DPTBehaviour(BanditPolicy):
    """DPT's roll-in: ``T`` i.i.d. actions from ``(1 − c)·Dirichlet(1) + c·e_i`` (see the module docstring).

    Non-adaptive, so the whole action sequence is the policy's bulk noise ``(T,)``
    and ``act`` reads it; ``mixing`` holds the values ``c`` is drawn from.
    """

    arms: int = 5
    mixing: tuple[float, ...] = MIXING

    def __post_init__(self):
        checks.validate(self, arms=checks.at_least(2))

    def noise(self, key: Array, horizon: int) -> Array:
        k_c, k_p, k_i, k_a = jax.random.split(key, 4)
        c = jax.random.choice(k_c, jnp.asarray(self.mixing))
        p = jax.random.dirichlet(k_p, jnp.ones(self.arms))
        point = jax.nn.one_hot(jax.random.randint(k_i, (), 0, self.arms), self.arms)
        probs = (1.0 - c) * p + c * point
        return jax.random.categorical(k_a, jnp.log(probs), shape=(horizon,)).astype(jnp.int32)

    def act(self, params, state, noise: Array) -> Array:
        return noise


def optimal_action(means: Array) -> Array:
    """The label: ``argmax_a μ_a`` (int32), over the last axis."""
    return jnp.argmax(means, axis=-1).astype(jnp.int32)


def optimal_action_loss(log_probs: Array, label: Array) -> Array:
    """``mean_t −log π(label | h_{t−1})`` for one history: ``log_probs (T, K)``, ``label ()``."""
    return -jnp.mean(log_probs[:, label])


def collect(env, cfg, learner, params, tasks, key):
    behaviour = DPTBehaviour(arms=env.num_actions)
    traj = rollout_tasks(env, behaviour, key, tasks, cfg.rollouts, None, cfg.shared_env_noise)
    label = jnp.repeat(optimal_action(tasks.means), cfg.rollouts)
    rows = {"actions": flatten(traj.actions), "rewards": flatten(traj.rewards), "label": label}
    return rows, {"behaviour_regret_mean": jnp.mean(traj.regret[..., -1])}


def loss(learner, params, rows):
    logp = log_probs(learner, params, rows["actions"], rows["rewards"])
    value = jnp.mean(jax.vmap(optimal_action_loss)(logp, rows["label"]))
    return value, {"cross_entropy": value}


PARADIGM = Paradigm(collect=collect, loss=loss)
