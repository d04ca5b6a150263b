"""Krishnamurthy et al.'s (2024) published baseline statistics, reproduced with the best arm at index 2.

``rmft figure published-baselines --quick`` (2000 runs per cell): each of the 18
published values (UCB, Thompson sampling, Greedy × easy, hard × SuffFailFreq(T/2),
K·MinFrac(T), GreedyFrac) lies within 4 standard errors of the difference (our
runs and their 1000 replicates) plus 0.005 of rounding; and the facts that hold
exactly.
"""

from __future__ import annotations

import json

import pytest

from rmft_jax.experiments import get, published_baselines as pb


# The whole `rmft figure published-baselines --quick` pipeline: the figures tier, which CI runs after the default one.
pytestmark = pytest.mark.figures


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    get("published-baselines").run(out, quick=True, progress=False)
    assert (out / "published_baselines.md").read_text().count("|") > 0
    return json.loads((out / "published_baselines.json").read_text())


def test_saved_with_config_and_versions(data):
    assert data["command"] == "rmft figure published-baselines --quick"
    assert data["config"]["runs"] == pb.QUICK_RUNS and data["config"]["best_arm_index"] == 2
    assert "jax" in data["versions"] and "Krishnamurthy" in data["source"]
    for key, (arms, delta) in pb.INSTANCES.items():
        means = data["instances"][key]["env"]["means"]
        assert len(means) == arms and max(means) - min(means) == pytest.approx(delta)
        assert means.index(max(means)) == 2


@pytest.mark.parametrize("instance", list(pb.INSTANCES))
@pytest.mark.parametrize("name", pb.POLICIES)
def test_published_values_within_sampling_error(data, instance, name):
    entry = data["instances"][instance]["policies"][name]
    for stat in pb.STATS:
        m, pub = entry["measured"][stat], pb.PUBLISHED[instance][name][stat]
        se = (m["se"] ** 2 + m["sd"] ** 2 / pb.PUBLISHED_RUNS) ** 0.5
        assert abs(m["mean"] - pub) <= pb.Z * se + pb.ROUNDING, f"{instance} {name} {stat}: {m['mean']:.4f} vs {pub}"
        assert entry["comparison"][stat]["within"]


@pytest.mark.parametrize("instance", list(pb.INSTANCES))
def test_exact_facts(data, instance):
    """Greedy is greedy in every round (GreedyFrac exactly 1) and pulls every arm at least once
    (K·MinFrac(T) ≥ K/T, the published 0.04 and 0.05); UCB and TS explore more than Greedy."""
    arms = pb.INSTANCES[instance][0]
    block = data["instances"][instance]["policies"]
    greedy = block["greedy"]["measured"]
    assert greedy["greedy_frac"]["mean"] == 1.0
    assert greedy["k_min_frac_end"]["mean"] >= arms / pb.HORIZON - 1e-12
    for name in ("ucb", "thompson"):
        assert block[name]["measured"]["k_min_frac_end"]["mean"] > greedy["k_min_frac_end"]["mean"]
        assert block[name]["measured"]["suff_fail_freq_half"]["mean"] < greedy["suff_fail_freq_half"]["mean"]
