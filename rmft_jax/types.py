"""The data that flows through rmft-jax, and the two contracts every component declares.

An *environment* samples a task (its parameters: arm means, a latent mean reward
vector, a drift path), then *realises* it over the horizon into an :class:`Episode`:
the per-round mean table and the per-round randomness, drawn in bulk. A *policy*
(a baseline or a model) is run over an episode by :func:`rmft_jax.rollout.rollout`,
which yields a :class:`Trajectory`.

All containers are pytrees, unbatched; batches are made by ``jax.vmap`` at call
sites, so a batch of tasks is the same container with a leading axis.

The contracts are declared here, with their defaults, so that the rollout engine
reads no attribute a class does not declare: :class:`Environment` (``reset`` is
``sample_task`` + ``realize``, then ``step`` and ``regret``) and :class:`Policy`
(``init``, ``noise``, ``act``, ``update``, plus the layout hooks ``segments``,
``resize``, ``state_batch_axes`` and ``batch_tile``, whose defaults mean "one scan,
one batch"). Both describe what they act on with an :class:`ActionSpace`, and a
policy runs in an environment whose action space it accepts
(:meth:`ActionSpace.mismatch`).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
from flax import struct

Array = jax.Array
PyTree = Any

BANDIT = "bandit"  # feedback: the chosen arm's reward only
FULL = "full"  # feedback: the whole reward vector R_t
FEEDBACKS = (BANDIT, FULL)


@dataclasses.dataclass(frozen=True)
class ActionSpace:
    """What an environment offers, or what a policy is built to play, in one round.

    Attributes:
      feedback: ``"bandit"`` (an int32 arm; the learner observes the chosen arm's
        reward) or ``"full"`` (a point ``π ∈ Π`` of shape ``(d,)``; it observes the
        whole reward vector ``R_t``).
      count: the number of arms ``K`` (bandit) or the dimension ``d`` (full).
      domain: ``Π`` for full information, ``"ball"`` or ``"simplex"``; ``None`` for
        bandits, and for a policy whose actions fit either domain.
      radius: the radius of the ball; ``None`` where no radius applies (bandits,
        the simplex, a policy that plays the same point on any ball).
    """

    feedback: str
    count: int
    domain: str | None = None
    radius: float | None = None

    def mismatch(self, policy: ActionSpace) -> str | None:
        """The first field on which a policy built for ``policy`` cannot act here, or ``None``.

        It can when feedback and count are equal, the domains too where both name
        one, and on the ball the radius too where the policy names one.
        """
        if policy.feedback != self.feedback:
            return "feedback"
        if policy.count != self.count:
            return "count"
        if None not in (self.domain, policy.domain) and policy.domain != self.domain:
            return "domain"
        if self.domain == "ball" and policy.radius is not None and policy.radius != self.radius:
            return "radius"
        return None


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
    """A decision-making algorithm as pure functions (baselines and models alike).

    Subclasses are frozen dataclasses holding static hyper-parameters, so that two
    equal policies hash equal and a jitted entry point compiles once per policy.
    Anything that must be traced (a model's weights) travels in ``params``.

    Declared by every policy: ``feedback`` (``"bandit"``: ``update`` receives the
    chosen arm's reward, a scalar; ``"full"``: the reward vector ``R_t``),
    :attr:`action_space`, :meth:`init`, :meth:`act` and :meth:`update`. The rest
    has defaults: :meth:`noise` (none), and hooks that change only the layout of
    a rollout, not its algorithm (values agree to float rounding; see
    :mod:`rmft_jax.rollout`):

    * :meth:`segments`: ``None``, one scan over the rounds (then :meth:`init` is
      called without ``length`` and :meth:`resize` never);
    * :meth:`state_batch_axes`: every state leaf batched along axis 0;
    * :attr:`batch_tile`: ``None``, a batch of rollouts runs at once.
    """

    feedback: ClassVar[str]

    @property
    @abc.abstractmethod
    def action_space(self) -> ActionSpace:
        """What the policy is built to play (its ``domain`` and ``radius`` ``None`` if any fit)."""

    @abc.abstractmethod
    def init(self, params: PyTree, length: int | None = None) -> PyTree:
        """The policy's state before round 1.

        ``length`` is given only to a policy that declares :meth:`segments`: the
        state size of the first segment (e.g. a key/value cache of ``length`` slots).
        """

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

    def segments(self, horizon: int) -> tuple[tuple[int, int], ...] | None:
        """How a rollout of ``horizon`` rounds sizes the state, or ``None`` (the default): one scan.

        A policy whose state can be sized to the rounds it serves (the
        Transformer's key/value cache) returns static pairs ``(end_round, size)``,
        the last ending at ``horizon``: rounds ``[previous end, end)`` run on a
        state of ``size`` (made by ``init(params, size)`` for the first segment and
        :meth:`resize` for the next ones). The values are those of one scan, to
        float rounding.
        """
        del horizon
        return None

    def resize(self, state: PyTree, length: int) -> PyTree:
        """The state resized to ``length`` between :meth:`segments` (filled entries kept).

        Called only for a policy that declares segments, which must override it."""
        raise NotImplementedError(f"{type(self).__name__} declares segments and must define resize")

    def state_batch_axes(self, state: PyTree) -> PyTree:
        """``vmap`` axes of the state in a batch of rollouts: ``0`` (batched) or ``None`` (shared).

        The default batches every leaf. A leaf that is the same for every rollout
        (a decode position) may be marked ``None``: it then stays one value, which
        changes the layout, not the values."""
        return jax.tree.map(lambda _: 0, state)

    @property
    def batch_tile(self) -> int | None:
        """Rollouts per tile when a batch runs tile by tile on one CPU device (``None``, the default: at once).

        See :func:`rmft_jax.rollout._batch_tile`."""
        return None


class Environment(abc.ABC):
    """A decision-making environment: a frozen, validated dataclass of static settings.

    ``horizon`` and the action count are static shape fields: changing them
    compiles anew, changing the sampled task does not. Declared by every
    environment: ``feedback``, ``horizon``, :attr:`num_actions`, :meth:`sample_task`,
    :meth:`realize`, :meth:`step` and :meth:`regret`; :attr:`action_space` defaults
    to ``num_actions`` actions of that feedback on no particular domain.
    """

    feedback: ClassVar[str]
    horizon: int

    @property
    @abc.abstractmethod
    def num_actions(self) -> int:
        """Arms ``K`` (bandits) or the dimension ``d`` (online learning)."""

    @property
    def action_space(self) -> ActionSpace:
        """What a policy must be built to play here (:meth:`ActionSpace.mismatch`)."""
        return ActionSpace(self.feedback, self.num_actions)

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
