"""Non-stationary (drifting) multi-armed bandits, scored by dynamic regret.

The task is the whole mean path ``μ_t ∈ R^K``, ``t = 1..T``:

* ``piecewise``: ``changes`` change points at uniformly random rounds; at each one
  every arm's mean is redrawn from ``U[0, 1]`` (abrupt changes).
* ``random_walk``: ``μ_{t+1} = reflect_[0,1](μ_t + walk_std·ε_t)``, ``μ_1 ~ U[0, 1]^K``.
* ``sinusoidal``: ``μ_{t,a} = ½ + amplitude·sin(2π t/period + φ_a)``, ``φ_a ~ U[0, 2π)``.

Rewards of the pulled arm follow the same processes as :mod:`rmft_jax.envs.bandit`.
The regret is the dynamic regret ``Σ_t (max_a μ_{t,a} − μ_{t,a_t})``, and
:func:`variation_budget` reports ``V_T = Σ_{t≥2} ‖μ_t − μ_{t−1}‖_∞``
(Besbes, Gur and Zeevi 2014).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from rmft_jax import checks
from rmft_jax.envs.bandit import REWARD_CHECKS, draw_noise, reward_from_noise
from rmft_jax.regret import dynamic_regret
from rmft_jax.types import BANDIT, Array, Environment, Episode

DRIFTS = ("piecewise", "random_walk", "sinusoidal")


@struct.dataclass
class DriftTask:
    """One drifting instance: the mean path ``(T, K)``."""

    means: Array


def variation_budget(means: Array) -> Array:
    """``V_T = Σ_{t≥2} max_a |μ_{t,a} − μ_{t−1,a}|`` for a ``(T, K)`` path."""
    return jnp.sum(jnp.max(jnp.abs(jnp.diff(means, axis=0)), axis=-1))


def reflect_unit(x: Array) -> Array:
    """Reflect into ``[0, 1]`` (a triangle wave of period 2)."""
    y = jnp.mod(x, 2.0)
    return jnp.where(y > 1.0, 2.0 - y, y)


@dataclasses.dataclass(frozen=True)
class DriftingBanditEnv(Environment):
    """A K-armed bandit whose means drift over the horizon.

    Attributes:
      arms, horizon, reward, noise, gamma_shape: as in :class:`BanditEnv`.
      drift: ``piecewise``, ``random_walk`` or ``sinusoidal``.
      changes: number of change points (piecewise).
      walk_std: per-round standard deviation of the random walk.
      period, amplitude: of the sinusoidal drift (``amplitude <= 0.5`` keeps means in [0, 1]).
    """

    feedback: ClassVar[str] = BANDIT

    arms: int = 5
    horizon: int = 100
    reward: str = "gaussian"
    noise: float = 1.0
    gamma_shape: float = 1.0
    drift: str = "piecewise"
    changes: int = 3
    walk_std: float = 0.02
    period: float = 50.0
    amplitude: float = 0.4

    def __post_init__(self):
        checks.validate(
            self,
            **REWARD_CHECKS,
            drift=checks.one_of(DRIFTS),
            changes=checks.at_least(0),
            walk_std=checks.number(low=0.0),
            period=checks.number(low=0.0, low_open=True),
            amplitude=checks.number(low=0.0, high=0.5),
        )

    @property
    def num_actions(self) -> int:
        return self.arms

    def sample_task(self, key: Array) -> DriftTask:
        T, K = self.horizon, self.arms
        k1, k2 = jax.random.split(key)
        if self.drift == "piecewise":
            n = self.changes + 1
            levels = jax.random.uniform(k1, (n, K))
            cuts = jnp.sort(jax.random.randint(k2, (self.changes,), 1, max(T, 2)))
            segment = jnp.searchsorted(cuts, jnp.arange(T), side="right")
            mu = levels[segment]
        elif self.drift == "random_walk":
            start = jax.random.uniform(k1, (K,))
            steps = self.walk_std * jax.random.normal(k2, (T - 1, K))
            path = jnp.concatenate([start[None], start + jnp.cumsum(steps, axis=0)])
            mu = reflect_unit(path)
        else:
            phi = jax.random.uniform(k1, (K,), maxval=2 * math.pi)
            t = jnp.arange(1, T + 1, dtype=jnp.float32)[:, None]
            mu = 0.5 + self.amplitude * jnp.sin(2 * math.pi * t / self.period + phi)
        if self.reward == "gamma":
            mu = jnp.maximum(mu, 1e-3)
        return DriftTask(mu.astype(jnp.float32))

    def realize(self, key: Array, task: DriftTask) -> Episode:
        return Episode(means=task.means, xi=draw_noise(self.reward, self.gamma_shape, key, (self.horizon, 1)))

    def step(self, means_t: Array, xi_t: Array, action: Array) -> tuple[Array, Array]:
        r = reward_from_noise(self.reward, self.noise, self.gamma_shape, means_t[action], xi_t[0])
        return r, r

    def regret(self, episode: Episode, actions: Array) -> Array:
        return dynamic_regret(episode.means, actions)
