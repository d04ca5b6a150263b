"""The data that flows through rmft-jax: episodes, trajectories and the policy protocol.

An *environment* samples a task (its parameters: arm means, a latent mean reward
vector, a drift path), then *realises* it over the horizon into an :class:`Episode`:
the per-round mean table and the per-round randomness, drawn in bulk. A *policy*
(a baseline or a model) is run over an episode by :func:`rmft_jax.rollout.rollout`,
which yields a :class:`Trajectory`.

All containers are pytrees, unbatched; batches are made by ``jax.vmap`` at call
sites, so a batch of tasks is the same container with a leading axis.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, NamedTuple

import jax
from flax import struct

Array = jax.Array
PyTree = Any

BANDIT = "bandit"  # feedback: the chosen arm's reward only
FULL = "full"  # feedback: the whole reward vector R_t


@struct.dataclass
class Episode:
    """One realised environment instance.

    Attributes:
      means: ``(T, n)`` expected reward of every arm (bandit, ``n = K``) or every
        coordinate (online learning, ``n = d``) in every round, or ``(1, n)`` when
        it is constant over rounds (stationary bandits; it broadcasts). The trainer
        and the regret functions read it, the learner never does.
      xi: ``(T, m)`` the per-round randomness, drawn in bulk before the rollout. For
        bandits ``m = 1`` (a base noise that the reward process maps onto the chosen
        arm); for online learning ``m = d`` and ``xi`` *is* the reward vector ``R_t``.
    """

    means: Array
    xi: Array


class Trajectory(NamedTuple):
    """What one rollout produced (add leading axes for batches).

    Attributes:
      actions: ``(T,)`` int32 arm indices (bandits) or ``(T, d)`` policies in Π
        (online learning).
      rewards: ``(T,)`` the reward the learner earned each round (bandit: the
        realised reward of the pulled arm; online: ``<π_t, R_t>``).
      regret: ``(T,)`` the environment's exact cumulative regret curve
        (pseudo-regret, static regret or dynamic regret; see :mod:`rmft_jax.regret`).
      best: ``(T,)`` int32 index of the arm (coordinate) with the largest mean in
        each round; the exploration metrics need it.
      feedback: ``(T, d)`` what a full-information learner observed (the reward
        vectors ``R_t``), which SFT replays as the model's input; ``None`` for
        bandit feedback, where the observation is ``rewards`` itself.
    """

    actions: Array
    rewards: Array
    regret: Array
    best: Array
    feedback: Array | None = None


class Policy(abc.ABC):
    """A decision-making algorithm as four pure functions (baselines and models alike).

    Subclasses are frozen dataclasses holding static hyper-parameters, so that two
    equal policies hash equal and a jitted entry point compiles once per policy.
    Anything that must be traced (a model's weights) travels in ``params``.

    ``feedback`` is ``"bandit"`` (``update`` receives the chosen arm's reward, a
    scalar) or ``"full"`` (``update`` receives the reward vector ``R_t``).
    """

    feedback: ClassVar[str]

    def init(self, params: PyTree) -> PyTree:
        """The policy's state before round 1."""
        raise NotImplementedError

    def noise(self, key: Array, horizon: int) -> PyTree:
        """All the randomness the policy will use, drawn in bulk, leading axis ``T``.

        The default is no randomness (a ``(T, 0)`` array)."""
        del key
        return jax.numpy.zeros((horizon, 0))

    @abc.abstractmethod
    def act(self, params: PyTree, state: PyTree, noise: PyTree) -> Array:
        """The action (int32 arm) or policy (``(d,)`` point of Π) for this round."""

    @abc.abstractmethod
    def update(self, params: PyTree, state: PyTree, action: Array, feedback: Array) -> PyTree:
        """The state after playing ``action`` and observing ``feedback``."""


class Environment(abc.ABC):
    """A decision-making environment: a frozen, validated dataclass of static settings.

    ``horizon`` and the action count are static shape fields: changing them
    compiles anew, changing the sampled task does not.
    """

    feedback: ClassVar[str]
    horizon: int

    @property
    @abc.abstractmethod
    def num_actions(self) -> int:
        """Arms ``K`` (bandits) or the dimension ``d`` (online learning)."""

    @abc.abstractmethod
    def sample_task(self, key: Array) -> PyTree:
        """The parameters of one environment instance, drawn from the task prior."""

    @abc.abstractmethod
    def realize(self, key: Array, task: PyTree) -> Episode:
        """Draw the per-round randomness of ``task`` over the horizon."""

    @abc.abstractmethod
    def step(self, means_t: Array, xi_t: Array, action: Array) -> tuple[Array, Array]:
        """One round: ``(feedback for the learner, reward earned)``."""

    @abc.abstractmethod
    def regret(self, episode: Episode, actions: Array) -> Array:
        """The exact cumulative regret curve ``(T,)`` of ``actions`` on ``episode``."""
