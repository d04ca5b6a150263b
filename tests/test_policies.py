"""Baselines: every env × every fitting policy, the registry, regret rates and textbook bounds."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from rmft_jax.envs import BanditEnv, DriftingBanditEnv, OnlineEnv
from rmft_jax.metrics import fit_growth_exponent
from rmft_jax.policies import (
    FTRL,
    POLICIES,
    UCB,
    EpsilonGreedy,
    Exp3,
    FollowTheLeader,
    GaussianThompson,
    Hedge,
    SlidingWindowUCB,
    make_policy,
    policy_names,
)
from rmft_jax.rollout import rollout_episode, run
from rmft_jax.types import Episode

PROPS = settings(max_examples=30, deadline=None)

ENVS = {
    "bandit-bernoulli": BanditEnv(arms=3, horizon=6, reward="bernoulli"),
    "bandit-gaussian": BanditEnv(arms=3, horizon=6, reward="gaussian", prior="gaussian"),
    "bandit-gamma": BanditEnv(arms=3, horizon=6, reward="gamma", prior_low=0.1),
    "drift-piecewise": DriftingBanditEnv(arms=3, horizon=6, drift="piecewise", changes=2),
    "drift-walk": DriftingBanditEnv(arms=3, horizon=6, drift="random_walk", reward="bernoulli"),
    "drift-sine": DriftingBanditEnv(arms=3, horizon=6, drift="sinusoidal"),
    "online-ball": OnlineEnv(dim=3, horizon=6, domain="ball", radius=2.0),
    "online-ball-alternating": OnlineEnv(dim=3, horizon=6, domain="ball", sequence="alternating"),
    "online-simplex": OnlineEnv(dim=3, horizon=6, domain="simplex", sequence="uniform"),
    "online-simplex-custom": OnlineEnv.from_array(np.arange(18.0).reshape(6, 3) % 4 - 1.5, domain="simplex"),
}
CASES = [(e, name) for e, env in ENVS.items() for name in policy_names(env)]


@pytest.mark.parametrize("env_name,name", CASES, ids=[f"{e}-{n}" for e, n in CASES])
def test_smoke_every_env_and_policy(env_name, name):
    """Shapes, finite values, actions in range / policies inside Π. Eager (``disable_jit``):
    the same engine code as the jitted ``run`` without 40 compilations."""
    env = ENVS[env_name]
    policy = make_policy(name, env)
    T, n = env.horizon, 2
    with jax.disable_jit():
        traj = run(env, policy, jax.random.key(7), n)
    traj = jax.tree.map(np.asarray, traj)
    assert traj.rewards.shape == traj.regret.shape == traj.best.shape == (n, T)
    assert np.all(np.isfinite(traj.rewards)) and np.all(np.isfinite(traj.regret))
    assert traj.best.dtype == np.int32 and np.all((traj.best >= 0) & (traj.best < env.num_actions))
    if env.feedback == "bandit":
        assert traj.actions.shape == (n, T) and traj.actions.dtype == np.int32
        assert np.all((traj.actions >= 0) & (traj.actions < env.num_actions))
        assert np.all(np.diff(traj.regret, axis=1) >= -1e-6)  # pseudo-regret never decreases
    else:
        pi = traj.actions
        assert pi.shape == (n, T, env.dim) and np.all(np.isfinite(pi))
        if env.domain == "ball":
            assert np.all(np.linalg.norm(pi, axis=-1) <= env.radius + 1e-5)
        else:
            assert np.all(pi >= 0) and np.allclose(pi.sum(-1), 1.0, atol=1e-5)


def test_policy_names_cover_the_brief():
    assert set(POLICIES) >= {
        "ucb", "thompson", "greedy", "epsilon_greedy", "exp3", "uniform", "ftrl", "hedge",
        "hedge_anytime", "ftl", "sw_ucb", "discounted_ucb", "discounted_thompson",
    }  # fmt: skip
    assert "ftrl" in policy_names(ENVS["online-ball"]) and "hedge" not in policy_names(ENVS["online-ball"])
    assert "hedge" in policy_names(ENVS["online-simplex"]) and "ftrl" not in policy_names(ENVS["online-simplex"])
    assert "ucb" not in policy_names(ENVS["online-ball"]) and "ftrl" not in policy_names(ENVS["bandit-bernoulli"])


@pytest.mark.parametrize(
    "name,env_name", [("nope", "bandit-bernoulli"), ("ftrl", "bandit-bernoulli"), ("hedge", "online-ball"),
                      ("ucb", "online-simplex")]
)  # fmt: skip
def test_make_policy_rejects_unknown_and_unfit(name, env_name):
    with pytest.raises(ValueError, match=r"^policy: must be one of .*\(got '" + name + r"'\)$"):
        make_policy(name, ENVS[env_name])


def test_registry_defaults_follow_the_env():
    g = BanditEnv(arms=4, reward="gaussian", noise=0.5, prior="gaussian", prior_mean=0.2, prior_std=0.3)
    assert make_policy("ucb", g).c == pytest.approx(2 * 0.5**2)
    assert make_policy("ucb", BanditEnv(arms=4, reward="bernoulli")).c == 2.0
    ts = make_policy("thompson", g)
    assert isinstance(ts, GaussianThompson) and (ts.prior_mean, ts.prior_std, ts.noise_std) == (0.2, 0.3, 0.5)
    u = make_policy("thompson", BanditEnv(arms=4, prior_low=0.2, prior_high=0.8))
    assert u.prior_mean == pytest.approx(0.5) and u.prior_std == pytest.approx(0.6 / math.sqrt(12))
    assert type(make_policy("thompson", ENVS["bandit-bernoulli"])).__name__ == "BetaThompson"
    ftrl = make_policy("ftrl", ENVS["online-ball"])
    assert ftrl.radius == 2.0 and ftrl.horizon == 6
    assert make_policy("hedge_anytime", ENVS["online-simplex"]).horizon is None


@pytest.mark.parametrize(
    "build,field",
    [
        (lambda: UCB(arms=1), "arms"),
        (lambda: UCB(arms=3, c=-1.0), "c"),
        (lambda: UCB(arms=3, log_t=1), "log_t"),
        (lambda: EpsilonGreedy(arms=3, epsilon=1.5), "epsilon"),
        (lambda: Exp3(arms=3, horizon=0), "horizon"),
        (lambda: FTRL(dim=3), "eta"),
        (lambda: Hedge(dim=3, reward_range=0.0), "reward_range"),
        (lambda: FollowTheLeader(dim=3, domain="cube"), "domain"),
        (lambda: SlidingWindowUCB(arms=3, window=0), "window"),
    ],
)
def test_hyperparameters_are_validated(build, field):
    with pytest.raises(ValueError, match=rf"^{field}: must be .*\(got .*\)$"):
        build()


def test_optional_hyperparameters_keep_none_and_are_normalised():
    # Policies are static jit arguments: equal settings must give equal, equally hashed policies.
    assert (Exp3(arms=3).horizon, Exp3(arms=3).eta, Hedge(dim=3).horizon) == (None, None, None)
    exp3 = Exp3(arms=np.int64(3), horizon=np.int32(5), eta=1)
    assert (type(exp3.arms), type(exp3.horizon), type(exp3.eta)) == (int, int, float)
    assert exp3 == Exp3(arms=3, horizon=5, eta=1.0) and hash(exp3) == hash(Exp3(arms=3, horizon=5, eta=1.0))
    with pytest.raises(ValueError, match=r"^eta: must be a number > 0.0 \(got 0\)$"):
        Exp3(arms=3, eta=0)
    with pytest.raises(ValueError, match=r"^horizon: must be an integer >= 1 \(got 2.5\)$"):
        Hedge(dim=3, horizon=2.5)


def test_incompatible_domain_is_rejected():
    from rmft_jax.rollout import check_compatible

    with pytest.raises(ValueError, match="^policy: must act on the ball"):
        check_compatible(ENVS["online-ball"], Hedge(dim=3, horizon=6))
    with pytest.raises(ValueError, match="^policy: must use the environment's radius"):
        check_compatible(ENVS["online-ball"], FTRL(dim=3, radius=1.0, eta=0.1))


# --- regret rates on Krishnamurthy et al.'s easy instance (K = 4, Δ = 0.5) ------------------

EASY = BanditEnv(arms=4, horizon=400, reward="bernoulli", means=(0.75, 0.25, 0.25, 0.25))


@pytest.mark.parametrize("name", ["ucb", "thompson"])
def test_sublinear_regret_on_easy_instance(name):
    """``log mean-regret(t) = β log t + c`` over the second half has ``β̂ < 1``.

    Two checks: ``metrics.fit_growth_exponent`` on the mean curve (its OLS p-value
    treats rounds as independent, which they are not), and a test that is valid:
    ``β̂`` fitted on each of 20 independent batches of 10 runs, and a one-sided
    t-test over the batches of ``mean β̂ < 1`` at level 1e-3.
    """
    runs, batches, T = 200, 20, EASY.horizon
    regret = np.asarray(run(EASY, make_policy(name, EASY), jax.random.key(11), runs).regret, np.float64)
    beta, p = fit_growth_exponent(regret.mean(0), t_min=T // 2)
    assert beta < 1 and p < 1e-3
    betas = np.array([fit_growth_exponent(b.mean(0), t_min=T // 2)[0] for b in regret.reshape(batches, -1, T)])
    assert np.all(np.isfinite(betas))
    t_stat = (betas.mean() - 1.0) / (betas.std(ddof=1) / math.sqrt(batches))
    assert stats.t.cdf(t_stat, batches - 1) < 1e-3


def test_uniform_regret_is_linear():
    """Uniform play has regret exactly linear in expectation (``t·mean gap``); check within 4 s.e."""
    T, runs = 100, 400
    env = BanditEnv(arms=4, horizon=T, reward="bernoulli", means=(0.75, 0.25, 0.25, 0.25))
    traj = run(env, make_policy("uniform", env), jax.random.key(3), runs)
    final = np.asarray(traj.regret[:, -1], np.float64)
    expected = T * 0.5 * 3 / 4  # gap 0.5 on 3 of 4 arms
    assert abs(final.mean() - expected) < 4 * final.std(ddof=1) / math.sqrt(runs)


# --- textbook bounds on arbitrary bounded sequences -------------------------------------------

T_PROP, D_PROP = 16, 3


@jax.jit
def _ftrl_regret(rewards):
    env = OnlineEnv(dim=D_PROP, horizon=T_PROP, domain="ball", sequence="uniform", radius=1.5)
    policy = FTRL(dim=D_PROP, radius=1.5, horizon=T_PROP, grad_bound=math.sqrt(D_PROP))
    return rollout_episode(env, policy, Episode(means=rewards, xi=rewards), jax.random.key(0)).regret


def _hedge_regret(anytime: bool):
    env = OnlineEnv(dim=D_PROP, horizon=T_PROP, domain="simplex", sequence="uniform")
    policy = Hedge(dim=D_PROP, horizon=None if anytime else T_PROP)
    fn = jax.jit(lambda r: rollout_episode(env, policy, Episode(means=r, xi=r), jax.random.key(0)).regret)
    return policy, fn


_HEDGE = _hedge_regret(False)
_HEDGE_ANYTIME = _hedge_regret(True)
unit = st.floats(0.0, 1.0, width=32)
signed = st.floats(-1.0, 1.0, width=32)


@PROPS
@given(hnp.arrays(np.float32, (T_PROP, D_PROP), elements=signed))
def test_ftrl_below_its_bound_on_every_prefix(rewards):
    """Entries in [-1, 1] so ``‖R_t‖₂ <= G = sqrt(d)``; ``Regret_t <= R²/(2η) + η G² t <= (3/2) R G sqrt(T)``."""
    policy = FTRL(dim=D_PROP, radius=1.5, horizon=T_PROP, grad_bound=math.sqrt(D_PROP))
    regret = np.asarray(_ftrl_regret(jnp.asarray(rewards)))
    t = np.arange(1, T_PROP + 1)
    bound = np.array([policy.regret_bound(int(s)) for s in t])
    assert np.all(regret <= bound + 1e-4 * (1 + t))
    assert policy.regret_bound() <= 1.5 * 1.5 * math.sqrt(D_PROP) * math.sqrt(T_PROP) + 1e-9
    assert policy.regret_bound() <= 2 * 1.5 * math.sqrt(D_PROP) * math.sqrt(T_PROP)


@PROPS
@given(hnp.arrays(np.float32, (T_PROP, D_PROP), elements=unit))
def test_hedge_below_its_bound_on_every_prefix(rewards):
    """Rewards in [0, 1]^d, ``η = sqrt(8 ln d / T)``: ``Regret_t <= ln d/η + ηt/8 <= sqrt(T ln d / 2)``."""
    policy, fn = _HEDGE
    regret = np.asarray(fn(jnp.asarray(rewards)))
    t = np.arange(1, T_PROP + 1)
    assert np.all(regret <= np.array([policy.regret_bound(int(s)) for s in t]) + 1e-4 * (1 + t))
    assert regret[-1] <= math.sqrt(T_PROP * math.log(D_PROP) / 2) + 1e-4 * T_PROP


@PROPS
@given(hnp.arrays(np.float32, (T_PROP, D_PROP), elements=unit))
def test_hedge_anytime_below_its_bound_on_every_prefix(rewards):
    """``η_t = sqrt(8 ln d / t)``: ``Regret_t <= sqrt(2 t ln d) + sqrt(ln d / 8)`` for every ``t``."""
    policy, fn = _HEDGE_ANYTIME
    regret = np.asarray(fn(jnp.asarray(rewards)))
    t = np.arange(1, T_PROP + 1)
    assert np.all(regret <= np.array([policy.regret_bound(int(s)) for s in t]) + 1e-4 * (1 + t))


def test_ftl_suffers_linear_regret_on_the_alternating_sequence():
    env = OnlineEnv(dim=2, horizon=50, domain="simplex", sequence="alternating")
    traj = run(env, make_policy("ftl", env), jax.random.key(0), 2)
    assert np.all(np.asarray(traj.regret[:, -1]) >= 0.45 * env.horizon)
    hedge = run(env, make_policy("hedge", env), jax.random.key(0), 2)
    assert np.all(np.asarray(hedge.regret[:, -1]) <= make_policy("hedge", env).regret_bound() + 1e-4)


def test_gamma_thompson_is_offered_for_gamma_rewards_only_and_finds_the_best_arm():
    assert "gamma_thompson" in policy_names(ENVS["bandit-gamma"])
    assert "gamma_thompson" not in policy_names(ENVS["bandit-gaussian"])
    env = BanditEnv(arms=2, horizon=300, reward="gamma", means=(0.2, 0.8))
    traj = run(env, make_policy("gamma_thompson", env), jax.random.key(3), 200)
    # Exponential rewards with means 0.2 and 0.8: after 150 rounds the posterior separates the arms, so a
    # correct sampler pulls the better arm in nearly every late round; uniform play would give 0.5 (s.e. 0.003 here).
    late = float(np.mean(np.asarray(traj.actions)[:, 150:] == 1))
    assert late > 0.95
