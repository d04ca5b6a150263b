"""Metrics against plain Python/NumPy references, statistical sanity checks and properties."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rmft_jax import metrics
from rmft_jax.types import Trajectory

N, T, K = 7, 23, 4
PROPS = settings(max_examples=25, deadline=None)


def random_actions(rng, n=N, t=T, k=K):
    return rng.integers(0, k, size=(n, t))


# ----- plain-Python references (loops, written from the definitions) ------------------


def ref_suff_fail_freq(actions, best):
    n, t_max = actions.shape
    out = []
    for t in range(t_max):
        fails = 0
        for r in range(n):
            b = best[r] if best.ndim == 1 else None
            never = all(actions[r, s] != (b if b is not None else best[r, s]) for s in range(t, t_max))
            fails += never
        out.append(fails / n)
    return np.array(out)


def ref_min_frac(actions, k):
    n, t_max = actions.shape
    out = np.zeros(t_max)
    for r in range(n):
        for t in range(1, t_max + 1):
            prefix = list(actions[r, :t])
            out[t - 1] += min(prefix.count(a) for a in range(k)) / t
    return out / n


def ref_greedy_frac_runs(actions, rewards, k, optimistic=False, tie=False):
    fracs = []
    for a_run, r_run in zip(actions, rewards):
        history = {a: [] for a in range(k)}
        greedy = 0
        for a, r in zip(a_run, r_run):
            avg = {b: sum(h) / len(h) for b, h in history.items() if h}
            if not avg or (tie and len(avg) < k):
                greedy += 1
            elif optimistic:
                untried = [b for b in range(k) if not history[b]]
                greedy += (a in untried) if untried else avg[a] == max(avg.values())
            else:
                greedy += a in avg and avg[a] == max(avg.values())
            history[int(a)].append(float(r))
        fracs.append(greedy / len(a_run))
    return np.array(fracs)


def ref_trend(curve):
    s = sum(curve[i + 1] / (i + 2) < curve[i] / (i + 1) for i in range(len(curve) - 1))
    n = len(curve) - 1
    return sum(math.comb(n, j) for j in range(s, n + 1)) / 2**n


# ----- references ------------------------------------------------------------------


@pytest.mark.parametrize("per_round_best", [False, True])
def test_suff_fail_freq_matches_reference(per_round_best):
    rng = np.random.default_rng(0)
    actions = random_actions(rng)
    # Few arms and a best arm that is often missed, so suffix failures happen.
    best = rng.integers(0, K, size=(N, T) if per_round_best else (N,))
    got = np.asarray(metrics.suff_fail_freq(actions, best))
    np.testing.assert_allclose(got, ref_suff_fail_freq(actions, best), atol=1e-6)


def test_suff_fail_freq_known_case():
    actions = np.array([[0, 1, 1, 1], [1, 0, 1, 0]])
    # Run 0 last picks arm 0 at t=1; run 1 at t=4.
    np.testing.assert_allclose(metrics.suff_fail_freq(actions, np.array([0, 0])), [0.0, 0.5, 0.5, 0.5])


def test_min_frac_matches_reference():
    rng = np.random.default_rng(1)
    actions = random_actions(rng)
    np.testing.assert_allclose(metrics.min_frac(actions, K), ref_min_frac(actions, K), atol=1e-6)
    np.testing.assert_allclose(metrics.k_min_frac(actions, K), K * ref_min_frac(actions, K), atol=1e-5)


@pytest.mark.parametrize("unplayed", ["ignore", "optimistic", "tie"])
def test_greedy_frac_matches_reference(unplayed):
    rng = np.random.default_rng(2)
    actions = random_actions(rng, k=3)
    # Rewards on a coarse grid: averages tie often, and float32 sums stay exact.
    rewards = rng.integers(0, 3, size=actions.shape) / 2.0
    ref = ref_greedy_frac_runs(actions, rewards, 3, optimistic=unplayed == "optimistic", tie=unplayed == "tie")
    got = np.asarray(metrics.greedy_frac(actions, rewards, 3, per_run=True, unplayed=unplayed))
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert float(metrics.greedy_frac(actions, rewards, 3, unplayed=unplayed)) == pytest.approx(ref.mean(), abs=1e-6)


def test_greedy_frac_conventions():
    # Krishnamurthy's Greedy: one pull per arm, then always the empirical best.
    actions = np.array([[0, 1, 2, 1, 1, 1]])
    rewards = np.array([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]])
    assert float(metrics.greedy_frac(actions, rewards, 3, unplayed="optimistic")) == pytest.approx(1.0)
    # "ignore": rounds 2 and 3 pick untried arms, which is exploration.
    assert float(metrics.greedy_frac(actions, rewards, 3)) == pytest.approx(4 / 6)
    assert float(metrics.greedy_frac(actions, rewards, 3, unplayed="tie")) == pytest.approx(1.0)
    # Round 3 re-picks tried arm 1 while arm 2 is untried: greedy unless optimistic; rounds 2 and 4
    # pick untried arms: greedy unless "ignore"; round 5 picks arm 0 (mean 0) over arm 1 (mean 1/2).
    actions, rewards = np.array([[0, 1, 1, 2, 0]]), np.array([[0.0, 1.0, 0.0, 0.0, 0.0]])
    assert float(metrics.greedy_frac(actions, rewards, 3)) == pytest.approx(2 / 5)
    assert float(metrics.greedy_frac(actions, rewards, 3, unplayed="optimistic")) == pytest.approx(3 / 5)
    assert float(metrics.greedy_frac(actions, rewards, 3, unplayed="tie")) == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="unplayed"):
        metrics.greedy_frac(actions, rewards, 3, unplayed="bad")


def test_median_reward():
    rng = np.random.default_rng(3)
    rewards = rng.random((9, 13))
    phi = sorted(sum(row) / len(row) for row in rewards.tolist())
    assert metrics.median_reward(rewards) == pytest.approx(phi[4])
    # Krishnamurthy's rescaling: the worst arm's mean -> 0, the best arm's -> 1.
    assert metrics.median_reward(np.full((3, 5), 0.4), delta=0.2) == pytest.approx(0.0)
    assert metrics.median_reward(np.full((3, 5), 0.6), delta=0.2) == pytest.approx(1.0)
    assert metrics.median_reward(rewards, delta=0.5, center=0.3) == pytest.approx((phi[4] - 0.05) / 0.5)
    with pytest.raises(ValueError, match="delta"):
        metrics.median_reward(rewards, delta=0.0)


def test_trend_test_matches_reference():
    rng = np.random.default_rng(4)
    for _ in range(5):
        curve = np.cumsum(rng.random(30))
        assert metrics.trend_test(curve) == pytest.approx(ref_trend(curve), rel=1e-9)


def test_trend_test_direction():
    t = np.arange(1, 101, dtype=float)
    assert metrics.trend_test(5 * np.sqrt(t)) < 1e-20  # Regret/t strictly decreasing every step
    assert metrics.trend_test(t**1.5) == pytest.approx(1.0)  # strictly increasing
    assert metrics.trend_test(np.zeros(50)) == pytest.approx(1.0)
    assert metrics.trend_test(np.ones(1)) == pytest.approx(1.0)


def ref_ols(x, y):
    """Slope and its standard error from the normal equations (a different route from the module)."""
    X = np.stack([x, np.ones_like(x)], axis=1)
    coef, res, *_ = np.linalg.lstsq(X, y, rcond=None)
    sigma2 = float(np.sum((y - X @ coef) ** 2)) / (len(x) - 2)
    cov = sigma2 * np.linalg.inv(X.T @ X)
    return coef[0], math.sqrt(cov[0, 0])


def test_fit_growth_exponent_matches_reference():
    rng = np.random.default_rng(5)
    curve = np.cumsum(rng.random(60))
    curve[20] = 0.0  # a zero round is left out of the log fit
    beta, p = metrics.fit_growth_exponent(curve, t_min=3)
    t = np.arange(1, 61)
    keep = (t >= 3) & (curve > 0)
    b_ref, se = ref_ols(np.log(t[keep]), np.log(curve[keep]))
    assert beta == pytest.approx(b_ref, rel=1e-9)
    assert p == pytest.approx(stats.t.cdf((b_ref - 1) / se, keep.sum() - 2), rel=1e-6)
    assert metrics.default_t_min(100) == 10 and metrics.default_t_min(5) == 2


@pytest.mark.parametrize("beta", [0.5, 1.0])
def test_fit_growth_exponent_recovers_beta(beta):
    rng = np.random.default_rng(6)
    t = np.arange(1, 201, dtype=float)
    # Multiplicative noise: log Regret = β log t + log 3 + ε, the regression's own model.
    curve = 3.0 * t**beta * np.exp(0.05 * rng.standard_normal(t.shape))
    beta_hat, p = metrics.fit_growth_exponent(curve)
    assert beta_hat == pytest.approx(beta, abs=0.03)
    if beta < 1:
        assert p < 1e-6
    else:
        assert p > 0.01


def test_fit_growth_exponent_exact_and_degenerate():
    t = np.arange(1, 101, dtype=float)
    assert metrics.fit_growth_exponent(2 * t**0.5) == (pytest.approx(0.5), 0.0)
    assert metrics.fit_growth_exponent(2 * t**1.2)[1] == 1.0
    assert all(math.isnan(v) for v in metrics.fit_growth_exponent(np.zeros(100)))
    few = np.zeros(100)
    few[-2:] = 1.0
    assert all(math.isnan(v) for v in metrics.fit_growth_exponent(few))
    with pytest.raises(ValueError, match="regret_curve"):
        metrics.fit_growth_exponent(np.ones((2, 3)))


def test_bootstrap_ci_matches_percentiles_of_resampled_means():
    rng = np.random.default_rng(7)
    values = rng.standard_normal((40, 3))
    low, high = metrics.bootstrap_ci(values, jax.random.key(0), num_resamples=4000)
    # An independent NumPy bootstrap with other resamples: the bounds agree to Monte Carlo error.
    idx = rng.integers(0, 40, size=(4000, 40))
    means = values[idx].mean(axis=1)
    np.testing.assert_allclose(low, np.quantile(means, 0.025, axis=0), atol=0.04)
    np.testing.assert_allclose(high, np.quantile(means, 0.975, axis=0), atol=0.04)
    lo1, hi1 = metrics.bootstrap_ci(values[:, 0], 0, num_resamples=500)
    lo2, hi2 = metrics.bootstrap_ci(values[:, 0], 0, num_resamples=500)
    assert lo1.shape == () and float(lo1) == float(lo2) and float(hi1) == float(hi2)
    assert float(lo1) < values[:, 0].mean() < float(hi1)


def test_bootstrap_ci_coverage():
    """Each of M columns is an independent data set of N draws from Exp(1): coverage ≈ 95 %."""
    n, m = 100, 1000
    values = np.random.default_rng(8).exponential(1.0, size=(n, m))
    low, high = metrics.bootstrap_ci(values, jax.random.key(1), num_resamples=1000, level=0.95)
    covered = np.mean((np.asarray(low) <= 1.0) & (1.0 <= np.asarray(high)))
    # Binomial s.e. over m data sets is 0.007; the percentile bootstrap also
    # under-covers by ~1-2 points for a skewed law at n = 100, hence 0.05.
    assert abs(covered - 0.95) < 0.05, covered


def test_bootstrap_ci_validation():
    with pytest.raises(ValueError, match="level"):
        metrics.bootstrap_ci(np.ones(3), 0, level=1.0)
    with pytest.raises(ValueError, match="num_resamples"):
        metrics.bootstrap_ci(np.ones(3), 0, num_resamples=0)


def test_summarize_keys_and_shapes():
    rng = np.random.default_rng(9)
    actions = random_actions(rng)
    rewards = rng.random((N, T))
    regret = np.cumsum(rng.random((N, T)), axis=1)
    best = np.zeros((N, T), np.int32)
    traj = Trajectory(actions=actions, rewards=rewards, regret=regret, best=best)
    out = metrics.summarize(traj, "bandit", K, num_resamples=200, delta=0.2)
    for key in ("regret_mean", "regret_ci_low", "regret_ci_high", "suff_fail_freq", "k_min_frac"):
        assert np.shape(out[key]) == (T,)
    assert np.shape(out["final_regret"]) == (N,)
    assert np.all(out["regret_ci_low"] <= out["regret_mean"] + 1e-6)
    assert np.all(out["regret_mean"] <= out["regret_ci_high"] + 1e-6)
    np.testing.assert_allclose(out["regret_mean"], regret.mean(0), rtol=1e-6)
    assert out["suff_fail_freq_half"] == pytest.approx(out["suff_fail_freq"][T // 2 - 1])
    assert out["median_reward_rescaled"] is not None
    full = Trajectory(actions=rng.random((N, T, 3)), rewards=rewards, regret=regret, best=best)
    out = metrics.summarize(full, "full", 3, num_resamples=200)
    assert out["suff_fail_freq"] is None and out["greedy_frac"] is None
    with pytest.raises(ValueError, match="feedback"):
        metrics.summarize(traj, "other", K)


# ----- properties ------------------------------------------------------------------

batches = st.tuples(st.integers(0, 2**31 - 1), st.sampled_from([(1, 5), (6, 17)]), st.integers(2, 4))


@PROPS
@given(batches)
def test_suff_fail_freq_properties(case):
    seed, (n, t), k = case
    rng = np.random.default_rng(seed)
    sff = np.asarray(metrics.suff_fail_freq(rng.integers(0, k, (n, t)), rng.integers(0, k, (n,))))
    assert np.all((sff >= 0) & (sff <= 1))
    assert np.all(np.diff(sff) >= 0)


@PROPS
@given(batches)
def test_k_min_frac_properties(case):
    seed, (n, t), k = case
    kmf = np.asarray(metrics.k_min_frac(np.random.default_rng(seed).integers(0, k, (n, t)), k))
    assert np.all((kmf >= -1e-6) & (kmf <= 1 + 1e-6))
    assert np.all(kmf[: k - 1] == 0)  # some arm is unplayed before round K
