"""The runnable examples in ``examples/``: each runs (in this process, with small arguments) and
shows what its docstring says it shows.

Each example is loaded with ``runpy`` as a script and its ``main(argv)`` called; ``main``
prints what a person reads and returns the numbers, which the assertions check.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _main(name: str):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")["main"]


def test_every_example_is_listed_and_documented():
    readme = (EXAMPLES / "README.md").read_text()
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts, "no examples"
    for name in scripts:
        assert f"`{name}`" in readme, f"{name} is not listed in examples/README.md"
        text = (EXAMPLES / name).read_text()
        assert text.startswith('"""') and "Expected output" in text and "Run::" in text, name
        assert 'if __name__ == "__main__":' in text, name


def test_baseline_custom_bandit(tmp_path, capsys):
    """UCB and Thompson sampling on the given means: regret below the uniform policy's exact
    regret (the whole 95% interval), regret that flattens (the second half of the rounds costs
    less than the first), and Greedy's suffix failures above Thompson's; the figure is written."""
    plot = tmp_path / "regret.png"
    out = _main("baseline_custom_bandit.py")(["--runs", "200", "--plot", str(plot)])
    res, uniform = out["results"], out["uniform_regret"]
    assert uniform == pytest.approx(200 * (0.7 - 0.5125))
    for name in ("ucb", "thompson"):
        r = res[name]
        assert r["final_regret_ci"][1] < 0.75 * uniform, (name, r["final_regret_ci"])
        curve = r["regret_mean"]
        assert np.all(np.diff(curve) >= -1e-6)  # pseudo-regret on fixed means never decreases
        assert curve[-1] - curve[99] < curve[99], name  # sublinear: the second half costs less
    assert res["greedy"]["suff_fail_freq_half"] > res["thompson"]["suff_fail_freq_half"] + 0.1
    assert plot.is_file() and plot.stat().st_size > 1000
    printed = capsys.readouterr().out
    for name in res:
        assert f"\n{name} " in printed


def test_train_custom_env(capsys):
    """RMFT on the example's own environment (not in the registry): the trained model's regret
    at T is below the base model's, with disjoint 95% intervals on the same evaluation tasks;
    the base model plays about as badly as uniform random play (exact: 9.0)."""
    out = _main("train_custom_env.py")(["--runs", "400"])
    base, trained = out["base"], out["trained"]
    assert trained["final_regret_ci"][1] < base["final_regret_ci"][0], (trained["final_regret_ci"], base["final_regret_ci"])
    assert trained["final_regret_mean"] < 0.8 * base["final_regret_mean"]
    assert abs(base["final_regret_mean"] - out["uniform_regret"]) < 1.0
    rows = out["iterations"]
    assert rows[-1]["rollout_regret_mean"] < rows[0]["rollout_regret_mean"]
    assert "trained regret / base regret" in capsys.readouterr().out


@pytest.mark.parametrize("domain", ["ball", "simplex"])
def test_theory_induced_algorithm(domain, tmp_path):
    """eta* obeys the exact scale law and is the Monte-Carlo minimum; the induced algorithm on a
    user's sequence (a CSV file) is map_Pi(eta* S_{t-1}) computed independently here, equals the
    library's FTRL / Hedge at eta*, and its regret never exceeds the bound."""
    rng = np.random.default_rng(1)
    R = np.clip(rng.normal([0.3, 0.0, -0.1, 0.1], 0.5, size=(30, 4)), -1, 1)
    path = tmp_path / "rewards.csv"
    np.savetxt(path, R, delimiter=",")
    out = _main("theory_induced_algorithm.py")(["--rewards", str(path), "--domain", domain, "--mc", "4000"])
    np.testing.assert_allclose(out["rewards"], R)
    eta = out["eta_star"].value
    assert eta > 0
    assert out["eta_star_scaled"].value / eta == pytest.approx(0.5, rel=1e-6)
    mc = out["mc_loss"]
    assert mc[1] < mc[0] and mc[1] < mc[2]
    S = np.cumsum(R, axis=0) - R  # S_{t-1}: the rewards before round t
    x = eta * S
    if domain == "ball":
        expected = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1.0)
    else:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        expected = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out["policies"], expected, atol=1e-5)
    assert out["library_difference"] < 1e-5
    assert np.all(out["regret"] <= out["bound"] + 1e-5)
