"""``rmft theory [--quick] [--out DIR] [--overwrite]``: the no-regret checks and Figure 1.

Runs :func:`rmft_jax.theory.run_theory`: η* of the derived fixed point, gradient
descent of the single-layer LSA on the loss-for-theory from several random
initialisations, the induced algorithms' regret at several horizons, the failure
cases; writes ``theory_report.json``, ``fig1_dynamics.json`` and ``fig1_env{1,2}``.
Everything is our reconstruction of the paper's Theorem 1 (``theory/no_regret.md``).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "theory",
        help="check the single-layer no-regret theorem (our reconstruction) and draw Figure 1",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--quick", action="store_true", help="small settings (under a minute on 2 CPU cores)")
    p.add_argument("--out", default="figures", help="output directory (default: figures)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from rmft_jax import _checks
    from rmft_jax.results import check_directory
    from rmft_jax.theory import run_theory

    seed = _checks.seed("seed", args.seed)
    check_directory(args.out, "out")
    run_theory(args.out, quick=args.quick, overwrite=args.overwrite, seed=seed)
    return 0
