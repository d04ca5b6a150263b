"""``rmft bench``: the speed benchmark (ratios against NumPy and the machine; see :mod:`rmft_jax.bench`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rmft_jax import generator


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure speed: JAX vs NumPy, decode vs recompute, compile, memory, recompiles")
    p.add_argument("--quick", action="store_true", help="small sizes, no cost curves (a smoke test, well under a minute)")
    p.add_argument("--out", default="bench.json", help="results JSON (default bench.json); the table goes next to it (.md)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--curves", choices=("auto", "yes", "no"), default="auto",
                   help="measure the cost curves (auto: in full mode only)")
    p.add_argument("--generators", choices=("auto", "yes", "no"), default="auto",
                   help="measure the generator table and its sharded column (auto: in full mode only; a minute or "
                        "two more in quick mode)")
    p.add_argument("--processes", choices=("auto", "yes", "no"), default="auto",
                   help="measure the process-scaling table: rollouts/s and RMFT iterations/s per processes x devices "
                        "(child jobs; auto: in full mode only; a minute or more in quick mode)")
    p.add_argument("--process-layouts", default=None, metavar="PxD,...",
                   help="the layouts of the process-scaling table: P local processes of D CPU devices each "
                        "(default 1x1,1x2,2x1,2x2; needs the table)")
    p.add_argument("--figure", default=None, metavar="STEM",
                   help="draw the cost curves to STEM.png/.pdf (needs curves; e.g. figures/cost_curves)")
    p.add_argument("--rng", choices=tuple(generator.GENERATORS), default=None,
                   help="the random generator of the headline rows (rmft_jax.generator; default threefry2x32; "
                        "the generator table measures every one)")
    p.set_defaults(func=run)


def _command(args: argparse.Namespace) -> str:
    """The measuring flags of this run, as a command line (for the table's heading)."""
    words = ["rmft bench"] + (["--quick"] if args.quick else [])
    for flag in ("curves", "generators", "processes"):
        if getattr(args, flag) != "auto":
            words.append(f"--{flag} {getattr(args, flag)}")
    if args.process_layouts is not None:
        words.append(f"--process-layouts {args.process_layouts}")
    if args.rng is not None:
        words.append(f"--rng {args.rng}")
    return " ".join(words)


def run(args: argparse.Namespace) -> int:
    from rmft_jax import bench, results

    out = Path(args.out)
    md = out.with_suffix(".md")
    if md == out:
        raise ValueError(f"out: must not end in .md (the table goes to a .md file next to it; got {args.out!r})")
    results.check_writable(out, args.overwrite)
    results.check_writable(md, args.overwrite)
    curves = {"auto": None, "yes": True, "no": False}[args.curves]
    if args.figure:  # checked before any work: the figure needs the cost curves and a writable place
        if not (curves or (curves is None and not args.quick)):
            raise ValueError("figure: needs the cost curves (full mode, or --curves yes)")
        stem = Path(args.figure)
        for p in (stem.with_suffix(".png"), stem.with_suffix(".pdf")):
            results.check_writable(p, args.overwrite, field="figure")
    processes = {"auto": None, "yes": True, "no": False}[args.processes]
    layouts = bench.LAYOUTS
    if args.process_layouts is not None:
        layouts = bench.parse_layouts(args.process_layouts)
        if not (processes or (processes is None and not args.quick)):
            raise ValueError("process_layouts: needs the process-scaling table (full mode, or --processes yes)")
    if args.rng is not None:
        generator.use(args.rng)
    log = lambda s: print(f"rmft bench: {s} ...", file=sys.stderr, flush=True)  # noqa: E731
    generators = {"auto": None, "yes": True, "no": False}[args.generators]
    res = bench.run_all(quick=args.quick, curves=curves, log=log, generators=generators, processes=processes,
                        process_layouts=layouts)
    res["command"] = _command(args)
    results.save_json(out, res, overwrite=args.overwrite)
    table = bench.markdown(res)
    results.atomic_write_bytes(md, table.encode())
    print(table)
    if args.figure:
        stem = Path(args.figure)
        bench.plot_cost_curves(res, [stem.with_suffix(".png"), stem.with_suffix(".pdf")])
    return 0
