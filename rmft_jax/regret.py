"""Exact regret curves (paper §2.2), one value per round ``t = 1..T``.

* :func:`pseudo_regret` — stochastic bandits, from the means, not the sampled
  rewards: ``Σ_{s≤t} (max_a μ_{s,a} − μ_{s,a_s})``. With means that change over
  time this is the *dynamic* regret against the per-round best arm
  (:func:`dynamic_regret` is the same function under its own name).
* :func:`static_regret` — full-information online learning against the best fixed
  policy in hindsight over each prefix: ``max_{π∈Π} Σ_{s≤t}⟨π, R_s⟩ − Σ_{s≤t}⟨π_s, R_s⟩``.
  The maximum is exact: ``radius·‖S_t‖₂`` on the ball ``B(0, radius)`` and
  ``max_i S_{t,i}`` on the simplex, with ``S_t = Σ_{s≤t} R_s``.

All functions are unbatched and jit/vmap-friendly; they check the ranks
and shapes of their inputs (``chex``, at trace time under ``jit``).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from rmft_jax._select import pick
from rmft_jax.domain import best_fixed_value
from rmft_jax.types import Array



def pseudo_regret(means: Array, actions: Array) -> Array:
    """Cumulative pseudo-regret.

    Args:
      means: ``(T, K)`` arm means per round, or ``(1, K)`` for a stationary bandit.
      actions: ``(T,)`` int arm pulled each round.
    Returns:
      ``(T,)`` cumulative regret, non-decreasing, at most ``t·max gap``.
    """
    chex.assert_rank([means, actions], [2, 1])
    gaps = jnp.max(means, axis=1, keepdims=True) - means  # (T or 1, K)
    return sequential_cumsum(pick(gaps, actions.astype(jnp.int32)))


def sequential_cumsum(x: Array) -> Array:
    """``cumsum`` along axis 0, summed left to right (``c_t = c_{t-1} + x_t``).

    A ``lax.scan`` rather than ``jnp.cumsum``: on CPU the latter lowers to a
    ``reduce_window`` that re-reads the window for every output (measured 25x
    slower at T = 1000 under a 4096-run vmap, where the scan's carry is one
    contiguous row per round). The left-to-right order is NumPy's, so the regret
    curve matches a NumPy cumulative sum exactly rather than to rounding.
    """
    step = lambda c, x_t: (c + x_t, c + x_t)  # noqa: E731
    return jax.lax.scan(step, jnp.zeros(x.shape[1:], x.dtype), x)[1]


dynamic_regret = pseudo_regret


def static_regret(rewards: Array, policies: Array, domain: str, radius: float = 1.0) -> Array:
    """Cumulative static regret of full-information online learning.

    Args:
      rewards: ``(T, d)`` reward vectors ``R_t`` (higher is better).
      policies: ``(T, d)`` the learner's ``π_t ∈ Π``.
      domain: ``"ball"`` (Env I, radius ``radius``) or ``"simplex"`` (Env II).
    Returns:
      ``(T,)`` regret after each round against the best fixed policy for that prefix.
    """
    chex.assert_rank(rewards, 2)
    chex.assert_equal_shape([rewards, policies])
    earned = jnp.cumsum(jnp.sum(policies * rewards, axis=-1))
    return best_fixed_value(jnp.cumsum(rewards, axis=0), domain, radius) - earned
