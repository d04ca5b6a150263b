"""The single-layer linear self-attention model of the theory (``theory/no_regret.md`` §3).

Tokens ``z_s = (R_s, 1)`` and a constant query token ``c``, followed by the map onto Π::

    g_θ(Z_{t−1}) = Σ_{s<t} (V R_s + v) · ⟨K R_s + k, Q c + q⟩          (LSA)
    π_θ,t        = map_Π(g_θ(Z_{t−1}))   (Euclidean projection / softmax)

With ``q̃ = Q c + q``, ``w = Kᵀ q̃`` and ``b = ⟨k, q̃⟩`` this is exactly::

    g = A S + V M w + b n v,   A = b V + v wᵀ,  S = Σ_{s<t} R_s,  M = Σ_{s<t} R_s R_sᵀ,  n = t − 1

``A`` is the *effective matrix*; ``V M w`` and ``b n v`` are the terms the theorem
needs to vanish (§3, §4): :func:`effective` measures them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rmft_jax.types import Array


def query_token(dim: int) -> Array:
    """The constant query token ``c = 1_d/√d`` (permutation-invariant, so it keeps Env II's symmetry)."""
    return jnp.full((dim,), 1.0 / math.sqrt(dim))


def init_lsa(key: Array, dim: int, key_dim: int | None = None, scale: float = 0.5) -> dict[str, Array]:
    """Random LSA parameters ``{V (d,d), v (d,), K (m,d), k (m,), Q (m,d), q (m,)}``, i.i.d. ``N(0, scale²)``."""
    m = dim if key_dim is None else key_dim
    shapes = {"V": (dim, dim), "v": (dim,), "K": (m, dim), "k": (m,), "Q": (m, dim), "q": (m,)}
    keys = jax.random.split(key, len(shapes))
    return {n: scale * jax.random.normal(k, s) for k, (n, s) in zip(keys, sorted(shapes.items()))}


def structured_params(eta: float, dim: int, key_dim: int | None = None) -> dict[str, Array]:
    """Parameters realising the derived fixed point: ``A = η I``, ``w = 0``, ``v = 0``."""
    m = dim if key_dim is None else key_dim
    e1 = jnp.zeros((m,)).at[0].set(1.0)
    return {
        "V": eta * jnp.eye(dim), "v": jnp.zeros((dim,)), "K": jnp.zeros((m, dim)),
        "k": e1, "Q": jnp.zeros((m, dim)), "q": e1,
    }


def key_weights(params: dict[str, Array]) -> tuple[Array, Array]:
    """``w = Kᵀ(Q c + q)`` (``(d,)``) and ``b = ⟨k, Q c + q⟩`` (scalar)."""
    q_tilde = params["Q"] @ query_token(params["V"].shape[0]) + params["q"]
    return params["K"].T @ q_tilde, params["k"] @ q_tilde


def lsa_outputs(params: dict[str, Array], rewards: Array) -> Array:
    """Pre-map outputs ``g_θ(Z_{t−1})`` for ``t = 1..T`` (equation LSA), unbatched.

    Args:
      params: see :func:`init_lsa`.
      rewards: ``(T, d)``.
    Returns:
      ``(T, d)``; row ``t − 1`` uses ``R_1..R_{t−1}`` only (row 0 is 0: empty history).
    """
    w, b = key_weights(params)
    values = rewards @ params["V"].T + params["v"]  # (T, d): V R_s + v
    scores = rewards @ w + b  # (T,): ⟨K R_s + k, q̃⟩
    contrib = values * scores[:, None]
    return jnp.cumsum(contrib, axis=0) - contrib  # exclusive prefix sum: s < t


class Effective(NamedTuple):
    """What Theorem 1 (our reconstruction) says about the parameters.

    Attributes:
      matrix: ``(d, d)`` the visible effective matrix: ``A = bV + v wᵀ`` (ball) or
        ``P⊥ A`` (simplex; ``P⊥ = I − 11ᵀ/d``, since softmax ignores shifts along ``1``).
      eta: the effective learning rate ``tr(A)/d`` (ball) or ``tr(P⊥AP⊥)/(d−1)`` (simplex).
      offdiag_norm: ``‖matrix − η I_vis‖_F`` (``I_vis = I`` or ``P⊥``): every part of the
        effective matrix that is not the derived scalar, off-diagonal entries included.
      quad_norm: ``‖P V‖_F ‖w‖``, the size of the quadratic term ``V M w`` (must vanish).
      drift_norm: ``|b| ‖P v‖``, the size of the drift ``b n v`` (must vanish).
      vanishing_norm: ``sqrt(quad_norm² + drift_norm²)``.
    """

    matrix: Array
    eta: Array
    offdiag_norm: Array
    quad_norm: Array
    drift_norm: Array
    vanishing_norm: Array


def effective(params: dict[str, Array], domain: str) -> Effective:
    """The effective learning rate, matrix and vanishing terms of one parameter set (vmap-friendly)."""
    w, b = key_weights(params)
    d = params["V"].shape[0]
    A = b * params["V"] + jnp.outer(params["v"], w)
    if domain == "ball":
        P = jnp.eye(d)
        vis, eta = A, jnp.trace(A) / d
    else:
        P = jnp.eye(d) - jnp.full((d, d), 1.0 / d)
        vis, eta = P @ A, jnp.trace(P @ A @ P) / (d - 1)
    off = jnp.linalg.norm(vis - eta * P)
    quad = jnp.linalg.norm(P @ params["V"]) * jnp.linalg.norm(w)
    drift = jnp.abs(b) * jnp.linalg.norm(P @ params["v"])
    return Effective(vis, eta, off, quad, drift, jnp.sqrt(quad**2 + drift**2))
