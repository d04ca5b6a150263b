"""The declared contracts of rmft_jax.types: every policy and environment declares them,
the engine's defaults run a policy that declares only the required hooks, keys become
tasks one way, and the chex shape checks at the entry points fire."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmft_jax import metrics, regret
from rmft_jax.envs import ENV_NAMES, BanditEnv, OnlineEnv, make_env
from rmft_jax.evaluation import _run_chunk
from rmft_jax.models.policy import BanditTransformerPolicy, OnlineTransformerPolicy
from rmft_jax.models.transformer import TransformerConfig
from rmft_jax.paradigms.dpt import DPTBehaviour
from rmft_jax.policies import make_policy, policy_names
from rmft_jax.policies.bayes_optimal import TablePolicy
from rmft_jax.rollout import check_compatible, draw_episodes, rollout, rollout_tasks, run
from rmft_jax.types import BANDIT, FULL, ActionSpace, Environment, Policy, Trajectory

ENVS = [make_env(name, horizon=6) for name in ENV_NAMES]


def _transformer_policies():
    bandit = TransformerConfig(feedback="bandit", actions=3, width=8, layers=1, heads=1, max_horizon=6)
    online = TransformerConfig(feedback="full", actions=3, width=8, layers=1, heads=1, max_horizon=6, domain="simplex")
    return [BanditTransformerPolicy(bandit), OnlineTransformerPolicy(online)]


@pytest.mark.parametrize("env", ENVS, ids=ENV_NAMES)
def test_every_registered_policy_declares_its_action_space(env):
    space = env.action_space
    assert (space.feedback, space.count) == (env.feedback, env.num_actions)
    for name in policy_names(env):
        policy = make_policy(name, env)
        built = policy.action_space
        assert built.feedback == policy.feedback, name
        assert space.mismatch(built) is None, name
        assert hash(policy) == hash(make_policy(name, env))  # still a valid static jit argument


def test_models_and_other_policies_declare_their_action_space():
    bandit, online = _transformer_policies()
    assert bandit.action_space == ActionSpace(BANDIT, 3)
    assert online.action_space == ActionSpace(FULL, 3, "simplex", 1.0)
    assert DPTBehaviour(arms=4).action_space == ActionSpace(BANDIT, 4)
    assert TablePolicy().action_space == ActionSpace(BANDIT, 2)
    check_compatible(OnlineEnv(dim=3, domain="simplex"), online)
    with pytest.raises(ValueError, match=r"^policy: must act on the ball"):
        check_compatible(OnlineEnv(dim=3, domain="ball"), online)
    with pytest.raises(ValueError, match=r"^policy: must be built for 5 actions"):
        check_compatible(BanditEnv(arms=5), bandit)
    with pytest.raises(ValueError, match=r"^policy: must be a full-feedback policy"):
        check_compatible(OnlineEnv(dim=3), bandit)
    with pytest.raises(ValueError, match=r"^policy: must use the environment's radius 2.0"):
        check_compatible(OnlineEnv(dim=3, radius=2.0), make_policy("ftl", OnlineEnv(dim=3)))


def test_action_space_mismatch_names_the_first_differing_field():
    ball = ActionSpace(FULL, 3, "ball", 1.0)
    assert ball.mismatch(ActionSpace(FULL, 3)) is None  # a policy for any domain and radius
    assert ball.mismatch(ActionSpace(FULL, 3, "ball")) is None
    assert ball.mismatch(ActionSpace(BANDIT, 3)) == "feedback"
    assert ball.mismatch(ActionSpace(FULL, 4, "simplex")) == "count"
    assert ball.mismatch(ActionSpace(FULL, 3, "simplex")) == "domain"
    assert ball.mismatch(ActionSpace(FULL, 3, "ball", 2.0)) == "radius"
    assert ActionSpace(FULL, 3, "simplex").mismatch(ActionSpace(FULL, 3, "simplex", 2.0)) is None


@dataclasses.dataclass(frozen=True)
class _Cycle(Policy):
    """Declares only what the contract requires: plays arms 0, 1, 2, ... in turn."""

    feedback: ClassVar[str] = BANDIT
    arms: int = 3

    @property
    def action_space(self):
        return ActionSpace(self.feedback, self.arms)

    def init(self, params, length=None):
        return jnp.zeros((), jnp.int32)

    def act(self, params, state, noise):
        return state % self.arms

    def update(self, params, state, action, feedback):
        return state + 1


def test_the_defaults_run_a_policy_that_declares_only_the_required_hooks():
    policy = _Cycle()
    assert policy.segments(6) is None and policy.batch_tile is None
    assert policy.state_batch_axes(policy.init(None)) == 0
    env = BanditEnv(arms=3, horizon=6)
    traj = run(env, policy, jax.random.key(0), 4)
    np.testing.assert_array_equal(traj.actions, np.tile(np.arange(6) % 3, (4, 1)))
    with pytest.raises(NotImplementedError, match="resize"):
        policy.resize(policy.init(None), 3)


def test_a_policy_or_environment_without_the_required_declarations_cannot_be_built():
    @dataclasses.dataclass(frozen=True)
    class NoSpace(Policy):
        feedback: ClassVar[str] = BANDIT

        def init(self, params, length=None):
            return None

        def act(self, params, state, noise):
            return jnp.int32(0)

        def update(self, params, state, action, feedback):
            return state

    with pytest.raises(TypeError, match="action_space"):
        NoSpace()
    assert isinstance(ENVS[0], Environment)


def test_draw_episodes_is_rollouts_derivation_row_by_row_and_shares_env_noise_in_groups():
    env = OnlineEnv(dim=3, horizon=5, sequence="uniform")  # the rewards do not depend on the task
    keys = jax.random.split(jax.random.key(3), 4)
    tasks, episodes, k_pol = draw_episodes(env, keys)
    ref = jax.vmap(lambda k: jax.random.split(k, 3))(keys)  # row i: split(keys[i], 3)
    np.testing.assert_array_equal(tasks.means, jax.vmap(env.sample_task)(ref[:, 0]).means)
    np.testing.assert_array_equal(episodes.xi, jax.vmap(env.realize)(ref[:, 1], tasks).xi)
    np.testing.assert_array_equal(jax.random.key_data(k_pol), jax.random.key_data(ref[:, 2]))
    _, grouped, _ = draw_episodes(env, keys, tasks, env_group=2)
    np.testing.assert_array_equal(grouped.xi, episodes.xi[np.array([0, 0, 2, 2])])
    assert not np.array_equal(grouped.xi[1], episodes.xi[1])


def test_an_evaluation_chunk_draws_what_rollout_draws():
    # run and rollout_tasks against rollout: tests/test_rollout.py.
    env = BanditEnv(arms=3, horizon=6)
    policy = make_policy("thompson", env)
    one = jax.jit(rollout, static_argnums=(0, 1))
    keys = jax.random.split(jax.random.key(5), 2)
    traj, _ = _run_chunk(env, policy, keys, None)
    for i in range(2):
        k_task, k_roll = jax.random.split(keys[i])
        np.testing.assert_array_equal(traj.actions[i], one(env, policy, k_roll, env.sample_task(k_task)).actions)


def test_chex_checks_ranks_and_shapes_at_the_entry_points():
    means, actions = jnp.zeros((4, 3)), jnp.zeros((4,), jnp.int32)
    with pytest.raises(AssertionError, match="rank"):
        regret.pseudo_regret(means[0], actions)
    with pytest.raises(AssertionError):
        regret.static_regret(means, jnp.zeros((4, 2)), "ball")
    env = BanditEnv(arms=3, horizon=4)
    with pytest.raises(AssertionError):
        run(env, make_policy("ucb", env), jax.random.split(jax.random.key(0), 2), 2)
    with pytest.raises(AssertionError):
        rollout_tasks(env, make_policy("ucb", env), jax.random.key(0), {"a": jnp.zeros((2,)), "b": jnp.zeros((3,))}, 2)
    bad = Trajectory(actions=np.zeros((2, 5)), rewards=np.zeros((2, 4)), regret=np.zeros((2, 4)), best=np.zeros((2, 4)))
    with pytest.raises(AssertionError):
        metrics.summarize(bad, BANDIT, 3, num_resamples=10)
