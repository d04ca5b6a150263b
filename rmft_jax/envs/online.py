"""Full-information online learning over the l2 ball (Env I) or the simplex (Env II).

Rounds ``t = 1..T``: the learner plays ``π_t ∈ Π``, then the whole reward vector
``R_t ∈ R^d`` is revealed and it earns ``⟨π_t, R_t⟩`` (higher is better). Regret is
static regret against the best fixed ``π ∈ Π`` in hindsight
(:func:`rmft_jax.regret.static_regret`).

Reward-vector sequences (``sequence``), all drawn in bulk by :meth:`OnlineEnv.realize`:

* ``stochastic``: a latent per-environment mean ``μ ~ N(0, mean_scale² I)`` and
  ``R_t = μ + noise·ε_t``, ``ε_t ~ N(0, I)`` (the setting of ``THEORY.md``).
* ``uniform``: ``R_t ~ U[0, 1]^d`` i.i.d.
* ``alternating``: the classical Follow-the-Leader trap on two random coordinates
  ``i ≠ j``: ``R_1 = ½ e_i``, then ``e_j, e_i, e_j, …``.
* ``linear_trend``: ``R_t = b + s·t/T + noise·ε_t`` with ``b ~ U[0, 1]^d``,
  ``s ~ U[−1, 1]^d``.
* ``sine_trend``: ``R_t = ½ + ½ sin(2π t/period + φ) + noise·ε_t``, ``φ ~ U[0, 2π)^d``.
* ``random_sign``: ``R_t ∈ {−1, +1}^d`` uniformly at random.
* ``custom``: a user sequence of shape ``(T, d)`` (``data``; the CLI reads a ``.npy``).

``Episode.means`` holds the noiseless part of each sequence (``μ`` for
``stochastic``; the sequence itself for deterministic and adversarial families), so
``static_regret(episode.means, …)`` is the pseudo-regret used by the theory module.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rmft_jax import checks
from rmft_jax.domain import DOMAINS
from rmft_jax.regret import static_regret
from rmft_jax.types import FULL, ActionSpace, Array, Environment, Episode

SEQUENCES = (
    "stochastic",
    "uniform",
    "alternating",
    "linear_trend",
    "sine_trend",
    "random_sign",
    "custom",
)


@struct.dataclass
class OnlineTask:
    """One online-learning instance: the noiseless part of the sequence, ``(T, d)``."""

    means: Array


def check_sequence(data, horizon: int | None, dim: int | None) -> np.ndarray:
    """Validate a user reward sequence: shape ``(T, d)``, finite values."""
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        checks.fail("sequence", "an array of shape (T, d)", f"shape {arr.shape}")
    if horizon is not None and arr.shape[0] != horizon:
        checks.fail("sequence", f"an array with T = horizon = {horizon} rows", f"shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        checks.fail("sequence", f"an array with d = dim = {dim} columns", f"shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        checks.fail("sequence", "finite (no NaN or inf)", "non-finite values")
    if arr.size and np.max(np.abs(arr)) > checks.FLOAT32_MAX:
        checks.fail("sequence", "values within float32 range (|x| <= 3.4e38)", f"max |x| = {np.max(np.abs(arr)):.3g}")
    return arr


@dataclasses.dataclass(frozen=True)
class OnlineEnv(Environment):
    """Full-information online learning.

    Attributes:
      dim: dimension ``d >= 2`` (static).
      horizon: ``T >= 1`` (static).
      domain: ``ball`` (Env I) or ``simplex`` (Env II).
      radius: ``R_Π > 0`` of the ball.
      sequence: one of ``SEQUENCES``.
      noise: noise scale of ``stochastic``, ``linear_trend`` and ``sine_trend``.
      mean_scale: ``σ_μ`` of the latent mean of ``stochastic``.
      period: period of ``sine_trend`` in rounds.
      data: the ``custom`` sequence as a tuple of rows (hashable, so the env stays static).
    """

    feedback: ClassVar[str] = FULL

    dim: int = 3
    horizon: int = 100
    domain: str = "ball"
    radius: float = 1.0
    sequence: str = "stochastic"
    noise: float = 1.0
    mean_scale: float = 1.0
    period: float = 25.0
    data: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self):
        checks.validate(
            self,
            dim=checks.at_least(2),
            horizon=checks.at_least(1),
            domain=checks.one_of(DOMAINS),
            radius=checks.number(low=0.0, low_open=True),
            sequence=checks.one_of(SEQUENCES),
            noise=checks.number(low=0.0),
            mean_scale=checks.number(low=0.0),
            period=checks.number(low=0.0, low_open=True),
        )
        if self.sequence == "custom":
            if self.data is None:
                checks.fail("sequence", "given as data (a (T, d) array) when sequence is 'custom'", None)
            checks.validate(self, data=self._sequence_data)
        elif self.data is not None:
            checks.fail("data", "given only with sequence='custom'", "an array")

    def _sequence_data(self, field: str, data) -> tuple[tuple[float, ...], ...]:
        """``data`` checked against ``(horizon, dim)``, as nested tuples of floats (hashable)."""
        return tuple(tuple(float(x) for x in row) for row in check_sequence(data, self.horizon, self.dim))

    @classmethod
    def from_array(cls, data, **kwargs) -> "OnlineEnv":
        """An env replaying ``data`` (``(T, d)``); ``horizon`` and ``dim`` come from it."""
        arr = check_sequence(data, None, None)
        return cls(dim=arr.shape[1], horizon=arr.shape[0], sequence="custom", data=tuple(map(tuple, arr)), **kwargs)

    @property
    def num_actions(self) -> int:
        return self.dim

    @property
    def action_space(self) -> ActionSpace:
        """``d`` coordinates of ``Π``: a policy must play on this domain (and, on the ball, this radius)."""
        return ActionSpace(self.feedback, self.dim, self.domain, self.radius)

    def sample_task(self, key: Array) -> OnlineTask:
        T, d = self.horizon, self.dim
        t = jnp.arange(1, T + 1, dtype=jnp.float32)[:, None]
        s = self.sequence
        if s == "stochastic":
            mu = self.mean_scale * jax.random.normal(key, (d,))
            m = jnp.broadcast_to(mu, (T, d))
        elif s == "uniform":
            m = jnp.full((T, d), 0.5)
        elif s == "alternating":
            ij = jax.random.choice(key, d, (2,), replace=False)
            odd = (jnp.arange(T) % 2 == 0)[:, None]  # rounds 1, 3, 5, ... (0-based even)
            m = jnp.where(odd, jax.nn.one_hot(ij[0], d), jax.nn.one_hot(ij[1], d))
            m = m.at[0].multiply(0.5)
        elif s == "linear_trend":
            kb, ks = jax.random.split(key)
            b = jax.random.uniform(kb, (d,))
            slope = jax.random.uniform(ks, (d,), minval=-1.0, maxval=1.0)
            m = b + slope * t / T
        elif s == "sine_trend":
            phi = jax.random.uniform(key, (d,), maxval=2 * math.pi)
            m = 0.5 + 0.5 * jnp.sin(2 * math.pi * t / self.period + phi)
        elif s == "random_sign":
            m = jnp.zeros((T, d))
        else:
            m = jnp.asarray(self.data, jnp.float32)
        return OnlineTask(m.astype(jnp.float32))

    def realize(self, key: Array, task: OnlineTask) -> Episode:
        T, d = self.horizon, self.dim
        s = self.sequence
        if s in ("stochastic", "linear_trend", "sine_trend"):
            xi = task.means + self.noise * jax.random.normal(key, (T, d))
        elif s == "uniform":
            xi = jax.random.uniform(key, (T, d))
        elif s == "random_sign":
            xi = jax.random.rademacher(key, (T, d)).astype(jnp.float32)
        else:
            xi = task.means
        return Episode(means=task.means, xi=xi)

    def step(self, means_t: Array, xi_t: Array, action: Array) -> tuple[Array, Array]:
        del means_t
        return xi_t, jnp.dot(action, xi_t)

    def regret(self, episode: Episode, actions: Array) -> Array:
        return static_regret(episode.xi, actions, self.domain, self.radius)

    def reward_bound(self) -> float | None:
        """``sup_t ‖R_t‖_∞`` for the bounded families, ``None`` for Gaussian ones."""
        if self.sequence in ("uniform", "alternating", "random_sign"):
            return 1.0
        if self.sequence == "custom":
            return float(np.max(np.abs(np.asarray(self.data))))
        if self.noise == 0.0 and self.sequence in ("linear_trend", "sine_trend"):
            return 1.0 if self.sequence == "sine_trend" else 2.0
        return None
