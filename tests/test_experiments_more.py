"""The online and baselines experiments in --quick mode (a separate file so that the parallel test
run can give it its own worker; iterations and ablation are in ``test_experiments_ablations.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import figure


@pytest.mark.figures
def test_online_quick(out):
    figure("online", out)
    data = json.loads((out / "online.json").read_text())
    assert set(data["envs"]) == {"env1_ball", "env2_simplex"}
    assert (out / "online_env1_ball.png").exists()
    assert data["envs"]["env2_simplex"]["train_config"]["rmft"]["online_target"] == "outputs"
    # Even 6 quick iterations learn on both domains: the trained model's regret is below the base
    # model's on the same sequences, by more than 4 standard errors of the paired difference.
    for env_key, block in data["envs"].items():
        methods = block["horizons"]["25"]["methods"]
        gain = np.asarray(methods["base"]["final_regret"]) - np.asarray(methods["rmft"]["final_regret"])
        assert gain.mean() > 4 * gain.std() / np.sqrt(gain.size), env_key


@pytest.mark.figures
def test_baselines_quick(out):
    figure("baselines", out)
    data = json.loads((out / "baselines.json").read_text())
    assert set(data["instances"]) == {"bernoulli_hard", "gaussian"}
    assert set(data["instances"]["gaussian"]["methods"]) == {"ucb", "thompson", "greedy"}


def test_output_paths_refuse_an_existing_per_key_figure(tmp_path):
    import pytest

    from rmft_jax.experiments import common

    (tmp_path / "online_env1_ball.pdf").write_bytes(b"saved")
    with pytest.raises(ValueError, match="^out: must be a file that does not exist yet"):
        common.output_paths(tmp_path, "online", False, figures=("env1_ball", "env2_simplex"))
    assert (tmp_path / "online_env1_ball.pdf").read_bytes() == b"saved"
    # An experiment drawing STEM.png only is not blocked by another experiment's files,
    # and --overwrite lets the per-key one through.
    assert common.output_paths(tmp_path, "online", False)["json"] == tmp_path / "online.json"
    assert common.output_paths(tmp_path, "online", True, figures=("env1_ball",))["md"] == tmp_path / "online.md"
