"""``rmft bench``: the quick run writes every headline key, and nothing recompiles after warm-up."""

from __future__ import annotations

import json

import pytest

from rmft_jax import bench
from rmft_jax.cli import main

KEYS = (
    "baseline_vs_numpy",
    "baseline_vs_numpy_small",
    "decode_vs_recompute",
    "transformer_vs_numpy",
    "fraction_of_matmul_peak",
    "recompiles",
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    return out


def test_quick_bench_writes_the_headline_keys(quick):
    res = json.loads(quick.read_text())
    for key in KEYS:
        assert isinstance(res[key], (int, float)), key
    assert res["recompiles"] == 0
    assert res["memory"]["long_run"]["compiles_during_run"] == 0
    for key in ("baseline_vs_numpy", "decode_vs_recompute", "transformer_vs_numpy", "fraction_of_matmul_peak"):
        assert res[key] > 0
    assert set(res["compile_s"]) >= {"run_transformer_decode", "iteration", "evaluate_model"}
    assert res["memory"]["peak_rss_mb"] > 0 and "versions" in res
    assert quick.with_suffix(".md").read_text().count("| baseline_vs_numpy |") == 1
    # The 2^16-rollout measurement runs its code path at a small size in quick mode.
    scale = res["scale"]
    assert scale["runs"] == bench.QUICK.scale_runs
    for name in ("transformer", "ucb"):
        assert scale[name]["plain"]["steps_per_s"] > 0 and scale[name]["sharded_vs_plain"] > 0


def test_existing_output_is_refused_without_overwrite(quick, capsys):
    assert main(["bench", "--quick", "--out", str(quick)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_count_compiles_sees_a_new_shape_and_not_a_cached_one():
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x: x * 2 + 1)
    f(jnp.ones(3))
    with bench.count_compiles() as n:
        f(jnp.zeros(3))
    assert n[0] == 0
    with bench.count_compiles() as n:
        f(jnp.ones(5))
    assert n[0] == 1


def test_exponents_and_the_plot_come_from_saved_results(tmp_path):
    assert bench.loglog_exponent([1, 2, 4], [3, 6, 12]) == pytest.approx(1.0)
    assert bench.loglog_exponent([1, 2, 4], [1, 4, 16]) == pytest.approx(2.0)
    curves = [
        {"what": w, "axis": "horizon", "x": [1, 2], "seconds": [1.0, 2.0], "exponent": 1.0}
        for w in ("baseline_rollout", "iteration")
    ]
    res = {"cost_curves": {"curves": curves}, "machine": {"cpu": "x", "cpu_count": 2, "backend": "cpu"}}
    paths = [tmp_path / "c.png", tmp_path / "c.pdf"]
    bench.plot_cost_curves(res, paths)
    assert all(p.stat().st_size > 0 for p in paths)


def test_linear_quadratic_fit_recovers_its_coefficients_and_share():
    xs = [25, 50, 100, 200, 400]
    ys = [0.01 + 2e-3 * x + 1e-5 * x * x for x in xs]
    fit = bench.linear_quadratic_fit(xs, ys)
    assert fit["linear"] == pytest.approx(2e-3, rel=1e-6)
    assert fit["quadratic"] == pytest.approx(1e-5, rel=1e-6)
    assert fit["quadratic_share"] == pytest.approx(1.6 / (0.01 + 0.8 + 1.6), rel=1e-6)
    # A purely linear cost has no quadratic part (the fit is constrained to be non-negative).
    assert bench.linear_quadratic_fit(xs, [3e-3 * x for x in xs])["quadratic_share"] == pytest.approx(0.0, abs=1e-12)


def test_attended_slots_counts_each_segment_cache():
    # One cache: every step attends over all T slots. In segments (T = 100, first 32, growth 1.5) rounds
    # [0, 31) use 32 slots, [31, 47) 48, [47, 71) 72 and [71, 100) 100.
    assert bench.attended_slots(100, 0) == 100
    assert bench.attended_slots(100, 32) == pytest.approx((31 * 32 + 16 * 48 + 24 * 72 + 29 * 100) / 100)
