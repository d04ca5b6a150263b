"""``rmft figure NAME [--quick] [--out DIR]``: run one of the paper's numerical figures.

Prints a table of the figure's summary and the files it wrote (:mod:`rmft_jax.cli.report`);
``--json`` prints the summary as JSON instead, ``--quiet`` prints nothing.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rmft_jax import generator
from rmft_jax.cli import report


def add_parser(sub) -> None:
    from rmft_jax.experiments import FIGURES

    p = sub.add_parser("figure", help="reproduce a figure: run, save results, plot from them")
    p.add_argument("name", help="one of: " + ", ".join(FIGURES))
    p.add_argument("--quick", action="store_true", help="small sizes (under a minute on a 2-core CPU)")
    p.add_argument("--out", default="figures", help="output directory (default: figures)")
    p.add_argument("--overwrite", action="store_true", help="replace existing result files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (on stderr)")
    p.add_argument("--rng", choices=tuple(generator.GENERATORS), default=None,
                   help="the random generator (rmft_jax.generator; default threefry2x32; recorded in every results file)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true",
                       help="print the summary as JSON (for scripts) instead of a table")
    shown.add_argument("--quiet", action="store_true", help="no progress bars and nothing on stdout")
    p.set_defaults(func=run)


def file_states(root: str | os.PathLike) -> dict[Path, tuple[int, int, int]]:
    """Every file under ``root`` with its (inode, size, modification time): compared before and after a run."""
    states = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                st = path.stat()
            except OSError:  # gone between the listing and the stat
                continue
            states[path] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return states


def written_paths(root: str | os.PathLike, before: dict, after: dict) -> list[str]:
    """The files new or changed between the states ``before`` and ``after`` of ``root``: each file directly in
    ``root``, and for deeper files their folder two levels down (a training run's folder, ``runs/NAME/``)."""
    root = Path(root)
    shown = set()
    for path, state in after.items():
        if before.get(path) == state:
            continue
        parts = path.relative_to(root).parts
        shown.add(str(root.joinpath(*parts[:2])) + os.sep if len(parts) > 2 else str(path))
    return sorted(shown)


def run(args: argparse.Namespace) -> int:
    from rmft_jax.experiments import get
    from rmft_jax.results import check_directory

    if args.rng is not None:
        generator.use(args.rng)
    module = get(args.name)
    check_directory(args.out, "out")  # a file, a read-only or unreachable place: refused before any work
    before = file_states(args.out)
    progress = not (args.no_progress or args.quiet)
    summary = module.run(args.out, quick=args.quick, overwrite=args.overwrite, progress=progress)
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    elif not args.quiet:
        print(report.figure(args.name, args.quick, summary, written_paths(args.out, before, file_states(args.out))))
    return 0
