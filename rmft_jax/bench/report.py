"""Reporting a ``rmft bench`` result: the Markdown table and the cost-curve figure, from the saved dict only."""

from __future__ import annotations

import numpy as np

from rmft_jax.results import save_figure


def markdown(r: dict) -> str:
    """The headline table (and the cost-curve exponents, when measured) as Markdown."""
    m, b, tf, it = r["machine"], r["baselines"], r["transformer"], r["iteration"]
    sp = it["split"]
    long = r["memory"]["long_run"]
    pol = lambda d: ", ".join(f"{k} {v:.1f}x" for k, v in d.items())  # noqa: E731
    rows = [
        ("baseline_vs_numpy", f"{r['baseline_vs_numpy']:.1f}x",
         f"min over policies ({pol(b['baseline_vs_numpy_by_policy'])}); {r['sizes']['base_runs']} runs, "
         f"T = {r['sizes']['base_horizon']}"
         + (f"; bound from drawing the random numbers alone: {pol(b['ratio_bound_by_policy'])}"
            if "ratio_bound_by_policy" in b else "")),
        ("baseline_vs_numpy_small", f"{r['baseline_vs_numpy_small']:.1f}x",
         f"min over policies ({pol(b['baseline_vs_numpy_small_by_policy'])}); {r['sizes']['base_runs_small']} runs"),
        ("decode_vs_recompute", f"{r['decode_vs_recompute']:.1f}x",
         f"T = {tf['horizon']}, rollout-steps/s, {tf['decode']['runs']} vs {tf['recompute']['runs']} rollouts"),
        ("transformer_vs_numpy", f"{r['transformer_vs_numpy']:.1f}x",
         f"same incremental algorithm, {tf['numpy']['runs']} rollouts; caches "
         f"{', '.join(str(n) for _, n in tf['decode'].get('segments', []))}, tiles of "
         f"{tf['decode'].get('batch_tile') or 'all'}"
         + (f"; {tf['segments_vs_one_cache']:.2f}x one cache of T slots" if tf.get("segments_vs_one_cache") else "")
         + (f", {tf['layout_vs_one_cache_untiled']:.2f}x one cache and the batch at once"
            if tf.get("layout_vs_one_cache_untiled") else "")),
        ("fraction_of_matmul_peak", f"{r['fraction_of_matmul_peak']:.3f}",
         f"{tf['achieved_flops_per_s'] / 1e9:.2f} of {tf['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s "
         f"({tf['matmul_n']}² matmul)"),
        *([(f"throughput at {r['scale']['runs']} rollouts",
            f"{r['scale']['transformer']['plain']['steps_per_s']:,.0f}",
            f"Transformer rollout-steps/s (UCB {r['scale']['ucb']['plain']['steps_per_s']:,.0f}); sharded over "
            f"{r['scale']['devices']} device(s) / plain: Transformer "
            f"{r['scale']['transformer']['sharded_vs_plain']:.2f}x, UCB {r['scale']['ucb']['sharded_vs_plain']:.2f}x")]
          if r.get("scale") and "skipped" not in r["scale"] else []),
        ("recompiles", str(r["recompiles"]), it["recompile_check"] + f"; {long['iterations']}-iteration run"),
        ("iteration (s)", f"{sp['iteration_s']:.3f}",
         f"{it['config']}: rollout {sp['rollout_s']:.3f} + selection {sp['selection_s']:.4f} + SFT {sp['sft_s']:.3f}"
         if "rollout_s" in sp else f"{it['config']} (split measured in full mode)"),
        ("compile (s)", f"{sum(r['compile_s'].values()):.1f}",
         ", ".join(f"{k} {v:.1f}" for k, v in r["compile_s"].items())),
        ("peak RSS (MiB)", f"{r['memory']['peak_rss_mb']:.0f}",
         f"RSS growth over iterations {long['rss_mb'][0]['iteration']}–{long['iterations']}: "
         f"{long['rss_growth_mb']:+.1f} MiB"),
    ]
    lines = [
        f"`{r['command']}` on {m['cpu']} ({m['cpu_count']} cores, {m['backend']}; load average "
        f"{m['load_avg_1min']:.1f} at the end), total {r['total_s']:.0f} s"
        + (f"; generator {r['versions']['rng']}" if r.get("versions", {}).get("rng") else ""),
        "",
        "| quantity | value | notes |",
        "| --- | ---: | --- |",
    ] + [f"| {a} | {v} | {n} |" for a, v, n in rows]
    if r.get("generators"):
        lines += ["", *generator_table(r["generators"])]
    if r.get("processes"):
        lines += ["", *process_table(r["processes"])]
    if r.get("cost_curves"):
        lines += ["", "| cost of | against | points | seconds | log-log exponent | quadratic share at the largest T |",
                  "| --- | --- | --- | --- | ---: | ---: |"]
        for c in r["cost_curves"]["curves"]:
            lq = c.get("linear_quadratic")
            lines.append(
                f"| {c['what']} | {c['axis']} | {', '.join(map(str, c['x']))} | "
                f"{', '.join(f'{s:.3g}' for s in c['seconds'])} | {c['exponent']:.2f} | "
                f"{'' if lq is None else format(lq['quadratic_share'], '.2f')} |"
            )
    return "\n".join(lines) + "\n"


def generator_table(g: dict) -> list[str]:
    """The generator table's Markdown lines (from :func:`rmft_jax.bench.generators.bench_generators`)."""
    s = g["sizes"]
    lines = [
        f"Generators (the bulk draws in ns per number: normals ({s['runs']}, {s['horizon']}, {s['arms']}), "
        f"uniforms ({s['runs']}, {s['horizon']}), Gumbel ({s['tf_runs']}, {s['tf_horizon']}, {s['arms']}), one key "
        f"per run; baseline_vs_numpy: min over UCB and Thompson at {s['runs']} / {s['runs_small']} runs, T = "
        f"{s['horizon']}, against one NumPy time per repeat; fastest correct: **{g['fastest']}**)",
        "",
        "| generator | vmap = loop | normal | uniform | Gumbel | compile (s) | baseline_vs_numpy | _small | bound | "
        "vs threefry2x32 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in g["generators"].items():
        if "draws" not in row:
            lines.append(f"| {name} (not offered: {row.get('why_not', '')}) | "
                         f"{'yes' if row['vmap_equals_loop'] else 'no (not timed)'} | | | | | | | | |")
            continue
        d = row["draws"]
        compile_s = sum(x["compile_s"] for x in d.values()) + sum(
            sum(r["compile_s"].values()) for r in g["rows"] if r["generator"] == name)
        vs = (g.get("vs_default") or {}).get(name)
        label = name if row["offered"] else f"{name} (not offered: {row.get('why_not', '')})"
        lines.append(
            f"| {label} | yes | {d['normal']['ns_per_number']:.2f} | "
            f"{d['uniform']['ns_per_number']:.2f} | {d['categorical_gumbel']['ns_per_number']:.2f} | {compile_s:.1f} | "
            f"{row['baseline_vs_numpy']:.1f}x | {row['baseline_vs_numpy_small']:.1f}x | {row['ratio_bound']:.1f}x | "
            f"{'' if vs is None else format(vs, '.2f') + 'x'} |"
        )
    if g.get("sharded"):
        lines += ["", *sharded_table(g)]
    return lines


def sharded_table(g: dict) -> list[str]:
    """The generator table's sharded column (:mod:`rmft_jax.bench.generator_sharding`) as Markdown lines."""
    s = g["sharded"]
    gens = g["generators"]
    default = (gens.get("threefry2x32") or {}).get("sharded")
    yes = lambda b: "yes" if b else "**no**"  # noqa: E731
    lines = [
        f"Sharded over {s['devices']} CPU devices (one child process; {s['runs']} runs, T = {s['horizon']}, K = "
        f"{s['arms']}; load average {s['load_avg_1min_before']:.1f} → {s['load_avg_1min_after']:.1f}). Speed-up: "
        f"one-device time / sharded time, interleaved in that process (on a CPU the devices share the cores, and "
        f"one device's draw already uses several). One-key draw: as many normals from one key, the output split "
        f"over the devices. Per device: the sharded program's largest uint32 array and XLA's bytes accessed as "
        f"fractions of the one-device program's (1/{s['devices']}: each device draws its part; 1: each device "
        f"generates the whole array). Sharded, threefry2x32 / this: the default's sharded time over this one's",
        "",
        "| generator | normals (per-run keys) | UCB | Thompson | one-key draw | per device: normals; one-key "
        "(uint32, bytes) | sharded, threefry2x32 / this (normals, UCB, Thompson) | same numbers as one device |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for name, row in gens.items():
        sh = row.get("sharded")
        if sh is None:
            continue
        if "compiles_sharded" in sh:
            lines.append(f"| {name} (not offered) | {'compiles' if sh['compiles_sharded'] else 'does not compile'} "
                         f"sharded{': ' + sh['error'] if sh.get('error') else ''} | | | | | | |")
            continue
        kinds = ("normal", "one_key", *(p for p in ("ucb", "thompson") if p in sh))
        ok = all(sh[k]["equal"] for k in kinds)
        pol = lambda p: f"{sh[p]['speedup']:.2f}x" if p in sh else ""  # noqa: E731
        work = lambda k: f"{sh[k]['u32_fraction']:.2f}, {sh[k]['bytes_fraction']:.2f}"  # noqa: E731
        vs = "" if default is None else ", ".join(
            f"{default[k]['sharded_s'] / sh[k]['sharded_s']:.2f}x" for k in ("normal", "ucb", "thompson")
            if k in sh and k in default)
        lines.append(
            f"| {name} | {sh['normal']['speedup']:.2f}x | {pol('ucb')} | {pol('thompson')} | "
            f"{sh['one_key']['speedup']:.2f}x | {work('normal')}; {work('one_key')} | {vs} | {yes(ok)} |"
        )
    return lines


def process_table(res: dict) -> list[str]:
    """The process-scaling table (:mod:`rmft_jax.bench.processes`) as Markdown lines."""
    lines = [
        f"Processes × CPU devices ({res['recipe']}, data-parallel over every device of the job; every layout "
        f"shares this host's {res['cpus']} cores, so the rows show how well each split uses them and what "
        f"crossing processes costs, not scaling over added hardware)",
        "",
        "| processes × devices | rollouts/s | iterations/s | iteration (median) | compile (rollout, iteration) | "
        "load average |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in res["layouts"]:
        lines.append(
            f"| {r['processes']} × {r['devices_per_process']} | {r['rollouts_per_s']:,.0f} "
            f"| {r['iterations_per_s']:.3f} | {r['iteration_s_median']:.3f} s "
            f"| {r['rollout_compile_s']:.1f} s, {r['iteration_compile_s']:.1f} s "
            f"| {r['load_avg_1min_before']:.1f} → {r['load_avg_1min_after']:.1f} |"
        )
    s = res.get("sft")
    if s:
        xla = "n/a" if s["xla_vs_analytic"] is None else f"{s['xla_vs_analytic']:.2f}x"
        lines += [
            "",
            f"SFT step ({s['sft_steps']} steps, batch {s['batch']}, T = {s['horizon']}, one device): "
            f"{s['sft_s']:.3f} s, {s['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s analytic (XLA's count, its loop "
            f"body once times the steps: {xla} the analytic FLOPs) of {s['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s "
            f"({s['matmul_n']}² matmul): fraction **{s['fraction_of_matmul_peak']:.3f}** (load average "
            f"{s['load_avg_1min_before']:.1f} → {s['load_avg_1min_after']:.1f})",
        ]
    return lines


def plot_cost_curves(results: dict, paths) -> None:
    """Draw the cost curves (log-log, one panel per cost) from a saved ``rmft bench`` result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = results["cost_curves"]["curves"]
    whats = list(dict.fromkeys(c["what"] for c in curves))
    fig, axes = plt.subplots(1, len(whats), figsize=(5 * len(whats), 4))
    for ax, what in zip(np.atleast_1d(axes), whats):
        for c in (c for c in curves if c["what"] == what):
            x = np.asarray(c["x"], float)
            y = np.asarray(c["seconds"], float)
            ax.loglog(x / x[0], y, "o-", label=f"{c['axis']} (slope {c['exponent']:.2f})")
        ax.set_title(what.replace("_", " "))
        ax.set_xlabel("size / smallest size")
        ax.set_ylabel("seconds per call")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(f"Cost curves ({m['cpu']}, {m['cpu_count']} cores, {m['backend']})", fontsize=10)
    fig.tight_layout()
    for p in paths:
        save_figure(fig, p, dpi=120)
