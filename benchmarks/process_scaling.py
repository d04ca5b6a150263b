"""The process-scaling table (throughput per processes x devices, SFT FLOP rate), a thin wrapper of rmft_jax.bench.

    python benchmarks/process_scaling.py [--quick] [--iterations N] [--repeats N] [--layouts 1x1,1x2,2x1,2x2]
                                         [--no-sft] [--out FILE.json]

The measurement lives in :func:`rmft_jax.bench.bench_processes` (:mod:`rmft_jax.bench.processes`;
``rmft bench`` runs it with everything else in full mode, or with ``--processes yes``); this
script runs only that part, on the Figure 2 recipe (``--quick``: ``fig2.QUICK_TRAIN`` and a
256² matmul), and prints its table.
"""

from __future__ import annotations

import argparse
import os
import sys

from rmft_jax import bench
from rmft_jax.bench.report import process_table
from rmft_jax.experiments import fig2
from rmft_jax.results import check_writable, save_json


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
        parser.error("iterations, repeats: must be integers >= 1")
    try:
        layouts = bench.parse_layouts(args.layouts, field="layouts")
    except ValueError as e:
        parser.error(str(e))
    if args.out:
        check_writable(args.out)
    res = bench.bench_processes(
        fig2.QUICK_TRAIN if args.quick else fig2.TRAIN, "fig2.QUICK_TRAIN" if args.quick else "fig2.TRAIN", layouts,
        args.iterations, args.repeats, 256 if args.quick else 2048, sft=not args.no_sft,
        log=lambda s: print(f"{s} ...", flush=True, file=sys.stderr),
    )
    res["load_average_end"] = os.getloadavg()
    print("\n".join(process_table(res)))
    if args.out:
        save_json(args.out, res)
    return res


if __name__ == "__main__":
    main()
