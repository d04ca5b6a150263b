"""Every figure experiment in --quick mode: results written, figures drawn from them, contracts kept."""

from __future__ import annotations

import json

import pytest

from rmft_jax.cli import main


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("figures")


def figure(name, out, *extra):
    assert main(["figure", name, "--quick", "--out", str(out), "--no-progress", *extra]) == 0


def test_fig2_quick(out):
    figure("fig2", out)
    data = json.loads((out / "fig2.json").read_text())
    assert set(data["methods"]) == {"rmft", "base", "ucb", "thompson", "greedy"}
    for m in data["methods"].values():
        for key in ("regret_mean", "suff_fail_freq", "k_min_frac", "beta_hat", "p_reg", "p_trend", "final_regret"):
            assert key in m
        assert len(m["regret_mean"]) == data["eval"]["horizon"] == 100
    assert "versions" in data and data["training"]
    for ext in ("png", "pdf", "md"):
        assert (out / f"fig2.{ext}").stat().st_size > 0


def test_reward_generalization_quick_reuses_the_fig2_model(out):
    runs_before = sorted(p.name for p in (out / "runs").iterdir())
    figure("reward-generalization", out)
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs_before
    data = json.loads((out / "reward_generalization.json").read_text())
    assert set(data["targets"]) == {"gaussian_to_bernoulli", "gaussian_to_gamma"}


def test_online_quick(out):
    figure("online", out)
    data = json.loads((out / "online.json").read_text())
    assert set(data["envs"]) == {"env1_ball", "env2_simplex"}
    assert (out / "online_env1_ball.png").exists()


def test_iterations_quick(out):
    figure("iterations", out)
    data = json.loads((out / "iterations.json").read_text())
    assert data["regret_vs_iteration"]["iteration"][0] == 0
    assert set(data["k_sweep"]["results"]) == {"2", "4"}


def test_ablation_quick(out):
    figure("ablation", out)
    data = json.loads((out / "ablation.json").read_text())
    assert len(data["variants"]) == 2


def test_existing_results_are_not_overwritten(out, capsys):
    before = (out / "fig2.json").read_bytes()
    code = main(["figure", "fig2", "--quick", "--out", str(out), "--no-progress"])
    assert code == 2
    assert "rmft: error: out:" in capsys.readouterr().err
    assert (out / "fig2.json").read_bytes() == before


def test_unknown_figure(capsys):
    assert main(["figure", "fig99", "--quick"]) == 2
    assert capsys.readouterr().err.startswith("rmft: error: figure: must be one of")
