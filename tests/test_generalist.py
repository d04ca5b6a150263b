"""Iterative RMFT over a task distribution (rmft_jax.generalist): config, buckets, mixture prior, exact resume,
and ``rmft evaluate --checkpoint`` of a generalist run at other K and horizons."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmft_jax import generalist as gl
from conftest import cli
from rmft_jax.models.equivariant import EquivariantConfig
from rmft_jax.rmft import RMFTConfig

TINY = gl.GeneralistConfig(
    model=EquivariantConfig(width=8, heads=1, mlp_ratio=2, max_horizon=64),
    mix=gl.TaskMix(arms=(2, 3), horizons=(6,), rewards=("gaussian",), rounds=96),
    rmft=RMFTConfig(rollouts=4, keep=2, sft_steps=2, learning_rate=1e-2, iterations=3, shared_env_noise=True),
    seed=3,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny config trained twice: uninterrupted, and stopped after one iteration then resumed."""
    root = tmp_path_factory.mktemp("generalist")
    whole, rows = gl.train(TINY, root / "whole", progress=False, checkpoint_every=1)
    gl.train(TINY, root / "cut", progress=False, stop_after=1)
    resumed, resumed_rows = gl.train(TINY, root / "cut", resume=True, progress=False)
    return root, whole, rows, resumed, resumed_rows


def test_resume_equals_an_uninterrupted_run(runs):
    _, whole, rows, resumed, resumed_rows = runs
    assert int(whole.iteration) == int(resumed.iteration) == 3
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(a, b)
    assert [r["iteration"] for r in resumed_rows] == [1, 2, 3]
    assert [(r["arms"], r["horizon"]) for r in rows] == [(r["arms"], r["horizon"]) for r in resumed_rows]


def test_training_moves_the_weights_and_saves_a_loadable_run(runs):
    root = runs[0]
    cfg, state, graphdef, base = gl.load(root / "whole")
    assert cfg == TINY and int(state.iteration) == 3
    moved = [float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(base))]
    assert max(moved) > 0
    saved = json.loads((root / "whole" / "config.json").read_text())
    assert gl.is_generalist(saved) and "versions" in saved


def test_each_bucket_gets_the_same_rollout_rounds():
    assert TINY.mix.buckets == ((2, 6, "gaussian"), (3, 6, "gaussian"))
    mix = gl.TaskMix(horizons=(100, 1000), rounds=32768)
    assert mix.tasks(16, 100) == 20 and mix.tasks(16, 1000) == 2 and mix.tasks(64, 1000) == 1
    picks = {gl.bucket_of(TINY, jax.random.key(0), i) for i in range(20)}
    assert picks == set(TINY.mix.buckets)  # both buckets are drawn
    assert gl.bucket_of(TINY, jax.random.key(0), 7) == gl.bucket_of(TINY, jax.random.key(0), 7)


def test_the_mixture_prior_draws_small_gap_instances():
    env = gl.MixturePriorBandit(arms=4, horizon=5, gap_share=0.5, gap_width=0.1)
    means = np.asarray(jax.vmap(env.sample_task)(jax.random.split(jax.random.key(0), 4000)).means)
    narrow = np.all(np.abs(means - 0.5) <= 0.1, axis=1)
    # a U[0, 1] instance of 4 arms lands in [0.4, 0.6]^4 with probability 0.2^4 = 0.0016
    share = narrow.mean()
    assert abs(share - (0.5 + 0.5 * 0.0016)) < 4 * np.sqrt(0.25 / 4000)
    assert means.min() >= 0 and means.max() <= 1


def test_config_round_trips_and_bad_values_are_one_line_errors():
    d = json.loads(json.dumps(TINY.to_dict()))
    assert gl.GeneralistConfig.from_dict(d) == TINY
    with pytest.raises(ValueError, match=r"config\.mix\.rewards: must be one of"):
        gl.GeneralistConfig.from_dict({**d, "mix": {**d["mix"], "rewards": ["poisson"]}})
    with pytest.raises(ValueError, match=r"config\.mix\.arms: must be"):
        gl.GeneralistConfig.from_dict({**d, "mix": {**d["mix"], "arms": [1, 3]}})
    with pytest.raises(ValueError, match=r"config\.kind: must be 'generalist'"):
        gl.GeneralistConfig.from_dict({**d, "kind": "mab"})
    with pytest.raises(ValueError, match=r"horizon: must be <= max_horizon = 64"):
        gl.GeneralistConfig(model=TINY.model, mix=gl.TaskMix(horizons=(100,)))


@pytest.mark.parametrize("arms, horizon", [(2, 5), (7, 20)])
def test_evaluate_checkpoint_runs_the_generalist_at_any_arms_and_horizon(runs, tmp_path, capsys, arms, horizon):
    out = tmp_path / "r.json"
    code, _, err = cli(["evaluate", "--checkpoint", str(runs[0] / "whole"), "--arms", str(arms), "--horizon",
                        str(horizon), "--reward", "bernoulli", "--runs", "6", "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    res = json.loads(out.read_text())
    assert res["config"]["num_actions"] == arms and len(res["regret_mean"]) == horizon
    assert res["config"]["policy"]["name"] == "rmft"


@pytest.mark.parametrize("args, field", [
    (["--env", "fol-ball", "--horizon", "5"], "checkpoint"),
    (["--arms", "3", "--horizon", "65"], "horizon"),
])
def test_evaluate_checkpoint_refuses_what_the_generalist_cannot_play(runs, tmp_path, capsys, args, field):
    out = tmp_path / "x.json"
    code, _, err = cli(["evaluate", "--checkpoint", str(runs[0] / "whole"), *args, "--runs", "2", "--out", str(out)],
                       capsys)
    assert code == 2 and err.startswith(f"rmft: error: {field}:") and err.count("\n") == 1
    assert not out.exists()


def test_rmft_train_takes_a_generalist_config_and_refuses_flags_it_does_not_use(tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({**TINY.to_dict(), "rmft": {**TINY.to_dict()["rmft"], "iterations": 1}}))
    code, out, err = cli(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--no-progress",
                          "--set", "mix.arms=[2]"], capsys)
    assert code == 0, err
    assert json.loads(out)["iterations"] == 1
    cfg, state, _, _ = gl.load(tmp_path / "run")
    assert cfg.mix.arms == (2,) and int(state.iteration) == 1
    for args, field in ((["--horizon", "5"], "horizon"), (["--set", "env.arms=3"], "set")):
        code, _, err = cli(["train", "--config", str(path), "--out", str(tmp_path / "other"), *args], capsys)
        assert code == 2 and err.startswith(f"rmft: error: {field}:") and err.count("\n") == 1
    assert not (tmp_path / "other").exists()
