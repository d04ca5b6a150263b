"""The iterations and ablation experiments in --quick mode (split from ``test_experiments_more.py``
so that the parallel test run can put the two halves on different workers)."""

from __future__ import annotations

import json

import pytest
from conftest import figure


@pytest.mark.figures
def test_iterations_quick(out):
    figure("iterations", out)
    data = json.loads((out / "iterations.json").read_text())
    assert data["regret_vs_iteration"]["iteration"][0] == 0
    assert set(data["k_sweep"]["results"]) == {"2", "4"}


@pytest.mark.figures
def test_ablation_quick(out):
    figure("ablation", out)
    data = json.loads((out / "ablation.json").read_text())
    assert len(data["variants"]) == 2
