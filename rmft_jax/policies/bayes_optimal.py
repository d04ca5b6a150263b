"""The exact Bayes-optimal policy of a two-armed Bernoulli bandit with Beta priors, by dynamic programming.

Arm ``a``'s mean has an independent ``Beta(α_a, β_a)`` prior. After ``s_a``
successes and ``f_a`` failures its posterior predictive success probability is
``p_a = (α_a + s_a)/(α_a + β_a + s_a + f_a)``, so the belief state is
``x = (s_0, f_0, s_1, f_1)``, and rounds left are ``T − (s_0 + f_0 + s_1 + f_1)``. The
maximal expected reward to go satisfies (Bellman; Berry and Fristedt 1985, ch. 2)

    V(x) = max_a  p_a (1 + V(x + e_{s_a})) + (1 − p_a) V(x + e_{f_a}),   V = 0 with no rounds left,

solved backwards over the layers ``s_0 + f_0 + s_1 + f_1 = n`` in float64 NumPy
(``O(T⁴)`` states: 0.35 M at ``T = 50``, well under a second). The Bayes regret of
the optimal policy is, exactly,

    R*(T) = T · E[max(μ_0, μ_1)] − V(0, 0, 0, 0),

with ``E[max(μ_0, μ_1)] = ∫_0^1 (1 − F_0(x) F_1(x)) dx`` by adaptive quadrature (``2/3``
for uniform priors). :func:`policy_bayes_regret` evaluates any other policy, given
as its probability of pulling arm 0 in every state, by the same recursion without
the max (exact, no sampling). :class:`TablePolicy` plays a solved table inside the
rollout engine (ties uniformly at random), to check a simulation against the value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate, special

from rmft_jax import checks
from rmft_jax.policies.bandit import ArmStats, BanditPolicy
from rmft_jax.types import Array

MAX_HORIZON = 50
TIE = 2  # table entry: both arms are optimal
_TIE_TOL = 1e-9  # relative: Q-values of symmetric states agree only up to float64 rounding


def _check(horizon: int, prior) -> tuple[int, tuple[tuple[float, float], tuple[float, float]]]:
    horizon = checks.integer("horizon", horizon, 1)
    if horizon > MAX_HORIZON:
        checks.fail("horizon", f"an integer <= {MAX_HORIZON} for the exact dynamic programme", horizon)
    try:
        (a0, b0), (a1, b1) = prior
    except (TypeError, ValueError):
        checks.fail("prior", "two (alpha, beta) pairs", prior)
    vals = tuple(checks.real("prior", v, low=0.0, low_open=True) for v in (a0, b0, a1, b1))
    return horizon, ((vals[0], vals[1]), (vals[2], vals[3]))


def _layer(horizon: int, n: int, prior):
    """Index grids of layer ``n`` (``s_0, f_0, s_1`` on a ``(T+1)³`` grid), ``f_1``, validity and ``p_0, p_1``."""
    (a0, b0), (a1, b1) = prior
    i = np.arange(horizon + 1, dtype=np.float64)
    s0, f0, s1 = i[:, None, None], i[None, :, None], i[None, None, :]
    f1 = n - s0 - f0 - s1
    valid = f1 >= 0
    p0 = (a0 + s0) / (a0 + b0 + s0 + f0)
    p1 = (a1 + s1) / (a1 + b1 + s1 + np.maximum(f1, 0))
    return valid, np.broadcast_to(p0, valid.shape), p1


def _successors(v_next: np.ndarray) -> tuple[np.ndarray, ...]:
    """``V`` of layer ``n + 1`` at the four successors of every layer-``n`` state (``(T+2)³`` padded input)."""
    return v_next[1:, :-1, :-1], v_next[:-1, 1:, :-1], v_next[:-1, :-1, 1:], v_next[:-1, :-1, :-1]


def _backward(horizon: int, prior, choose: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None):
    """Value of layer 0 and the decision table, choosing optimally (``choose=None``) or by ``choose(n, q0, q1)``.

    ``choose`` returns the probability of pulling arm 0 on layer ``n``.
    """
    size = horizon + 1
    v_next = np.zeros((size + 1,) * 3)
    table = np.zeros((horizon, size, size, size), np.int8)
    for n in range(horizon - 1, -1, -1):
        valid, p0, p1 = _layer(horizon, n, prior)
        w0, l0, w1, l1 = _successors(v_next)
        q0 = p0 * (1.0 + w0) + (1.0 - p0) * l0
        q1 = p1 * (1.0 + w1) + (1.0 - p1) * l1
        if choose is None:
            tol = _TIE_TOL * np.maximum(1.0, np.abs(q0))
            table[n] = np.where(q0 > q1 + tol, 0, np.where(q1 > q0 + tol, 1, TIE))
            v = np.maximum(q0, q1)
        else:
            prob0 = choose(n, q0, q1)
            v = prob0 * q0 + (1.0 - prob0) * q1
        v_next = np.zeros((size + 1,) * 3)
        v_next[:size, :size, :size] = np.where(valid, v, 0.0)
    return float(v_next[0, 0, 0]), table


def expected_max_mean(prior=((1.0, 1.0), (1.0, 1.0))) -> float:
    """``E[max(μ_0, μ_1)]`` for independent ``μ_a ~ Beta(α_a, β_a)`` (``∫ (1 − F_0 F_1)``, quadrature)."""
    (a0, b0), (a1, b1) = prior
    value, _ = integrate.quad(
        lambda x: 1.0 - special.betainc(a0, b0, x) * special.betainc(a1, b1, x), 0.0, 1.0, epsabs=1e-13, epsrel=1e-13
    )
    return value


@dataclasses.dataclass(frozen=True)
class Solution:
    """The solved dynamic programme.

    Attributes:
      horizon: ``T``.
      prior: ``((α_0, β_0), (α_1, β_1))``.
      value: ``V(0, 0, 0, 0)``, the optimal expected total reward.
      regret: the optimal Bayes regret ``T · E[max μ] − value``.
      table: ``(T, T+1, T+1, T+1)`` int8, ``table[n, s_0, f_0, s_1]`` the optimal arm
        (``TIE`` = 2 when both are) after ``n`` rounds, ``f_1 = n − s_0 − f_0 − s_1``.
    """

    horizon: int
    prior: tuple
    value: float
    regret: float
    table: np.ndarray


def solve(horizon: int, prior=((1.0, 1.0), (1.0, 1.0))) -> Solution:
    """Solve the two-armed Beta–Bernoulli bandit of horizon ``T <= 50`` exactly (module docstring)."""
    horizon, prior = _check(horizon, prior)
    value, table = _backward(horizon, prior, None)
    return Solution(horizon, prior, value, horizon * expected_max_mean(prior) - value, table)


def optimal_bayes_regret(horizon: int, prior=((1.0, 1.0), (1.0, 1.0))) -> float:
    """The Bayes regret of the Bayes-optimal policy, exactly (no sampling)."""
    return solve(horizon, prior).regret


def state_grid(horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every belief state with fewer than ``T`` rounds played: ``(flat, n, counts (·, 2), sums (·, 2))``.

    ``flat`` is each state's position in the C-order layout ``(n, s_0, f_0, s_1)`` of
    ``table`` (``(T, T+1, T+1, T+1)``); only reachable states (``f_1 >= 0``) are listed.
    """
    i = np.arange(horizon + 1)
    n, s0, f0, s1 = (g.ravel() for g in np.meshgrid(np.arange(horizon), i, i, i, indexing="ij"))
    f1 = n - s0 - f0 - s1
    flat = np.flatnonzero(f1 >= 0)
    n, s0, f0, s1, f1 = (x[flat] for x in (n, s0, f0, s1, f1))
    counts = np.stack([s0 + f0, s1 + f1], axis=1).astype(np.float32)
    sums = np.stack([s0, s1], axis=1).astype(np.float32)
    return flat, n.astype(np.int32), counts, sums


def policy_bayes_regret(horizon: int, prob_arm0: np.ndarray, prior=((1.0, 1.0), (1.0, 1.0))) -> float:
    """The exact Bayes regret of a Markov policy that pulls arm 0 with probability ``prob_arm0[n, s_0, f_0, s_1]``.

    ``prob_arm0``: ``(T, T+1, T+1, T+1)``, e.g. from :func:`index_policy_probs`.
    """
    horizon, prior = _check(horizon, prior)
    prob_arm0 = np.asarray(prob_arm0, np.float64)
    shape = (horizon, horizon + 1, horizon + 1, horizon + 1)
    if prob_arm0.shape != shape:
        checks.fail("prob_arm0", f"an array of shape {shape}", prob_arm0.shape)
    value, _ = _backward(horizon, prior, lambda n, q0, q1: prob_arm0[n])
    return horizon * expected_max_mean(prior) - value


def index_policy_probs(policy, horizon: int) -> np.ndarray:
    """``P(arm 0)`` of a two-armed index policy (one with ``index(state)``) in every state, ties split evenly.

    The policy's ``index`` is ``vmap``-ed over the reachable states of
    :func:`state_grid` (the policy must be built for the same horizon); unreachable
    entries hold 1/2.
    """
    flat, n, counts, sums = state_grid(horizon)
    index = jax.jit(jax.vmap(lambda c, s, t: policy.index(ArmStats(c, s, t))))
    idx = np.asarray(index(jnp.asarray(counts), jnp.asarray(sums), jnp.asarray(n)))
    prob = np.full(horizon * (horizon + 1) ** 3, 0.5)
    prob[flat] = np.where(idx[:, 0] > idx[:, 1], 1.0, np.where(idx[:, 0] < idx[:, 1], 0.0, 0.5))
    return prob.reshape(horizon, horizon + 1, horizon + 1, horizon + 1)


@dataclasses.dataclass(frozen=True)
class TablePolicy(BanditPolicy):
    """Plays a solved table (``params``: :attr:`Solution.table` as a JAX array) on a two-armed Bernoulli bandit.

    The table is traced (``params``), so one compilation serves every table of a
    horizon. Ties (``TIE``) go to an arm drawn with the policy's ``(T,)`` uniforms.
    """

    arms: int = 2

    def __post_init__(self):
        if self.arms != 2:
            checks.fail("arms", "2 for the dynamic-programming policy", self.arms)

    def noise(self, key, horizon):
        return jax.random.uniform(key, (horizon,))

    def act(self, params: Array, state: ArmStats, noise) -> Array:
        s = state.sums.astype(jnp.int32)
        f = state.counts.astype(jnp.int32) - s
        choice = params[state.t, s[0], f[0], s[1]]
        return jnp.where(choice == TIE, (noise < 0.5).astype(jnp.int32), choice).astype(jnp.int32)

    @staticmethod
    def table(solution: Solution) -> Array:
        """The ``params`` that play ``solution``."""
        return jnp.asarray(solution.table)
