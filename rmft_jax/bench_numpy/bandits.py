"""NumPy reference implementations of UCB and Gaussian Thompson sampling, for the speed benchmark.

The straightforward NumPy way to simulate many bandit runs: a Python loop over
rounds, every operation vectorised over the runs, randomness from
``numpy.random.Generator``. The algorithms are exactly those of
:class:`rmft_jax.policies.UCB` and :class:`rmft_jax.policies.GaussianThompson` on a
Gaussian :class:`rmft_jax.envs.BanditEnv` (``tests/test_rollout.py`` checks that
both give identical actions on the same inputs), in the same float32 precision:

* UCB: never-pulled arms first, then ``argmax_a μ̂_a + sqrt(c ln max(t, 1) / n_a)``
  with ``t`` the rounds played; ties (unplayed arms included) broken as
  :func:`rmft_jax.policies.bandit.argmax_random_tie` does, by one uniform ``u`` per
  round: the ``⌊u m⌋``-th of the ``m`` maximisers in index order.
* Gaussian TS: ``argmax_a m_a + z_a / sqrt(p_a)`` with posterior precision
  ``p_a = 1/s0² + n_a/σ²`` and mean ``m_a = (m0/s0² + S_a/σ²)/p_a``.
* Rewards ``μ_a + σ ξ_t``; the outputs are those of :class:`rmft_jax.types.Trajectory`
  (actions, rewards, cumulative pseudo-regret, best arm), ``(N, T)``.
"""

from __future__ import annotations

import math

import numpy as np


def ucb_actions(counts: np.ndarray, sums: np.ndarray, t: int, c: float, u: np.ndarray) -> np.ndarray:
    """UCB's arms ``(N,)`` from per-run statistics ``(N, K)`` after ``t`` rounds, ties broken by ``u`` ``(N,)``."""
    dtype = sums.dtype
    n = np.maximum(counts, dtype.type(1))
    index = sums / n + np.sqrt(dtype.type(c) * np.log(dtype.type(max(t, 1))) / n)
    index[counts == 0] = np.inf
    rank = np.cumsum(index == index.max(axis=1, keepdims=True), axis=1)
    m = rank[:, -1]
    j = np.minimum(np.floor(u.astype(dtype) * m.astype(dtype)), m - 1)
    return np.sum(rank <= j[:, None], axis=1)


def thompson_actions(
    counts: np.ndarray, sums: np.ndarray, z: np.ndarray, prior_mean: float, prior_std: float, noise_std: float
) -> np.ndarray:
    """Gaussian TS's arms ``(N,)`` given standard normals ``z`` ``(N, K)``."""
    f = sums.dtype.type
    prec = f(1.0 / prior_std**2) + counts / f(noise_std**2)
    mean = (f(prior_mean / prior_std**2) + sums / f(noise_std**2)) / prec
    return (mean + z / np.sqrt(prec)).argmax(axis=1)


def run_on(policy: str, means: np.ndarray, xi: np.ndarray, z=None, *, c=2.0, noise_std=1.0, prior_mean=0.5,
           prior_std=math.sqrt(1 / 12), reward_noise=1.0, u=None):
    """Run ``policy`` (``"ucb"`` or ``"thompson"``) on given inputs, deterministically.

    Args:
      means: ``(N, K)`` arm means; xi: ``(T, N)`` base reward noise;
      z: ``(T, N, K)`` standard normals (Thompson only), or a callable
        ``t -> (N, K)`` that draws them round by round.
      u: ``(T, N)`` tie-break uniforms (UCB only).
    Returns:
      ``(actions, rewards, regret, best)``, each ``(N, T)``.
    """
    dtype = means.dtype
    horizon, num_runs = xi.shape
    arms = means.shape[1]
    counts = np.zeros((num_runs, arms), dtype)
    sums = np.zeros((num_runs, arms), dtype)
    rows = np.arange(num_runs)
    actions = np.empty((horizon, num_runs), np.int32)
    rewards = np.empty((horizon, num_runs), dtype)
    sigma = dtype.type(reward_noise)
    for t in range(horizon):
        if policy == "ucb":
            a = ucb_actions(counts, sums, t, c, u[t])
        else:
            zt = z(t) if callable(z) else z[t]
            a = thompson_actions(counts, sums, zt, prior_mean, prior_std, noise_std)
        r = means[rows, a] + sigma * xi[t]
        counts[rows, a] += 1
        sums[rows, a] += r
        actions[t] = a
        rewards[t] = r
    gaps = means.max(axis=1, keepdims=True) - means
    regret = np.cumsum(gaps[rows, actions], axis=0)
    best = np.broadcast_to(means.argmax(axis=1), (horizon, num_runs))
    return actions.T, rewards.T, regret.T, best.T


def simulate(policy: str, num_runs: int, horizon: int, arms: int, rng: np.random.Generator, dtype=np.float32, **kw):
    """``num_runs`` runs on fresh tasks (means ``~ U[0, 1]``, Gaussian rewards), noise from ``rng``.

    The reward noise and UCB's tie-break uniforms are drawn in bulk ``(T, N)``;
    Thompson's normals round by round, ``(N, K)`` at a time (``T·N·K`` at once would
    not fit a cache).
    """
    means = rng.uniform(size=(num_runs, arms)).astype(dtype)
    xi = rng.standard_normal((horizon, num_runs), dtype=dtype)
    z = u = None
    if policy == "thompson":
        z = lambda t: rng.standard_normal((num_runs, arms), dtype=dtype)  # noqa: E731
    else:
        u = rng.random((horizon, num_runs), dtype=dtype)
    return run_on(policy, means, xi, z, u=u, **kw)
