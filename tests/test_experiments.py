"""Figure 2 and reward generalisation in --quick mode: results written, figures drawn from them, contracts kept."""

from __future__ import annotations

import json

import pytest
from conftest import figure

from rmft_jax.cli import main
from rmft_jax.experiments import horizons


def test_fig2_quick(out, capsys):
    figure("fig2", out)
    printed = capsys.readouterr().out  # a table a person reads, then the files written
    assert printed.startswith("fig2 (quick mode)\n\nmethod ") and "\nrmft " in printed and "\nthompson " in printed
    assert f"wrote:\n  {out / 'fig2.json'}\n" in printed
    data = json.loads((out / "fig2.json").read_text())
    assert set(data["methods"]) == {"rmft", "base", "ucb", "thompson", "greedy"}
    for m in data["methods"].values():
        for key in ("regret_mean", "suff_fail_freq", "k_min_frac", "beta_hat", "p_reg", "p_trend", "final_regret"):
            assert key in m
        assert len(m["regret_mean"]) == data["eval"]["horizon"] == 100
    assert "versions" in data and data["training"]
    for ext in ("png", "pdf", "md"):
        assert (out / f"fig2.{ext}").stat().st_size > 0


def test_fig2_quick_shows_the_method_learning_and_exploring(out):
    """The README's first command must show RMFT working (issue 9): regret at T = 100 at most 0.6x the base
    model's with a sublinear growth exponent, and fewer suffix failures than Greedy on the same runs.

    SuffFailFreq(50) is a proportion over n = 100 runs: the standard error of a difference of two proportions
    is at most sqrt(2 * 0.25 / n) = 0.071, so the margin of 0.14 is two standard errors at worst.
    """
    s = json.loads((out / "fig2.json").read_text())["summary"]
    assert s["rmft"]["final_regret_mean"] <= 0.6 * s["base"]["final_regret_mean"], s
    assert s["rmft"]["beta_hat"] < 1.0, s
    n = len(json.loads((out / "fig2.json").read_text())["methods"]["rmft"]["final_regret"])
    margin = 2 * (2 * 0.25 / n) ** 0.5
    assert s["rmft"]["suff_fail_freq_half"] + margin < s["greedy"]["suff_fail_freq_half"], s


def _ensure_fig2(out):
    """The quick Figure 2 run these tests reuse (made here when test_fig2_quick did not run in this session)."""
    if not (out / "fig2.json").exists():
        figure("fig2", out)


@pytest.mark.figures
def test_reward_generalization_quick_reuses_the_fig2_model(out):
    _ensure_fig2(out)
    runs_before = sorted(p.name for p in (out / "runs").iterdir())
    figure("reward-generalization", out)
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs_before
    data = json.loads((out / "reward_generalization.json").read_text())
    assert set(data["targets"]) == {"gaussian_to_bernoulli", "gaussian_to_gamma"}


@pytest.mark.figures
def test_horizons_quick_reuses_the_fig2_model(out, monkeypatch):
    _ensure_fig2(out)
    monkeypatch.setattr(horizons, "QUICK_HORIZONS", ((25, 100), (200, 100)))
    runs_before = sorted(p.name for p in (out / "runs").iterdir())
    figure("horizons", out)
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs_before
    data = json.loads((out / "horizons.json").read_text())
    assert set(data["horizons"]) == {str(T) for T, _ in horizons.QUICK_HORIZONS}
    for h in data["horizons"].values():
        assert set(h["summary"]) == set(horizons.METHODS)
        assert h["summary"]["thompson"]["ratio_to_thompson"] == 1.0
    assert (out / "horizons.png").stat().st_size > 0


def test_existing_results_are_not_overwritten(out, capsys):
    before = (out / "fig2.json").read_bytes()
    code = main(["figure", "fig2", "--quick", "--out", str(out), "--no-progress"])
    assert code == 2
    assert "rmft: error: out:" in capsys.readouterr().err
    assert (out / "fig2.json").read_bytes() == before


def test_unknown_figure(capsys):
    assert main(["figure", "fig99", "--quick"]) == 2
    assert capsys.readouterr().err.startswith("rmft: error: figure: must be one of")
