"""The whole ``rmft bench`` run: every measurement, as one JSON-ready dict."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from rmft_jax.bench.baselines import bench_baselines
from rmft_jax.bench.curves import cost_curves
from rmft_jax.bench.generators import bench_generators
from rmft_jax.bench.iteration import bench_iteration, bench_long_run
from rmft_jax.bench.processes import LAYOUTS, bench_processes
from rmft_jax.bench.scale import bench_scale
from rmft_jax.bench.sizes import FULL, QUICK
from rmft_jax.bench.timing import device_memory, machine, peak_rss_mb
from rmft_jax.bench.transformer import bench_transformer
from rmft_jax.experiments import fig2


def run_all(quick: bool = False, curves: bool | None = None, log: Callable[[str], None] = lambda s: None,
            generators: bool | None = None, processes: bool | None = None, process_layouts=LAYOUTS) -> dict:
    """Every measurement of one ``rmft bench`` run, as a JSON-ready dict (``curves``, ``generators`` and
    ``processes``: ``None`` measures them in full mode only; ``process_layouts``: the ``(processes, devices)``
    pairs of the process-scaling table)."""
    sizes = QUICK if quick else FULL
    t0 = time.perf_counter()
    log("baselines vs NumPy")
    base = bench_baselines(sizes)
    generators = sizes.generators if generators is None else generators
    if generators:
        log("generators")
    gens = bench_generators(sizes) if generators else None
    log("Transformer rollouts")
    tf = bench_transformer(sizes)
    log(f"throughput at {sizes.scale_runs} rollouts")
    scale = bench_scale(sizes, quick)
    log("RMFT iteration")
    it = bench_iteration(sizes)
    tcfg, *reuse = it.pop("_reuse")
    log("long run (memory)")
    long = bench_long_run(sizes, reuse if sizes.quick_train else None)
    curves = sizes.curves if curves is None else curves
    if curves:
        log("cost curves")
    cc = cost_curves(quick) if curves else None
    processes = sizes.processes if processes is None else processes
    procs = None
    if processes:
        recipe = "fig2.QUICK_TRAIN" if sizes.quick_train else "fig2.TRAIN"
        procs = bench_processes(fig2.QUICK_TRAIN if sizes.quick_train else fig2.TRAIN, recipe, process_layouts,
                                sizes.proc_iterations, sizes.proc_repeats, sizes.matmul_n, log=log)
    compile_s = {f"run_{r['policy']}_{r['num_runs']}": r["compile_s"] for r in base["rows"]}
    compile_s["run_transformer_decode"] = tf["decode"]["compile_s"]
    compile_s["run_transformer_recompute"] = tf["recompute"]["compile_s"]
    compile_s.update(it["compile_s"])
    return {
        "benchmark": "rmft bench",
        "mode": "quick" if quick else "full",
        "command": "rmft bench" + (" --quick" if quick else ""),
        "machine": machine(),
        "sizes": dataclasses.asdict(sizes),
        "baseline_vs_numpy": base["baseline_vs_numpy"],
        "baseline_vs_numpy_small": base["baseline_vs_numpy_small"],
        "decode_vs_recompute": tf["decode_vs_recompute"],
        "transformer_vs_numpy": tf["transformer_vs_numpy"],
        "fraction_of_matmul_peak": tf["fraction_of_matmul_peak"],
        "recompiles": it["recompiles"] + long["compiles_during_run"],
        "baselines": base,
        "generators": gens,
        "transformer": tf,
        "scale": scale,
        "iteration": it,
        "compile_s": compile_s,
        "memory": {"peak_rss_mb": peak_rss_mb(), "device": device_memory(), "long_run": long},
        "cost_curves": cc,
        "processes": procs,
        "total_s": time.perf_counter() - t0,
    }
