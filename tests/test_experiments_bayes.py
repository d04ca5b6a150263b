"""``rmft figure bayes-reference --quick``: the Bayesian reference experiment runs, saves, then draws and tabulates."""

from __future__ import annotations

import json

import pytest
from conftest import figure


@pytest.mark.figures
def test_bayes_reference_quick(out):
    figure("bayes-reference", out)
    data = json.loads((out / "bayes_reference.json").read_text())
    assert data["experiment"] == "bayes_reference" and data["mode"] == "quick" and "versions" in data
    summary = data["fig2"]["25"]["summary"]
    assert set(summary) == {"thompson", "bayes_ucb", "kg", "ucb"}
    assert summary["thompson"]["ratio_to_thompson"] == 1.0
    dp = data["dp"]["10"]
    assert dp["optimal_bayes_regret"] == pytest.approx(0.6448809523809516, abs=1e-9)
    # the exact Bayes regrets: the optimum is the least, KG* within 1 % of it (0.06 % above at T = 10)
    assert dp["summary"]["dp_optimal"]["exact"] == dp["optimal_bayes_regret"]
    assert 0.0 <= dp["summary"]["kg"]["above_optimum"] < 0.01
    assert dp["exact"]["bayes_ucb"] >= dp["optimal_bayes_regret"] - 1e-9
    for name, row in dp["summary"].items():  # simulated: none below the optimum by 4 s.e.
        assert row["z_vs_optimum"] > -4.0, name
    for f in ("bayes_reference.png", "bayes_reference.pdf", "bayes_reference.md"):
        assert (out / f).stat().st_size > 0
    assert "optimal Bayes regret 0.6449" in (out / "bayes_reference.md").read_text()
