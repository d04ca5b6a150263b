"""The decision sets of online learning and the constants of the bandit priors, in one place.

Full-information online learning plays a point ``π_t`` of a decision set ``Π``:
the l2 ball ``B(0, R)`` (Env I) or the probability simplex (Env II). Everything
that knows a decision set goes through this module: the environments
(:mod:`rmft_jax.envs.online`), the baselines (FTRL's lazy projection,
:mod:`rmft_jax.policies.online`), the Transformer's output map
(:mod:`rmft_jax.models.transformer`), the theory's attention model
(:mod:`rmft_jax.theory.model`) and the regret (:mod:`rmft_jax.regret`).

* :func:`to_domain` — ``map_Π(y)``: the Euclidean projection onto the ball (or the
  smooth radial map ``R tanh(‖y‖/R) y/‖y‖``), softmax onto the simplex;
* :func:`preimage` — the output that :func:`to_domain` maps to a given point, where
  it is unique;
* :func:`best_fixed_value` — ``max_{π∈Π} ⟨π, S⟩``, exact, for the static regret.

One formula for the projection: ``y · R / max(‖y‖, R)`` with ``‖y‖`` floored at
``1e-15``. It equals ``y · min(1, R/‖y‖)``, has a finite gradient at ``y = 0``
(the identity: round 1 has no history), and keeps XLA from rewriting ``R/sqrt(·)``
into ``R·rsqrt(·)`` under ``jit`` (a rewrite that moved a third of the projected
rows by 1–2 ulp when the theory module carried its own form).

All functions act on the last axis and are unbatched in every other sense: they
broadcast over leading axes, so they need no ``vmap``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rmft_jax.types import Array

DOMAINS = ("ball", "simplex")  # decision sets Π of online learning: the l2 ball (Env I) and the simplex (Env II)
BALL_MAPS = ("project", "tanh")  # how an unconstrained output reaches the ball: projection or the radial tanh map

# Standard deviation of U[0, 1], sqrt(1/12), written as the saved configs carry it: the
# default Gaussian prior over an arm mean matches the default uniform one.
UNIFORM_STD = 0.2886751345948129


def norm(x: Array) -> Array:
    """``‖x‖`` along the last axis (kept), floored at ``1e-15`` so its gradient stays finite at ``x = 0``."""
    return jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), 1e-30))


def project_ball(x: Array, radius: float = 1.0) -> Array:
    """Euclidean projection onto ``B(0, radius)`` along the last axis: ``x · min(1, R/‖x‖)``."""
    return x * (radius / jnp.maximum(norm(x), radius))


def to_domain(y: Array, domain: str, radius: float = 1.0, ball_map: str = "project") -> Array:
    """``map_Π(y)`` along the last axis: ``softmax(y)`` onto the simplex; onto the ball of radius
    ``R = radius`` the projection (``ball_map = "project"``) or ``R tanh(‖y‖/R) y/‖y‖`` (``"tanh"``)."""
    if domain == "simplex":
        return jax.nn.softmax(y, axis=-1)
    if ball_map == "tanh":
        n = norm(y)
        return y * (radius * jnp.tanh(n / radius) / n)
    return project_ball(y, radius)


def preimage(point: Array, domain: str, radius: float = 1.0, ball_map: str = "project") -> Array:
    """The output ``y`` that :func:`to_domain` maps to ``point`` (last axis), where it is unique.

    Simplex: ``log p`` centred (softmax determines ``y`` up to a constant along ``1``;
    compare centred outputs). Ball with ``ball_map = "tanh"``: ``R artanh(‖p‖/R) p/‖p‖``.
    The projection is not one-to-one on the sphere, so ``"project"`` is refused. Floors
    keep the log and ``artanh`` finite where float32 saturated (``|y|`` beyond about 80
    in logits, ``‖y‖/R`` beyond about 8 on the ball).
    """
    if domain == "simplex":
        logp = jnp.log(jnp.maximum(point, 1e-30))
        return logp - jnp.mean(logp, axis=-1, keepdims=True)
    if ball_map != "tanh":
        raise ValueError(f"ball_map: must be 'tanh' for the output of a played point of the ball to be unique (got {ball_map!r})")
    n = norm(point)
    ratio = jnp.minimum(n / radius, 1.0 - 1e-7)
    return point * (radius * jnp.arctanh(ratio) / n)


def best_fixed_value(cumulative: Array, domain: str, radius: float = 1.0) -> Array:
    """``max_{π∈Π} ⟨π, S⟩`` for each row of ``cumulative`` (``(..., d)``): ``R‖S‖`` on the ball, ``max_i S_i`` on the simplex."""
    if domain == "ball":
        return radius * jnp.linalg.norm(cumulative, axis=-1)
    if domain == "simplex":
        return jnp.max(cumulative, axis=-1)
    raise ValueError(f"domain: must be one of {', '.join(DOMAINS)} (got {domain!r})")


__all__ = ["BALL_MAPS", "DOMAINS", "UNIFORM_STD", "best_fixed_value", "norm", "preimage", "project_ball", "to_domain"]
