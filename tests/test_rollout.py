"""The rollout engine: jit = eager, no recompilation, determinism, batched = unbatched, NumPy parity."""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmft_jax.envs import BanditEnv, DriftingBanditEnv, OnlineEnv
from rmft_jax.policies import UCB, EpsilonGreedy, GaussianThompson, make_policy
from rmft_jax.rollout import rollout, rollout_episode, rollout_tasks, run, sample_tasks
from rmft_jax.types import Episode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import numpy_reference  # noqa: E402

BANDIT = BanditEnv(arms=4, horizon=8, reward="gaussian")
DRIFT = DriftingBanditEnv(arms=3, horizon=8, drift="random_walk", walk_std=0.1)
SIMPLEX = OnlineEnv(dim=3, horizon=8, domain="simplex", sequence="uniform")


def assert_same(a, b, exact_actions=True):
    np.testing.assert_array_equal(a.best, b.best)
    if exact_actions:
        np.testing.assert_array_equal(a.actions, b.actions)
    else:
        np.testing.assert_allclose(a.actions, b.actions, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.rewards, b.rewards, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.regret, b.regret, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "env,policy",
    [(DRIFT, EpsilonGreedy(arms=3, epsilon=0.3)), (SIMPLEX, make_policy("hedge_anytime", SIMPLEX))],
    ids=["epsilon_greedy-drift", "hedge_anytime"],
)
def test_jitted_equals_eager(env, policy):
    key = jax.random.key(5)
    jitted = run(env, policy, key, 3)
    with jax.disable_jit():
        eager = run(env, policy, key, 3)
    assert_same(jitted, eager, exact_actions=env.feedback == "bandit")


@pytest.mark.parametrize("env,name", [(DRIFT, "discounted_thompson"), (SIMPLEX, "hedge")])
def test_batched_engine_equals_unbatched_rollout(env, name):
    """Row ``i`` of ``run`` is ``rollout`` with the ``i``-th split key; entry ``(m, l)`` of
    ``rollout_tasks`` is ``rollout`` on task ``m`` with key ``split(key, (M, L))[m, l]``."""
    policy = make_policy(name, env)
    # The references are the unbatched rollout itself, jitted once and called row by row
    # (cheaper to compile than a vmapped copy, and literally unbatched).
    sampled = jax.jit(lambda k: rollout(env, policy, k))
    given = jax.jit(lambda k, t: rollout(env, policy, k, t))
    stack = lambda trajs: jax.tree.map(lambda *xs: np.stack(xs), *trajs)  # noqa: E731
    traj = run(env, policy, jax.random.key(3), 4)
    keys = jax.random.split(jax.random.key(3), 4)
    assert_same(traj, stack([sampled(k) for k in keys]), env.feedback == "bandit")
    tasks = sample_tasks(env, jax.random.key(1), 3)
    traj = rollout_tasks(env, policy, jax.random.key(2), tasks, 2)
    assert traj.regret.shape == (3, 2, env.horizon)
    ks = jax.random.split(jax.random.key(2), (3, 2))
    host_tasks = jax.tree.map(np.asarray, tasks)
    task = lambda m: jax.tree.map(lambda x: x[m], host_tasks)  # noqa: E731
    ref = stack([stack([given(k, task(m)) for k in row]) for m, row in enumerate(ks)])
    assert_same(traj, ref, env.feedback == "bandit")


def test_same_seed_same_result_bit_for_bit():
    policy = make_policy("thompson", BANDIT)
    a, b = run(BANDIT, policy, jax.random.key(9), 16), run(BANDIT, policy, jax.random.key(9), 16)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):  # leaves skip feedback=None (bandits)
        assert x.dtype == y.dtype and np.array_equal(np.asarray(x), np.asarray(y))
    c = run(BANDIT, policy, jax.random.key(10), 16)
    assert not np.array_equal(np.asarray(a.rewards), np.asarray(c.rewards))


def test_no_recompilation_across_keys_tasks_and_params():
    """Same static shapes, new keys / task values / params values: the jit caches do not grow."""
    env, policy = BanditEnv(arms=3, horizon=9), UCB(arms=3)
    params = jnp.zeros(2)  # baselines ignore params, but it is a traced argument
    run(env, policy, jax.random.key(0), 5, params)
    tasks = sample_tasks(env, jax.random.key(0), 2)
    rollout_tasks(env, policy, jax.random.key(0), tasks, 3, params)
    run_size, tasks_size = run._cache_size(), rollout_tasks._cache_size()
    for i in range(1, 4):
        run(env, policy, jax.random.key(i), 5, params + i)
        rollout_tasks(env, policy, jax.random.key(i), sample_tasks(env, jax.random.key(i), 2), 3, params * i)
        # An equal-by-value env and policy rebuilt from scratch hit the same cache entry.
        run(BanditEnv(arms=3, horizon=9), UCB(arms=3), jax.random.key(i), 5, params)
    assert run._cache_size() == run_size and rollout_tasks._cache_size() == tasks_size


def test_rollout_episode_accepts_a_given_episode():
    rewards = jnp.asarray(np.random.default_rng(0).uniform(size=(8, 3)), jnp.float32)
    traj = rollout_episode(SIMPLEX, make_policy("ftl", SIMPLEX), Episode(means=rewards, xi=rewards), jax.random.key(0))
    assert traj.actions.shape == (8, 3) and traj.regret.shape == (8,)
    np.testing.assert_allclose(traj.rewards, np.sum(np.asarray(traj.actions) * np.asarray(rewards), -1), rtol=1e-6)


# --- the NumPy reference of the benchmark runs the same algorithms ------------------------------


def _jax_on(policy, means, xi, keys):
    """``rollout_episode`` per run on given means ``(N, K)`` and reward noise ``(T, N)``."""
    env = BanditEnv(arms=means.shape[1], horizon=xi.shape[0], reward="gaussian", noise=1.0)
    episodes = Episode(means=jnp.asarray(means)[:, None, :], xi=jnp.asarray(xi.T)[:, :, None])
    return jax.jit(jax.vmap(lambda ep, k: rollout_episode(env, policy, ep, k)))(episodes, keys)


@pytest.mark.parametrize("name", ["ucb", "thompson"])
def test_numpy_reference_matches_jax_policy(name):
    rng = np.random.default_rng(1)
    num_runs, horizon, arms = 16, 300, 5
    means = rng.uniform(size=(num_runs, arms)).astype(np.float32)
    xi = rng.standard_normal((horizon, num_runs), dtype=np.float32)
    keys = jax.random.split(jax.random.key(4), num_runs)
    if name == "ucb":
        policy, z = UCB(arms=arms, c=2.0), None
        # The very tie-break uniforms the JAX policy draws (ties: the unplayed arms of the first rounds).
        kw = {"c": 2.0, "u": np.asarray(jax.vmap(lambda k: policy.noise(k, horizon))(keys)).T}
    else:
        policy = GaussianThompson(arms=arms, noise_std=1.0, prior_mean=0.5, prior_std=0.3)
        # The very normals the JAX policy draws, fed to NumPy round by round.
        z = np.asarray(jax.vmap(lambda k: policy.noise(k, horizon))(keys)).transpose(1, 0, 2)
        kw = {"noise_std": 1.0, "prior_mean": 0.5, "prior_std": 0.3}
    traj = _jax_on(policy, means, xi, keys)
    actions, rewards, regret, best = numpy_reference.run_on(name, means, xi, z, **kw)
    np.testing.assert_array_equal(np.asarray(traj.actions), actions)
    np.testing.assert_array_equal(np.asarray(traj.best), best)
    np.testing.assert_allclose(np.asarray(traj.rewards), rewards, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(traj.regret), regret, rtol=1e-5, atol=1e-4)
