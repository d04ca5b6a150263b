"""Throughput against processes and devices, and the SFT step's FLOP rate against a matmul's.

    python benchmarks/process_scaling.py [--quick] [--iterations N] [--layouts 1x1,1x2,2x1,2x2] [--out FILE.json]

For each layout ``PxD`` (``P`` processes on this host, ``D`` CPU devices each, one job on
JAX's distributed runtime through :func:`rmft_jax.distributed.launch_local`), one worker
job measures on the Figure 2 recipe (:data:`rmft_jax.experiments.fig2.TRAIN`; ``--quick``:
``QUICK_TRAIN``), data-parallel over the ``P·D`` devices (:mod:`rmft_jax.sharding`):

* ``rollouts_per_s``: the iteration's rollout stage (``M`` instances from the prior, ``L``
  rollouts each, exact regret, the mean regret reduced across devices), ``M·L`` over the
  best of ``--repeats`` calls;
* ``iterations_per_s``: whole RMFT iterations (rollouts, selection, SFT with the gradient
  all-reduce), one over the median of ``--iterations`` timed iterations;

each after a compilation timed apart (``compile_s``). Process 0 reports. Then, in this
process on one device, the SFT step alone: its matrix-product FLOPs counted analytically
(forward ``B·T`` tokens at :func:`rmft_jax.bench.decode_step_flops` with all ``T`` slots
attended, as teacher forcing computes the masked ``T × T`` scores; backward twice the
forward: ``3×``) over its time, as a fraction of the rate of a large ``jnp.dot`` measured
right after (:func:`rmft_jax.bench.matmul_rate`, what ``rmft bench``'s
``fraction_of_matmul_peak`` of the decode rollout divides by); XLA's own FLOP count of
the compiled step is reported beside the analytic one.

Every layout shares the host's cores, so on a CPU more devices or processes split the
same cores: the table shows the cost of the split (and of gloo's collectives), not a
speed-up; on a host with one accelerator per process it would be the scaling.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = "--worker"


def _layouts(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        p, x, d = item.strip().partition("x")
        if not x or not p.isdigit() or not d.isdigit() or int(p) < 1 or int(d) < 1:
            raise SystemExit(f"layouts: must be a comma-separated list of PxD, e.g. 1x1,2x1 (got {item!r})")
        out.append((int(p), int(d)))
    return out


def worker(result: str, quick: bool, iterations: int, repeats: int) -> None:
    """One layout's measurement; run in every process of the job (process 0 writes ``result``)."""
    from rmft_jax import distributed

    if os.environ.get(distributed.NUM_PROCESSES_VAR):
        distributed.initialize()
    import functools

    import jax
    import jax.numpy as jnp

    from rmft_jax import rmft, sharding
    from rmft_jax.bench import compile_timed, time_best
    from rmft_jax.config import TrainConfig
    from rmft_jax.experiments import fig2
    from rmft_jax.training import build_learner, iteration_key

    tcfg = TrainConfig.from_dict(fig2.QUICK_TRAIN if quick else fig2.TRAIN)
    env, cfg = tcfg.environment, tcfg.rmft
    learner = build_learner(tcfg)
    mesh = sharding.resolve_mesh(None)
    shard = (lambda tree: tree) if mesh is None else functools.partial(sharding.constrain_batch, mesh=mesh)

    def rollout_stage(params, key):
        k_task, k_roll = jax.random.split(key)
        traj = rmft.roll_out(env, cfg, learner.policy, params, k_task, k_roll, shard)[1]
        return traj, jnp.mean(traj.regret[..., -1])

    rep = None if mesh is None else sharding.replicated(mesh)
    roll = jax.jit(rollout_stage) if mesh is None else jax.jit(rollout_stage, in_shardings=(rep, rep))
    params = learner.base_params if mesh is None else jax.device_put(learner.base_params, rep)
    keys = iter(jax.random.split(jax.random.key(7), repeats + 2))
    roll_c, roll_compile = compile_timed(roll, params, next(keys))
    jax.block_until_ready(roll_c(params, next(keys)))
    roll_s = time_best(lambda: roll_c(params, next(keys)), repeats)

    state = sharding.place_state(rmft.init_state(env, cfg, learner))
    step = sharding.make_iteration(env, cfg, learner)
    key = iteration_key(tcfg)
    step_c, step_compile = compile_timed(step, state, key, learner.base_params)
    state, m = jax.block_until_ready(step_c(state, key, learner.base_params))  # warm-up
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        state, m = step_c(state, key, learner.base_params)
        jax.device_get(m)  # replicated metrics: every process has finished its part of the iteration
        times.append(time.perf_counter() - t0)
    if distributed.is_primary():
        rollouts = cfg.tasks * cfg.rollouts
        Path(result).write_text(json.dumps({
            "processes": jax.process_count(), "devices": jax.device_count(),
            "devices_per_process": jax.local_device_count(),
            "rollouts": rollouts, "horizon": env.horizon,
            "rollout_s": roll_s, "rollouts_per_s": rollouts / roll_s, "rollout_compile_s": roll_compile,
            "iteration_s_median": statistics.median(times), "iteration_s_best": min(times),
            "iterations_per_s": 1 / statistics.median(times), "iteration_compile_s": step_compile,
            "iterations_timed": iterations,
        }))


def run_layout(processes: int, devices: int, quick: bool, iterations: int, repeats: int) -> dict:
    from rmft_jax import distributed

    with tempfile.TemporaryDirectory(prefix="rmft-scaling-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, os.path.abspath(__file__), WORKER, str(result), str(int(quick)), str(iterations),
               str(repeats)]
        flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
        env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
        t0 = time.perf_counter()
        if processes == 1:
            code = subprocess.run(cmd, env=env).returncode
        else:
            code = distributed.launch_local(cmd, processes, env=env)
        if code != 0:
            raise SystemExit(f"layout {processes}x{devices}: the worker job exited with {code}")
        out = json.loads(result.read_text())
        out["job_wall_s"] = time.perf_counter() - t0
        return out


def sft_fraction(quick: bool, repeats: int, matmul_n: int) -> dict:
    """The SFT step's analytic matmul FLOP rate over a measured ``matmul_n²`` matmul rate (one device)."""
    import jax

    from rmft_jax import rmft
    from rmft_jax.bench import compile_timed, decode_step_flops, iteration_parts, matmul_rate, time_best
    from rmft_jax.config import TrainConfig
    from rmft_jax.experiments import fig2
    from rmft_jax.training import build_learner

    tcfg = TrainConfig.from_dict(fig2.QUICK_TRAIN if quick else fig2.TRAIN)
    env, cfg, mcfg = tcfg.environment, tcfg.rmft, tcfg.transformer
    learner = build_learner(tcfg)
    state = rmft.init_state(env, cfg, learner)
    key = jax.random.key(1)
    rollout_part, select_part, sft_part = iteration_parts(env, cfg, learner)
    buffer = select_part(rollout_part(state.params, key), state.buffer, state.iteration)
    sft_c, compile_s = compile_timed(sft_part, state.params, state.opt_state, buffer, key)
    jax.block_until_ready(sft_c(state.params, state.opt_state, buffer, key))
    sft_s = time_best(lambda: sft_c(state.params, state.opt_state, buffer, key), repeats)
    batch = cfg.batch_size or cfg.buffer_size
    T = env.horizon
    flops = cfg.sft_steps * 3 * batch * T * decode_step_flops(mcfg, T)
    peak = matmul_rate(matmul_n, repeats + 2)
    try:
        analysis = sft_c.cost_analysis()
        analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
        xla_flops = float(analysis.get("flops", float("nan")))
    except Exception:  # not every backend reports a cost analysis
        xla_flops = None
    return {
        "sft_steps": cfg.sft_steps, "batch": batch, "horizon": T, "sft_s": sft_s, "sft_compile_s": compile_s,
        "flops_analytic": flops, "flops_xla": xla_flops,
        # XLA's cost analysis counts a loop's body once: the SFT scan's one step, times the steps.
        "xla_vs_analytic": None if xla_flops is None else xla_flops * cfg.sft_steps / flops,
        "achieved_flops_per_s": flops / sft_s,
        "matmul_n": matmul_n, "matmul_flops_per_s": peak, "fraction_of_matmul_peak": flops / sft_s / peak,
    }


def table(res: dict) -> str:
    lines = ["| processes × devices | rollouts/s | iterations/s | iteration (median) | compile (rollout, iteration) |",
             "|---|---|---|---|---|"]
    for r in res["layouts"]:
        lines.append(
            f"| {r['processes']} × {r['devices_per_process']} | {r['rollouts_per_s']:,.0f} "
            f"| {r['iterations_per_s']:.3f} "
            f"| {r['iteration_s_median']:.3f} s | {r['rollout_compile_s']:.1f} s, {r['iteration_compile_s']:.1f} s |"
        )
    s = res.get("sft")
    if s:
        lines.append("")
        lines.append(
            f"SFT step ({s['sft_steps']} steps, batch {s['batch']}, T = {s['horizon']}): {s['sft_s']:.3f} s, "
            f"{s['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s analytic (XLA's count, its loop body once "
            f"times the steps: {s['xla_vs_analytic'] or float('nan'):.2f}× the analytic FLOPs) "
            f"of {s['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s ({s['matmul_n']}² matmul): "
            f"fraction {s['fraction_of_matmul_peak']:.3f}"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fig2.QUICK_TRAIN and a 256² matmul (a smoke test)")
    parser.add_argument("--layouts", default="1x1,1x2,2x1,2x2", help="PxD: P processes of D CPU devices each")
    parser.add_argument("--iterations", type=int, default=5, help="timed RMFT iterations per layout")
    parser.add_argument("--repeats", type=int, default=3, help="timed rollout calls per layout (best is kept)")
    parser.add_argument("--no-sft", action="store_true", help="skip the SFT FLOP-rate measurement")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file (refused if it exists)")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.repeats < 1:
        raise SystemExit("iterations, repeats: must be integers >= 1")
    from rmft_jax.results import check_writable, save_json, versions

    if args.out:
        check_writable(args.out)
    res = {"recipe": "fig2.QUICK_TRAIN" if args.quick else "fig2.TRAIN", "load_average_before": os.getloadavg(),
           "cpus": os.cpu_count(), "layouts": []}
    for p, d in _layouts(args.layouts):
        res["layouts"].append(run_layout(p, d, args.quick, args.iterations, args.repeats))
        print(f"{p}x{d}: {json.dumps(res['layouts'][-1])}", file=sys.stderr)
    if not args.no_sft:
        res["sft"] = sft_fraction(args.quick, args.repeats, 256 if args.quick else 2048)
    res["load_average_after"] = os.getloadavg()
    res["versions"] = versions()
    print(table(res))
    if args.out:
        save_json(args.out, res)
    return res


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER:
        worker(sys.argv[2], bool(int(sys.argv[3])), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
