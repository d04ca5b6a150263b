"""Bayes-UCB, the knowledge gradient and the exact Bayes-optimal two-armed Bernoulli policy (issue 13, point 4).

Exact checks (posterior quantiles and moments against SciPy, the dynamic programme
against hand computations, index policies evaluated exactly on every belief
state) and simulated ones (tolerances of four standard errors, fixed seeds).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from rmft_jax.envs import BanditEnv
from rmft_jax.policies import make_policy, policy_names
from rmft_jax.policies import bayes_optimal as bo
from rmft_jax.policies.bandit import ArmStats
from rmft_jax.policies.bayes import (
    ArmPrior,
    BayesUCB,
    KnowledgeGradient,
    beta_quantile,
    truncnorm_moments,
    truncnorm_quantile,
)
from rmft_jax.rollout import run

UNIFORM_BERNOULLI = ArmPrior(family="bernoulli", prior="uniform")
DP_T = 20  # the horizon of the simulated comparisons with the optimum
DP_ENV = BanditEnv(arms=2, horizon=DP_T, reward="bernoulli")  # means ~ U[0, 1] = Beta(1, 1)


@pytest.fixture(scope="module")
def dp20():
    return bo.solve(DP_T)


# ---------------------------------------------------------------- posterior quantiles and moments


def test_beta_quantile_matches_scipy_plain_and_truncated():
    a = np.array([1.0, 2.0, 7.0, 1.0, 30.0, 0.5])
    b = np.array([1.0, 5.0, 3.0, 40.0, 2.0, 0.5])
    for p in (0.5, 0.9, 0.99, 0.999):
        got = np.asarray(beta_quantile(jnp.float32(p), a, b))
        np.testing.assert_allclose(got, stats.beta.ppf(p, a, b), atol=2e-6)
    lo, hi = 0.2, 0.7
    dist = stats.beta(a, b)
    want = dist.ppf(dist.cdf(lo) + 0.9 * (dist.cdf(hi) - dist.cdf(lo)))
    np.testing.assert_allclose(np.asarray(beta_quantile(jnp.float32(0.9), a, b, lo, hi)), want, atol=1e-5)


def test_truncnorm_quantile_and_moments_match_scipy_including_far_tails():
    nu = np.array([0.3, 0.5, 1.8, -0.7, 1.05, 0.0, 2.0], np.float32)
    tau = np.array([0.5, 0.02, 0.5, 0.3, 0.016, 1.0, 0.2], np.float32)
    lo, hi = 0.0, 1.0
    a, b = (lo - nu) / tau, (hi - nu) / tau
    for p in (0.5, 0.96, 0.999):
        got = np.asarray(truncnorm_quantile(jnp.float32(p), nu, tau, lo, hi))
        np.testing.assert_allclose(got, stats.truncnorm.ppf(p, a, b, loc=nu, scale=tau), atol=2e-5)
    mean, var = map(np.asarray, truncnorm_moments(nu, tau, lo, hi))
    np.testing.assert_allclose(mean, stats.truncnorm.mean(a, b, loc=nu, scale=tau), atol=2e-5)
    np.testing.assert_allclose(var, stats.truncnorm.var(a, b, loc=nu, scale=tau), rtol=2e-3, atol=1e-7)
    # 10 sd beyond the interval the variance loses float32 digits (a 1 % error), the rest holds
    a, b = -15.0, -10.0
    mean, var = map(float, truncnorm_moments(jnp.float32(3.0), jnp.float32(0.2), 0.0, 1.0))
    assert mean == pytest.approx(stats.truncnorm.mean(a, b, loc=3.0, scale=0.2), abs=1e-5)
    assert var == pytest.approx(stats.truncnorm.var(a, b, loc=3.0, scale=0.2), rel=0.02)
    # unbounded: the plain normal; beyond ~13 sd the nearest bound
    np.testing.assert_allclose(truncnorm_quantile(jnp.float32(0.9), 0.2, 0.5, -jnp.inf, jnp.inf),
                               0.2 + 0.5 * stats.norm.ppf(0.9), atol=1e-5)
    assert float(truncnorm_quantile(jnp.float32(0.9), 40.0, 0.1, 0.0, 1.0)) == 1.0
    assert float(truncnorm_quantile(jnp.float32(0.9), -40.0, 0.1, 0.0, 1.0)) == 0.0


def test_arm_prior_validation_is_one_line():
    for kwargs, field in [({"family": "poisson"}, "family"), ({"prior": "gaussian", "family": "bernoulli"}, "prior"),
                          ({"low": 0.5, "high": 0.5}, "high"), ({"noise_std": 0.0}, "noise_std"),
                          ({"family": "bernoulli", "high": 2.0}, "low/high")]:
        with pytest.raises(ValueError, match=f"^{field}: must be"):
            ArmPrior(**kwargs)
    with pytest.raises(ValueError, match="^horizon: must be"):
        BayesUCB(arms=2, horizon=0)
    with pytest.raises(ValueError, match="^horizon: must be an integer <= 50"):
        bo.solve(51)


# ---------------------------------------------------------------- the policies


def test_bayes_ucb_index_is_the_posterior_quantile():
    """Uniform prior before a pull; the truncated normal / Beta quantile after; level 1 − 1/t (c = 0)."""
    prior = ArmPrior(prior="uniform", low=0.0, high=1.0, noise_std=0.5)
    pol = BayesUCB(arms=3, horizon=100, prior=prior)
    s = ArmStats(jnp.array([0.0, 4.0, 1.0]), jnp.array([0.0, 2.4, 1.5]), jnp.int32(9))
    p = 1.0 - 1.0 / 10
    want = [p, stats.truncnorm.ppf(p, (0 - 0.6) / 0.25, (1 - 0.6) / 0.25, 0.6, 0.25),
            stats.truncnorm.ppf(p, (0 - 1.5) / 0.5, (1 - 1.5) / 0.5, 1.5, 0.5)]
    np.testing.assert_allclose(np.asarray(pol.index(s)), want, atol=2e-5)
    bern = BayesUCB(arms=2, horizon=100, prior=UNIFORM_BERNOULLI, c=1.0)
    s = ArmStats(jnp.array([5.0, 2.0]), jnp.array([4.0, 0.0]), jnp.int32(7))
    level = 1.0 - 1.0 / (8 * math.log(100))
    np.testing.assert_allclose(np.asarray(bern.index(s)), stats.beta.ppf(level, [5, 1], [2, 3]), atol=2e-6)


def test_kg_one_step_gain_matches_the_gaussian_formula():
    """Gaussian prior: ``ν = σ̃ f(−|Δ|/σ̃)``, ``σ̃ = v/sqrt(v + σ²)``; index ``m + (T − t) ν``."""
    prior = ArmPrior(prior="gaussian", prior_mean=0.5, prior_std=0.3, noise_std=0.5)
    pol = KnowledgeGradient(arms=3, horizon=50, prior=prior, max_lookahead=1)
    counts, sums = np.array([2.0, 5.0, 0.0]), np.array([1.4, 2.0, 0.0])
    s = ArmStats(jnp.asarray(counts), jnp.asarray(sums), jnp.int32(7))
    prec = 1 / 0.3**2 + counts / 0.25
    m, v = (0.5 / 0.3**2 + sums / 0.25) / prec, 1 / prec
    st = v / np.sqrt(v + 0.25)
    gap = np.abs(m - np.array([max(m[1], m[2]), max(m[0], m[2]), max(m[0], m[1])]))
    z = -gap / st
    nu = st * (z * stats.norm.cdf(z) + stats.norm.pdf(z))
    np.testing.assert_allclose(np.asarray(pol.gains(s)), nu, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(pol.index(s)), m + (50 - 8) * nu, rtol=1e-4)


def test_kg_bernoulli_predictive_variance_is_the_beta_binomial_one():
    """``σ̃(j)² = v²/(v + (m(1 − m) − v)/j)`` equals the variance of the Beta mean after ``j`` pulls."""
    a, b, j = 3.0, 5.0, 4.0
    n, m = a + b, a / (a + b)
    v = m * (1 - m) / (n + 1)
    exact = m * (1 - m) * j / ((n + 1) * (n + j))
    mean, var, noise = UNIFORM_BERNOULLI.moments(jnp.array([6.0]), jnp.array([2.0]))
    assert float(mean[0]) == pytest.approx(m) and float(var[0]) == pytest.approx(v, rel=1e-5)
    assert float(var[0] ** 2 / (var[0] + noise[0] / j)) == pytest.approx(exact, rel=1e-5)


@pytest.mark.parametrize("name", ["bayes_ucb", "kg"])
def test_ties_are_broken_uniformly_at_random(name):
    """In round 1 every arm has the same index: the first pull is uniform over the arms."""
    env = BanditEnv(arms=4, horizon=2, reward="gaussian", noise=0.5)
    first = np.asarray(run(env, make_policy(name, env), jax.random.key(3), 4000).actions[:, 0])
    counts = np.bincount(first, minlength=4)
    assert stats.chisquare(counts).pvalue > 1e-3, counts


def test_registry_builds_the_true_prior():
    fig2 = BanditEnv(arms=5, horizon=100, reward="gaussian", noise=0.5)
    for name in ("bayes_ucb", "kg"):
        assert name in policy_names(fig2)
        p = make_policy(name, fig2)
        assert p.horizon == 100 and p.prior == ArmPrior(prior="uniform", low=0.0, high=1.0, noise_std=0.5)
    assert make_policy("kg", DP_ENV).prior == UNIFORM_BERNOULLI
    gauss = BanditEnv(arms=3, horizon=10, reward="gaussian", prior="gaussian", prior_mean=1.0, prior_std=2.0)
    assert make_policy("bayes_ucb", gauss).prior == ArmPrior(prior="gaussian", prior_mean=1.0, prior_std=2.0)
    narrow = BanditEnv(arms=3, horizon=10, reward="bernoulli", prior_low=0.2, prior_high=0.6)
    assert make_policy("bayes_ucb", narrow).prior == ArmPrior(family="bernoulli", low=0.2, high=0.6)


# ---------------------------------------------------------------- the exact dynamic programme


def test_dp_small_horizons_by_hand():
    """T = 1: V = 1/2, R* = 2/3 − 1/2 = 1/6. T = 2: pull either arm; after a success keep it
    (2/3), after a failure switch (1/2): V = ½(1 + 2/3) + ½·½ = 13/12, R* = 4/3 − 13/12 = 1/4.
    Asymmetric T = 1 with Beta(2, 1) and Beta(1, 1): V = 2/3, E[max] = ∫(1 − x²·x) = 3/4, R* = 1/12."""
    assert bo.expected_max_mean() == pytest.approx(2 / 3, abs=1e-12)
    assert bo.solve(1).regret == pytest.approx(1 / 6, abs=1e-12)
    sol2 = bo.solve(2)
    assert sol2.value == pytest.approx(13 / 12, abs=1e-12) and sol2.regret == pytest.approx(1 / 4, abs=1e-12)
    assert sol2.table[0, 0, 0, 0] == bo.TIE and sol2.table[1, 1, 0, 0] == 0 and sol2.table[1, 0, 1, 0] == 1
    asym = bo.solve(1, prior=((2.0, 1.0), (1.0, 1.0)))
    assert asym.value == pytest.approx(2 / 3, abs=1e-12) and asym.regret == pytest.approx(1 / 12, abs=1e-12)


def test_policy_evaluation_is_exact(dp20):
    """The optimal table evaluates to the optimum; a coin flip to T·(2/3 − 1/2); KG and Bayes-UCB not below it."""
    opt = np.where(dp20.table == 0, 1.0, np.where(dp20.table == 1, 0.0, 0.5))
    assert bo.policy_bayes_regret(DP_T, opt) == pytest.approx(dp20.regret, abs=1e-10)
    coin = np.full(opt.shape, 0.5)
    assert bo.policy_bayes_regret(DP_T, coin) == pytest.approx(DP_T / 6, abs=1e-10)
    assert 0.9 < dp20.regret < DP_T / 6


def test_kg_is_within_one_percent_of_the_bayes_optimum_at_T20(dp20):
    """The finite-horizon policy's exact Bayes regret (every belief state evaluated, no sampling):
    KG* 0.9043 against the optimum 0.9021 (0.25% above) at T = 20, Beta(1, 1) priors; Bayes-UCB 0.957."""
    kg = KnowledgeGradient(arms=2, horizon=DP_T, prior=UNIFORM_BERNOULLI)
    r_kg = bo.policy_bayes_regret(DP_T, bo.index_policy_probs(kg, DP_T))
    assert dp20.regret - 1e-9 <= r_kg <= 1.01 * dp20.regret
    ucb = BayesUCB(arms=2, horizon=DP_T, prior=UNIFORM_BERNOULLI)
    r_ucb = bo.policy_bayes_regret(DP_T, bo.index_policy_probs(ucb, DP_T))
    assert dp20.regret - 1e-9 <= r_ucb <= 1.1 * dp20.regret


def _simulated(policy, runs, seed, params=None):
    regret = np.asarray(run(DP_ENV, policy, jax.random.key(seed), runs, params).regret[:, -1], np.float64)
    return regret.mean(), regret.std(ddof=1) / math.sqrt(runs)


def test_simulated_dp_policy_matches_the_exact_value(dp20):
    mean, se = _simulated(bo.TablePolicy(), 40000, 11, bo.TablePolicy.table(dp20))
    assert abs(mean - dp20.regret) < 4 * se, (mean, se, dp20.regret)


@pytest.mark.slow
def test_no_registry_policy_beats_the_bayes_optimum(dp20):
    """Every registered bandit baseline, 4000 runs on U[0, 1] Bernoulli means: mean regret ≥ R* − 4 s.e."""
    names = policy_names(DP_ENV)
    assert {"ucb", "thompson", "greedy", "epsilon_greedy", "bayes_ucb", "kg"} <= set(names)
    for i, name in enumerate(names):
        mean, se = _simulated(make_policy(name, DP_ENV), 4000, 100 + i)
        assert mean > dp20.regret - 4 * se, (name, mean, se, dp20.regret)
