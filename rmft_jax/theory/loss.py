"""The loss-for-theory (``theory/no_regret.md`` §2), ``k = 1`` and infinite data::

    L(θ) = E (1/T) Σ_{t=1}^T ℓ(π_θ,t, y_t)

with ``ℓ = ‖π − y‖²`` on the ball and the cross-entropy ``−⟨y, log softmax(g)⟩`` on the
simplex, and the loss of the one-parameter family ``map_Π(η S)`` that :mod:`.fixed_point`
minimises.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from rmft_jax.domain import to_domain
from rmft_jax.theory.model import lsa_outputs
from rmft_jax.theory.setting import TheorySetting, make_labels, sample_batch
from rmft_jax.types import Array


def pointwise_loss(g: Array, y: Array, domain: str, radius: float = 1.0) -> Array:
    """``ℓ(map_Π(g), y)`` per row: ``‖P_B(g) − y‖²`` (ball) or ``−⟨y, log softmax g⟩`` (simplex)."""
    if domain == "ball":
        return jnp.sum((to_domain(g, domain, radius) - y) ** 2, axis=-1)
    return -jnp.sum(y * jax.nn.log_softmax(g, axis=-1), axis=-1)


def sequence_loss(params: dict[str, Array], rewards: Array, labels: Array, domain: str, radius: float = 1.0) -> Array:
    """``(1/T) Σ_t ℓ(map_Π(g_θ(Z_{t−1})), y_t)`` for one sequence (``rewards``, ``labels``: ``(T, d)``)."""
    return jnp.mean(pointwise_loss(lsa_outputs(params, rewards), labels, domain, radius))


@functools.partial(jax.jit, static_argnames=("setting", "batch"))
def loss_for_theory(params: dict[str, Array], key: Array, setting: TheorySetting, batch: int) -> Array:
    """Monte-Carlo estimate of ``L(θ)`` on ``batch`` fresh environments (the infinite-data loss)."""
    mu, R = sample_batch(key, setting, batch)
    y = jax.vmap(lambda m, r: make_labels(m, r, setting))(mu, R)
    return jnp.mean(jax.vmap(lambda r, yy: sequence_loss(params, r, yy, setting.domain, setting.radius))(R, y))


def family_loss(eta: Array, rewards: Array, labels: Array, domain: str, radius: float = 1.0) -> Array:
    """The loss of the induced algorithm with rate ``eta`` on one sequence (the 1-D problem of §5)."""
    S = jnp.cumsum(rewards, axis=0) - rewards
    return jnp.mean(pointwise_loss(eta * S, labels, domain, radius))


@functools.partial(jax.jit, static_argnames=("setting", "batch"))
def family_loss_mc(etas: Array, key: Array, setting: TheorySetting, batch: int) -> Array:
    """Plain Monte-Carlo ``L(map_Π(η S))`` for each ``η`` in ``etas`` (common random numbers).

    Independent of :func:`rmft_jax.theory.fixed_point.eta_star`'s numerics; the tests use it as the brute-force check.
    Returns ``(len(etas), batch)`` per-sequence losses.
    """
    mu, R = sample_batch(key, setting, batch)
    y = jax.vmap(lambda m, r: make_labels(m, r, setting))(mu, R)
    per = lambda e: jax.vmap(lambda r, yy: family_loss(e, r, yy, setting.domain, setting.radius))(R, y)  # noqa: E731
    return jax.vmap(per)(etas)
