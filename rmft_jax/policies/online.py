"""Full-information online-learning baselines over the l2 ball (Env I) or the simplex (Env II).

Every policy here has ``feedback = "full"``: ``act`` returns ``π_t ∈ Π`` as a
``(d,)`` vector and ``update`` receives the whole reward vector ``R_t`` ``(d,)``.
The state is the cumulative reward ``S_{t−1} = Σ_{s<t} R_s`` and the round count,
so every policy is deterministic (no ``noise``), except Follow-the-Leader on the
simplex, which breaks ties between leading vertices uniformly at random.

* :class:`FTRL` — FTRL with the quadratic regulariser ``‖π‖²/(2η)`` on the ball, i.e.
  lazy projected gradient ascent ``π_t = Proj_{B(0,R)}(η S_{t−1})``.
* :class:`Hedge` — exponential weights on the simplex, ``π_t ∝ exp(η_t S_{t−1})``.
* :class:`FollowTheLeader` — ``π_t ∈ argmax_{π∈Π} ⟨π, S_{t−1}⟩``.
* :class:`OnlineUniform` — the centre of Π (``0`` on the ball, ``1/d`` on the simplex).

References:
  Cesa-Bianchi and Lugosi (2006), Prediction, Learning, and Games (CB&L): Thm 2.2
  (Hedge, fixed η) and Thm 2.3 (anytime η_t).
  Orabona (2019), A Modern Introduction to Online Learning, §7 (FTRL), Lemma 7.1.
  Hazan (2016), Introduction to Online Convex Optimization, §5.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from rmft_jax import checks
from rmft_jax.domain import DOMAINS, project_ball
from rmft_jax.policies.bandit import argmax_random_tie, tie_noise
from rmft_jax.types import FULL, ActionSpace, Array, Policy


@struct.dataclass
class CumulativeReward:
    """``S_{t−1} = Σ_{s<t} R_s`` ``(d,)`` and the number of rounds played."""

    total: Array
    t: Array


class OnlinePolicy(Policy):
    """Base of the full-information policies: the state is the cumulative reward.

    Each policy declares its action space: ``dim`` coordinates, full feedback, the
    domain it plays on and the ball's radius where it uses one.
    """

    feedback: ClassVar[str] = FULL
    dim: int

    def init(self, params=None, length=None) -> CumulativeReward:
        return CumulativeReward(jnp.zeros((self.dim,)), jnp.zeros((), jnp.int32))

    def update(self, params, state: CumulativeReward, action, feedback) -> CumulativeReward:
        return CumulativeReward(state.total + feedback, state.t + 1)


@dataclasses.dataclass(frozen=True)
class FTRL(OnlinePolicy):
    """FTRL with regulariser ``‖π‖²/(2η)`` on the ball ``B(0, R)`` (lazy projected gradient).

    ``π_t = argmax_{‖π‖≤R} ⟨π, S_{t−1}⟩ − ‖π‖²/(2η) = Proj_{B(0,R)}(η S_{t−1})``.

    Learning rate: ``eta`` if given (fixed), else horizon-tuned ``η = R/(G sqrt(T))``
    from ``horizon = T`` and ``grad_bound = G >= sup_t ‖R_t‖₂``.

    Bound (the one the tests check). By the FTL–BTL lemma (Orabona Lemma 7.1) with
    ``ψ(π) = ‖π‖²/(2η)`` and ``π_1 = 0``, for every ``t`` and ``‖u‖ <= R``,
    ``Regret_t(u) <= ψ(u) + Σ_{s≤t} ⟨R_s, π_{s+1} − π_s⟩ <= R²/(2η) + Σ_s ‖R_s‖ ‖π_{s+1} − π_s‖``,
    and ``‖π_{s+1} − π_s‖ <= η ‖R_s‖`` because the projection is 1-Lipschitz, so
    ``Regret_t <= R²/(2η) + η Σ_{s≤t} ‖R_s‖² <= R²/(2η) + η G² t``. At the tuned
    ``η = R/(G sqrt(T))`` every prefix ``t <= T`` has ``Regret_t <= (3/2) R G sqrt(T)``
    (within the textbook ``2 R G sqrt(T)``).
    """

    dim: int = 3
    radius: float = 1.0
    eta: float | None = None
    horizon: int | None = None
    grad_bound: float = 1.0
    domain: ClassVar[str] = "ball"

    def __post_init__(self):
        positive = checks.number(low=0.0, low_open=True)
        checks.validate(
            self,
            dim=checks.at_least(2),
            radius=positive,
            grad_bound=positive,
            eta=checks.optional(positive),
            horizon=checks.optional(checks.at_least(1)),
        )
        if self.eta is None and self.horizon is None:
            checks.fail("eta", "given, or horizon given to tune it as R/(G sqrt(T))", None)

    @property
    def rate(self) -> float:
        if self.eta is not None:
            return self.eta
        return self.radius / (self.grad_bound * math.sqrt(self.horizon))

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.feedback, self.dim, self.domain, self.radius)

    def regret_bound(self, t: int | None = None) -> float:
        """``R²/(2η) + η G² t``: the bound above for the prefix of length ``t`` (default ``T``)."""
        t = self.horizon if t is None else t
        return self.radius**2 / (2 * self.rate) + self.rate * self.grad_bound**2 * t

    def act(self, params, state: CumulativeReward, noise) -> Array:
        return project_ball(self.rate * state.total, self.radius)


@dataclasses.dataclass(frozen=True)
class Hedge(OnlinePolicy):
    """Hedge / exponential weights on the simplex: ``π_t ∝ exp(η_t S_{t−1})``.

    For rewards with ``R_{t,i} ∈ [a, a + reward_range]`` (Hedge is invariant to a
    common shift, so only the range matters):

    * ``horizon = T`` given: ``η = sqrt(8 ln d / T) / reward_range``, and for every
      prefix ``t <= T``, ``Regret_t <= ln d/η + η t range²/8 <= range · sqrt(T ln d / 2)``
      (CB&L Thm 2.2).
    * ``horizon=None`` (anytime): ``η_t = sqrt(8 ln d / t) / reward_range`` in round ``t``,
      with ``Regret_T <= range · (sqrt(2 T ln d) + sqrt(ln d / 8))`` (CB&L Thm 2.3).

    ``eta`` overrides both with a fixed rate.
    """

    dim: int = 3
    horizon: int | None = None
    reward_range: float = 1.0
    eta: float | None = None
    domain: ClassVar[str] = "simplex"

    def __post_init__(self):
        positive = checks.number(low=0.0, low_open=True)
        checks.validate(
            self,
            dim=checks.at_least(2),
            horizon=checks.optional(checks.at_least(1)),
            reward_range=positive,
            eta=checks.optional(positive),
        )

    def rate(self, t: Array) -> Array:
        """``η`` in round ``t`` (1-based)."""
        if self.eta is not None:
            return jnp.float32(self.eta)
        if self.horizon is not None:
            return jnp.float32(math.sqrt(8 * math.log(self.dim) / self.horizon) / self.reward_range)
        return jnp.sqrt(8 * math.log(self.dim) / t.astype(jnp.float32)) / self.reward_range

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.feedback, self.dim, self.domain)

    def regret_bound(self, t: int | None = None) -> float:
        """The bound above for the prefix of length ``t`` (default ``T``; anytime: Thm 2.3 at ``t``)."""
        t = self.horizon if t is None else t
        ln_d = math.log(self.dim)
        if self.eta is None and self.horizon is None:
            return self.reward_range * (math.sqrt(2 * t * ln_d) + math.sqrt(ln_d / 8))
        eta = self.eta if self.eta is not None else math.sqrt(8 * ln_d / self.horizon) / self.reward_range
        return ln_d / eta + eta * t * self.reward_range**2 / 8

    def act(self, params, state: CumulativeReward, noise) -> Array:
        return jax.nn.softmax(self.rate(state.t + 1) * state.total)


@dataclasses.dataclass(frozen=True)
class FollowTheLeader(OnlinePolicy):
    """Follow-the-Leader: ``π_t ∈ argmax_{π∈Π} ⟨π, S_{t−1}⟩``.

    * ball: ``π_t = R S_{t−1}/‖S_{t−1}‖`` (``0`` while ``S_{t−1} = 0``, e.g. in round 1);
    * simplex: the vertex ``e_i`` of the largest ``S_{t−1,i}``, ties (exact float
      equality) uniformly at random (so round 1 plays a uniformly random vertex),
      with one uniform per round from the noise ``(T,)``.

    Linear regret on the alternating sequence (CB&L §2.1; Orabona §7.1).
    """

    dim: int = 3
    domain: str = "ball"
    radius: float = 1.0

    def __post_init__(self):
        checks.validate(
            self, dim=checks.at_least(2), domain=checks.one_of(DOMAINS), radius=checks.number(low=0.0, low_open=True)
        )

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.feedback, self.dim, self.domain, self.radius)

    def noise(self, key, horizon):
        return tie_noise(key, horizon) if self.domain == "simplex" else super().noise(key, horizon)

    def act(self, params, state: CumulativeReward, noise) -> Array:
        if self.domain == "simplex":
            return jax.nn.one_hot(argmax_random_tie(state.total, noise), self.dim)
        norm = jnp.linalg.norm(state.total)
        return jnp.where(norm > 0, self.radius * state.total / jnp.maximum(norm, jnp.finfo(jnp.float32).tiny), 0.0)


@dataclasses.dataclass(frozen=True)
class OnlineUniform(OnlinePolicy):
    """The centre of Π every round: ``0`` on the ball, ``(1/d, …, 1/d)`` on the simplex.

    On the ball this earns exactly 0 each round, so its regret is ``R ‖S_t‖``.
    """

    dim: int = 3
    domain: str = "simplex"

    def __post_init__(self):
        checks.validate(self, dim=checks.at_least(2), domain=checks.one_of(DOMAINS))

    @property
    def action_space(self) -> ActionSpace:
        """The centre of Π: the same point on a ball of any radius (none named)."""
        return ActionSpace(self.feedback, self.dim, self.domain)

    def act(self, params, state: CumulativeReward, noise) -> Array:
        value = 1.0 / self.dim if self.domain == "simplex" else 0.0
        return jnp.full((self.dim,), value)
