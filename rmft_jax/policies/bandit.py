"""Classical stochastic-bandit baselines as pure policies (see :class:`rmft_jax.types.Policy`).

Each policy is a frozen dataclass of static hyper-parameters with pure
``init / noise / act / update``; its state is a small pytree of per-arm statistics.
Randomness is drawn in bulk by ``noise`` (``(T, ·)``), so the rollout's scan body
is pure arithmetic that XLA fuses.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from rmft_jax import _checks
from rmft_jax.types import BANDIT, Array, Policy


@struct.dataclass
class ArmStats:
    """Per-arm pull counts and reward sums, and the number of rounds played."""

    counts: Array  # (K,) float32
    sums: Array  # (K,) float32
    t: Array  # () int32


def init_stats(arms: int) -> ArmStats:
    return ArmStats(jnp.zeros((arms,)), jnp.zeros((arms,)), jnp.zeros((), jnp.int32))


def update_stats(s: ArmStats, action: Array, reward: Array) -> ArmStats:
    one = jax.nn.one_hot(action, s.counts.shape[0])
    return ArmStats(s.counts + one, s.sums + one * reward, s.t + 1)


def empirical_means(s: ArmStats) -> Array:
    return s.sums / jnp.maximum(s.counts, 1.0)


def first_unplayed_or(s: ArmStats, choice: Array) -> Array:
    """Pull every arm once (in index order) before following ``choice``."""
    unplayed = s.counts == 0
    return jnp.where(jnp.any(unplayed), jnp.argmax(unplayed), choice).astype(jnp.int32)


class BanditPolicy(Policy):
    feedback: ClassVar[str] = BANDIT
    arms: int

    def init(self, params=None) -> ArmStats:
        return init_stats(self.arms)

    def update(self, params, state: ArmStats, action, feedback) -> ArmStats:
        return update_stats(state, action, feedback)


@dataclasses.dataclass(frozen=True)
class UCB(BanditPolicy):
    """UCB with index ``μ̂_a + sqrt(c · ln t / n_a)`` after one pull of each arm.

    ``c = 2`` is UCB1 (Auer, Cesa-Bianchi and Fischer 2002) for rewards in [0, 1];
    for σ-sub-Gaussian rewards use ``c = 2σ²``. Ties go to the lowest index.
    """

    arms: int = 5
    c: float = 2.0

    def __post_init__(self):
        object.__setattr__(self, "arms", _checks.integer("arms", self.arms, 2))
        object.__setattr__(self, "c", _checks.real("c", self.c, low=0.0))

    def act(self, params, state: ArmStats, noise) -> Array:
        t = jnp.maximum(state.t, 1).astype(jnp.float32)
        index = empirical_means(state) + jnp.sqrt(self.c * jnp.log(t) / jnp.maximum(state.counts, 1.0))
        return first_unplayed_or(state, jnp.argmax(index))


@dataclasses.dataclass(frozen=True)
class GaussianThompson(BanditPolicy):
    """Thompson sampling with independent ``N(prior_mean, prior_std²)`` priors and known noise ``σ``.

    Posterior of arm ``a`` after ``n_a`` pulls with sum ``S_a``: precision
    ``1/prior_std² + n_a/σ²``, mean ``(prior_mean/prior_std² + S_a/σ²)/precision``.
    The standard normals are drawn in bulk, ``(T, K)``.
    """

    arms: int = 5
    noise_std: float = 1.0
    prior_mean: float = 0.5
    prior_std: float = 0.2886751345948129

    def __post_init__(self):
        object.__setattr__(self, "arms", _checks.integer("arms", self.arms, 2))
        for f, lo_open in (("noise_std", True), ("prior_std", True)):
            object.__setattr__(self, f, _checks.real(f, getattr(self, f), low=0.0, low_open=lo_open))
        object.__setattr__(self, "prior_mean", _checks.real("prior_mean", self.prior_mean))

    def noise(self, key, horizon):
        return jax.random.normal(key, (horizon, self.arms))

    def act(self, params, state: ArmStats, noise) -> Array:
        prec = 1.0 / self.prior_std**2 + state.counts / self.noise_std**2
        mean = (self.prior_mean / self.prior_std**2 + state.sums / self.noise_std**2) / prec
        return jnp.argmax(mean + noise * jax.lax.rsqrt(prec)).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class BetaThompson(BanditPolicy):
    """Beta–Bernoulli Thompson sampling with a ``Beta(alpha, beta)`` prior per arm.

    Rewards are treated as successes (Bernoulli); the per-round keys are split in bulk.
    """

    arms: int = 5
    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "arms", _checks.integer("arms", self.arms, 2))
        for f in ("alpha", "beta"):
            object.__setattr__(self, f, _checks.real(f, getattr(self, f), low=0.0, low_open=True))

    def noise(self, key, horizon):
        return jax.random.split(key, horizon)

    def act(self, params, state: ArmStats, noise) -> Array:
        a = self.alpha + state.sums
        b = self.beta + state.counts - state.sums
        return jnp.argmax(jax.random.beta(noise, a, b)).astype(jnp.int32)
