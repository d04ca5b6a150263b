"""The exploration ablation and the anytime (horizons) figure in --quick mode, and the selection-tilt measurement."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from conftest import figure

from rmft_jax.config import TrainConfig
from rmft_jax.experiments import exploration, extrapolation
from rmft_jax.rmft import RMFTConfig, selection_score
from rmft_jax.training import build_learner


@pytest.mark.figures
def test_exploration_quick(out, monkeypatch):
    monkeypatch.setattr(exploration, "QUICK_VARIANTS", (exploration.RECIPE,))  # every variant's config: tested below
    figure("exploration", out)
    data = json.loads((out / "exploration.json").read_text())
    assert set(data["variants"]) == set(exploration.QUICK_VARIANTS)
    for v in data["variants"].values():
        assert set(v["eval"]) == {str(T) for T, _ in exploration.QUICK_HORIZONS}
        assert {"kept", "all", "dropped"} <= set(v["tilt_trained"])
    assert "versions" in data and (out / "exploration.md").read_text().count("\n|") >= 5


def test_every_exploration_variant_has_a_valid_config():
    for name, (hypothesis, env_change, rmft_change, model_change) in exploration.VARIANTS.items():
        cfg = exploration.variant_config(env_change, rmft_change, model_change, quick=False)
        assert cfg.rmft.iterations == 100 and cfg.environment.arms == 5, name
        if hypothesis != "reference":
            assert cfg.transformer.bandit_token == "per_arm" or env_change is not None, name


def _tiny(shared: bool) -> TrainConfig:
    return TrainConfig.from_dict({
        "env": {"name": "mab", "arms": 3, "horizon": 8, "reward": "gaussian", "noise": 0.5},
        "model": {"layers": 1, "heads": 1, "width": 8},
        "rmft": {"tasks": 64, "rollouts": 8, "keep": 2, "iterations": 1, "shared_env_noise": shared},
    })


def test_selection_tilt_is_zero_when_the_policy_ignores_rewards():
    """The base model's policy does not read rewards, so which rollouts are kept is independent of the
    reward noise: kept and all agree within sampling error (s.e. ~ 1/sqrt(best-arm pulls))."""
    cfg = _tiny(False)
    learner = build_learner(cfg)
    tilt = exploration.selection_tilt(cfg, learner, learner.base_params, jax.random.key(0))
    pulls = 64 * 8 * exploration.TILT_ROUNDS / 3  # about a third of the early pulls are on the best arm
    assert abs(tilt["kept"] - tilt["all"]) < 5 / np.sqrt(pulls / 4)


def test_selection_tilt_of_a_reward_following_policy_favours_lucky_rollouts():
    """Greedy play on an independent tape: the kept rollouts saw luckier best-arm rewards than the dropped ones;
    on a shared tape, kept and dropped read the same noise in every round (tilt from decisions only)."""
    from rmft_jax.envs import BanditEnv
    from rmft_jax.policies import make_policy
    from rmft_jax.rmft import select_lowest
    from rmft_jax.rollout import rollout_tasks, sample_tasks

    env = BanditEnv(arms=3, horizon=20, reward="gaussian", noise=0.5)
    tasks = sample_tasks(env, jax.random.key(1), 256)
    greedy = make_policy("greedy", env)
    own = rollout_tasks(env, greedy, jax.random.key(2), tasks, 8, None, False)
    idx = select_lowest(selection_score(own.regret, "final"), 2)
    kept = np.zeros((256, 8), bool)
    np.put_along_axis(kept, np.asarray(idx), True, axis=1)
    noise = (np.asarray(own.rewards) - np.asarray(tasks.means).max(-1)[:, None, None]) / 0.5
    on_best = np.asarray(own.actions == own.best)[..., :5]
    gap = noise[..., :5][on_best & kept[..., None]].mean() - noise[..., :5][on_best & ~kept[..., None]].mean()
    assert gap > 0.2
    shared = rollout_tasks(env, greedy, jax.random.key(2), tasks, 8, None, True)
    r0 = np.asarray(shared.rewards) - np.take_along_axis(np.asarray(tasks.means), np.asarray(shared.actions).reshape(256, -1), 1).reshape(256, 8, 20)
    np.testing.assert_allclose(r0, np.broadcast_to(r0[:, :1], r0.shape), atol=1e-6)  # one noise per round, shared by the L rollouts


def test_selection_criteria_by_hand():
    # T = 10, w = 2: same final regret 1, the mistake in round 1 vs in round 10
    regret = np.cumsum(np.array([[1.0] + [0] * 9, [0] * 9 + [1.0]]), axis=1)
    np.testing.assert_array_equal(selection_score(regret, "final"), [1.0, 1.0])
    np.testing.assert_allclose(selection_score(regret, "prefix_mean"), [1.0, 0.1])
    # extrapolated to H = 100: Regret(T) + (H - T) * (gaps of the last 2 rounds) / 2
    np.testing.assert_allclose(selection_score(regret, "extrapolated", 100), [1.0, 1.0 + 90 * 0.5])
    # a horizon shorter than the window: the whole rollout is the window
    np.testing.assert_allclose(selection_score(np.array([[0.5]]), "extrapolated", 3), [0.5 + 2 * 0.5])


@pytest.mark.parametrize("kwargs, match", [
    ({"selection": "best"}, "^selection: must be one of final, prefix_mean, extrapolated"),
    ({"selection": "extrapolated"}, "^selection_horizon: must be > 0 with selection 'extrapolated'"),
    ({"selection_horizon": 100}, "^selection_horizon: must be > 0 with selection 'extrapolated' and 0 otherwise"),
    ({"online_target": "logits"}, "^online_target: must be one of policy, outputs"),
])
def test_selection_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RMFTConfig(**kwargs)


@pytest.mark.parametrize("env, model", [
    ({"name": "fol-ball", "dim": 3, "horizon": 5}, {}),
    ({"name": "fol-ball", "dim": 3, "horizon": 5}, {"ball_map": "project"}),
    ({"name": "mab", "arms": 3, "horizon": 5}, {}),
])
def test_output_target_needs_a_one_to_one_map(env, model):
    with pytest.raises(ValueError, match="^config.rmft.online_target: must be 'outputs' only for an online model on the simplex, or on the ball with"):
        TrainConfig.from_dict({"env": env, "model": model, "rmft": {"online_target": "outputs"}})
    assert "online_target" not in TrainConfig.from_dict({"env": env}).to_dict()["rmft"]  # saved runs hash as before
    for env_ok, model_ok in (({"name": "fol-simplex", "dim": 3, "horizon": 5}, {}), (env, {"ball_map": "tanh"})):
        if env_ok["name"] == "mab":
            continue
        cfg = TrainConfig.from_dict({"env": env_ok, "model": model_ok, "rmft": {"online_target": "outputs"}})
        assert cfg.to_dict()["rmft"]["online_target"] == "outputs"


def test_extrapolation_students_keep_the_teacher_rounds_per_iteration():
    for T in extrapolation.TRAIN_HORIZONS:
        for change in extrapolation.HEADS.values():
            cfg = extrapolation.student_config(T, change, quick=False)
            assert cfg.rmft.tasks * cfg.environment.horizon == extrapolation.ROUNDS_PER_ITERATION
            assert cfg.transformer.heads == change.get("heads", 2)
            assert cfg.transformer.bandit_token == "per_arm"  # the Figure 2 model's token


@pytest.mark.figures
def test_extrapolation_quick(out, monkeypatch):
    monkeypatch.setattr(extrapolation, "QUICK", {"train_horizons": (6,), "iterations": 2, "horizons": ((12, 40),)})
    extrapolation.run(out, quick=True, progress=False)
    data = json.loads((out / "extrapolation.json").read_text())
    (name, student), = data["students"].items()
    assert student["train_horizon"] == 6 and "AD of Thompson" in name
    ts = data["references"]["12"]["thompson"]["final_regret_mean"]
    assert student["eval"]["12"]["ratio_to_thompson"] == pytest.approx(student["eval"]["12"]["final_regret_mean"] / ts)
    assert "versions" in data and (out / "extrapolation.md").read_text().count("\n|") == 2 + 1 + 1 + 2
