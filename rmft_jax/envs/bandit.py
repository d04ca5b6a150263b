"""Stochastic multi-armed bandits (paper §2.2; Krishnamurthy et al. 2024 for the fixtures).

A task is the vector of arm means ``μ ∈ R^K``, drawn from a prior or fixed by the user.
Rewards of the pulled arm ``a`` in round ``t`` are

* ``bernoulli``: ``r = 1[ξ_t < μ_a]`` with ``ξ_t ~ U(0, 1)``; means in ``[0, 1]``;
* ``gaussian``:  ``r = μ_a + σ ξ_t`` with ``ξ_t ~ N(0, 1)``, ``σ = noise``;
* ``gamma``:     ``r = μ_a ξ_t`` with ``ξ_t ~ Gamma(α, 1)/α``, ``α = gamma_shape``: a
  mean-parameterised gamma (mean ``μ_a``, variance ``μ_a²/α``); means ``> 0``.

Only the pulled arm is observed, so one base noise ``ξ_t`` per round suffices: the
law of the observed process is the same as with independent per-arm draws, and it
costs ``K`` times fewer random numbers. The noise is drawn in bulk by
:meth:`BanditEnv.realize`.

Reconstruction note: the paper names reward processes ``gaussian``, ``gaussianmu``,
``gamma`` and ``bernoulli`` but their parameters are not available to us. Our
defaults (means ``~ U[0, 1]``, ``σ = 1``, ``α = 1``) follow the BanditBench/
RMFT-NOTES setting, not the paper.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from rmft_jax import checks
from rmft_jax.domain import UNIFORM_STD
from rmft_jax.regret import pseudo_regret
from rmft_jax.types import BANDIT, Array, Environment, Episode

REWARDS = ("bernoulli", "gaussian", "gamma")
PRIORS = ("uniform", "gaussian", "fixed")
# The checks of a bandit's reward process, the fields every bandit environment shares (in this order).
REWARD_CHECKS = {
    "arms": checks.at_least(2),
    "horizon": checks.at_least(1),
    "reward": checks.one_of(REWARDS),
    "noise": checks.number(low=0.0),
    "gamma_shape": checks.number(low=0.0, low_open=True),
}


@struct.dataclass
class BanditTask:
    """One bandit instance: ``means`` ``(K,)``."""

    means: Array


def reward_from_noise(reward: str, noise: float, gamma_shape: float, mean: Array, xi: Array) -> Array:
    """Map base noise ``ξ`` to a reward of the given process with mean ``mean``."""
    del gamma_shape  # already folded into ξ by ``draw_noise``
    if reward == "bernoulli":
        return (xi < mean).astype(jnp.float32)
    if reward == "gaussian":
        return mean + noise * xi
    return mean * xi


def draw_noise(reward: str, gamma_shape: float, key: Array, shape: tuple[int, ...]) -> Array:
    """Bulk base noise for ``reward`` (see the module docstring)."""
    if reward == "bernoulli":
        return jax.random.uniform(key, shape)
    if reward == "gaussian":
        return jax.random.normal(key, shape)
    return jax.random.gamma(key, gamma_shape, shape) / gamma_shape


def check_means(field: str, reward: str, means) -> None:
    """Raise if ``means`` lie outside the reward process's range."""
    if reward == "bernoulli" and any(not 0.0 <= m <= 1.0 for m in means):
        checks.fail(field, "in [0, 1] for bernoulli rewards", list(means))
    if reward == "gamma" and any(m <= 0.0 for m in means):
        checks.fail(field, "> 0 for gamma rewards", list(means))


@dataclasses.dataclass(frozen=True)
class BanditEnv(Environment):
    """A K-armed stochastic bandit with horizon ``T``.

    Attributes:
      arms: number of arms ``K >= 2`` (static).
      horizon: ``T >= 1`` (static).
      reward: ``bernoulli``, ``gaussian`` or ``gamma``.
      noise: Gaussian noise scale ``σ >= 0`` (gaussian rewards only).
      gamma_shape: shape ``α > 0`` of the mean-parameterised gamma.
      prior: how task means are drawn: ``uniform`` on ``[prior_low, prior_high]``,
        ``gaussian`` ``N(prior_mean, prior_std²)`` (clipped into the reward
        process's range), or ``fixed`` (``means``; implied when ``means`` is given).
      means: a fixed instance, one mean per arm.
    """

    feedback: ClassVar[str] = BANDIT

    arms: int = 5
    horizon: int = 100
    reward: str = "gaussian"
    noise: float = 1.0
    gamma_shape: float = 1.0
    prior: str = "uniform"
    means: tuple[float, ...] | None = None
    prior_low: float = 0.0
    prior_high: float = 1.0
    prior_mean: float = 0.5
    prior_std: float = UNIFORM_STD

    def __post_init__(self):
        checks.validate(
            self, **REWARD_CHECKS, means=lambda field, value: checks.reals(field, value, self.arms)  # None passes
        )
        if self.means is not None:
            check_means("means", self.reward, self.means)
            if self.prior not in ("fixed", "uniform"):
                checks.fail("prior", "'fixed' when means are given", self.prior)
            object.__setattr__(self, "prior", "fixed")  # given means are the task: the prior is 'fixed'
        checks.validate(
            self,
            prior=checks.one_of(PRIORS),
            prior_low=checks.number(),
            prior_high=checks.number(),
            prior_mean=checks.number(),
            prior_std=checks.number(low=0.0),
        )
        if self.prior == "fixed" and self.means is None:
            checks.fail("means", "a list of K numbers when prior is 'fixed'", None)
        if self.prior == "uniform":
            if self.prior_high <= self.prior_low:
                checks.fail("prior_high", f"> prior_low = {self.prior_low}", self.prior_high)
            check_means("prior_low/prior_high", self.reward, (self.prior_low, self.prior_high))
            if self.reward == "gamma" and self.prior_low <= 0:
                checks.fail("prior_low", "> 0 for gamma rewards", self.prior_low)

    @property
    def num_actions(self) -> int:
        return self.arms

    def sample_task(self, key: Array) -> BanditTask:
        if self.prior == "fixed":
            return BanditTask(jnp.asarray(self.means, jnp.float32))
        if self.prior == "uniform":
            mu = jax.random.uniform(key, (self.arms,), minval=self.prior_low, maxval=self.prior_high)
        else:
            mu = self.prior_mean + self.prior_std * jax.random.normal(key, (self.arms,))
            if self.reward == "bernoulli":
                mu = jnp.clip(mu, 0.0, 1.0)
            elif self.reward == "gamma":
                mu = jnp.maximum(mu, 1e-3)
        return BanditTask(mu)

    def realize(self, key: Array, task: BanditTask) -> Episode:
        xi = draw_noise(self.reward, self.gamma_shape, key, (self.horizon, 1))
        means = task.means[None, :]  # (1, K): constant over rounds
        return Episode(means=means, xi=xi)

    def step(self, means_t: Array, xi_t: Array, action: Array) -> tuple[Array, Array]:
        r = reward_from_noise(self.reward, self.noise, self.gamma_shape, means_t[action], xi_t[0])
        return r, r

    def regret(self, episode: Episode, actions: Array) -> Array:
        return pseudo_regret(episode.means, actions)
