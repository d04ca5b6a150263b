"""Environment validation, reward-process moments, drift families and batching."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmft_jax.envs import BanditEnv, DriftingBanditEnv, OnlineEnv, variation_budget
from rmft_jax.envs.online import SEQUENCES


def raises_on(field: str, make):
    """``make()`` raises a one-line ValueError whose message starts with ``field:``."""
    with pytest.raises(ValueError) as info:
        make()
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{field}:"), msg


# ----- validation ------------------------------------------------------------------

BAD_CONFIGS = [
    ("arms", lambda: BanditEnv(arms=1)),
    ("arms", lambda: DriftingBanditEnv(arms=0)),
    ("arms", lambda: BanditEnv(arms=2.5)),
    ("horizon", lambda: BanditEnv(horizon=0)),
    ("horizon", lambda: DriftingBanditEnv(horizon=-3)),
    ("horizon", lambda: OnlineEnv(horizon=0)),
    ("dim", lambda: OnlineEnv(dim=1)),
    ("reward", lambda: BanditEnv(reward="poisson")),
    ("reward", lambda: DriftingBanditEnv(reward="poisson")),
    ("prior", lambda: BanditEnv(prior="beta")),
    ("sequence", lambda: OnlineEnv(sequence="zigzag")),
    ("domain", lambda: OnlineEnv(domain="cube")),
    ("drift", lambda: DriftingBanditEnv(drift="jumpy")),
    ("noise", lambda: BanditEnv(noise=-0.1)),
    ("noise", lambda: DriftingBanditEnv(noise=-1.0)),
    ("noise", lambda: OnlineEnv(noise=-1.0)),
    ("noise", lambda: BanditEnv(noise=math.nan)),
    ("gamma_shape", lambda: BanditEnv(gamma_shape=0.0)),
    ("means", lambda: BanditEnv(arms=2, reward="bernoulli", means=(0.5, 1.2))),
    ("means", lambda: BanditEnv(arms=2, reward="bernoulli", means=(-0.1, 0.5))),
    ("means", lambda: BanditEnv(arms=2, reward="gamma", means=(0.0, 0.5))),
    ("means", lambda: BanditEnv(arms=2, reward="gamma", means=(-1.0, 0.5))),
    ("means", lambda: BanditEnv(arms=3, means=(0.1, 0.2))),
    ("means", lambda: BanditEnv(arms=2, means=(0.1, math.inf))),
    ("means", lambda: BanditEnv(arms=2, prior="fixed")),
    ("prior", lambda: BanditEnv(arms=2, means=(0.1, 0.2), prior="gaussian")),
    ("prior_high", lambda: BanditEnv(prior_low=0.5, prior_high=0.5)),
    ("prior_low/prior_high", lambda: BanditEnv(reward="bernoulli", prior_high=2.0)),
    ("prior_low/prior_high", lambda: BanditEnv(reward="gamma", prior_low=0.0)),
    ("radius", lambda: OnlineEnv(radius=0.0)),
    ("amplitude", lambda: DriftingBanditEnv(amplitude=0.7)),
    ("period", lambda: DriftingBanditEnv(period=0.0)),
    ("changes", lambda: DriftingBanditEnv(changes=-1)),
    ("sequence", lambda: OnlineEnv(sequence="custom")),
    ("data", lambda: OnlineEnv(sequence="uniform", data=((1.0, 2.0),))),
    ("sequence", lambda: OnlineEnv(dim=2, horizon=3, sequence="custom", data=(1.0, 2.0, 3.0))),
    ("sequence", lambda: OnlineEnv(dim=2, horizon=3, sequence="custom", data=np.zeros((2, 2)))),
    ("sequence", lambda: OnlineEnv(dim=2, horizon=3, sequence="custom", data=np.zeros((3, 3)))),
    ("sequence", lambda: OnlineEnv.from_array(np.zeros((3, 2, 1)))),
    ("sequence", lambda: OnlineEnv.from_array(np.array([[0.0, np.nan], [1.0, 1.0]]))),
    ("sequence", lambda: OnlineEnv.from_array(np.array([[0.0, np.inf], [1.0, 1.0]]))),
    ("sequence", lambda: OnlineEnv.from_array(np.array([[0.0, -np.inf], [1.0, 1.0]]))),
]


@pytest.mark.parametrize("field,make", BAD_CONFIGS, ids=[f"{i}-{f}" for i, (f, _) in enumerate(BAD_CONFIGS)])
def test_invalid_config_raises_one_line_error_naming_field(field, make):
    raises_on(field, make)


def test_valid_configs_and_normalisation():
    env = BanditEnv(arms=3, means=[0.1, 0.2, 0.3], reward="bernoulli")
    assert env.prior == "fixed" and env.means == (0.1, 0.2, 0.3)
    assert hash(env) == hash(BanditEnv(arms=3, means=(0.1, 0.2, 0.3), reward="bernoulli"))
    env = OnlineEnv.from_array(np.arange(12.0).reshape(4, 3), domain="simplex")
    assert (env.horizon, env.dim, env.sequence) == (4, 3, "custom")


# ----- reward processes ------------------------------------------------------------

HORIZON = 20000


def arm_rewards(env, means, arm):
    """``HORIZON`` rewards of ``arm`` under ``env``'s reward process, through realize and step."""
    task = type(env.sample_task(jax.random.key(0)))(jnp.asarray(means, jnp.float32))

    @jax.jit  # one compilation instead of many eager dispatches
    def draw(key, task):
        episode = env.realize(key, task)
        return jax.vmap(lambda xi: env.step(episode.means[0], xi, jnp.int32(arm))[1])(episode.xi)

    return np.asarray(draw(jax.random.key(42), task), np.float64)


@pytest.mark.parametrize(
    "reward,mu,mean,var,mu4",
    [
        # (process, arm mean, E r, Var r, E (r - E r)^4)
        ("bernoulli", 0.3, 0.3, 0.21, 0.21 * (1 - 3 * 0.21)),
        ("gaussian", 0.7, 0.7, 0.25, 3 * 0.25**2),  # noise σ = 0.5
        ("gamma", 2.0, 2.0, 4.0 / 2.0, None),  # α = 2: variance μ²/α
    ],
)
def test_reward_process_moments(reward, mu, mean, var, mu4):
    env = BanditEnv(arms=2, horizon=HORIZON, reward=reward, noise=0.5, gamma_shape=2.0, means=(0.1, mu))
    r = arm_rewards(env, env.means, 1)
    if reward == "bernoulli":
        assert set(np.unique(r)) <= {0.0, 1.0}
    if reward == "gamma":
        assert np.all(r > 0)
        # Gamma(α, scale μ/α): fourth central moment 3α(α + 2)(μ/α)^4.
        mu4 = 3 * 2.0 * 4.0 * (mu / 2.0) ** 4
    n = r.shape[0]
    # Five standard errors of the sample mean and of the sample variance.
    assert abs(r.mean() - mean) < 5 * math.sqrt(var / n)
    assert abs(r.var(ddof=1) - var) < 5 * math.sqrt((mu4 - var**2) / n)


def test_drifting_reward_uses_the_round_means():
    env = DriftingBanditEnv(arms=2, horizon=HORIZON, reward="bernoulli", drift="sinusoidal", period=HORIZON)
    task = jax.jit(env.sample_task)(jax.random.key(3))
    episode = jax.jit(env.realize)(jax.random.key(4), task)
    r = np.asarray(jax.jit(jax.vmap(lambda m, xi: env.step(m, xi, jnp.int32(0))[1]))(episode.means, episode.xi))
    mu = np.asarray(task.means[:, 0], np.float64)
    # E Σ r_t = Σ μ_t, Var = Σ μ_t(1 − μ_t).
    assert abs(r.sum() - mu.sum()) < 5 * math.sqrt(np.sum(mu * (1 - mu)))


# ----- drift families --------------------------------------------------------------


def ref_variation_budget(path):
    total = 0.0
    for t in range(1, path.shape[0]):
        total += max(abs(path[t, a] - path[t - 1, a]) for a in range(path.shape[1]))
    return total


@pytest.mark.parametrize("drift", ["piecewise", "random_walk", "sinusoidal"])
def test_drift_paths_and_variation_budget(drift):
    env = DriftingBanditEnv(arms=3, horizon=60, drift=drift, changes=4, walk_std=0.05, period=20.0)
    sample = jax.jit(env.sample_task)
    for seed in range(3):
        path = sample(jax.random.key(seed)).means
        assert path.shape == (60, 3)
        p = np.asarray(path, np.float64)
        assert np.all((p >= 0) & (p <= 1))
        assert float(variation_budget(path)) == pytest.approx(ref_variation_budget(p), rel=1e-5, abs=1e-5)
        if drift == "piecewise":
            # At most `changes` rounds where the means move.
            assert np.sum(np.any(np.diff(p, axis=0) != 0, axis=1)) <= 4


def test_variation_budget_known_path():
    path = jnp.array([[0.0, 0.5], [0.2, 0.5], [0.2, 0.1], [0.2, 0.1]])
    assert float(variation_budget(path)) == pytest.approx(0.2 + 0.4)


# ----- online sequences and batching -----------------------------------------------


@pytest.mark.parametrize("sequence", [s for s in SEQUENCES if s != "custom"])
def test_online_sequences_shapes(sequence):
    env = OnlineEnv(dim=3, horizon=8, sequence=sequence)
    episode = env.realize(jax.random.key(1), env.sample_task(jax.random.key(0)))
    assert episode.means.shape == (8, 3) and episode.xi.shape == (8, 3)
    xi = np.asarray(episode.xi)
    assert np.all(np.isfinite(xi))
    if sequence == "random_sign":
        assert set(np.unique(xi)) <= {-1.0, 1.0}
    if sequence == "uniform":
        assert np.all((xi >= 0) & (xi <= 1))
    if sequence == "alternating":
        assert np.count_nonzero(xi[0]) == 1 and xi[0].max() == 0.5
        np.testing.assert_array_equal(xi[1], xi[3])
        np.testing.assert_array_equal(xi[2], 2 * xi[0])


def test_custom_sequence_is_replayed():
    data = np.arange(10.0).reshape(5, 2)
    env = OnlineEnv.from_array(data)
    episode = env.realize(jax.random.key(0), env.sample_task(jax.random.key(1)))
    np.testing.assert_allclose(episode.xi, data)


ENVS = [
    BanditEnv(arms=4, horizon=7),
    BanditEnv(arms=2, horizon=7, means=(0.2, 0.8)),
    DriftingBanditEnv(arms=3, horizon=7, drift="random_walk"),
    OnlineEnv(dim=3, horizon=7, sequence="linear_trend"),
]


@pytest.mark.parametrize("env", ENVS, ids=lambda e: type(e).__name__)
def test_tasks_batch_with_vmap(env):
    keys = jax.random.split(jax.random.key(0), 5)
    tasks = jax.jit(jax.vmap(env.sample_task))(keys)
    single = [x.shape for x in jax.tree.leaves(jax.eval_shape(env.sample_task, keys[0]))]
    assert [x.shape for x in jax.tree.leaves(tasks)] == [(5, *s) for s in single]
    episodes = jax.eval_shape(jax.vmap(env.realize), keys, tasks)
    assert episodes.xi.shape[:2] == (5, env.horizon)
