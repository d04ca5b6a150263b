"""``rmft theory [--rmft] [--quick] [--out DIR] [--overwrite] [--seed N]``: the no-regret checks and Figure 1.

Runs :func:`rmft_jax.theory.run_theory`: η* of the derived fixed point, gradient
descent of the single-layer LSA on the loss-for-theory from several random
initialisations, the induced algorithms' regret at several horizons, the failure
cases; writes ``theory_report.json``, ``fig1_dynamics.json`` and ``fig1_env{1,2}``.
With ``--rmft``, runs instead :func:`rmft_jax.theory.run_theory_rmft`: the real
Iterative-RMFT loop on the same model against η*, writing ``theory_rmft.{json,png,pdf,md}``.
Everything is our reconstruction of the paper's Theorem 1 (``theory/no_regret.md``).
"""

from __future__ import annotations

import argparse

from rmft_jax import checks
from rmft_jax.results import check_directory


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "theory",
        help="check the single-layer no-regret theorem (our reconstruction) and draw Figure 1",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument(
        "--rmft", action="store_true",
        help="instead, run real Iterative RMFT on the same model against η* (writes theory_rmft.*; --quick takes a few minutes)",
    )
    p.add_argument("--quick", action="store_true", help="small settings (under a minute on 2 CPU cores)")
    p.add_argument("--out", default="figures", help="output directory (default: figures)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    # Imported here, as the other sub-commands import their machinery: every `rmft` call
    # builds all sub-parsers, and the theory package (optax, flax, scipy.stats, matplotlib)
    # would triple the start-up time of `rmft --help` and of every other command.
    from rmft_jax.theory import run_theory, run_theory_rmft

    seed = checks.seed("seed", args.seed)
    check_directory(args.out, "out")
    runner = run_theory_rmft if args.rmft else run_theory
    runner(args.out, quick=args.quick, overwrite=args.overwrite, seed=seed)
    return 0
