"""Baselines for non-stationary (drifting) bandits, scored by dynamic regret.

* :class:`SlidingWindowUCB` — SW-UCB: statistics of the last ``τ`` rounds only.
* :class:`DiscountedUCB` — D-UCB: statistics discounted by ``γ`` per round.
* :class:`DiscountedThompson` — Gaussian Thompson sampling on discounted statistics.

Both UCBs pull arms without statistics first and break ties uniformly at random
(one uniform per round from their ``(T,)`` noise), as in :mod:`rmft_jax.policies.bandit`.

References:
  Garivier and Moulines (2011), On upper-confidence bound policies for switching
  bandit problems, ALT (G&M below): D-UCB (§3) and SW-UCB (§4).
  Raj and Kalyani (2017), Taming non-stationary bandits: a Bayesian approach
  (discounted Thompson sampling, there for Beta–Bernoulli).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import struct

from rmft_jax import checks
from rmft_jax.domain import UNIFORM_STD
from rmft_jax.policies.bandit import (
    BanditPolicy,
    argmax_unplayed_first,
    gaussian_posterior_argmax,
    tie_noise,
)
from rmft_jax.types import Array


@struct.dataclass
class WindowState:
    """The last ``τ`` (arm, reward) pairs as a ring buffer, and their per-arm counts and sums.

    Empty slots hold arm ``-1``. ``counts``/``sums`` are kept incrementally (add the
    new pair, subtract the one leaving the window), so a round costs ``O(K)``, not ``O(τ)``.
    """

    arms_buf: Array  # (τ,) int32
    rewards_buf: Array  # (τ,) float32
    counts: Array  # (K,)
    sums: Array  # (K,)
    t: Array  # () int32


@dataclasses.dataclass(frozen=True)
class SlidingWindowUCB(BanditPolicy):
    """SW-UCB (G&M §4): index ``X̄_t(τ, a) + sqrt(c · ln min(t, τ) / N_t(τ, a))``.

    ``N_t(τ, a)`` and ``X̄_t(τ, a)`` are the pull count and mean reward of arm ``a``
    over the last ``window = τ`` rounds; an arm with no pull in the window has index
    ``+inf`` (pulled first, uniformly at random among such arms, as are ties). G&M's padding is
    ``B sqrt(ξ ln min(t, τ) / N)``, i.e. ``c = ξ B²`` (they use ``ξ = 0.6``; ``B``
    bounds the rewards), and ``τ = 2B sqrt(T ln T / Υ_T)`` for ``Υ_T`` breakpoints
    gives dynamic regret ``O(sqrt(Υ_T T ln T))``.
    """

    arms: int = 5
    window: int = 100
    c: float = 0.6

    def __post_init__(self):
        checks.validate(self, arms=checks.at_least(2), window=checks.at_least(1), c=checks.number(low=0.0))

    def init(self, params=None, length=None) -> WindowState:
        return WindowState(
            jnp.full((self.window,), -1, jnp.int32),
            jnp.zeros((self.window,)),
            jnp.zeros((self.arms,)),
            jnp.zeros((self.arms,)),
            jnp.zeros((), jnp.int32),
        )

    def noise(self, key, horizon):
        return tie_noise(key, horizon)

    def act(self, params, state: WindowState, noise) -> Array:
        n = jnp.maximum(state.counts, 1.0)
        span = jnp.minimum(jnp.maximum(state.t, 1), self.window).astype(jnp.float32)
        index = state.sums / n + jnp.sqrt(self.c * jnp.log(span) / n)
        # Counts are integers kept in float32 by exact +-1 steps, so "== 0" is exact.
        return argmax_unplayed_first(index, state.counts, noise)

    def update(self, params, state: WindowState, action, feedback) -> WindowState:
        pos = state.t % self.window
        old_arm, old_reward = state.arms_buf[pos], state.rewards_buf[pos]
        # one_hot(-1) is all zeros, so an empty slot subtracts nothing.
        out = jax.nn.one_hot(old_arm, self.arms)
        new = jax.nn.one_hot(action, self.arms)
        return WindowState(
            state.arms_buf.at[pos].set(action),
            state.rewards_buf.at[pos].set(feedback),
            state.counts - out + new,
            state.sums - out * old_reward + new * feedback,
            state.t + 1,
        )


@struct.dataclass
class DiscountedStats:
    """Discounted pull counts ``N_t(γ, a)`` and reward sums ``γ``-weighted, and a pulled-ever mask."""

    counts: Array  # (K,)
    sums: Array  # (K,)
    pulled: Array  # (K,) bool


def init_discounted(arms: int) -> DiscountedStats:
    return DiscountedStats(jnp.zeros((arms,)), jnp.zeros((arms,)), jnp.zeros((arms,), bool))


def update_discounted(s: DiscountedStats, gamma: float, action, reward) -> DiscountedStats:
    one = jax.nn.one_hot(action, s.counts.shape[0])
    return DiscountedStats(gamma * s.counts + one, gamma * s.sums + one * reward, s.pulled | (one > 0))


def default_discount(horizon: int, breakpoints: int) -> float:
    """G&M's ``γ = 1 − (1/4) sqrt(Υ_T / T)`` (their Thm 1 tuning with ``B = 1``), at least 0.5."""
    return max(0.5, 1.0 - 0.25 * math.sqrt(max(breakpoints, 1) / horizon))


def default_window(horizon: int, breakpoints: int) -> int:
    """G&M's ``τ = 2 sqrt(T ln T / Υ_T)`` (their Thm 3 tuning with ``B = 1``), in ``[1, T]``."""
    tau = 2.0 * math.sqrt(horizon * math.log(max(horizon, 2)) / max(breakpoints, 1))
    return int(min(max(round(tau), 1), horizon))


def budget_window(horizon: int, arms: int, variation: float) -> int:
    """A window (or restart batch) for drift with variation budget ``V_T``:
    ``τ = (K ln K)^{1/3} (T/V_T)^{2/3}`` in ``[1, T]``, Besbes, Gur and Zeevi's (2014) batch size
    for Rexp3, whose dynamic regret is ``O((K ln K)^{1/3} V_T^{1/3} T^{2/3})``. Used as SW-UCB's
    window, and ``γ = 1 − 1/τ`` (the same effective memory) as the discount, for smooth drifts."""
    v = max(float(variation), 1e-9)
    tau = (arms * math.log(max(arms, 2))) ** (1 / 3) * (horizon / v) ** (2 / 3)
    return int(min(max(round(tau), 1), horizon))


@dataclasses.dataclass(frozen=True)
class DiscountedUCB(BanditPolicy):
    """D-UCB (G&M §3): index ``X̄_t(γ, a) + sqrt(c · ln n_t(γ) / N_t(γ, a))``.

    ``N_t(γ, a) = Σ_{s≤t} γ^{t−s} 1{A_s = a}``, ``X̄_t(γ, a)`` the ``γ``-discounted mean
    reward and ``n_t(γ) = Σ_a N_t(γ, a)`` (``ln`` clipped at 0). Never-pulled arms
    have index ``+inf``; they and ties are picked uniformly at random. G&M's padding
    is ``2B sqrt(ξ ln n_t(γ) / N)``, i.e.
    ``c = 4 ξ B²`` (``ξ = 0.6`` gives the default ``c = 2.4`` for ``B = 1``).
    """

    arms: int = 5
    gamma: float = 0.99
    c: float = 2.4

    def __post_init__(self):
        checks.validate(
            self,
            arms=checks.at_least(2),
            gamma=checks.number(low=0.0, high=1.0, low_open=True),
            c=checks.number(low=0.0),
        )

    def init(self, params=None, length=None) -> DiscountedStats:
        return init_discounted(self.arms)

    def noise(self, key, horizon):
        return tie_noise(key, horizon)

    def act(self, params, state: DiscountedStats, noise) -> Array:
        n = jnp.maximum(state.counts, jnp.finfo(jnp.float32).tiny)
        total = jnp.maximum(jnp.sum(state.counts), 1.0)
        index = state.sums / n + jnp.sqrt(self.c * jnp.log(total) / n)
        return argmax_unplayed_first(index, state.pulled.astype(jnp.float32), noise)

    def update(self, params, state: DiscountedStats, action, feedback) -> DiscountedStats:
        return update_discounted(state, self.gamma, action, feedback)


@dataclasses.dataclass(frozen=True)
class DiscountedThompson(BanditPolicy):
    """Gaussian Thompson sampling on ``γ``-discounted statistics.

    The Gaussian analogue of Raj and Kalyani's (2017) discounted (Beta) TS: the
    conjugate posterior of :class:`~rmft_jax.policies.bandit.GaussianThompson` with
    the pull count and reward sum replaced by their discounted versions
    ``N_t(γ, a)`` and ``S_t(γ, a) = Σ_s γ^{t−s} 1{A_s = a} X_s``, so old evidence fades
    and the posterior widens back towards the prior. ``γ = 1`` is plain Gaussian TS.
    Standard normals are drawn in bulk, ``(T, K)``.
    """

    arms: int = 5
    gamma: float = 0.99
    noise_std: float = 1.0
    prior_mean: float = 0.5
    prior_std: float = UNIFORM_STD

    def __post_init__(self):
        positive = checks.number(low=0.0, low_open=True)
        checks.validate(
            self,
            arms=checks.at_least(2),
            gamma=checks.number(low=0.0, high=1.0, low_open=True),
            noise_std=positive,
            prior_std=positive,
            prior_mean=checks.number(),
        )

    def init(self, params=None, length=None) -> DiscountedStats:
        return init_discounted(self.arms)

    def noise(self, key, horizon):
        return jax.random.normal(key, (horizon, self.arms))

    def act(self, params, state: DiscountedStats, noise) -> Array:
        return gaussian_posterior_argmax(
            state.counts, state.sums, noise, self.prior_mean, self.prior_std, self.noise_std
        )

    def update(self, params, state: DiscountedStats, action, feedback) -> DiscountedStats:
        return update_discounted(state, self.gamma, action, feedback)
