"""The training paradigms of issue 12: each loss and gradient against a hand computation on a tiny
case, the policy-gradient estimator's mean against the exact gradient by enumeration, and the
quick-mode comparison with its results schema."""

from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import figure

from rmft_jax import paradigms
from rmft_jax.config import TrainConfig
from rmft_jax.models.policy import bandit_log_probs
from rmft_jax.paradigms import common, distill, dpt, policy_gradient, regret_loss
from rmft_jax.policies import make_policy
from rmft_jax.rmft import RMFTConfig
from rmft_jax.rollout import rollout_tasks, sample_tasks
from rmft_jax.training import build_learner

MEANS = (0.3, 0.8)  # the 2-arm instance of the enumeration tests


@pytest.fixture(scope="module")
def tiny():
    """A 2-arm, 2-round Bernoulli bandit and a 1-layer width-8 model (per-arm reward slots), with weights
    scaled up so that its policy is far from uniform and depends on the history."""
    cfg = TrainConfig.from_dict({
        "env": {"name": "mab", "arms": 2, "horizon": 2, "reward": "bernoulli", "means": list(MEANS)},
        "model": {"layers": 1, "heads": 1, "width": 8, "bandit_token": "per_arm", "max_horizon": 8},
        "rmft": {"tasks": 4, "rollouts": 2, "keep": 1, "iterations": 1, "sft_steps": 1},
    })
    learner = build_learner(cfg)
    params = jax.tree.map(lambda x: x * 3.0, learner.base_params)
    return cfg, learner._replace(base_params=params)


def test_budget_by_hand():
    env = TrainConfig.from_dict({"env": {"name": "mab", "arms": 3, "horizon": 5}}).environment
    b = common.budget(env, RMFTConfig(tasks=4, rollouts=2, keep=1, iterations=3, sft_steps=2))
    assert b == {"env_rounds": 3 * 4 * 2 * 5, "grad_steps": 6, "batch_trajectories": 4, "supervised_tokens": 6 * 4 * 5}


# --- DPT ----------------------------------------------------------------------------------------


def test_dpt_label_is_the_argmax_of_the_means_and_the_loss_is_the_cross_entropy_by_hand():
    means = jnp.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.7]])
    np.testing.assert_array_equal(dpt.optimal_action(means), [0, 2])
    logits = jnp.log(jnp.array([[0.2, 0.8], [0.6, 0.4]]))
    value, grad = jax.value_and_grad(lambda z: dpt.optimal_action_loss(jax.nn.log_softmax(z), jnp.int32(0)))(logits)
    np.testing.assert_allclose(value, -(np.log(0.2) + np.log(0.6)) / 2, rtol=1e-6)
    # d/dz of −log softmax(z)_0, averaged over T = 2 rounds: (softmax − e_0) / 2
    np.testing.assert_allclose(grad, np.array([[0.2 - 1, 0.8], [0.6 - 1, 0.4]]) / 2, atol=1e-6)


def test_dpt_rows_carry_the_optimal_arm_of_their_instance_and_the_behaviour_mixes_as_documented(tiny):
    cfg, learner = tiny
    env = TrainConfig.from_dict({"env": {"name": "mab", "arms": 3, "horizon": 6, "noise": 0.5}}).environment
    tasks = sample_tasks(env, jax.random.key(0), 5)
    rows, _ = dpt.collect(env, RMFTConfig(tasks=5, rollouts=4, keep=2), learner, None, tasks, jax.random.key(1))
    np.testing.assert_array_equal(rows["label"], np.repeat(np.argmax(np.asarray(tasks.means), 1), 4))
    assert rows["actions"].shape == rows["rewards"].shape == (20, 6)
    keys = jax.random.split(jax.random.key(2), 200)
    draw = lambda mixing: jax.vmap(lambda k: dpt.DPTBehaviour(arms=3, mixing=mixing).noise(k, 6))(keys)  # noqa: E731
    point = draw((1.0,))
    assert np.all(point == point[:, :1])  # c = 1: every action on one arm
    spread = draw((0.0,))
    assert np.mean(np.all(spread == spread[:, :1], axis=1)) < 0.3  # c = 0: a Dirichlet(1) mixture


# --- algorithm distillation -----------------------------------------------------------------------


@pytest.mark.parametrize("teacher", distill.TEACHERS)
def test_ad_fits_the_teachers_actions_on_its_histories(tiny, teacher):
    cfg, learner = tiny
    env = cfg.environment
    tasks = sample_tasks(env, jax.random.key(0), 4)
    rows, _ = distill.make_collect(teacher)(env, cfg.rmft, learner, None, tasks, jax.random.key(1))
    traj = rollout_tasks(env, make_policy(teacher, env), jax.random.key(1), tasks, 2, None, cfg.rmft.shared_env_noise)
    np.testing.assert_array_equal(rows["actions"], np.asarray(traj.actions).reshape(8, 2))
    p = learner.base_params
    value, _ = distill.loss(learner, p, rows)
    by_hand = np.mean([[-bandit_log_probs(learner.policy.graphdef, p, a, r)[t, a[t]] for t in range(2)]
                       for a, r in zip(rows["actions"], rows["rewards"])])
    np.testing.assert_allclose(value, by_hand, rtol=1e-5)


# --- regret-loss ----------------------------------------------------------------------------------


def test_regret_loss_value_and_gradient_by_hand():
    logits = jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75]]))
    gaps = jnp.array([0.4, 0.0])
    value, grad = jax.value_and_grad(lambda z: regret_loss.expected_regret(jax.nn.log_softmax(z), gaps))(logits)
    np.testing.assert_allclose(value, (0.5 * 0.4 + 0.25 * 0.4) / 2, rtol=1e-6)
    # d/dz Σ_a softmax(z)_a Δ_a = p ⊙ (Δ − p·Δ), over T = 2 rounds
    np.testing.assert_allclose(grad, np.array([[0.5 * 0.2, -0.5 * 0.2], [0.25 * 0.3, -0.75 * 0.1]]) / 2, atol=1e-6)


def test_regret_loss_of_the_model_is_the_mean_expected_pseudo_regret(tiny):
    cfg, learner = tiny
    env = cfg.environment
    tasks = sample_tasks(env, jax.random.key(0), 4)
    p = learner.base_params
    rows, _ = regret_loss.collect(env, cfg.rmft, learner, p, tasks, jax.random.key(1))
    np.testing.assert_allclose(rows["gaps"], np.tile([0.5, 0.0], (8, 1)), atol=1e-6)
    value, _ = regret_loss.loss(learner, p, rows)
    probs = np.exp([np.asarray(bandit_log_probs(learner.policy.graphdef, p, a, r)) for a, r in zip(rows["actions"], rows["rewards"])])
    np.testing.assert_allclose(value, np.mean(probs[..., 0] * 0.5), rtol=1e-5)


# --- policy gradient ------------------------------------------------------------------------------


def test_group_advantages_and_clipped_surrogate_by_hand():
    np.testing.assert_allclose(policy_gradient.group_advantages(jnp.array([[1.0, 2.0, 3.0]])), [[-1.5, 0.0, 1.5]])
    logp = jnp.log(jnp.array([[0.6], [0.6]]))
    old = jnp.log(jnp.array([[0.4], [0.4]]))  # ratio 1.5 on both
    # A = +1: clipped to 1.2; A = −1: min(−1.5, −1.2) = −1.5
    np.testing.assert_allclose(policy_gradient.clipped_surrogate(logp, old, jnp.array([1.0, -1.0])), -(1.2 - 1.5) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="^rollouts: must be >= 2"):
        policy_gradient.group_advantages(jnp.zeros((3, 1)))


def _trajectories():
    """All 16 histories (a_1, r_1, a_2, r_2) of the 2-arm, 2-round Bernoulli bandit."""
    out = np.array(list(itertools.product([0, 1], repeat=4)))
    return jnp.asarray(out[:, [0, 2]], jnp.int32), jnp.asarray(out[:, [1, 3]], jnp.float32)


def test_policy_gradient_estimator_mean_is_the_exact_gradient_by_enumeration(tiny):
    """E over pairs of i.i.d. rollouts of the loss gradient at ρ = 1, times −T, equals ∇ E[R] exactly."""
    cfg, learner = tiny
    actions, rewards = _trajectories()
    mu = jnp.asarray(MEANS)
    reward = -jnp.sum(jnp.max(mu) - mu[actions], axis=1) / 2  # −Regret(T)/T, T = 2
    p_reward = jnp.where(rewards == 1, mu[actions], 1 - mu[actions]).prod(axis=1)

    def prob(params):  # P(history) under the model: π(a_1) p(r_1|a_1) π(a_2|h_1) p(r_2|a_2)
        logp = common.log_probs(learner, params, actions, rewards)
        return jnp.exp(jnp.take_along_axis(logp, actions[..., None], -1)[..., 0].sum(1)) * p_reward

    params = learner.base_params
    exact, P = jax.jit(lambda q: (jax.grad(lambda q: jnp.sum(prob(q) * reward))(q), prob(q)))(params)
    np.testing.assert_allclose(jnp.sum(P), 1.0, rtol=1e-5)

    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    i, j = i.ravel(), j.ravel()
    loss = policy_gradient.make_loss(0.0)

    def pair_grad(a, r, adv):
        logp = common.log_probs(learner, params, a, r)
        old = jnp.take_along_axis(logp, a[..., None], -1)[..., 0]
        rows = {"actions": a, "rewards": r, "advantage": adv, "old_logp": old}
        return jax.grad(lambda q: loss(learner, q, rows)[0])(params)

    adv = policy_gradient.group_advantages(jnp.stack([reward[i], reward[j]], 1))
    grads = jax.jit(jax.vmap(pair_grad))(jnp.stack([actions[i], actions[j]], 1), jnp.stack([rewards[i], rewards[j]], 1), adv)
    weight = P[i] * P[j]
    mean = jax.tree.map(lambda g: -2 * jnp.tensordot(weight, g, axes=1), grads)
    scale = max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(exact))
    assert scale > 1e-3  # the check is not vacuous
    for m, e in zip(jax.tree.leaves(mean), jax.tree.leaves(exact)):
        np.testing.assert_allclose(m, e, atol=1e-5 * scale)


def test_kl_variant_adds_the_exact_kl_to_the_base_model(tiny):
    cfg, learner = tiny
    actions, rewards = _trajectories()
    rows = {"actions": actions, "rewards": rewards, "advantage": jnp.zeros(16), "old_logp": jnp.zeros((16, 2))}
    value, aux = policy_gradient.make_loss(0.5)(learner, learner.base_params, rows)
    np.testing.assert_allclose(aux["kl_to_base"], 0.0, atol=1e-7)
    moved = jax.tree.map(lambda x: 1.3 * x, learner.base_params)
    value, aux = policy_gradient.make_loss(0.5)(learner, moved, rows)
    lp, lb = common.log_probs(learner, moved, actions, rewards), common.log_probs(learner, learner.base_params, actions, rewards)
    kl = np.mean(np.sum(np.exp(lp) * (lp - lb), -1))
    np.testing.assert_allclose(aux["kl_to_base"], kl, rtol=1e-5)
    np.testing.assert_allclose(value, aux["surrogate"] + 0.5 * kl, rtol=1e-5)


def test_unknown_paradigm_and_teacher_are_refused():
    with pytest.raises(ValueError, match="^paradigm: must be one of rmft, dpt"):
        paradigms.trainer("sft", None, None)
    with pytest.raises(ValueError, match="^teacher: must be one of thompson, ucb"):
        distill.make_collect("greedy")


# --- the comparison, quick mode -------------------------------------------------------------------


@pytest.mark.figures
def test_paradigms_quick(tmp_path, monkeypatch):
    from rmft_jax.experiments import paradigms as experiment

    assert set(experiment.QUICK_PARADIGMS) == {"rmft", "dpt", "ad", "regret_loss", "policy_gradient"}
    # the pipeline with two paradigms and two seeds (each paradigm's collect and loss have unit tests above)
    monkeypatch.setattr(experiment, "QUICK_PARADIGMS", ("rmft", "policy_gradient"))
    monkeypatch.setattr(experiment, "SEEDS", (0, 1))
    figure("paradigms", tmp_path)
    data = json.loads((tmp_path / "paradigms.json").read_text())
    assert {"config", "versions", "references", "paradigms"} <= set(data)
    assert set(data["paradigms"]) == {"rmft", "policy_gradient"}
    spend = data["config"]["budget_per_seed"]
    for name, e in data["paradigms"].items():
        assert set(e["regret"]) == set(e["regret_spread"]) == {"25", "100", "1000"}, name
        assert set(e["suff_fail_freq_half"]) == {"100", "1000"} and set(e["beta_hat"]) == {"1000"}
        assert e["seeds"] == 2 and e["env_rounds"] == spend["env_rounds"] and e["sft_or_grad_steps"] == spend["grad_steps"]
        assert e["wall_s"] > 0 and all(np.isfinite(v) for v in e["regret"].values())
        assert set(e["shifted"]) == {"bernoulli", "narrow"}
    assert (tmp_path / "paradigms.png").exists() and "| rmft |" in (tmp_path / "paradigms.md").read_text()
