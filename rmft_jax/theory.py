"""The no-regret fixed point of a single-layer Transformer: our reconstruction of Theorem 1.

The paper's body is not available to us; everything here is **our reconstruction**
of its Theorem 1 ("plugging in any global minimizer of the loss-for-theory gives a
no-regret learner"), derived in ``theory/no_regret.md``. No number produced here is
the paper's.

Setting (``theory/no_regret.md`` §1). Full-information online learning: reward
vectors ``R_t = μ + σ ε_t ∈ R^d`` with a latent mean ``μ ~ N(0, σ_μ² I)`` and
``ε_t ~ N(0, I)``; the learner plays ``π_t ∈ Π`` (the ball ``B(0, R_Π)``, Env I, or
the simplex ``Δ_d``, Env II) from the history ``Z_{t−1} = (R_1, …, R_{t−1})``.

Model (§3). Single-layer linear self-attention over tokens ``z_s = (R_s, 1)`` and a
constant query token ``c``, followed by the map onto Π::

    g_θ(Z_{t−1}) = Σ_{s<t} (V R_s + v) · ⟨K R_s + k, Q c + q⟩          (LSA)
    π_θ,t        = map_Π(g_θ(Z_{t−1}))   (Euclidean projection / softmax)

With ``q̃ = Q c + q``, ``w = Kᵀ q̃`` and ``b = ⟨k, q̃⟩`` this is exactly::

    g = A S + V M w + b n v,   A = b V + v wᵀ,  S = Σ_{s<t} R_s,  M = Σ_{s<t} R_s R_sᵀ,  n = t − 1

``A`` is the *effective matrix*; ``V M w`` and ``b n v`` are the terms the theorem
needs to vanish (§3, §4).

Loss-for-theory (§2), ``k = 1`` and infinite data::

    L(θ) = E (1/T) Σ_{t=1}^T ℓ(π_θ,t, y_t)

with ``ℓ = ‖π − y‖²`` on the ball and the cross-entropy ``−⟨y, log softmax(g)⟩`` on
the simplex; labels ``y_t`` are the optimal action ``π* = argmax_Π ⟨π, μ⟩``
(pseudo-regret ranking, ``labels="pseudo"``) or the per-round best response
``argmax_Π ⟨π, R_t⟩`` (realised-regret ranking, ``labels="realised"``).

Result (§4, what is proved and what is checked numerically is stated there): the
symmetric minimizer is ``π_t = map_Π(η* S_{t−1})`` — FTRL with the quadratic
regulariser ``‖x‖²/(2η)`` (lazy projected gradient) on the ball, Hedge on the
simplex — with ``η*`` the solution of a one-dimensional problem
(:func:`eta_star`).

Public API: :class:`TheorySetting`, :func:`sample_sequence`, :func:`make_labels`,
:func:`init_lsa`, :func:`lsa_outputs`, :func:`map_to_policy`, :func:`effective`,
:func:`sequence_loss`, :func:`loss_for_theory`, :func:`family_loss`,
:func:`eta_star`, :func:`induced_policies`, :func:`regret_bound`,
:class:`TrainConfig`, :func:`train_dynamics`, :func:`measure_regret`,
:func:`run_theory` (the ``rmft theory`` command) and :func:`plot_figure1`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import optimize, special

from rmft_jax import _checks
from rmft_jax.regret import DOMAINS, static_regret
from rmft_jax.results import save_figure
from rmft_jax.types import Array

LABELS = ("pseudo", "realised")
ENV_NAMES = {"ball": "env1_ball", "simplex": "env2_simplex"}

# --------------------------------------------------------------------------------------
# The setting
# --------------------------------------------------------------------------------------


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
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        _checks.choice("domain", self.domain, DOMAINS)
        set_("dim", _checks.integer("dim", self.dim, 2))
        set_("horizon", _checks.integer("horizon", self.horizon, 2))
        set_("radius", _checks.real("radius", self.radius, low=0.0, low_open=True))
        set_("mean_scale", _checks.real("mean_scale", self.mean_scale, low=0.0))
        set_("noise", _checks.real("noise", self.noise, low=0.0, low_open=True))
        _checks.choice("labels", self.labels, LABELS)
        set_("mean_shift", _checks.reals("mean_shift", self.mean_shift, self.dim))
        set_("mean_scales", _checks.reals("mean_scales", self.mean_scales, self.dim))
        if self.mean_scales is not None and min(self.mean_scales) < 0:
            _checks.fail("mean_scales", "a list of numbers >= 0", self.mean_scales)
        if self.labels == "pseudo" and max(self.scales) == 0.0:
            # μ = 0 makes every policy optimal: the pseudo-regret ranking has no winner.
            _checks.fail("mean_scale", "> 0 with labels='pseudo' (μ = 0 gives no optimal action)", self.mean_scale)
        if not self.symmetric:
            why = self.asymmetry()
            if not self.allow_asymmetric:
                _checks.fail(
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


# --------------------------------------------------------------------------------------
# Sampling and labels
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# The single-layer linear self-attention model
# --------------------------------------------------------------------------------------


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


def _qwb(params: dict[str, Array]) -> tuple[Array, Array]:
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
    w, b = _qwb(params)
    values = rewards @ params["V"].T + params["v"]  # (T, d): V R_s + v
    scores = rewards @ w + b  # (T,): ⟨K R_s + k, q̃⟩
    contrib = values * scores[:, None]
    return jnp.cumsum(contrib, axis=0) - contrib  # exclusive prefix sum: s < t


def map_to_policy(g: Array, domain: str, radius: float = 1.0) -> Array:
    """``map_Π``: Euclidean projection onto ``B(0, radius)`` (ball) or softmax (simplex), row-wise."""
    if domain == "ball":
        # sqrt of a guarded square: the gradient stays finite at g = 0 (round 1 has no history)
        n2 = jnp.sum(g * g, axis=-1, keepdims=True)
        n = jnp.sqrt(jnp.where(n2 > 0, n2, 1.0))
        return g * jnp.where(n2 > 0, jnp.minimum(1.0, radius / n), 1.0)
    return jax.nn.softmax(g, axis=-1)


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
    w, b = _qwb(params)
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


# --------------------------------------------------------------------------------------
# The loss-for-theory
# --------------------------------------------------------------------------------------


def pointwise_loss(g: Array, y: Array, domain: str, radius: float = 1.0) -> Array:
    """``ℓ(map_Π(g), y)`` per row: ``‖P_B(g) − y‖²`` (ball) or ``−⟨y, log softmax g⟩`` (simplex)."""
    if domain == "ball":
        return jnp.sum((map_to_policy(g, domain, radius) - y) ** 2, axis=-1)
    return -jnp.sum(y * jax.nn.log_softmax(g, axis=-1), axis=-1)


def sequence_loss(params: dict[str, Array], rewards: Array, labels: Array, domain: str, radius: float = 1.0) -> Array:
    """``(1/T) Σ_t ℓ(map_Π(g_θ(Z_{t−1})), y_t)`` for one sequence (``rewards``, ``labels``: ``(T, d)``)."""
    return jnp.mean(pointwise_loss(lsa_outputs(params, rewards), labels, domain, radius))


def sample_batch(key: Array, setting: TheorySetting, batch: int) -> tuple[Array, Array]:
    """``batch`` environments drawn in bulk (two calls to the generator): ``μ (B, d)``, ``R (B, T, d)``.

    Same distribution as ``vmap(sample_sequence)``; drawing in bulk keeps the compiled
    training step small.
    """
    k_mu, k_eps = jax.random.split(key)
    d, T = setting.dim, setting.horizon
    mu = jnp.asarray(setting.shift) + jnp.asarray(setting.scales) * jax.random.normal(k_mu, (batch, d))
    return mu, mu[:, None, :] + setting.noise * jax.random.normal(k_eps, (batch, T, d))


@functools.partial(jax.jit, static_argnames=("setting", "batch"))
def loss_for_theory(params: dict[str, Array], key: Array, setting: TheorySetting, batch: int) -> Array:
    """Monte-Carlo estimate of ``L(θ)`` on ``batch`` fresh environments (the infinite-data loss)."""
    mu, R = sample_batch(key, setting, batch)
    y = jax.vmap(lambda m, r: make_labels(m, r, setting))(mu, R)
    return jnp.mean(jax.vmap(lambda r, yy: sequence_loss(params, r, yy, setting.domain, setting.radius))(R, y))


def induced_policies(rewards: Array, eta: Array, domain: str, radius: float = 1.0) -> Array:
    """The induced algorithm ``π_t = map_Π(η Σ_{s<t} R_s)``, ``(T, d)`` from ``(T, d)``.

    On the ball this is FTRL with regulariser ``‖x‖²/(2η)`` (lazy projected online
    gradient ascent); on the simplex it is Hedge (FTRL with the entropy ``/η``): the
    same algorithms as :class:`rmft_jax.policies.online.FTRL` and ``Hedge`` with a fixed
    ``eta`` (a test checks it), written here in closed form, without a scan, because the
    theory differentiates through ``map_Π`` and evaluates thousands of sequences at once.
    """
    S = jnp.cumsum(rewards, axis=0) - rewards
    return map_to_policy(eta * S, domain, radius)


def family_loss(eta: Array, rewards: Array, labels: Array, domain: str, radius: float = 1.0) -> Array:
    """The loss of the induced algorithm with rate ``eta`` on one sequence (the 1-D problem of §5)."""
    S = jnp.cumsum(rewards, axis=0) - rewards
    return jnp.mean(pointwise_loss(eta * S, labels, domain, radius))


def regret_bound(rewards: Array, eta: Array, domain: str, radius: float = 1.0) -> Array:
    """Regret bound of the induced algorithm for every prefix, valid on *any* sequence (§6).

    Ball (FTRL, ``‖x‖²/(2η)``): ``R_Π²/(2η) + (η/2) Σ_{s≤t} ‖R_s‖²``.
    Simplex (Hedge): ``ln d/η + (η/8) Σ_{s≤t} (max_i R_{s,i} − min_i R_{s,i})²``.
    Returns ``(T,)``.
    """
    if domain == "ball":
        return radius**2 / (2 * eta) + 0.5 * eta * jnp.cumsum(jnp.sum(rewards**2, axis=-1))
    span = jnp.max(rewards, axis=-1) - jnp.min(rewards, axis=-1)
    return math.log(rewards.shape[-1]) / eta + eta / 8.0 * jnp.cumsum(span**2)


# --------------------------------------------------------------------------------------
# η*: the one-dimensional problem, to high precision
# --------------------------------------------------------------------------------------


class EtaStar(NamedTuple):
    """``η*`` and how precisely it is known.

    Attributes:
      value: ``η*``.
      stderr: its numerical uncertainty: the change under doubling the quadrature
        nodes (ball) or the standard error over independent QMC scrambles (simplex).
      loss: ``L(η*)`` (per round, averaged over ``t = 1..T``).
      method: how it was computed.
    """

    value: float
    stderr: float
    loss: float
    method: str


def _rho(a: np.ndarray, d: int) -> np.ndarray:
    """``E⟨e_1, X/‖X‖⟩`` for ``X ~ N(a e_1, I_d)``: ``a Γ((d+1)/2)/(√2 Γ(d/2+1)) ₁F₁(½; d/2+1; −a²/2)``."""
    a = np.asarray(a, np.float64)
    c = math.exp(special.gammaln((d + 1) / 2) - special.gammaln(d / 2 + 1)) / math.sqrt(2)
    big = a > 1e4  # the asymptote 1 − (d−1)/(2a²) is exact to 1e-16 there
    safe = np.where(big, 0.0, a)
    return np.where(big, 1.0 - (d - 1) / (2 * np.maximum(a, 1.0) ** 2), c * safe * special.hyp1f1(0.5, d / 2 + 1, -safe * safe / 2))


def _ball_loss_quadrature(c: float, s: TheorySetting, nodes: int) -> float:
    """``L(c)`` of Env I for ``R_Π = 1`` by Gauss–Legendre quadrature (``theory/no_regret.md`` §5.1).

    Per round ``n = t − 1 >= 1``: ``ℓ_n(c) = 1 + E_r[min(cr,1)² − 2 min(cr,1) ρ_n(r)]`` with
    ``r = ‖S‖ ~ s_n χ_d`` and ``ρ_n`` the posterior mean cosine; the integrand has one kink,
    at ``r = 1/c``, which is a node boundary, so the rule converges spectrally.
    """
    d, sm, sg, T = s.dim, s.mean_scale, s.noise, s.horizon
    n = np.arange(1, T, dtype=np.float64)[:, None]
    sn = np.sqrt(n * n * sm * sm + n * sg * sg)
    kappa = n * sm * sm / sn**2
    tau2 = sm * sm * sg * sg / (n * sm * sm + sg * sg) + (sg * sg if s.labels == "realised" else 0.0)
    x_max = math.sqrt(d) + 14.0  # P(χ_d > x_max) < 1e-40
    g, wg = np.polynomial.legendre.leggauss(nodes)
    log_norm = -(special.gammaln(d / 2) + (d / 2 - 1) * math.log(2.0))

    def pdf(x):
        return np.exp(log_norm + (d - 1) * np.log(x) - x * x / 2)

    def integral(lo, hi, f):
        x = lo + (hi - lo) * (g + 1) / 2
        return np.sum(wg * (hi - lo) / 2 * pdf(x) * f(sn * x), axis=1)

    def rho(r):
        return _rho(kappa * r / np.sqrt(tau2), d) if sm > 0 else np.zeros_like(r)

    xk = np.minimum(1.0 / (c * sn), x_max)
    inside = integral(0.0, xk, lambda r: (c * r) ** 2 - 2 * c * r * rho(r))
    outside = integral(xk, x_max, lambda r: 1.0 - 2 * rho(r))
    return float((1.0 + np.sum(1.0 + inside + outside)) / T)


def _eta_star_ball(s: TheorySetting, nodes: int) -> EtaStar:
    if s.mean_scale == 0.0:  # realised labels, no shared mean: ρ ≡ 0, so L is increasing in c
        return EtaStar(0.0, 0.0, 1.0, "closed form (no shared mean: η* = 0)")
    r1 = s.replace(radius=1.0)

    def solve(k):
        f = lambda lc: _ball_loss_quadrature(math.exp(lc), r1, k)  # noqa: E731 - log scale: η* spans decades
        grid = np.linspace(math.log(1e-5), math.log(20.0), 26)
        vals = [f(x) for x in grid]
        i = int(np.clip(np.argmin(vals), 1, len(grid) - 2))
        res = optimize.minimize_scalar(f, bracket=(grid[i - 1], grid[i], grid[i + 1]), tol=1e-10)
        return math.exp(res.x), res.fun

    eta, loss = solve(nodes)
    eta2, _ = solve(2 * nodes)
    # ℓ2-ball of radius R_Π: P_R(cS) = R P_1(cS/R) and the label scales by R, so η* ∝ R_Π.
    return EtaStar(s.radius * eta, s.radius * abs(eta2 - eta), s.radius**2 * loss, f"Gauss-Legendre ({nodes} nodes per piece) + Brent")


@jax.jit
def _simplex_moments(c, mu, xi, label_noise, noise, horizon):
    """``(L, L', L'')`` of Env II at rate ``c`` over QMC points (CE is convex in ``c``)."""
    istar = jnp.argmax(mu + noise * label_noise, axis=-1)

    def body(n, acc):
        S = n * mu + noise * jnp.sqrt(n) * xi
        D = S - jnp.take_along_axis(S, istar[:, None], axis=1)  # differences: no float32 cancellation
        p = jax.nn.softmax(c * D, axis=-1)
        m1 = jnp.sum(p * D, axis=-1)
        return (
            acc[0] + jnp.mean(jax.nn.logsumexp(c * D, axis=-1)),
            acc[1] + jnp.mean(m1),
            acc[2] + jnp.mean(jnp.sum(p * D * D, axis=-1) - m1**2),
        )

    zero = jnp.zeros(())
    # a traced horizon: one compilation serves every T
    tot = jax.lax.fori_loop(1, horizon, lambda n, a: body(n.astype(jnp.float32), a), (zero, zero, zero))
    d = mu.shape[-1]
    return (jnp.log(d) + tot[0]) / horizon, tot[1] / horizon, tot[2] / horizon


def _eta_star_simplex(s: TheorySetting, log2_points: int, scrambles: int, seed: int) -> EtaStar:
    if s.mean_scale == 0.0:  # realised labels, no shared mean: the label is independent of the history
        return EtaStar(0.0, 0.0, math.log(s.dim), "closed form (no shared mean: η* = 0)")
    from scipy.stats import qmc

    d = s.dim
    etas, losses = [], []
    for r in range(scrambles):
        u = qmc.Sobol(3 * d, scramble=True, seed=seed + r).random_base2(log2_points)
        z = special.ndtri(np.clip(u, 1e-12, 1 - 1e-12)).astype(np.float32)
        mu, xi = s.mean_scale * z[:, :d], z[:, d : 2 * d]
        lab = z[:, 2 * d :] if s.labels == "realised" else np.zeros_like(xi)
        # Start near the answer (η* ≈ 2/√T with pseudo labels, ∝ 1/T with realised ones, in
        # units of 1/σ_μ): every Newton iteration costs a pass over T·N points.
        c = (2.0 / math.sqrt(s.horizon) if s.labels == "pseudo" else 2.0 / s.horizon) / s.mean_scale
        for _ in range(60):  # safeguarded Newton on a strictly convex function
            _, g1, g2 = _simplex_moments(c, mu, xi, lab, s.noise, s.horizon)
            step = float(g1) / max(float(g2), 1e-30)
            c_new = c - step if c - step > 0 else c / 2
            if abs(c_new - c) <= 1e-7 * c:
                c = c_new
                break
            c = c_new
        etas.append(c)
        losses.append(float(_simplex_moments(c, mu, xi, lab, s.noise, s.horizon)[0]))
    etas = np.asarray(etas)
    se = float(etas.std(ddof=1) / math.sqrt(scrambles)) if scrambles > 1 else float("nan")
    return EtaStar(float(etas.mean()), se, float(np.mean(losses)), f"scrambled Sobol QMC (2^{log2_points} points x {scrambles}) + Newton")


def eta_star(setting: TheorySetting, *, nodes: int = 96, log2_points: int = 16, scrambles: int = 8, seed: int = 0) -> EtaStar:
    """``η* = argmin_{η >= 0} L(map_Π(η S))``, the learning rate of the derived minimizer (§5).

    No closed form exists in general (``η* = 0`` exactly when there is no shared mean,
    ``mean_scale = 0``). Env I: the per-round expectation reduces to a 1-D integral over
    ``‖S‖`` with a closed-form inner expectation (a confluent hypergeometric function);
    it is integrated by Gauss–Legendre with the kink at ``‖S‖ = 1/η`` as a node boundary,
    and minimised by Brent's method. ``stderr`` is the change under doubling the nodes
    (typically < 1e-8). Env II: the loss is strictly convex in ``η``; it is estimated on
    scrambled Sobol points (common to every round) and minimised by Newton's method;
    ``stderr`` is the standard error over independent scrambles (typically ~1e-4 relative).

    Raises:
      ValueError: for an asymmetric setting (the structure result, and so η*, does not apply).
    """
    if not setting.symmetric:
        raise ValueError(f"setting: must be symmetric for η* to be defined (got {setting.asymmetry()})")
    if setting.domain == "ball":
        return _eta_star_ball(setting, nodes)
    return _eta_star_simplex(setting, log2_points, scrambles, seed)


@functools.partial(jax.jit, static_argnames=("setting", "batch"))
def family_loss_mc(etas: Array, key: Array, setting: TheorySetting, batch: int) -> Array:
    """Plain Monte-Carlo ``L(map_Π(η S))`` for each ``η`` in ``etas`` (common random numbers).

    Independent of :func:`eta_star`'s numerics; the tests use it as the brute-force check.
    Returns ``(len(etas), batch)`` per-sequence losses.
    """
    mu, R = sample_batch(key, setting, batch)
    y = jax.vmap(lambda m, r: make_labels(m, r, setting))(mu, R)
    per = lambda e: jax.vmap(lambda r, yy: family_loss(e, r, yy, setting.domain, setting.radius))(R, y)  # noqa: E731
    return jax.vmap(per)(etas)


# --------------------------------------------------------------------------------------
# Parameter dynamics (Figure 1)
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Gradient descent on the loss-for-theory with fresh samples each step.

    Attributes:
      steps: optimisation steps (static).
      batch: fresh environments per step (static).
      num_inits: random initialisations, trained in parallel (``vmap``).
      lr: Adam's peak learning rate; cosine-decayed to ``lr·final_lr_frac`` so that
        the last iterates are not dominated by gradient noise.
      init_scale: standard deviation of the i.i.d. Gaussian initialisation.
      log_every: record the effective quantities every this many steps.
      seed: the root of all randomness.
    """

    steps: int = 3000
    batch: int = 256
    num_inits: int = 5
    lr: float = 0.01
    final_lr_frac: float = 0.01
    init_scale: float = 0.2
    log_every: int = 10
    seed: int = 0

    def __post_init__(self):
        for f, lo in (("steps", 1), ("batch", 1), ("num_inits", 1), ("log_every", 1), ("seed", 0)):
            object.__setattr__(self, f, _checks.integer(f, getattr(self, f), lo))
        object.__setattr__(self, "lr", _checks.real("lr", self.lr, low=0.0, low_open=True))
        object.__setattr__(self, "final_lr_frac", _checks.real("final_lr_frac", self.final_lr_frac, low=0.0, high=1.0))
        object.__setattr__(self, "init_scale", _checks.real("init_scale", self.init_scale, low=0.0, low_open=True))


@functools.partial(jax.jit, static_argnames=("setting", "config"))
def _train(key: Array, setting: TheorySetting, config: TrainConfig):
    opt = optax.adam(optax.cosine_decay_schedule(config.lr, config.steps, alpha=config.final_lr_frac))
    grad = jax.value_and_grad(lambda p, k: loss_for_theory(p, k, setting, config.batch))

    def one(key):
        k_init, k_data = jax.random.split(key)
        params = init_lsa(k_init, setting.dim, scale=config.init_scale)

        def step(carry, k):
            p, s = carry
            loss, g = grad(p, k)
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), (loss, effective(p, setting.domain))

        keys = jax.random.split(k_data, config.steps)
        (p, _), (losses, eff) = jax.lax.scan(step, (params, opt.init(params)), keys)
        # the final loss on a large fresh batch, to rank the initialisations' end points
        mu, R = sample_batch(jax.random.fold_in(key, 7), setting, 16 * config.batch)
        y = jax.vmap(lambda m, r: make_labels(m, r, setting))(mu, R)
        per = jax.vmap(lambda r, yy: sequence_loss(p, r, yy, setting.domain, setting.radius))(R, y)
        final_loss = jnp.stack([per.mean(), per.std() / jnp.sqrt(per.shape[0])])
        return p, losses, eff, effective(p, setting.domain), final_loss

    return jax.vmap(one)(jax.random.split(key, config.num_inits))


def train_dynamics(setting: TheorySetting, config: TrainConfig) -> dict[str, Any]:
    """Train every LSA parameter from ``config.num_inits`` random initialisations (Figure 1).

    Returns a dict of NumPy arrays (leading axis: initialisation): ``step (S,)``,
    ``loss (I, S)``, ``eta (I, S)``, ``diag (I, S, d)``, ``offdiag (I, S, d(d−1))`` (entries of
    the visible effective matrix), ``offdiag_norm``, ``quad_norm``, ``drift_norm``,
    ``vanishing_norm`` ``(I, S)``, the final values of the four norms and ``eta`` ``(I,)``,
    and ``params`` (the final parameters, a dict of ``(I, …)`` arrays).
    """
    # rbg keys: XLA's RngBitGenerator compiles several times faster than threefry on CPU,
    # which is most of the quick mode's budget; its streams are ample for Monte Carlo.
    params, losses, eff, final, final_loss = _train(jax.random.key(config.seed, impl="rbg"), setting, config)
    idx = np.arange(0, config.steps, config.log_every)
    m = np.asarray(eff.matrix)[:, idx]
    d = setting.dim
    off_mask = ~np.eye(d, dtype=bool)
    # smooth the per-step loss over the logging window for the plot
    loss = np.asarray(losses).reshape(config.num_inits, -1)
    loss_s = np.stack([np.convolve(l, np.ones(config.log_every) / config.log_every, "same")[idx] for l in loss])
    return {
        "step": idx,
        "loss": loss_s,
        "eta": np.asarray(eff.eta)[:, idx],
        "diag": np.diagonal(m, axis1=-2, axis2=-1),
        "offdiag": m[..., off_mask],
        "offdiag_norm": np.asarray(eff.offdiag_norm)[:, idx],
        "quad_norm": np.asarray(eff.quad_norm)[:, idx],
        "drift_norm": np.asarray(eff.drift_norm)[:, idx],
        "vanishing_norm": np.asarray(eff.vanishing_norm)[:, idx],
        "final": {k: np.asarray(getattr(final, k)) for k in ("eta", "offdiag_norm", "quad_norm", "drift_norm", "vanishing_norm")}
        | {"loss": np.asarray(final_loss)[:, 0], "loss_se": np.asarray(final_loss)[:, 1]},
        "params": jax.tree.map(np.asarray, params),
    }


# --------------------------------------------------------------------------------------
# No-regret, measured
# --------------------------------------------------------------------------------------

FAMILIES = ("stochastic", "alternating", "random_sign", "linear_trend", "sine_trend", "oscillating")


def oscillating_sequence(horizon: int, dim: int) -> np.ndarray:
    """``R_1 = e_1/2``, then ``R_t = (−1)^{t+1} e_1``: the leader is always wrong (worst case of FTRL with a fixed η)."""
    r = np.zeros((horizon, dim))
    r[:, 0] = (-1.0) ** np.arange(horizon)
    r[0, 0] = 0.5
    return r


@functools.partial(jax.jit, static_argnames=("env", "runs"))
def _realise(env, key: Array, runs: int) -> Array:
    def one(k):
        k1, k2 = jax.random.split(k)
        return env.realize(k2, env.sample_task(k1)).xi

    return jax.vmap(one)(jax.random.split(key, runs))


def family_sequences(setting: TheorySetting, family: str, horizon: int, runs: int, seed: int = 0) -> Array:
    """``(runs, horizon, d)`` reward sequences of one family, from :class:`rmft_jax.envs.online.OnlineEnv`.

    ``stochastic`` is the training distribution; the trends use ``noise = 0.1``;
    ``oscillating`` (:func:`oscillating_sequence`) is deterministic and repeated.
    """
    from rmft_jax.envs.online import OnlineEnv

    if family == "oscillating":
        return jnp.broadcast_to(jnp.asarray(oscillating_sequence(horizon, setting.dim), jnp.float32), (runs, horizon, setting.dim))
    kw = {"noise": setting.noise, "mean_scale": setting.mean_scale} if family == "stochastic" else {"noise": 0.1}
    env = OnlineEnv(dim=setting.dim, horizon=horizon, domain=setting.domain, radius=setting.radius, sequence=family, **kw)
    return _realise(env, jax.random.key(seed, impl="rbg"), runs)


@functools.partial(jax.jit, static_argnames=("domain",))
def _regret_and_bound(R, eta, domain: str, radius: float):
    def one(r):
        pol = induced_policies(r, eta, domain, radius)
        return static_regret(r, pol, domain, radius), regret_bound(r, eta, domain, radius)

    return jax.vmap(one)(R)


def measure_regret(setting: TheorySetting, etas: dict[int, float], families=FAMILIES, runs: int = 200, seed: int = 0) -> dict:
    """Regret of the induced algorithm ``map_Π(η S)`` at each horizon in ``etas`` (``{T: η}``).

    For each family and horizon: the mean regret at ``T`` (over ``runs`` sequences), its
    standard error, the mean bound of :func:`regret_bound`, and on the mean regret curve the
    growth exponent ``β̂`` with ``p_reg`` (``H0: β >= 1``) and the trend test ``p_trend``
    (:mod:`rmft_jax.metrics`).
    """
    from rmft_jax.metrics import fit_growth_exponent, trend_test

    out: dict[str, dict] = {}
    t_max = max(etas)
    for fi, fam in enumerate(families):
        out[fam] = {}
        # One draw at the longest horizon; shorter horizons use its prefixes, so every
        # family compiles once. (For linear_trend a prefix is a trend of the same slope
        # per round, observed for T rounds.)
        R_all = family_sequences(setting, fam, t_max, runs, seed=1000 * seed + fi)
        for T, eta in sorted(etas.items()):
            reg, bnd = _regret_and_bound(R_all[:, :T], jnp.float32(eta), setting.domain, setting.radius)
            curve = np.asarray(reg, np.float64).mean(0)
            beta, p_reg = fit_growth_exponent(curve)
            final = np.asarray(reg[:, -1], np.float64)
            out[fam][str(T)] = {
                "eta": float(eta),
                "regret": float(final.mean()),
                "regret_se": float(final.std(ddof=1) / math.sqrt(len(final))) if len(final) > 1 else 0.0,
                "bound": float(np.asarray(bnd[:, -1]).mean()),
                "beta_hat": beta,
                "p_reg": p_reg,
                "p_trend": trend_test(curve),
                "max_regret_over_bound": float(np.max(np.asarray(reg) - np.asarray(bnd))),
            }
    return out


def across_horizon_exponent(by_horizon: dict) -> float:
    """Least-squares slope of ``log Regret_T`` on ``log T`` over the horizons of one family.

    This is the theorem's growth rate: each horizon uses its own minimizer ``η*(T)``, so
    the within-curve ``β̂`` (one fixed ``η`` for ``t = 1..T``) can differ from it.
    """
    T = np.array([float(t) for t in by_horizon])
    r = np.array([v["regret"] for v in by_horizon.values()])
    if len(T) < 2 or np.any(r <= 0):
        return float("nan")
    return float(np.polyfit(np.log(T), np.log(r), 1)[0])


# --------------------------------------------------------------------------------------
# Point 5 of issue 4 (from the meta-algorithm to the loss): see rmft_jax/theory_rmft.py
# --------------------------------------------------------------------------------------
#
# The real Iterative-RMFT loop (rmft_jax.rmft) on this module's LSA lives in
# `rmft_jax.theory_rmft`: `LSAPolicy` (rollouts of `lsa_outputs` with exploration before
# `map_to_policy`), `PseudoRegretEnv` (the trainer ranks by pseudo-regret), the SFT loss
# `sequence_loss` on the kept policies, and `run_theory_rmft` / `python -m
# rmft_jax.theory_rmft` (figures/theory_rmft.*; theory/no_regret.md §11).


# --------------------------------------------------------------------------------------
# The report (rmft theory / experiments/fig1_parameter_dynamics.py)
# --------------------------------------------------------------------------------------

QUICK = {
    "train": TrainConfig(steps=600, batch=128, num_inits=3, log_every=5),
    "horizons": (25, 100),
    "families": ("stochastic", "random_sign", "oscillating"),
    "runs": 20,
    "eta_kw": {"nodes": 48, "log2_points": 12, "scrambles": 4},
    "sweep_eta_kw": {"nodes": 48, "log2_points": 12, "scrambles": 4},
    "tolerance": {"eta_rel": 0.10, "offdiag_rel": 0.10, "vanishing_rel": 0.10},
}
FULL_MODE = {
    "train": TrainConfig(),
    "horizons": (25, 100, 400, 1600),
    "families": FAMILIES,
    "runs": 200,
    "eta_kw": {"nodes": 96, "log2_points": 15, "scrambles": 8},
    # the horizon sweep (T up to 1600): lighter QMC, its standard error is reported
    "sweep_eta_kw": {"nodes": 96, "log2_points": 13, "scrambles": 4},
    "tolerance": {"eta_rel": 0.05, "offdiag_rel": 0.05, "vanishing_rel": 0.05},
}
OUTPUTS = ("theory_report.json", "fig1_dynamics.json", "fig1_env1.png", "fig1_env1.pdf", "fig1_env2.png", "fig1_env2.pdf")


def converged_mask(final: dict, eta_star_value: float, tol: dict) -> np.ndarray:
    """Which initialisations ended at the derived structure (``theory/no_regret.md`` §8).

    Within tolerance means ``|η − η*| <= eta_rel·η*``, ``offdiag_norm <= offdiag_rel·η*`` and
    ``vanishing_norm <= vanishing_rel·η*`` (the norms are measured in units of ``η*``).
    """
    e = np.asarray(final["eta"])
    return (
        (np.abs(e - eta_star_value) <= tol["eta_rel"] * eta_star_value)
        & (np.asarray(final["offdiag_norm"]) <= tol["offdiag_rel"] * eta_star_value)
        & (np.asarray(final["vanishing_norm"]) <= tol["vanishing_rel"] * eta_star_value)
    )


def _env_report(setting: TheorySetting, mode: dict, seed: int, log) -> tuple[dict, dict]:
    t0 = time.perf_counter()
    es = eta_star(setting, seed=seed, **mode["eta_kw"])
    log(f"  eta* = {es.value:.6f} ± {es.stderr:.1e}, L(eta*) = {es.loss:.5f} ({es.method}) [{time.perf_counter() - t0:.1f}s]")
    t0 = time.perf_counter()
    dyn = train_dynamics(setting, dataclasses.replace(mode["train"], seed=seed))
    fin = dyn["final"]
    tol = mode["tolerance"]
    ok = converged_mask(fin, es.value, tol)
    eta_learned = float(np.mean(fin["eta"][ok])) if ok.any() else float("nan")
    rel = abs(eta_learned - es.value) / es.value
    log(
        f"  eta learned per init = {np.round(fin['eta'], 4)}, final loss = {np.round(fin['loss'], 4)}; "
        f"{int(ok.sum())}/{ok.size} at the structure; mean of those {eta_learned:.5f} (rel. error {rel:.2%}) "
        f"[{time.perf_counter() - t0:.1f}s]"
    )
    t0 = time.perf_counter()
    etas_T = {T: eta_star(setting.replace(horizon=T), seed=seed, **mode["sweep_eta_kw"]) for T in mode["horizons"]}
    log(f"  eta*(T) = {', '.join(f'{T}: {e.value:.5f}' for T, e in etas_T.items())} [{time.perf_counter() - t0:.1f}s]")
    t0 = time.perf_counter()
    per_T = measure_regret(setting, {T: e.value for T, e in etas_T.items()}, mode["families"], mode["runs"], seed)
    fixed = measure_regret(setting, {T: es.value for T in mode["horizons"]}, mode["families"], mode["runs"], seed)
    log(f"  regret measured [{time.perf_counter() - t0:.1f}s]")
    stoch = per_T["stochastic"]
    across = {fam: across_horizon_exponent(per_T[fam]) for fam in per_T}
    log("  regret exponent across horizons (eta*(T)): " + ", ".join(f"{f}: {b:.3f}" for f, b in across.items()))
    report = {
        "setting": dataclasses.asdict(setting),
        "eta_star": es.value,
        "eta_star_stderr": es.stderr,
        "eta_star_method": es.method,
        "eta_star_loss": es.loss,
        "eta_learned": eta_learned,
        "eta_learned_note": "mean over the initialisations that ended at the derived structure (see converged)",
        "eta_rel_error": rel,
        "eta_learned_all_inits": float(np.mean(fin["eta"])),
        "per_init": {k: fin[k] for k in ("eta", "offdiag_norm", "quad_norm", "drift_norm", "vanishing_norm", "loss", "loss_se")},
        "converged": ok,
        "num_converged": int(ok.sum()),
        "num_inits": int(ok.size),
        "offdiag_norm": float(np.mean(fin["offdiag_norm"][ok])) if ok.any() else float("nan"),
        "vanishing_norm": float(np.mean(fin["vanishing_norm"][ok])) if ok.any() else float("nan"),
        "offdiag_norm_all_inits": float(np.mean(fin["offdiag_norm"])),
        "vanishing_norm_all_inits": float(np.mean(fin["vanishing_norm"])),
        # The numerical check of the global-minimizer claim: no initialisation found a
        # lower loss than the structured point (within 4 standard errors).
        "min_final_loss_minus_structured": float(np.min(fin["loss"] - es.loss)),
        "no_init_beats_structure": bool(np.all(fin["loss"] >= es.loss - 4 * fin["loss_se"])),
        "tolerance": tol,
        "eta_star_by_horizon": {str(T): {"value": e.value, "stderr": e.stderr} for T, e in etas_T.items()},
        "horizons": {
            str(T): {k: stoch[str(T)][k] for k in ("eta", "regret", "regret_se", "beta_hat", "p_reg", "p_trend", "bound")}
            for T in mode["horizons"]
        },
        "beta_across_horizons": across,
        "beta_across_horizons_fixed_eta": {fam: across_horizon_exponent(fixed[fam]) for fam in fixed},
        "regret_eta_star_T": per_T,
        "regret_eta_star_train": fixed,
    }
    return report, dyn


def run_theory(out_dir: str | Path = "figures", quick: bool = False, overwrite: bool = False, seed: int = 0, log=print) -> dict:
    """Run every check of the theory module and write the report and Figure 1.

    Writes into ``out_dir``: ``theory_report.json`` (per environment ``eta_star``,
    ``eta_learned``, ``eta_rel_error``, ``offdiag_norm``, ``vanishing_norm``, and per
    horizon ``regret``, ``beta_hat``, ``p_reg``, ``p_trend``, ``bound``),
    ``fig1_dynamics.json`` (the trajectories) and ``fig1_env1/2.{png,pdf}`` drawn from it.
    Refuses to overwrite any of them unless ``overwrite`` (checked before any work).
    """
    from rmft_jax.results import check_writable, save_json

    out = Path(out_dir)
    for name in OUTPUTS:
        check_writable(out / name, overwrite)
    mode = QUICK if quick else FULL_MODE
    t_start = time.perf_counter()
    settings = {
        "env1_ball": TheorySetting(domain="ball", dim=3, horizon=25),
        "env2_simplex": TheorySetting(domain="simplex", dim=3, horizon=25),
    }
    report: dict[str, Any] = {
        "note": "Our reconstruction of Theorem 1 of arXiv 2511.04393 (theory/no_regret.md); no number here is the paper's.",
        "mode": "quick" if quick else "full",
        "seed": seed,
        "train_config": dataclasses.asdict(mode["train"]),
    }
    dynamics: dict[str, Any] = {"mode": report["mode"]}
    for name, s in settings.items():
        log(f"{name}:")
        report[name], dyn = _env_report(s, mode, seed, log)
        dynamics[name] = {k: v for k, v in dyn.items() if k != "params"} | {
            "eta_star": report[name]["eta_star"], "eta_star_loss": report[name]["eta_star_loss"],
            "converged": report[name]["converged"],
            "params": dyn["params"], "setting": dataclasses.asdict(s),
        }
    t0 = time.perf_counter()
    report["failure_cases"] = failure_cases(quick=quick, seed=seed)
    log(f"failure cases [{time.perf_counter() - t0:.1f}s]")
    report["runtime_s"] = time.perf_counter() - t_start
    save_json(out / "fig1_dynamics.json", dynamics, overwrite)
    save_json(out / "theory_report.json", report, overwrite)
    plot_figure1(out / "fig1_dynamics.json", out)
    log(f"wrote {out / 'theory_report.json'} and Figure 1 in {report['runtime_s']:.1f}s")
    return report


def failure_cases(quick: bool = False, seed: int = 0) -> dict:
    """What happens where the assumptions fail (``theory/no_regret.md`` §7).

    * realised-regret labels: ``η*(T)`` shrinks like ``1/T``, and the induced algorithm's
      regret on the training distribution;
    * no shared mean (``σ_μ = 0``, realised labels): ``η* = 0``;
    * an asymmetric prior (``μ ~ N(m_0, I)``, ``m_0 = e_1``), full mode only: the trained
      LSA's drift and off-diagonal terms do not vanish.
    """
    kw = (QUICK if quick else FULL_MODE)["sweep_eta_kw"]
    horizons = (25, 100) if quick else (25, 100, 400, 1600)
    runs = FULL_MODE["runs"]
    out: dict[str, Any] = {}
    for domain in DOMAINS:
        env = ENV_NAMES[domain]
        s = TheorySetting(domain=domain, labels="realised")
        etas = {T: eta_star(s.replace(horizon=T), seed=seed, **kw).value for T in horizons}
        out[f"{env}_realised_labels"] = {
            "eta_star_by_horizon": {str(T): e for T, e in etas.items()},
            "T_times_eta_star": {str(T): T * e for T, e in etas.items()},
        }
        if not quick:
            reg = measure_regret(s, etas, families=("stochastic", "random_sign", "oscillating"), runs=runs, seed=seed)
            out[f"{env}_realised_labels"]["beta_across_horizons"] = {fam: across_horizon_exponent(r) for fam, r in reg.items()}
            out[f"{env}_realised_labels"]["regret"] = {
                fam: {T: {k: v[k] for k in ("eta", "regret", "bound", "beta_hat", "p_reg", "p_trend")} for T, v in r.items()}
                for fam, r in reg.items()
            }
        out[f"{env}_no_shared_mean"] = {"eta_star": eta_star(s.replace(mean_scale=0.0), **kw).value}
        if not quick:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                asym = TheorySetting(domain=domain, mean_shift=(1.0, 0.0, 0.0), allow_asymmetric=True)
            fin = train_dynamics(asym, dataclasses.replace(FULL_MODE["train"], num_inits=3, seed=seed))["final"]
            out[f"{env}_asymmetric_prior"] = {"mean_shift": asym.mean_shift} | {
                k: fin[k] for k in ("eta", "offdiag_norm", "quad_norm", "drift_norm", "loss")
            }
    return out


def plot_figure1(results_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Figure 1 (our reconstruction), drawn only from the saved ``fig1_dynamics.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rmft_jax.results import load_json

    res = load_json(results_path)
    written = []
    titles = {"env1_ball": "Env I: ℓ2 ball B(0, 1)", "env2_simplex": "Env II: simplex Δ(A)"}
    for i, name in enumerate(("env1_ball", "env2_simplex")):
        r = res[name]
        step = np.asarray(r["step"])
        fig, ax = plt.subplots(1, 4, figsize=(16, 3.6))
        eta = np.asarray(r["eta"])
        conv = np.asarray(r.get("converged", [True] * eta.shape[0]), bool)
        for j in range(eta.shape[0]):
            ls = "-" if conv[j] else ":"
            ax[0].plot(step, eta[j], lw=1, ls=ls, label=f"init {j}" + ("" if conv[j] else " (other stationary point)"))
        ax[0].axhline(r["eta_star"], color="k", ls="--", lw=1.2, label=f"η* = {r['eta_star']:.4f}")
        ax[0].set(title="effective learning rate η_eff", xlabel="step")
        ax[0].legend(fontsize=7)
        diag, off = np.asarray(r["diag"]), np.asarray(r["offdiag"])
        for j in range(diag.shape[0]):
            ls = "-" if conv[j] else ":"
            ax[1].plot(step, diag[j], color="C0", lw=0.8, alpha=0.7, ls=ls)
            ax[1].plot(step, off[j], color="C3", lw=0.8, alpha=0.7, ls=ls)
        ax[1].axhline(r["eta_star"] * (1 if name == "env1_ball" else 1 - 1 / diag.shape[-1]), color="C0", ls="--", lw=1)
        ax[1].axhline(0.0 if name == "env1_ball" else -r["eta_star"] / diag.shape[-1], color="C3", ls="--", lw=1)
        ax[1].set(title="effective matrix: diagonal (blue), off-diagonal (red)", xlabel="step")
        for key, c in (("offdiag_norm", "C3"), ("quad_norm", "C2"), ("drift_norm", "C4")):
            v = np.asarray(r[key])
            for j in range(v.shape[0]):
                ax[2].semilogy(step, np.maximum(v[j], 1e-8), color=c, lw=0.8, ls="-" if conv[j] else ":", label=key if j == 0 else None)
        ax[2].set(title="terms that must vanish", xlabel="step")
        ax[2].legend(fontsize=7)
        loss = np.asarray(r["loss"])
        for j in range(loss.shape[0]):
            ax[3].plot(step[1:-1], loss[j][1:-1], lw=0.8, ls="-" if conv[j] else ":")
        ax[3].axhline(r["eta_star_loss"], color="k", ls="--", lw=1, label="L(η*)")
        ax[3].legend(fontsize=7)
        ax[3].set(title="loss-for-theory (fresh batch)", xlabel="step")
        fig.suptitle(f"{titles[name]} — single-layer LSA trained on the loss-for-theory (our reconstruction)", fontsize=10)
        fig.tight_layout()
        for ext in ("png", "pdf"):
            p = Path(out_dir) / f"fig1_env{i + 1}.{ext}"
            save_figure(fig, p, dpi=130)
            written.append(p)
        plt.close(fig)
    return written
