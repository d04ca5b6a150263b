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


@pytest.mark.figures  # the whole quick bench (about 40 s): the figures tier, which CI runs after the default one
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


@pytest.mark.figures
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


# --- the process-scaling table (rmft_jax.bench.processes) -------------------------------------

TINY = {  # the smallest RMFT recipe: the table's plumbing, not its numbers
    "env": {"name": "mab", "arms": 3, "horizon": 6, "noise": 0.5},
    "model": {"layers": 1, "heads": 1, "width": 8},
    "rmft": {"tasks": 4, "rollouts": 4, "keep": 2, "iterations": 4, "sft_steps": 2},
    "seed": 0,
}


@pytest.mark.parametrize("flags, message", [
    (["--processes", "yes", "--process-layouts", "1x0"], "process_layouts: must be a comma-separated list of PxD"),
    (["--processes", "yes", "--process-layouts", "1x1,x2"], "process_layouts: must be a comma-separated list"),
    (["--processes", "yes", "--process-layouts", "2x1,2x1"], "process_layouts: must not repeat a layout"),
    (["--process-layouts", "2x1"], "process_layouts: needs the process-scaling table"),  # quick mode: no table
    (["--processes", "no", "--process-layouts", "2x1"], "process_layouts: needs the process-scaling table"),
    (["--processes", "maybe"], "argument --processes: invalid choice: 'maybe'"),
])
def test_process_flags_are_refused_in_one_line_before_any_work(tmp_path, capsys, flags, message):
    out = tmp_path / "b.json"
    try:
        code = main(["bench", "--quick", "--out", str(out), *flags])
    except SystemExit as e:  # argparse's own refusal
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"rmft: error: {message}") and err.count("\n") == 1, err
    assert not out.exists() and not out.with_suffix(".md").exists()


def test_a_job_returns_process_0s_result_and_a_failed_job_raises(monkeypatch):
    # Two processes joined in one job (each sees both): process 0's result comes back.
    assert bench.run_job("rmft_jax.distributed:process_count", {}, processes=2) == 2
    # The launcher's codes (it has already stopped the processes): a failure, and Ctrl-C.
    from rmft_jax import distributed

    monkeypatch.setattr(distributed, "launch_local", lambda *a, **k: 3)
    with pytest.raises(RuntimeError, match=r"^bench job m:f on 2 process\(es\) x 1 device\(s\): exited with code 3"):
        bench.run_job("m:f", {}, processes=2)
    monkeypatch.setattr(distributed, "launch_local", lambda *a, **k: 130)
    with pytest.raises(KeyboardInterrupt):
        bench.run_job("m:f", {})


@pytest.mark.figures  # four jobs compiling a tiny recipe: ~40 s on the 2-core machine
def test_process_table_has_a_row_per_layout_with_positive_rates(monkeypatch):
    from rmft_jax.bench.report import process_table

    # The jobs inherit the environment: XLA's cheaper code generation halves their compile time.
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
    layouts = ((1, 1), (1, 2), (2, 1))
    res = bench.bench_processes(TINY, "tiny", layouts, iterations=1, repeats=1, matmul_n=64)
    assert [(r["processes"], r["devices_per_process"]) for r in res["layouts"]] == list(layouts)
    for r in res["layouts"]:
        assert r["devices"] == r["processes"] * r["devices_per_process"] and r["rollouts"] == 16
        assert r["rollouts_per_s"] > 0 and r["iterations_per_s"] > 0 and r["load_avg_1min_before"] >= 0
    assert 0 < res["sft"]["fraction_of_matmul_peak"] and res["sft"]["flops_analytic"] > 0
    lines = process_table(res)
    rows = [line for line in lines if line.startswith("| ") and line[2].isdigit()]
    assert [row.split(" | ")[0] for row in rows] == ["| 1 × 1", "| 1 × 2", "| 2 × 1"]
    assert any(line.startswith("SFT step (2 steps") for line in lines)
