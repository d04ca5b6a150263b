"""Iterative RMFT: selection, the SFT buffer, one jitted iteration without recompilation, resumption."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmft_jax.config import TrainConfig
from rmft_jax.rmft import RMFTConfig, empty_buffer, init_state, iteration, kept_trajectories, push, select_lowest, single_round
from rmft_jax.training import build_learner, train

TINY = {
    "env": {"name": "mab", "arms": 3, "horizon": 6, "noise": 0.5},
    "model": {"layers": 1, "heads": 1, "width": 8},
    "rmft": {"tasks": 4, "rollouts": 4, "keep": 2, "iterations": 4, "sft_steps": 2},
    "seed": 0,
}
TINY_ONLINE = {
    "env": {"name": "fol-simplex", "dim": 3, "horizon": 6},
    "model": {"layers": 1, "heads": 1, "width": 8},
    "rmft": {"tasks": 4, "rollouts": 4, "keep": 1, "iterations": 3, "sft_steps": 2},
    "seed": 0,
}


def test_select_lowest_matches_numpy():
    rng = np.random.default_rng(0)
    final = rng.normal(size=(7, 11)).astype(np.float32)
    idx = np.asarray(select_lowest(jnp.asarray(final), 3))
    ref = np.argsort(final, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.sort(ref, axis=1))


def test_kept_trajectories_gathers_the_selected_rows():
    from rmft_jax.envs import BanditEnv
    from rmft_jax.types import Trajectory

    env = BanditEnv(arms=3, horizon=5)
    M, L, T = 2, 4, 5
    acts = jnp.arange(M * L * T).reshape(M, L, T) % 3
    rew = jnp.arange(M * L * T, dtype=jnp.float32).reshape(M, L, T)
    traj = Trajectory(acts, rew, rew, acts, rew)
    idx = jnp.array([[3, 1], [0, 2]])
    a, r = kept_trajectories(traj, env, idx)
    np.testing.assert_array_equal(np.asarray(r), np.asarray(rew)[[0, 0, 1, 1], [3, 1, 0, 2]])
    assert a.shape == (4, T)


def test_buffer_is_a_ring():
    from rmft_jax.envs import BanditEnv

    env = BanditEnv(arms=3, horizon=2)
    cfg = RMFTConfig(tasks=2, rollouts=2, keep=1, buffer_iterations=2)
    buf = empty_buffer(env, cfg)
    for i in range(3):
        buf = push(buf, jnp.full((2, 2), i), jnp.full((2, 2), float(i)), jnp.asarray(i))
    # slot 0 holds iteration 2, slot 1 iteration 1
    np.testing.assert_array_equal(np.asarray(buf.actions[:, 0]), [2, 2, 1, 1])
    assert int(buf.filled) == 4


@pytest.mark.parametrize(
    "field, kwargs",
    [
        ("keep", {"rollouts": 2, "keep": 3}),
        ("keep", {"keep": 0}),
        ("tasks", {"tasks": 0}),
        ("learning_rate", {"learning_rate": -1.0}),
        ("warm_start", {"warm_start": "yes"}),
    ],
)
def test_config_errors_name_the_field(field, kwargs):
    with pytest.raises(ValueError, match=rf"^{field}: must be") as e:
        RMFTConfig(**kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("spec", [TINY, TINY_ONLINE], ids=["bandit", "online"])
def test_iteration_compiles_once_and_is_deterministic(spec):
    cfg = TrainConfig.from_dict(spec)
    env = cfg.environment
    learner = build_learner(cfg)
    traces = []

    def counted(state, key, base):
        traces.append(1)  # runs only while tracing
        return iteration(env, cfg.rmft, learner, state, key, base)

    step = jax.jit(counted)
    key = jax.random.key(0)
    state = init_state(env, cfg.rmft, learner)
    for _ in range(3):
        state, metrics = step(state, key, learner.base_params)
    assert len(traces) == 1
    assert int(state.iteration) == 3
    assert all(np.isfinite(float(v)) for v in metrics.values())
    # same seed, same result, bit for bit
    again = init_state(env, cfg.rmft, learner)
    for _ in range(3):
        again, _ = step(again, key, learner.base_params)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(again.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_kept_rollouts_have_the_lowest_regret():
    cfg = TrainConfig.from_dict(TINY)
    state, learner, rows = train(cfg, None, progress=False)
    for r in rows:
        assert r["kept_regret_mean"] <= r["rollout_regret_mean"] + 1e-5
        assert r["rollout_regret_best"] <= r["kept_regret_mean"] + 1e-5


def test_sft_moves_the_policy_towards_the_kept_actions():
    # With many steps on one iteration's selections, the NLL of those selections must fall.
    spec = json.loads(json.dumps(TINY))
    spec["rmft"].update(iterations=1, sft_steps=30, learning_rate=3e-3)
    _, _, rows = train(TrainConfig.from_dict(spec), None, progress=False)
    assert rows[0]["sft_loss_last"] < rows[0]["sft_loss_first"] - 0.05


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    cfg = TrainConfig.from_dict(TINY)
    full, _, rows_full = train(cfg, tmp_path / "a", progress=False, checkpoint_every=1)
    monkeypatch.chdir(tmp_path)  # the interrupted run lives at a relative path, as `rmft train --out runs/x` gives it
    train(cfg, Path("b"), progress=False, checkpoint_every=1, stop_after=2)
    resumed, _, rows = train(cfg, Path("b"), resume=True, progress=False)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    assert [r["rollout_regret_mean"] for r in rows] == [r["rollout_regret_mean"] for r in rows_full]


def saved_files(run):
    """Every file of the run's checkpoints, by path, with its bytes."""
    return {p.relative_to(run): p.read_bytes() for p in sorted((run / "checkpoints").rglob("*")) if p.is_file()}


def test_resume_with_a_different_config_is_refused(tmp_path):
    cfg = TrainConfig.from_dict(TINY)
    train(cfg, tmp_path / "run", progress=False, stop_after=1)
    before = saved_files(tmp_path / "run")
    other = dataclasses.replace(cfg, rmft=dataclasses.replace(cfg.rmft, keep=1))
    with pytest.raises(ValueError, match=r"^config: differs from the checkpoint's config \(rmft.keep"):
        train(other, tmp_path / "run", resume=True, progress=False)
    with pytest.raises(ValueError, match=r"^out: .* already holds a run"):
        train(cfg, tmp_path / "run", progress=False)
    assert saved_files(tmp_path / "run") == before


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    cfg = TrainConfig.from_dict(TINY)
    train(cfg, tmp_path / "run", progress=False, stop_after=1)
    for p in (tmp_path / "run" / "checkpoints" / "1" / "state").rglob("*"):
        if p.is_file():
            p.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"^checkpoint: .* corrupt"):
        train(cfg, tmp_path / "run", resume=True, progress=False)


def test_single_round_runs_and_fits_its_pool():
    cfg = TrainConfig.from_dict(TINY)
    learner = build_learner(cfg)
    params, metrics = jax.jit(lambda k: single_round(cfg.environment, cfg.rmft, learner, k))(jax.random.key(1))
    assert jax.tree.structure(params) == jax.tree.structure(learner.base_params)
    assert float(metrics["sft_loss_last"]) < float(metrics["sft_loss_first"])


RANDOM_REGRET_T25 = 25 * (5 / 6 - 1 / 2)  # E[max μ − mean μ] = 1/3 per round for K = 5, μ ~ U[0, 1]


def collapsed(rows) -> bool:
    """The collapse signature: regret still at the uniform-random level after training.

    The last three iterations' mean rollout regret is compared with the random
    policy's exact expectation; its standard error over ``3·M·L`` rollouts (per-rollout
    s.d. below 4 at T = 25) is under 0.05, so a margin of 1.0 is over 20 s.e.
    """
    last = np.mean([r["rollout_regret_mean"] for r in rows[-3:]])
    return bool(last > RANDOM_REGRET_T25 - 1.0)


def test_chosen_rmft_settings_do_not_collapse():
    """Quick-mode regression test: with the shipped settings the policy must learn (Figure 2 setting, small model)."""
    from rmft_jax.experiments import fig2

    spec = {
        "env": fig2.TRAIN["env"],
        "model": {"layers": 1, "heads": 1, "width": 16},
        "rmft": dict(fig2.TRAIN["rmft"], tasks=64, iterations=20),
        "seed": 0,
    }
    _, _, rows = train(TrainConfig.from_dict(spec), None, progress=False)
    assert rows[0]["rollout_regret_mean"] > RANDOM_REGRET_T25 - 1.0  # it starts at the random level...
    assert not collapsed(rows), [r["rollout_regret_mean"] for r in rows]
    assert rows[-1]["sft_entropy"] > 0.1  # ...and learns without becoming deterministic


def test_shared_env_noise_gives_rollouts_of_a_task_one_reward_sequence():
    from rmft_jax.envs import OnlineEnv
    from rmft_jax.policies import make_policy
    from rmft_jax.rollout import rollout_tasks, sample_tasks

    env = OnlineEnv(dim=3, horizon=5)
    tasks = sample_tasks(env, jax.random.key(0), 2)
    policy = make_policy("ftrl", env)
    shared = rollout_tasks(env, policy, jax.random.key(1), tasks, 3, None, True)
    own = rollout_tasks(env, policy, jax.random.key(1), tasks, 3, None, False)
    np.testing.assert_array_equal(np.asarray(shared.feedback[:, 1]), np.asarray(shared.feedback[:, 0]))
    np.testing.assert_array_equal(np.asarray(shared.feedback[:, 0]), np.asarray(own.feedback[:, 0]))
    assert not np.array_equal(np.asarray(own.feedback[:, 1]), np.asarray(own.feedback[:, 0]))
    assert not np.array_equal(np.asarray(shared.feedback[0, 0]), np.asarray(shared.feedback[1, 0]))


def test_learner_for_is_build_learner_without_a_config():
    """``learner_for(env, model, rmft, seed)`` is what ``build_learner`` builds for a config (the same
    base weights and policy), serves an environment outside the registry, and refuses a model of
    another feedback or action count."""
    from rmft_jax.models.transformer import TransformerConfig
    from rmft_jax.training import learner_for

    cfg = TrainConfig.from_dict(TINY)
    a, b = build_learner(cfg), learner_for(cfg.environment, cfg.transformer, cfg.rmft, cfg.seed)
    assert a.policy == b.policy
    for x, y in zip(jax.tree.leaves(a.base_params), jax.tree.leaves(b.base_params)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    with pytest.raises(ValueError, match="model: must be built for the environment's bandit feedback with 3 actions"):
        learner_for(cfg.environment, TransformerConfig(actions=4, layers=1, heads=1, width=8), cfg.rmft)
