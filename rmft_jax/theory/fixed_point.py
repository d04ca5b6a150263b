"""``η*``: the learning rate of the loss-for-theory's symmetric minimizer, to high precision.

The minimizer is ``π_t = map_Π(η* S_{t−1})`` — FTRL with the quadratic regulariser
``‖x‖²/(2η)`` on the ball, Hedge on the simplex — with ``η*`` the solution of a
one-dimensional problem (``theory/no_regret.md`` §4, §5): Gauss–Legendre quadrature and
Brent's method on the ball, scrambled Sobol points and Newton's method on the simplex.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize, special
from scipy.stats import qmc

from rmft_jax.theory.setting import TheorySetting


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
