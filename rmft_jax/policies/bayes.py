"""Bayesian bandit policies that use the task prior (and the horizon): Bayes-UCB and the knowledge gradient.

Both act on exact posteriors of each arm's mean under the environment's prior,
with independent arms. Two reward families:

* ``bernoulli``: a ``Beta(alpha, beta)`` prior truncated to ``[low, high]``
  (``U[low, high]`` is ``Beta(1, 1)`` truncated); after ``s`` successes and ``f``
  failures the posterior is ``Beta(alpha + s, beta + f)`` truncated to ``[low, high]``.
* ``gaussian`` (known noise ``σ``): a ``uniform`` prior on ``[low, high]`` gives the
  exact truncated-normal posterior ``N(S/n, σ²/n)`` restricted to ``[low, high]``
  (``U[low, high]`` itself before the first pull); a ``gaussian`` prior
  ``N(prior_mean, prior_std²)`` gives the conjugate Gaussian posterior
  (L&S §36.3). No Gaussian approximation of the uniform prior is made.

Policies (pure ``init / noise / act / update`` over :class:`~rmft_jax.policies.bandit.ArmStats`;
``index`` returns the ``(K,)`` index, so a policy's choice in any state can be
inspected, e.g. by :mod:`rmft_jax.policies.bayes_optimal`'s exact evaluation):

* :class:`BayesUCB` — Kaufmann, Cappé and Garivier (2012): in round ``t`` (1-based)
  pull ``argmax_a Q(1 − 1/(t (ln T)^c); posterior_a)``, the posterior quantile.
  ``c = 0`` is the paper's recommended practical choice (their theory needs
  ``c ≥ 5``; their experiments use ``c = 0``), and our default.
* :class:`KnowledgeGradient` — the online knowledge gradient for a finite horizon
  (Ryzhov, Powell and Frazier 2012, eq. (10)), with Frazier and Powell's KG(*)
  lookahead: pull ``argmax_a m_a + (T − t) · max_{j ∈ J} ν_a(j)/j``, where ``m_a`` is
  the posterior mean, ``T − t`` the rounds left after this one, and
  ``ν_a(j) = σ̃_a(j) f(−|m_a − max_{b≠a} m_b| / σ̃_a(j))``, ``f(z) = z Φ(z) + φ(z)``, is the
  expected gain in ``max_b m_b`` from ``j`` more pulls of arm ``a``. ``σ̃_a(j)² =
  v_a² / (v_a + σ_a²/j)`` is the variance of the posterior mean after ``j`` pulls,
  with ``v_a`` the posterior variance and ``σ_a²`` the expected reward variance
  (``σ²`` for Gaussian rewards; ``E[μ(1 − μ)] = m_a(1 − m_a) − v_a`` for Bernoulli,
  which makes ``σ̃_a(j)²`` the exact beta-binomial value). The change of the
  posterior mean is taken as Gaussian with that variance (exact for a Gaussian
  prior, an approximation for the truncated and Beta posteriors). ``J`` is
  ``{1, 2, 4, …}`` up to the rounds left: KG(*)'s ``max_j ν(j)/j`` (Frazier and Powell
  2010) values an arm by its best per-pull gain over several pulls, because one
  pull alone may be unable to change the decision (``ν(1)`` ≈ 0) while a few can.

Ties (equal indices, e.g. every arm before the first pull) are broken uniformly at
random with the policy's own ``(T, K)`` uniform noise.

References:
  Kaufmann, Cappé and Garivier (2012), On Bayesian upper confidence bounds for
  bandit problems, AISTATS.
  Ryzhov, Powell and Frazier (2012), The knowledge gradient algorithm for a
  general class of online learning problems, Operations Research 60(1).
  Frazier and Powell (2010), Paradoxes in learning and the marginal value of
  information, Decision Analysis 7(4).
  Lattimore and Szepesvári (2020), Bandit Algorithms, §36 (conjugate posteriors).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.scipy import special

from rmft_jax import checks
from rmft_jax.domain import UNIFORM_STD
from rmft_jax.policies.bandit import ArmStats, BanditPolicy
from rmft_jax.types import Array

FAMILIES = ("bernoulli", "gaussian")
PRIORS = ("uniform", "gaussian", "beta")
BISECTION_STEPS = 24  # 2^-24 ≈ 6e-8: the float32 resolution of a quantile near 1
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------
# Posterior quantiles and moments (pure, unbatched over arms: every argument broadcasts)
# --------------------------------------------------------------------------------------


def beta_quantile(p: Array, a: Array, b: Array, low: float = 0.0, high: float = 1.0) -> Array:
    """Quantile ``p`` of ``Beta(a, b)`` truncated to ``[low, high]``, by bisection on ``betainc``.

    A fixed number of halvings (``BISECTION_STEPS``) keeps it jittable; the
    regularised incomplete beta ``I_x(a, b)`` is increasing in ``x``, and the target
    is ``I_low + p (I_high − I_low)``. When the interval lies above the Beta's mean
    (where ``I`` is near 1 and the difference would lose float32 digits) the
    reflected problem is solved instead: ``1 − x`` is the ``1 − p`` quantile of
    ``Beta(b, a)`` on ``[1 − high, 1 − low]``.
    """
    a, b, p = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), jnp.asarray(p, jnp.float32)
    flip = a / (a + b) < 0.5 * (low + high)
    a, b, p = jnp.where(flip, b, a), jnp.where(flip, a, b), jnp.where(flip, 1.0 - p, p)
    lo = jnp.broadcast_to(jnp.where(flip, 1.0 - high, low), jnp.broadcast_shapes(a.shape, b.shape, p.shape))
    hi = jnp.broadcast_to(jnp.where(flip, 1.0 - low, high), lo.shape)
    i_lo = jnp.where(lo > 0.0, special.betainc(a, b, lo), 0.0)
    i_hi = jnp.where(hi < 1.0, special.betainc(a, b, hi), 1.0)
    target = i_lo + p * (i_hi - i_lo)

    def halve(_, bounds):
        left, right = bounds
        mid = 0.5 * (left + right)
        below = special.betainc(a, b, mid) < target
        return jnp.where(below, mid, left), jnp.where(below, right, mid)

    left, right = jax.lax.fori_loop(0, BISECTION_STEPS, halve, (lo, hi))
    x = 0.5 * (left + right)
    return jnp.where(flip, 1.0 - x, x)


def _mirror(nu: Array, low: Array, high: Array) -> tuple[Array, Array, Array]:
    """``(flip, a, b)``: standardised bounds, reflected so the interval lies mostly below 0.

    Working in the lower tail keeps ``Φ(b) − Φ(a)`` accurate when both bounds lie far
    in the upper tail (it would be a difference of two numbers near 1).
    """
    a, b = low - nu, high - nu
    flip = (a + b) > 0  # False for (−inf, inf): a Gaussian prior needs no reflection
    return flip, jnp.where(flip, -b, a), jnp.where(flip, -a, b)


def truncnorm_quantile(p: Array, nu: Array, tau: Array, low: Array, high: Array) -> Array:
    """Quantile ``p`` of ``N(nu, tau²)`` truncated to ``[low, high]`` (``±inf`` allowed), closed form.

    ``nu + tau Φ⁻¹(Φ(α) + p (Φ(β) − Φ(α)))`` with ``α, β`` the standardised bounds,
    computed in the lower tail (reflected when the interval lies mostly above
    ``nu``). When ``[low, high]`` lies so far in a tail that ``Φ(β) − Φ(α)`` underflows
    (the data contradict the prior beyond ~13 standard deviations), the bound
    nearest to ``nu`` is returned.
    """
    flip, a, b = _mirror(nu / tau, low / tau, high / tau)
    q = jnp.where(flip, 1.0 - p, p)
    pa, pb = special.ndtr(a), special.ndtr(b)
    z = special.ndtri(pa + q * (pb - pa))
    x = nu + tau * jnp.where(flip, -z, z)
    nearest = jnp.where(nu > high, high, low)
    return jnp.clip(jnp.where(jnp.isfinite(x) & (pb > pa), x, nearest), low, high)


def truncnorm_moments(nu: Array, tau: Array, low: Array, high: Array) -> tuple[Array, Array]:
    """Mean and variance of ``N(nu, tau²)`` truncated to ``[low, high]`` (``±inf`` allowed).

    With ``Z = Φ(β) − Φ(α)``: mean ``nu + tau (φ(α) − φ(β))/Z``, variance
    ``tau² (1 + (α φ(α) − β φ(β))/Z − ((φ(α) − φ(β))/Z)²)``, evaluated in the lower tail
    with ``log Z`` from ``log Φ`` so the ratios stay finite far in the tails.
    """
    flip, a, b = _mirror(nu / tau, low / tau, high / tau)
    log_pa, log_pb = special.log_ndtr(a), special.log_ndtr(b)
    log_z = log_pb + jnp.log1p(-jnp.exp(jnp.minimum(log_pa - log_pb, 0.0)) + 1e-30)
    ra = jnp.exp(-0.5 * a * a - _LOG_SQRT_2PI - log_z)  # φ(α)/Z (0 when α = −inf)
    rb = jnp.exp(-0.5 * b * b - _LOG_SQRT_2PI - log_z)
    ara = jnp.where(jnp.isfinite(a), a * ra, 0.0)
    brb = jnp.where(jnp.isfinite(b), b * rb, 0.0)
    shift = ra - rb
    mean = nu + tau * jnp.where(flip, -shift, shift)
    var = tau**2 * jnp.maximum(1.0 + ara - brb - shift**2, 0.0)
    return jnp.clip(mean, low, high), var


# --------------------------------------------------------------------------------------
# The posterior of every arm
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ArmPrior:
    """The prior of every arm's mean and the reward family (static, validated).

    Attributes:
      family: ``bernoulli`` or ``gaussian`` rewards.
      prior: ``beta`` (Bernoulli: ``Beta(alpha, beta)`` on ``[low, high]``),
        ``uniform`` (``U[low, high]``; for Bernoulli the same as ``beta`` with
        ``alpha = beta = 1``) or ``gaussian`` (Gaussian rewards:
        ``N(prior_mean, prior_std²)``).
      noise_std: the Gaussian reward noise ``σ > 0``.
    """

    family: str = "gaussian"
    prior: str = "uniform"
    low: float = 0.0
    high: float = 1.0
    alpha: float = 1.0
    beta: float = 1.0
    prior_mean: float = 0.5
    prior_std: float = UNIFORM_STD
    noise_std: float = 1.0

    def __post_init__(self):
        positive = checks.number(low=0.0, low_open=True)
        checks.validate(
            self,
            family=checks.one_of(FAMILIES),
            prior=checks.one_of(PRIORS),
            low=checks.number(),
            high=checks.number(),
            prior_mean=checks.number(),
            alpha=positive,
            beta=positive,
            prior_std=positive,
            noise_std=positive,
        )
        if self.family == "bernoulli" and self.prior == "gaussian":
            checks.fail("prior", "uniform or beta for bernoulli rewards", self.prior)
        if self.family == "gaussian" and self.prior == "beta":
            checks.fail("prior", "uniform or gaussian for gaussian rewards", self.prior)
        if self.high <= self.low:
            checks.fail("high", f"> low = {self.low}", self.high)
        if self.family == "bernoulli" and not 0.0 <= self.low < self.high <= 1.0:
            checks.fail("low/high", "inside [0, 1] for bernoulli rewards", (self.low, self.high))
        if self.prior == "uniform" and self.family == "bernoulli":
            # Derived, not validated: a uniform prior is Beta(1, 1), whatever alpha and beta were given.
            object.__setattr__(self, "alpha", 1.0)
            object.__setattr__(self, "beta", 1.0)

    def quantile(self, p: Array, counts: Array, sums: Array) -> Array:
        """``(K,)`` quantile ``p`` of each arm's posterior after ``counts`` pulls summing to ``sums``."""
        if self.family == "bernoulli":
            return beta_quantile(p, self.alpha + sums, self.beta + counts - sums, self.low, self.high)
        nu, tau, low, high = self._gaussian(counts, sums)
        q = truncnorm_quantile(p, nu, tau, low, high)
        if self.prior == "uniform":  # before the first pull the posterior is the prior itself
            q = jnp.where(counts > 0, q, self.low + p * (self.high - self.low))
        return q

    def moments(self, counts: Array, sums: Array) -> tuple[Array, Array, Array]:
        """``(mean, variance, reward variance)`` of each arm's posterior, ``(K,)`` each.

        The reward variance is ``σ²`` for Gaussian rewards and the posterior
        expectation of ``μ(1 − μ)`` for Bernoulli ones.
        """
        if self.family == "bernoulli":
            a, b = self.alpha + sums, self.beta + counts - sums
            if self.low > 0.0 or self.high < 1.0:
                mean, second = _truncated_beta_moments(a, b, self.low, self.high)
            else:
                mean, second = a / (a + b), a * (a + 1.0) / ((a + b) * (a + b + 1.0))
            var = jnp.maximum(second - mean**2, 0.0)
            return mean, var, jnp.maximum(mean - second, 0.0)
        nu, tau, low, high = self._gaussian(counts, sums)
        mean, var = truncnorm_moments(nu, tau, low, high)
        if self.prior == "uniform":
            mid, width = 0.5 * (self.low + self.high), self.high - self.low
            mean = jnp.where(counts > 0, mean, mid)
            var = jnp.where(counts > 0, var, width**2 / 12.0)
        return mean, var, jnp.full_like(mean, self.noise_std**2)

    def _gaussian(self, counts, sums):
        """``(nu, tau, low, high)`` of the (truncated) normal posterior of a Gaussian-reward arm."""
        s2 = self.noise_std**2
        if self.prior == "gaussian":
            prec = 1.0 / self.prior_std**2 + counts / s2
            nu = (self.prior_mean / self.prior_std**2 + sums / s2) / prec
            return nu, jax.lax.rsqrt(prec), -jnp.inf, jnp.inf
        n = jnp.maximum(counts, 1.0)  # counts == 0 is replaced by the prior in the callers
        return sums / n, jnp.sqrt(s2 / n), self.low, self.high


def _truncated_beta_moments(a, b, low, high):
    """First two moments of ``Beta(a, b)`` truncated to ``[low, high]``.

    ``E[μ^k] = B(a + k, b)/B(a, b) · (I_high(a + k, b) − I_low(a + k, b))/(I_high(a, b) − I_low(a, b))``.
    """

    def mass(a_, b_):
        return special.betainc(a_, b_, jnp.float32(high)) - special.betainc(a_, b_, jnp.float32(low))

    z = jnp.maximum(mass(a, b), 1e-30)
    m1 = a / (a + b) * mass(a + 1.0, b) / z
    m2 = a * (a + 1.0) / ((a + b) * (a + b + 1.0)) * mass(a + 2.0, b) / z
    return jnp.clip(m1, low, high), m2


def random_argmax(index: Array, u: Array) -> Array:
    """``argmax`` of ``index`` with ties broken uniformly at random by the uniforms ``u`` ``(K,)``."""
    top = index >= jnp.max(index)
    return jnp.argmax(jnp.where(top, u, -1.0)).astype(jnp.int32)


class _IndexPolicy(BanditPolicy):
    """An index policy on an :class:`ArmPrior`; ``(T, K)`` uniforms break ties."""

    arms: int
    horizon: int
    prior: ArmPrior

    def _check(self):
        checks.validate(self, arms=checks.at_least(2), horizon=checks.at_least(1))
        if not isinstance(self.prior, ArmPrior):
            checks.fail("prior", "an ArmPrior", self.prior)

    def noise(self, key, horizon):
        return jax.random.uniform(key, (horizon, self.arms))

    def index(self, state: ArmStats) -> Array:
        raise NotImplementedError

    def act(self, params, state: ArmStats, noise) -> Array:
        return random_argmax(self.index(state), noise)


@dataclasses.dataclass(frozen=True)
class BayesUCB(_IndexPolicy):
    """Bayes-UCB (Kaufmann, Cappé and Garivier 2012): the ``1 − 1/(t (ln T)^c)`` posterior quantile.

    ``t`` is the current round (1-based), ``T`` the horizon. The quantile level
    is clipped into ``[1/2, 1)``, so that ``(ln T)^c`` (below 1 when ``T < e``) never
    asks for a level below the median.
    """

    arms: int = 5
    horizon: int = 100
    prior: ArmPrior = ArmPrior()
    c: float = 0.0

    def __post_init__(self):
        self._check()
        checks.validate(self, c=checks.number(low=0.0))

    def level(self, t: Array) -> Array:
        """The quantile level in round ``t`` (1-based)."""
        scale = math.log(self.horizon) ** self.c if self.horizon > 1 else 1.0
        return jnp.clip(1.0 - 1.0 / (t.astype(jnp.float32) * scale), 0.5, 1.0 - 1e-7)

    def index(self, state: ArmStats) -> Array:
        return self.prior.quantile(self.level(state.t + 1), state.counts, state.sums)


@dataclasses.dataclass(frozen=True)
class KnowledgeGradient(_IndexPolicy):
    """The online knowledge gradient with KG(*) lookahead over the remaining horizon (module docstring).

    ``max_lookahead`` caps the number of pulls ``j`` of the lookahead grid
    ``{1, 2, 4, …}`` (``1``: the plain one-step online KG of Ryzhov et al.).
    """

    arms: int = 5
    horizon: int = 100
    prior: ArmPrior = ArmPrior()
    max_lookahead: int | None = None

    def __post_init__(self):
        self._check()
        checks.validate(self, max_lookahead=checks.optional(checks.at_least(1)))

    def lookaheads(self) -> tuple[int, ...]:
        """The static grid ``J`` of pull counts ``{1, 2, 4, …}`` up to ``T`` (or ``max_lookahead``)."""
        cap = self.horizon if self.max_lookahead is None else min(self.horizon, self.max_lookahead)
        return tuple(2**i for i in range(int(math.log2(max(cap, 1))) + 1))

    def gains(self, state: ArmStats) -> Array:
        """``(K,)`` ``max_{j ∈ J, j ≤ T − t} ν_a(j)/j``, the per-pull value of information."""
        mean, var, noise_var = self.prior.moments(state.counts, state.sums)
        others = jnp.sort(mean)
        best_other = jnp.where(mean >= others[-1], others[-2], others[-1])
        gap = jnp.abs(mean - best_other)
        left = (self.horizon - state.t - 1).astype(jnp.float32)  # rounds after this one
        j = jnp.asarray(self.lookaheads(), jnp.float32)[:, None]  # (J, 1)
        spread = var / jnp.sqrt(jnp.maximum(var + noise_var / j, 1e-30))  # σ̃_a(j), (J, K)
        z = -gap / jnp.maximum(spread, 1e-30)
        value = spread * (z * special.ndtr(z) + jnp.exp(-0.5 * z * z - _LOG_SQRT_2PI))
        per_pull = jnp.where(j <= jnp.maximum(left, 1.0), value / j, 0.0)
        return jnp.max(per_pull, axis=0)

    def index(self, state: ArmStats) -> Array:
        mean = self.prior.moments(state.counts, state.sums)[0]
        left = (self.horizon - state.t - 1).astype(jnp.float32)
        return mean + left * self.gains(state)
