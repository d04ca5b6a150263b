"""Classical stochastic- and adversarial-bandit baselines as pure policies.

Each policy is a frozen dataclass of static hyper-parameters with pure
``init / noise / act / update`` (see :class:`rmft_jax.types.Policy`); its state is
a small pytree of per-arm statistics. Randomness is drawn in bulk by ``noise``
(leading axis ``T``), so the rollout's scan body is pure arithmetic that XLA fuses.

Conventions shared by every index policy here (UCB, Greedy, ε-greedy, and the
sliding-window and discounted UCB of :mod:`rmft_jax.policies.nonstationary`):
arms never pulled get index ``+inf``, so they are pulled first, and ties (exact
float equality, which is the rule on Bernoulli rewards in early rounds: means are
ratios of small integers, and equal ratios round to the same float) are broken
uniformly at random, never by arm order, so no statistic depends on where the
best arm sits. The tie-break uses one uniform per round from the policy's bulk
``noise`` (:func:`argmax_random_tie`), so a seed still fixes the run. Thompson
sampling takes the argmax of continuous posterior draws, where ties have
probability zero.

References:
  Auer, Cesa-Bianchi and Fischer (2002), Finite-time analysis of the multiarmed
  bandit problem, Machine Learning 47.
  Lattimore and Szepesvári (2020), Bandit Algorithms, Cambridge University Press
  (L&S below): ch. 6 (explore-then-commit / ε-greedy), 7 (UCB), 11 (Exp3), 36 (TS).
  Krishnamurthy et al. (2024), Can large language models explore in-context?
  (the Greedy baseline with one initial pull per arm).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from rmft_jax import checks
from rmft_jax.domain import UNIFORM_STD
from rmft_jax.types import BANDIT, ActionSpace, Array, Policy


@struct.dataclass
class ArmStats:
    """Per-arm pull counts and reward sums, and the number of rounds played."""

    counts: Array  # (K,) float32
    sums: Array  # (K,) float32
    t: Array  # () int32


def init_stats(arms: int) -> ArmStats:
    return ArmStats(jnp.zeros((arms,)), jnp.zeros((arms,)), jnp.zeros((), jnp.int32))


def update_stats(s: ArmStats, action: Array, reward: Array) -> ArmStats:
    one = jax.nn.one_hot(action, s.counts.shape[0])
    return ArmStats(s.counts + one, s.sums + one * reward, s.t + 1)


def empirical_means(s: ArmStats) -> Array:
    return s.sums / jnp.maximum(s.counts, 1.0)


UNROLLED_ARMS = 16  # up to this many arms the tie-break is written arm by arm (faster on CPU)


def tie_noise(key: Array, horizon: int) -> Array:
    """``(T,)`` uniforms in ``[0, 1)``: one tie-break per round for :func:`argmax_random_tie`."""
    return jax.random.uniform(key, (horizon,))


def argmax_random_tie(index: Array, u: Array) -> Array:
    """A maximiser of ``index`` ``(K,)`` drawn uniformly among all maximisers, given ``u ~ U[0, 1)``.

    With ``m`` arms attaining the maximum (exact float equality), the arm returned
    is the ``j``-th of them in index order (from 0), ``j = ⌊u m⌋``, so each with
    probability ``1/m`` (up to the ``2^-23`` grid of a float32 uniform). One
    uniform per round instead of one per arm: ``K`` times fewer random numbers in
    the rollout's bulk noise.
    """
    arms = index.shape[0]
    if arms <= UNROLLED_ARMS:
        # Arm by arm: elementwise ops that XLA fuses into one loop over a batch of
        # rollouts, about 1.5x as fast on CPU as reductions over a short last axis.
        cols = [index[a] for a in range(arms)]
        best = functools.reduce(jnp.maximum, cols)
        ranks = list(itertools.accumulate((c == best).astype(u.dtype) for c in cols))  # maximisers among 0..a
    else:
        ranks = jnp.cumsum(index == jnp.max(index), dtype=u.dtype)
    m = ranks[-1]
    # min(·, m − 1) only guards the rounding of u·m (u < 1 already keeps it below m) and m = 0 (a NaN index).
    j = jnp.minimum(jnp.floor(u * m), m - 1)
    # The j-th maximiser is the first arm whose rank exceeds j: the number of arms before it.
    if isinstance(ranks, list):
        return functools.reduce(jnp.add, [(r <= j).astype(jnp.int32) for r in ranks])
    return jnp.sum(ranks <= j, dtype=jnp.int32)


def argmax_unplayed_first(index: Array, counts: Array, u: Array) -> Array:
    """An arm with ``counts == 0`` if any, else a maximiser of ``index``; uniformly at random among either.

    Setting unplayed arms to ``+inf`` makes them the maximisers, so one tie-broken
    ``argmax`` (:func:`argmax_random_tie` with the round's uniform ``u``) does both.
    """
    return argmax_random_tie(jnp.where(counts == 0, jnp.inf, index), u)


class BanditPolicy(Policy):
    """Base of the bandit-feedback policies: ``update`` sees the pulled arm's reward.

    Declares the action space (``arms`` arms, bandit feedback) and, as defaults, the
    per-arm statistics :class:`ArmStats` as state.
    """

    feedback: ClassVar[str] = BANDIT
    arms: int

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.feedback, self.arms)

    def init(self, params=None, length=None) -> ArmStats:
        return init_stats(self.arms)

    def update(self, params, state: ArmStats, action, feedback) -> ArmStats:
        return update_stats(state, action, feedback)


@dataclasses.dataclass(frozen=True)
class UCB(BanditPolicy):
    """UCB with index ``μ̂_a + sqrt(c · ln t / n_a)`` after one pull of each arm.

    ``t`` is the number of rounds already played (so the first index after the
    initial pulls uses ``t = K``). ``c = 2`` is UCB1 (Auer et al. 2002, Fig. 1) for
    rewards in ``[0, 1]``; for σ-sub-Gaussian rewards ``c = 2σ²`` gives the same
    confidence radius (L&S Alg. 3 with ``δ = 1/t²``). Krishnamurthy et al. (2024)
    use the heuristic index ``μ̂_a + sqrt(1/n_a)`` instead: ``c = 1, log_t=False``,
    for which the index is ``μ̂_a + sqrt(c / n_a)``. Unplayed arms first and ties
    uniformly at random (the module's conventions); noise: ``(T,)`` tie-break uniforms.
    """

    arms: int = 5
    c: float = 2.0
    log_t: bool = True

    def __post_init__(self):
        checks.validate(self, arms=checks.at_least(2), c=checks.number(low=0.0))
        if not isinstance(self.log_t, bool):
            checks.fail("log_t", "True or False", self.log_t)

    def noise(self, key, horizon):
        return tie_noise(key, horizon)

    def act(self, params, state: ArmStats, noise) -> Array:
        n = jnp.maximum(state.counts, 1.0)
        if self.log_t:
            t = jnp.maximum(state.t, 1).astype(jnp.float32)
            index = state.sums / n + jnp.sqrt(self.c * jnp.log(t) / n)
        else:
            index = state.sums / n + jnp.sqrt(self.c / n)
        return argmax_unplayed_first(index, state.counts, noise)


@dataclasses.dataclass(frozen=True)
class Greedy(BanditPolicy):
    """Greedy: one pull of each arm (in random order), then ``argmax_a μ̂_a``, ties uniformly at random.

    The Greedy baseline of Krishnamurthy et al. (2024, App. A.1), which with
    constant probability never pulls the best arm again (a suffix failure).
    Noise: ``(T,)`` tie-break uniforms.
    """

    arms: int = 5

    def __post_init__(self):
        checks.validate(self, arms=checks.at_least(2))

    def noise(self, key, horizon):
        return tie_noise(key, horizon)

    def act(self, params, state: ArmStats, noise) -> Array:
        return argmax_unplayed_first(empirical_means(state), state.counts, noise)


@dataclasses.dataclass(frozen=True)
class EpsilonGreedy(BanditPolicy):
    """ε-greedy with a constant ``epsilon``, after one pull of each arm.

    Each round after the initial pulls: with probability ``epsilon`` an arm drawn
    uniformly from all ``K`` (the greedy arm included), otherwise ``argmax_a μ̂_a``
    (ties uniformly at random). L&S §6 / Slivkins (2019) §1.2: with
    ``ε ≍ (K ln T / T)^{1/3}`` the regret is ``O(T^{2/3} (K ln T)^{1/3})``.

    Noise: ``(T, 3)`` uniforms drawn in bulk: column 0 decides whether to explore,
    column 1 picks the arm, column 2 breaks ties of the greedy (or initial) pull.
    """

    arms: int = 5
    epsilon: float = 0.1

    def __post_init__(self):
        checks.validate(self, arms=checks.at_least(2), epsilon=checks.number(low=0.0, high=1.0))

    def noise(self, key, horizon):
        return jax.random.uniform(key, (horizon, 3))

    def act(self, params, state: ArmStats, noise) -> Array:
        random_arm = jnp.minimum(jnp.floor(noise[1] * self.arms), self.arms - 1).astype(jnp.int32)
        greedy = argmax_unplayed_first(empirical_means(state), state.counts, noise[2])
        explore = (noise[0] < self.epsilon) & jnp.all(state.counts > 0)
        return jnp.where(explore, random_arm, greedy)


@dataclasses.dataclass(frozen=True)
class Uniform(BanditPolicy):
    """Pulls an arm uniformly at random every round (the arms are drawn in bulk, ``(T,)``)."""

    arms: int = 5

    def __post_init__(self):
        checks.validate(self, arms=checks.at_least(2))

    def noise(self, key, horizon):
        return jax.random.randint(key, (horizon,), 0, self.arms, dtype=jnp.int32)

    def act(self, params, state: ArmStats, noise) -> Array:
        return noise


@struct.dataclass
class Exp3State:
    """Exp3's cumulative importance-weighted reward estimates ``Ŝ`` ``(K,)`` and round count."""

    scores: Array
    t: Array


@dataclasses.dataclass(frozen=True)
class Exp3(BanditPolicy):
    """Exp3 (L&S Alg. 9, §11.3) for rewards in ``[0, 1]``.

    ``P_t = softmax(η_t Ŝ_{t−1})`` and the arm is drawn from ``P_t`` by inverse CDF
    with a bulk uniform. The estimator is L&S's loss-based importance-weighted one,
    ``Ŝ_{t,i} = Ŝ_{t−1,i} + 1 − 1{A_t = i}(1 − X_t)/P_{t,i}``, unbiased for
    ``Σ_s x_{s,i}`` and of lower variance than ``1{A_t=i} X_t / P_{t,i}``.

    Learning rate: with ``horizon`` ``T`` given, ``η = sqrt(ln K / (T K))``, for which
    ``Regret_T <= 2 sqrt(T K ln K)`` (L&S Thm 11.1); with ``horizon=None`` the anytime
    rate ``η_t = sqrt(ln K / (t K))``. ``eta`` overrides both. Rewards outside
    ``[0, 1]`` (e.g. Gaussian) keep the estimator unbiased but void the bound.
    """

    arms: int = 5
    horizon: int | None = None
    eta: float | None = None

    def __post_init__(self):
        checks.validate(
            self,
            arms=checks.at_least(2),
            horizon=checks.optional(checks.at_least(1)),
            eta=checks.optional(checks.number(low=0.0, low_open=True)),
        )

    def init(self, params=None, length=None) -> Exp3State:
        return Exp3State(jnp.zeros((self.arms,)), jnp.zeros((), jnp.int32))

    def noise(self, key, horizon):
        return jax.random.uniform(key, (horizon,))

    def rate(self, t: Array) -> Array:
        """``η`` in round ``t`` (1-based)."""
        if self.eta is not None:
            return jnp.float32(self.eta)
        if self.horizon is not None:
            return jnp.float32(math.sqrt(math.log(self.arms) / (self.horizon * self.arms)))
        return jnp.sqrt(math.log(self.arms) / (t.astype(jnp.float32) * self.arms))

    def probs(self, state: Exp3State) -> Array:
        return jax.nn.softmax(self.rate(state.t + 1) * state.scores)

    def act(self, params, state: Exp3State, noise) -> Array:
        cdf = jnp.cumsum(self.probs(state))
        # Scaling u by the total keeps the draw inside the support when the cdf's
        # last entry rounds below 1.
        return jnp.argmax(cdf > noise * cdf[-1]).astype(jnp.int32)

    def update(self, params, state: Exp3State, action, feedback) -> Exp3State:
        p = self.probs(state)[action]
        one = jax.nn.one_hot(action, self.arms)
        est = 1.0 - one * (1.0 - feedback) / jnp.maximum(p, jnp.finfo(jnp.float32).tiny)
        return Exp3State(state.scores + est, state.t + 1)


@dataclasses.dataclass(frozen=True)
class GaussianThompson(BanditPolicy):
    """Thompson sampling with independent ``N(prior_mean, prior_std²)`` priors and known noise ``σ``.

    Posterior of arm ``a`` after ``n_a`` pulls with sum ``S_a``: precision
    ``1/prior_std² + n_a/σ²``, mean ``(prior_mean/prior_std² + S_a/σ²)/precision``
    (L&S §36.3, Gaussian–Gaussian conjugacy); the arm is ``argmax_a θ_a`` with
    ``θ_a`` one posterior draw each. The standard normals are drawn in bulk, ``(T, K)``.
    """

    arms: int = 5
    noise_std: float = 1.0
    prior_mean: float = 0.5
    prior_std: float = UNIFORM_STD

    def __post_init__(self):
        positive = checks.number(low=0.0, low_open=True)
        checks.validate(
            self, arms=checks.at_least(2), noise_std=positive, prior_std=positive, prior_mean=checks.number()
        )

    def noise(self, key, horizon):
        return jax.random.normal(key, (horizon, self.arms))

    def act(self, params, state: ArmStats, noise) -> Array:
        return gaussian_posterior_argmax(
            state.counts, state.sums, noise, self.prior_mean, self.prior_std, self.noise_std
        )


def gaussian_posterior_argmax(counts, sums, z, prior_mean, prior_std, noise_std) -> Array:
    """``argmax_a`` of one draw from each arm's Gaussian posterior, given standard normals ``z``."""
    prec = 1.0 / prior_std**2 + counts / noise_std**2
    mean = (prior_mean / prior_std**2 + sums / noise_std**2) / prec
    return jnp.argmax(mean + z * jax.lax.rsqrt(prec)).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class GammaThompson(BanditPolicy):
    """Thompson sampling for mean-parameterised gamma rewards of known shape ``α``.

    A reward of arm ``a`` is ``Gamma(α, rate β_a)`` with mean ``μ_a = α/β_a``
    (:mod:`rmft_jax.envs.bandit`'s ``gamma`` process). The rate has the conjugate
    prior ``Gamma(prior_shape, prior_rate)``; after ``n_a`` pulls with sum ``S_a`` the
    posterior is ``Gamma(prior_shape + α·n_a, prior_rate + S_a)``, and the arm played
    is ``argmax_a α/β_a`` over one posterior draw per arm. The per-round keys are split
    in bulk, ``(T,)``. The defaults put the prior median of ``μ`` near 0.5 for ``α = 1``.
    """

    arms: int = 5
    shape: float = 1.0
    prior_shape: float = 1.0
    prior_rate: float = 0.35

    def __post_init__(self):
        positive = checks.number(low=0.0, low_open=True)
        checks.validate(self, arms=checks.at_least(2), shape=positive, prior_shape=positive, prior_rate=positive)

    def noise(self, key, horizon):
        return jax.random.split(key, horizon)

    def act(self, params, state: ArmStats, noise) -> Array:
        conc = self.prior_shape + self.shape * state.counts
        rate = jax.random.gamma(noise, conc) / (self.prior_rate + state.sums)
        return jnp.argmax(self.shape / rate).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class BetaThompson(BanditPolicy):
    """Beta–Bernoulli Thompson sampling with a ``Beta(alpha, beta)`` prior per arm (L&S §36.1).

    Rewards are treated as successes (Bernoulli); the per-round keys are split in
    bulk, ``(T,)``, and the ``K`` Beta draws of a round are made in ``act``.
    ``Beta(1, 1)`` (uniform) is Krishnamurthy et al.'s TS baseline.
    """

    arms: int = 5
    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self):
        positive = checks.number(low=0.0, low_open=True)
        checks.validate(self, arms=checks.at_least(2), alpha=positive, beta=positive)

    def noise(self, key, horizon):
        return jax.random.split(key, horizon)

    def act(self, params, state: ArmStats, noise) -> Array:
        a = self.alpha + state.sums
        b = self.beta + state.counts - state.sums
        return jnp.argmax(jax.random.beta(noise, a, b)).astype(jnp.int32)
