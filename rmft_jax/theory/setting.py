"""The setting of the loss-for-theory: the environment distribution, the policy space, the labels.

Full-information online learning (``theory/no_regret.md`` §1, §2): reward vectors
``R_t = μ + σ ε_t ∈ R^d`` with a latent mean ``μ ~ N(0, σ_μ² I)`` and ``ε_t ~ N(0, I)``;
the learner plays in the ball ``B(0, R_Π)`` (Env I) or the simplex ``Δ_d`` (Env II).
The SFT labels of the ``k = 1``, infinite-data limit are the optimal action
(``labels="pseudo"``) or the per-round best response (``labels="realised"``).
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp

from rmft_jax import checks
from rmft_jax.domain import DOMAINS
from rmft_jax.types import Array

LABELS = ("pseudo", "realised")
# The key of each domain's section in the reports (theory_report.json, theory_rmft.json).
REPORT_KEYS = {"ball": "env1_ball", "simplex": "env2_simplex"}


@dataclasses.dataclass(frozen=True)
class TheorySetting:
    """The environment distribution, policy space and label rule of the loss-for-theory.

    Attributes:
      domain: ``"ball"`` (Env I, ``Π = B(0, radius)``) or ``"simplex"`` (Env II).
      dim: ``d >= 2`` (static).
      horizon: ``T >= 2`` (static): the loss sums rounds ``1..T``.
      radius: ``R_Π > 0`` (ball only).
      mean_scale: ``σ_μ >= 0`` of the latent mean ``μ ~ N(m_0, diag(s)²)``. ``0`` is the
        "no shared mean" case (allowed with realised labels only).
      noise: ``σ > 0`` of the per-round noise.
      labels: ``"pseudo"`` (optimal-action labels) or ``"realised"`` (best responses to ``R_t``).
      mean_shift: the prior mean ``m_0`` (``None`` = 0). Non-zero breaks the symmetry.
      mean_scales: per-coordinate ``s`` overriding ``mean_scale`` (``None`` = isotropic).
        Unequal values break the symmetry.
      allow_asymmetric: accept a setting without the symmetry the structure result
        needs (a warning is issued instead of a ``ValueError``).
    """

    domain: str = "ball"
    dim: int = 3
    horizon: int = 25
    radius: float = 1.0
    mean_scale: float = 1.0
    noise: float = 1.0
    labels: str = "pseudo"
    mean_shift: tuple[float, ...] | None = None
    mean_scales: tuple[float, ...] | None = None
    allow_asymmetric: bool = False

    def __post_init__(self):
        checks.validate(
            self,
            domain=checks.one_of(DOMAINS),
            dim=checks.at_least(2),
            horizon=checks.at_least(2),
            radius=checks.number(low=0.0, low_open=True),
            mean_scale=checks.number(low=0.0),
            noise=checks.number(low=0.0, low_open=True),
            labels=checks.one_of(LABELS),
            mean_shift=lambda f, v: checks.reals(f, v, self.dim),
            mean_scales=lambda f, v: checks.reals(f, v, self.dim),
        )
        if self.mean_scales is not None and min(self.mean_scales) < 0:
            checks.fail("mean_scales", "a list of numbers >= 0", self.mean_scales)
        if self.labels == "pseudo" and max(self.scales) == 0.0:
            # μ = 0 makes every policy optimal: the pseudo-regret ranking has no winner.
            checks.fail("mean_scale", "> 0 with labels='pseudo' (μ = 0 gives no optimal action)", self.mean_scale)
        if not self.symmetric:
            why = self.asymmetry()
            if not self.allow_asymmetric:
                checks.fail(
                    "setting",
                    "symmetric (zero mean_shift, equal mean_scales) for the structure result; "
                    "pass allow_asymmetric=True to study the asymmetric case",
                    why,
                )
            warnings.warn(
                f"asymmetric setting ({why}): the structure result (policy = map_Π(η* Σ R_s)) does not apply",
                stacklevel=2,
            )

    @property
    def scales(self) -> tuple[float, ...]:
        """Per-coordinate prior scale of ``μ``."""
        return self.mean_scales if self.mean_scales is not None else (self.mean_scale,) * self.dim

    @property
    def shift(self) -> tuple[float, ...]:
        return self.mean_shift if self.mean_shift is not None else (0.0,) * self.dim

    @property
    def symmetric(self) -> bool:
        """Invariant under rotations and sign flips (ball) or permutations (simplex)."""
        return not self.asymmetry()

    def asymmetry(self) -> str:
        out = []
        if any(m != 0.0 for m in self.shift):
            out.append(f"mean_shift={self.shift}")
        if len(set(self.scales)) > 1:
            out.append(f"mean_scales={self.scales}")
        return ", ".join(out)

    def replace(self, **kw) -> "TheorySetting":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dataclasses.replace(self, **kw)


def sample_sequence(key: Array, setting: TheorySetting) -> tuple[Array, Array]:
    """One environment of the training distribution, unbatched.

    Returns:
      ``(μ, R)``: the latent mean ``(d,)`` and the rewards ``R_t = μ + σ ε_t``, ``(T, d)``.
    """
    k_mu, k_eps = jax.random.split(key)
    d, T = setting.dim, setting.horizon
    mu = jnp.asarray(setting.shift) + jnp.asarray(setting.scales) * jax.random.normal(k_mu, (d,))
    return mu, mu + setting.noise * jax.random.normal(k_eps, (T, d))


def best_response(x: Array, domain: str, radius: float = 1.0) -> Array:
    """``argmax_{π∈Π} ⟨π, x⟩`` for each row of ``x`` (``(..., d)``).

    Ball: ``R_Π x/‖x‖`` (``0`` at ``x = 0``); simplex: the vertex ``e_{argmax x}``.
    """
    if domain == "ball":
        n = jnp.linalg.norm(x, axis=-1, keepdims=True)
        return radius * x / jnp.where(n > 0, n, 1.0)
    return jax.nn.one_hot(jnp.argmax(x, axis=-1), x.shape[-1], dtype=x.dtype)


def make_labels(mu: Array, rewards: Array, setting: TheorySetting) -> Array:
    """The SFT labels ``y_t`` of the k = 1, infinite-data limit (``theory/no_regret.md`` §2).

    ``pseudo``: ``π* = argmax_Π ⟨π, μ⟩`` in every round; ``realised``: ``argmax_Π ⟨π, R_t⟩``.
    Returns ``(T, d)``.
    """
    if setting.labels == "pseudo":
        return jnp.broadcast_to(best_response(mu, setting.domain, setting.radius), rewards.shape)
    return best_response(rewards, setting.domain, setting.radius)


def sample_batch(key: Array, setting: TheorySetting, batch: int) -> tuple[Array, Array]:
    """``batch`` environments drawn in bulk (two calls to the generator): ``μ (B, d)``, ``R (B, T, d)``.

    Same distribution as ``vmap(sample_sequence)``; drawing in bulk keeps the compiled
    training step small.
    """
    k_mu, k_eps = jax.random.split(key)
    d, T = setting.dim, setting.horizon
    mu = jnp.asarray(setting.shift) + jnp.asarray(setting.scales) * jax.random.normal(k_mu, (batch, d))
    return mu, mu[:, None, :] + setting.noise * jax.random.normal(k_eps, (batch, T, d))
