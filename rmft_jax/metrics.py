"""Evaluation metrics: exploration diagnostics and sublinear-regret tests.

Exploration diagnostics for bandits (Krishnamurthy, Harris, Foster, Zhang and
Slivkins, "Can Large Language Models Explore In-Context?", NeurIPS 2024, §2), all
over a batch of ``N`` independent runs (replicates) of horizon ``T``:

* :func:`suff_fail_freq` — ``SuffFailFreq(t)``, the fraction of runs that never
  pick the best arm in rounds ``t..T`` (suffix failures);
* :func:`min_frac` / :func:`k_min_frac` — ``MinFrac(t)``, the smallest fraction
  of rounds ``1..t`` given to any arm (uniform-like failures when ``K·MinFrac``
  stays high);
* :func:`greedy_frac` — ``GreedyFrac``, the fraction of rounds in which an arm
  with the largest empirical mean so far is picked;
* :func:`median_reward` — ``MedianReward``, the median over runs of the
  time-averaged reward, optionally rescaled by the gap ``Δ``.

Sublinear-regret tests (Park, Liu, Ozdaglar and Zhang, "Do LLM Agents Have
Regret?", ICLR 2025, §3.1; reported as ``β̂, p_reg`` in arXiv 2511.04393 §5):

* :func:`fit_growth_exponent` — the regression ``log Regret(t) = β log t + c`` and
  the one-sided p-value ``p_reg`` of ``H0: β ≥ 1`` against ``H1: β < 1``;
* :func:`trend_test` — the sign test ``p_trend`` on the average regret
  ``Regret(t)/t``.

Plus :func:`bootstrap_ci` (percentile bootstrap of the mean over runs) and
:func:`summarize`, which computes all of them for a batch of trajectories.

The bandit metrics and the bootstrap are jitted JAX functions (``K`` and the
number of resamples static); the two statistical tests run once per curve, in
float64 NumPy, with SciPy for the p-values.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from rmft_jax import checks
from rmft_jax.types import FEEDBACKS, FULL, Array, Trajectory

UNPLAYED = ("ignore", "optimistic", "tie")


# --------------------------------------------------------------------------------------
# Exploration diagnostics (Krishnamurthy et al. 2024)
# --------------------------------------------------------------------------------------


@jax.jit
def suff_fail_freq(actions: Array, best: Array) -> Array:
    """Suffix-failure frequency ``SuffFailFreq(t)``, ``t = 1..T``.

    ``SuffFail(t, R) = 1`` if run ``R`` never picks the best arm in rounds
    ``t, t+1, ..., T``; ``SuffFailFreq(t)`` is its mean over runs. It is
    non-decreasing in ``t`` and lies in ``[0, 1]``; the usual headline number is
    ``SuffFailFreq(T/2)``.

    Args:
      actions: ``(N, T)`` int arms picked by ``N`` runs.
      best: ``(N, T)`` the best arm in each round of each run (non-stationary
        bandits), or ``(N,)`` one best arm per run. With a per-round best arm the
        suffix failure is "``a_s ≠ best_s`` for every ``s ≥ t``".
    Returns:
      ``(T,)`` float32; index ``t − 1`` holds ``SuffFailFreq(t)``.

    References:
      Krishnamurthy et al., "Can Large Language Models Explore In-Context?",
      NeurIPS 2024, §2 ("suffix failures").
    """
    actions = jnp.asarray(actions)
    best = jnp.asarray(best)
    if best.ndim == actions.ndim - 1:
        best = best[:, None]
    hit = (actions == best).astype(jnp.int32)
    # hit_later[n, t] = 1 iff the best arm is picked in some round s >= t.
    hit_later = jax.lax.cummax(hit, axis=1, reverse=True)
    return jnp.mean(1.0 - hit_later.astype(jnp.float32), axis=0)


def change_diagnostics(actions: Array, best: Array, window: int = 10, span: int = 50,
                       regret: Array | None = None) -> dict[str, float | int | None]:
    """How a policy follows changes of the best arm (drifting bandits), over a batch of runs.

    A **change** is a round ``c`` whose best arm differs from round ``c − 1``'s; its segment
    runs until the next change (or ``T``). For each change:

    * **switch latency**: the rounds ``d >= 0`` from the change until the first ``window``-round
      stretch ``c + d .. c + d + window − 1`` (inside the segment) in which the new best arm is
      pulled in more than half the rounds — the policy has put most of its mass on it.
      Not reached within the segment: censored (``inf``). Segments shorter than ``window`` are
      not measured.
    * **post-change failure**: the new best arm is never pulled in rounds ``c .. c + span − 1``
      (SuffFailFreq's failure, restarted at the change); measured where the segment lasts at
      least ``span`` rounds.

    Args:
      actions, best: ``(N, T)`` ints, the arms pulled and each round's best arm.
      regret: ``(N, T)`` the cumulative regret curves, optional: then also the mean regret per round
        in the ``span`` rounds after the changes that failed and after those that did not
        (``post_change_regret_failed`` / ``_switched``), and the share of the total regret that
        the failed spans hold (``post_change_fail_regret_share``): what a failure costs.
    Returns:
      ``switch_latency_median`` / ``_p90`` (``None`` when censored: more than half / a tenth of
      the changes never switched), ``switch_censored_share``, ``changes_measured``,
      ``post_change_fail_freq`` (``None`` if no segment lasts ``span`` rounds) and
      ``post_change_measured``. Quantiles are sample elements (``inverted_cdf``).
    """
    actions, best = np.asarray(actions), np.asarray(best)
    checks.integer("window", window, 1)
    checks.integer("span", span, 1)
    if actions.shape != best.shape or actions.ndim != 2:
        checks.fail("best", f"an (N, T) array like actions {actions.shape}", best.shape)
    n_runs, horizon = actions.shape
    hit = actions == best
    per_round = None if regret is None else np.diff(np.asarray(regret, np.float64), axis=1, prepend=0.0)
    latencies, fails, cost = [], [], {True: [], False: []}
    for n in range(n_runs):
        changes = np.flatnonzero(best[n, 1:] != best[n, :-1]) + 1
        ends = np.append(changes[1:], horizon)
        csum = np.concatenate([[0], np.cumsum(hit[n])])
        for c, e in zip(changes, ends):
            if e - c >= window:
                starts = np.arange(c, e - window + 1)
                ok = np.flatnonzero(2 * (csum[starts + window] - csum[starts]) > window)
                latencies.append(float(ok[0]) if ok.size else math.inf)
            if e - c >= span:
                fails.append(not hit[n, c : c + span].any())
                if per_round is not None:
                    cost[fails[-1]].append(per_round[n, c : c + span].mean())
    lat = np.asarray(latencies)

    def quantile(q):
        if lat.size == 0:
            return None
        v = float(np.quantile(lat, q, method="inverted_cdf"))
        return None if math.isinf(v) else v

    costs = {}
    if per_round is not None:
        total = float(per_round.sum())
        costs = {
            "post_change_regret_failed": float(np.mean(cost[True])) if cost[True] else None,
            "post_change_regret_switched": float(np.mean(cost[False])) if cost[False] else None,
            "post_change_fail_regret_share": float(span * np.sum(cost[True]) / total) if total > 0 else None,
        }
    return {
        **costs,
        "switch_latency_median": quantile(0.5),
        "switch_latency_p90": quantile(0.9),
        "switch_censored_share": float(np.mean(np.isinf(lat))) if lat.size else None,
        "changes_measured": int(lat.size),
        "post_change_fail_freq": float(np.mean(fails)) if fails else None,
        "post_change_measured": len(fails),
    }


def _arm_counts(actions: Array, arms: int) -> Array:
    """``(N, T, K)`` pull counts of each arm in rounds ``1..t`` (inclusive)."""
    return jnp.cumsum(jax.nn.one_hot(actions, arms, dtype=jnp.int32), axis=1)


@functools.partial(jax.jit, static_argnames=("arms",))
def min_frac(actions: Array, arms: int) -> Array:
    """``MinFrac(t) = mean_R min_a f_a(t, R)``, ``t = 1..T``.

    ``f_a(t, R)`` is the fraction of rounds ``1..t`` of run ``R`` in which arm ``a``
    was picked. ``MinFrac(t) ≤ 1/K``; :func:`k_min_frac` rescales it to ``[0, 1]``.

    Args:
      actions: ``(N, T)`` int arms picked, in ``[0, arms)``.
      arms: ``K`` (static).
    Returns:
      ``(T,)`` float32; index ``t − 1`` holds ``MinFrac(t)``.

    References:
      Krishnamurthy et al., NeurIPS 2024, §2 ("uniform-like failures").
    """
    counts = _arm_counts(jnp.asarray(actions), arms)
    t = jnp.arange(1, counts.shape[1] + 1, dtype=jnp.float32)
    return jnp.mean(jnp.min(counts, axis=-1).astype(jnp.float32) / t, axis=0)


@functools.partial(jax.jit, static_argnames=("arms",))
def k_min_frac(actions: Array, arms: int) -> Array:
    """``K · MinFrac(t)`` (``(T,)``, in ``[0, 1]``): 1 means perfectly uniform play so far."""
    return arms * min_frac(actions, arms)


def _greedy_rounds_one(actions: Array, rewards: Array, arms: int, unplayed: str) -> Array:
    """``(T,)`` bool: was round ``t`` of one run greedy (see :func:`greedy_frac`)?"""
    one = jax.nn.one_hot(actions, arms, dtype=rewards.dtype)
    # Statistics *before* round t: an exclusive prefix sum.
    zeros = jnp.zeros((1, arms), rewards.dtype)
    counts = jnp.cumsum(jnp.concatenate([zeros, one[:-1]]), axis=0)
    sums = jnp.cumsum(jnp.concatenate([zeros, (one * rewards[:, None])[:-1]]), axis=0)
    played = counts > 0
    fill = jnp.inf if unplayed == "optimistic" else -jnp.inf
    means = jnp.where(played, sums / jnp.maximum(counts, 1), fill)
    chosen = jnp.take_along_axis(means, actions[:, None].astype(jnp.int32), axis=1)[:, 0]
    greedy = chosen == jnp.max(means, axis=1)
    # With nothing played yet every arm is as good as any other (every convention);
    # under "tie", so is every arm until all have been played.
    undefined = ~jnp.all(played, axis=1) if unplayed == "tie" else ~jnp.any(played, axis=1)
    return greedy | undefined


@functools.partial(jax.jit, static_argnames=("arms", "per_run", "unplayed"))
def greedy_frac(actions: Array, rewards: Array, arms: int, per_run: bool = False, unplayed: str = "ignore") -> Array:
    """``GreedyFrac``: the fraction of rounds in which the arm picked has the largest empirical mean so far.

    Round ``t`` of a run is *greedy* if ``a_t ∈ argmax_a μ̂_a(t−1)``, where
    ``μ̂_a(t−1)`` is the average reward of arm ``a`` over rounds ``1..t−1``.
    Conventions (Krishnamurthy et al. leave them open):

    * ties: every arm attaining the maximum counts (exact float equality, so
      Bernoulli averages such as 1/2 and 2/4 tie);
    * round 1, or any round before the first pull: greedy (all arms tie);
    * unplayed arms, ``unplayed="ignore"`` (default): the maximum is over arms
      played at least once, and picking an unplayed arm is *not* greedy (it is
      exploration);
    * ``unplayed="optimistic"``: an unplayed arm has empirical mean ``+∞``, so
      picking an untried arm is greedy and picking a tried arm while some arm is
      untried is not. Under this convention Krishnamurthy's Greedy baseline (one
      pull of every arm, then the empirical best) scores exactly 1, as in their
      tables; under ``"ignore"`` it scores ``(T − K + 1)/T``.
    * ``unplayed="tie"``: until every arm has been played the empirical best is
      undefined and every round counts as greedy (all arms tie). This convention
      reproduces Krishnamurthy et al.'s published GreedyFrac of UCB, Thompson
      sampling and Greedy (``figures/published_baselines.md``); Thompson sampling
      picks tried arms while others are untried, and the other two conventions
      score it 0.03–0.05 below the published values.

    Args:
      actions: ``(N, T)`` int arms picked.
      rewards: ``(N, T)`` rewards observed.
      arms: ``K`` (static).
      per_run: return the ``(N,)`` per-run fractions instead of their mean.
      unplayed: ``"ignore"``, ``"optimistic"`` or ``"tie"`` (static).
    Returns:
      a float32 scalar (mean over runs), or ``(N,)`` with ``per_run``.

    References:
      Krishnamurthy et al., NeurIPS 2024, §2 and Fig. 4 ("GreedyFrac").
    """
    if unplayed not in UNPLAYED:
        raise ValueError(f"unplayed: must be one of {', '.join(UNPLAYED)} (got {unplayed!r})")
    rewards = jnp.asarray(rewards, jnp.float32)
    rounds = jax.vmap(lambda a, r: _greedy_rounds_one(a, r, arms, unplayed))(jnp.asarray(actions), rewards)
    frac = jnp.mean(rounds.astype(jnp.float32), axis=1)
    return frac if per_run else jnp.mean(frac)


def median_reward(rewards: Array, delta: float | None = None, center: float = 0.5) -> float:
    """``MedianReward``: the median over runs of the time-averaged reward ``Φ(R) = (1/T) Σ_t r_t``.

    With ``delta`` the result is rescaled affinely as in Krishnamurthy et al.:
    ``(median − (center − Δ/2)) / Δ``, which maps the range of expected
    time-averaged rewards ``[center − Δ/2, center + Δ/2]`` of an instance whose
    arm means lie in that interval onto ``[0, 1]`` (their instances have
    ``center = 1/2``: best arm ``1/2 + Δ/2``, the others ``1/2 − Δ/2``). So 1 is
    the best arm's mean and 0 the worst arm's mean; realised values can fall
    outside ``[0, 1]``. The rescaling needs the instance's ``Δ``, hence optional.

    Args:
      rewards: ``(N, T)`` rewards earned.
      delta: the gap ``Δ > 0`` for the rescaling, or ``None`` for the raw median.
      center: the midpoint of the rescaled interval.
    Returns:
      a Python float.

    References:
      Krishnamurthy et al., NeurIPS 2024, §2 ("MedianReward").
    """
    phi = np.mean(np.asarray(rewards, np.float64), axis=1)
    med = float(np.median(phi))
    if delta is None:
        return med
    if not delta > 0:
        raise ValueError(f"delta: must be a number > 0 (got {delta!r})")
    return (med - (center - delta / 2.0)) / delta


# --------------------------------------------------------------------------------------
# Sublinear-regret tests (Park et al. 2025; arXiv 2511.04393 §5)
# --------------------------------------------------------------------------------------


def default_t_min(horizon: int) -> int:
    """The default burn-in of :func:`fit_growth_exponent`: ``max(2, T // 10)``."""
    return max(2, horizon // 10)


def fit_growth_exponent(regret_curve: Array, t_min: int | None = None) -> tuple[float, float]:
    """Growth exponent ``β̂`` of a regret curve and the one-sided p-value ``p_reg``.

    Fits ``log Regret(t) = β log t + c + ε`` by ordinary least squares over the
    rounds ``t ≥ t_min`` (1-based) with ``Regret(t) > 0`` (the logarithm needs
    positive regret). The default burn-in ``t_min = max(2, T // 10)`` skips the
    first rounds, where forced exploration (one pull of each arm) makes every
    algorithm's regret grow linearly; ``t_min = 1`` uses every positive round.

    ``p_reg`` tests ``H0: β ≥ 1`` (linear or worse) against ``H1: β < 1``
    (sublinear): with ``s.e.(β̂)`` the usual OLS standard error on ``n − 2``
    degrees of freedom, ``p_reg = F_{t, n−2}((β̂ − 1) / s.e.(β̂))``. A small
    ``p_reg`` is evidence of sublinear regret.

    Degenerate input returns ``(nan, nan)``: fewer than 3 usable rounds (e.g. an
    all-zero regret curve, which is sublinear but has no logarithm; report it as
    such). A curve fitted exactly (zero residuals, e.g. ``c·t^β`` without noise)
    gets ``p_reg = 0`` if ``β̂ < 1``, ``1`` if ``β̂ > 1`` and ``1/2`` if ``β̂ = 1``.

    Args:
      regret_curve: ``(T,)`` cumulative regret, index ``t − 1`` for round ``t``.
      t_min: first round used (``>= 1``); ``None`` for the default above.
    Returns:
      ``(beta_hat, p_reg)`` as Python floats.

    References:
      Park, Liu, Ozdaglar and Zhang, "Do LLM Agents Have Regret? A Case Study in
      Online Learning and Games", ICLR 2025, §3.1 (regression-based framework).
    """
    y = np.asarray(regret_curve, np.float64)
    if y.ndim != 1:
        raise ValueError(f"regret_curve: must be a 1-D array of shape (T,) (got shape {y.shape})")
    horizon = y.shape[0]
    t_min = default_t_min(horizon) if t_min is None else int(t_min)
    t = np.arange(1, horizon + 1, dtype=np.float64)
    keep = (t >= t_min) & np.isfinite(y) & (y > 0)
    n = int(keep.sum())
    if n < 3:
        return math.nan, math.nan
    x, z = np.log(t[keep]), np.log(y[keep])
    xc = x - x.mean()
    sxx = float(xc @ xc)
    beta = float(xc @ (z - z.mean()) / sxx)
    resid = z - z.mean() - beta * xc
    dof = n - 2
    se = math.sqrt(float(resid @ resid) / dof / sxx)
    if se == 0.0 or se < 1e-12 * max(1.0, abs(beta)):
        # An exact fit: the t-statistic is ±inf (or 0/0 at β̂ = 1).
        p = 0.0 if beta < 1.0 else (1.0 if beta > 1.0 else 0.5)
        return beta, p
    return beta, float(stats.t.cdf((beta - 1.0) / se, dof))


def trend_test(regret_curve: Array) -> float:
    """Sign test ``p_trend`` for a decreasing average regret ``Regret(t)/t``.

    ``s = #{t ∈ 1..T−1 : Regret(t+1)/(t+1) < Regret(t)/t}`` (strict decreases; a
    flat step does not count), and under ``H0`` (no downward trend: each step a
    fair coin) ``p_trend = P[Bin(T − 1, 1/2) ≥ s]``. A small ``p_trend`` is
    evidence that the average regret decreases, i.e. sublinear regret. A constant
    average (for instance an all-zero curve) gives ``s = 0`` and ``p_trend = 1``;
    ``T = 1`` gives 1 as well (no evidence either way).

    Args:
      regret_curve: ``(T,)`` cumulative regret.
    Returns:
      ``p_trend`` as a Python float.

    References:
      Park et al., ICLR 2025, §3.1 (trend-checking framework).
    """
    y = np.asarray(regret_curve, np.float64)
    if y.ndim != 1:
        raise ValueError(f"regret_curve: must be a 1-D array of shape (T,) (got shape {y.shape})")
    avg = y / np.arange(1, y.shape[0] + 1)
    s = int(np.sum(avg[1:] < avg[:-1]))
    return float(stats.binom.sf(s - 1, y.shape[0] - 1, 0.5))


# --------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("num_resamples",))
def _bootstrap_means(values: Array, key: Array, num_resamples: int) -> Array:
    """``(B, M)`` means of ``B`` resamples (with replacement) of the ``N`` rows of ``values`` ``(N, M)``."""
    n = values.shape[0]
    idx = jax.random.randint(key, (num_resamples, n), 0, n)
    # Resample weights (multiplicities) instead of gathered copies: memory B·N + B·M, not B·N·M.
    weights = jax.vmap(lambda i: jnp.bincount(i, length=n))(idx).astype(values.dtype)
    return weights @ values / n


def _as_key(key: Any) -> Array:
    if isinstance(key, (int, np.integer)):
        return jax.random.key(int(key))
    return key


def bootstrap_ci(values: Array, key: Any, num_resamples: int = 1000, level: float = 0.95) -> tuple[Array, Array]:
    """Percentile-bootstrap confidence interval of the mean over runs.

    Draws ``num_resamples`` resamples of the ``N`` runs with replacement (the same
    resampled runs for every column, so a CI band over ``t`` comes from whole
    resampled curves) and returns the ``(1 − level)/2`` and ``(1 + level)/2``
    quantiles (linear interpolation) of the resampled means.

    Args:
      values: ``(N,)`` or ``(N, ...)`` per-run values (e.g. ``(N, T)`` regret curves).
      key: a JAX key or an int seed.
      num_resamples: ``B >= 1``.
      level: coverage in ``(0, 1)``.
    Returns:
      ``(low, high)``, each of shape ``values.shape[1:]`` (float32 JAX arrays).

    References:
      Efron and Tibshirani, "An Introduction to the Bootstrap", 1993, §13.3.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be a number > 0 and < 1 (got {level!r})")
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, (int, np.integer)) or num_resamples < 1:
        raise ValueError(f"num_resamples: must be an integer >= 1 (got {num_resamples!r})")
    values = jnp.asarray(values, jnp.float32)
    if values.ndim < 1 or values.shape[0] < 1:
        raise ValueError(f"values: must have a leading axis of N >= 1 runs (got shape {values.shape})")
    flat = values.reshape(values.shape[0], -1)
    means = _bootstrap_means(flat, _as_key(key), int(num_resamples))
    q = jnp.asarray([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    low, high = jnp.quantile(means, q, axis=0)
    return low.reshape(values.shape[1:]), high.reshape(values.shape[1:])


# --------------------------------------------------------------------------------------
# Everything for a batch of runs
# --------------------------------------------------------------------------------------


def half_round(horizon: int) -> int:
    """The round ``max(1, T // 2)`` at which the headline ``SuffFailFreq(T/2)`` is read."""
    return max(1, horizon // 2)


def summarize(
    trajectory: Trajectory,
    feedback: str,
    num_actions: int,
    *,
    key: Any = 0,
    num_resamples: int = 1000,
    level: float = 0.95,
    t_min: int | None = None,
    delta: float | None = None,
    center: float = 0.5,
    unplayed: str = "ignore",
) -> dict[str, Any]:
    """All metrics of a batch of ``N`` runs, as NumPy arrays and Python floats.

    Args:
      trajectory: a :class:`~rmft_jax.types.Trajectory` with leading axis ``N``
        (``regret (N, T)``, ``actions (N, T)`` or ``(N, T, d)``, ``rewards (N, T)``,
        ``best (N, T)``).
      feedback: ``"bandit"`` (MAB, NS-MAB: adds the exploration diagnostics) or
        ``"full"`` (online learning: those are ``None``).
      num_actions: ``K`` (bandits) or ``d``.
      key: key or seed of the bootstrap.
      num_resamples, level: of the bootstrap CI.
      t_min: burn-in of :func:`fit_growth_exponent` (``None``: its default).
      delta, center: the rescaling of :func:`median_reward` (``median_reward_rescaled``
        is ``None`` without ``delta``).
      unplayed: the convention of :func:`greedy_frac`.
    Returns:
      a dict with ``regret_mean``, ``regret_ci_low``, ``regret_ci_high`` (``(T,)``),
      ``final_regret`` (``(N,)``), ``final_regret_mean``, ``final_regret_ci``
      (``[low, high]``), ``beta_hat``, ``p_reg``, ``p_trend`` (on ``regret_mean``),
      ``reward_mean`` (mean per-round reward over runs and rounds) and, for bandits
      (``None`` otherwise): ``suff_fail_freq``, ``k_min_frac`` (``(T,)``),
      ``suff_fail_freq_half`` (at round ``max(1, T // 2)``), ``k_min_frac_final``
      (at ``T``), ``greedy_frac``, ``median_reward``, ``median_reward_rescaled``.
    """
    checks.choice("feedback", feedback, FEEDBACKS)
    regret = jnp.asarray(trajectory.regret, jnp.float32)
    if regret.ndim != 2:
        raise ValueError(f"trajectory: must be a batch with regret of shape (N, T) (got {regret.shape})")
    chex.assert_equal_shape_prefix([regret, trajectory.actions, trajectory.rewards], 2)
    chex.assert_equal_shape_prefix([regret, trajectory.best], 1)
    horizon = regret.shape[1]
    low, high = bootstrap_ci(regret, key, num_resamples, level)
    regret_mean = np.asarray(jnp.mean(regret, axis=0), np.float64)
    beta_hat, p_reg = fit_growth_exponent(regret_mean, t_min)
    out: dict[str, Any] = {
        "regret_mean": regret_mean,
        "regret_ci_low": np.asarray(low, np.float64),
        "regret_ci_high": np.asarray(high, np.float64),
        "final_regret": np.asarray(regret[:, -1], np.float64),
        "final_regret_mean": float(regret_mean[-1]),
        "final_regret_ci": [float(low[-1]), float(high[-1])],
        "beta_hat": beta_hat,
        "p_reg": p_reg,
        "p_trend": trend_test(regret_mean),
        "reward_mean": float(jnp.mean(jnp.asarray(trajectory.rewards, jnp.float32))),
    }
    bandit_keys = (
        "suff_fail_freq",
        "k_min_frac",
        "suff_fail_freq_half",
        "k_min_frac_final",
        "greedy_frac",
        "median_reward",
        "median_reward_rescaled",
    )
    if feedback == FULL:
        out.update(dict.fromkeys(bandit_keys))
        return out
    actions, rewards = trajectory.actions, trajectory.rewards
    sff = np.asarray(suff_fail_freq(actions, trajectory.best), np.float64)
    kmf = np.asarray(k_min_frac(actions, num_actions), np.float64)
    out.update(
        suff_fail_freq=sff,
        k_min_frac=kmf,
        suff_fail_freq_half=float(sff[half_round(horizon) - 1]),
        k_min_frac_final=float(kmf[-1]),
        greedy_frac=float(greedy_frac(actions, rewards, num_actions, unplayed=unplayed)),
        median_reward=median_reward(rewards),
        median_reward_rescaled=None if delta is None else median_reward(rewards, delta, center),
    )
    return out


__all__ = [
    "UNPLAYED",
    "bootstrap_ci",
    "change_diagnostics",
    "default_t_min",
    "fit_growth_exponent",
    "greedy_frac",
    "half_round",
    "k_min_frac",
    "median_reward",
    "min_frac",
    "suff_fail_freq",
    "summarize",
    "trend_test",
]
