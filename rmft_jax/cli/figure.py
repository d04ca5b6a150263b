"""``rmft figure NAME [--quick] [--out DIR]``: run one of the paper's numerical figures."""

from __future__ import annotations

import argparse
import json

from rmft_jax import generator


def add_parser(sub) -> None:
    from rmft_jax.experiments import FIGURES

    p = sub.add_parser("figure", help="reproduce a figure: run, save results, plot from them")
    p.add_argument("name", help="one of: " + ", ".join(FIGURES))
    p.add_argument("--quick", action="store_true", help="small sizes (under a minute on a 2-core CPU)")
    p.add_argument("--out", default="figures", help="output directory (default: figures)")
    p.add_argument("--overwrite", action="store_true", help="replace existing result files")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--rng", choices=tuple(generator.GENERATORS), default=None,
                   help="the random generator (rmft_jax.generator; default threefry2x32; recorded in every results file)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rmft_jax.experiments import get
    from rmft_jax.results import check_directory

    if args.rng is not None:
        generator.use(args.rng)
    module = get(args.name)
    check_directory(args.out, "out")  # a file, a read-only or unreachable place: refused before any work
    summary = module.run(args.out, quick=args.quick, overwrite=args.overwrite, progress=not args.no_progress)
    print(json.dumps(summary, indent=1, default=str))
    return 0
