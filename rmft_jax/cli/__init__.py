"""The ``rmft`` command line: ``rmft evaluate | train | figure | theory | bench``.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)`` (which registers its flags and sets ``func``). Bad input
anywhere — a flag, a config file, a checkpoint — surfaces as a ``ValueError`` with a
one-line message; :func:`main` prints it and exits with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("evaluate", "train", "figure", "theory", "bench")


class UsageError(ValueError):
    """A command-line usage error (exit code 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: same one-line form, exit 2
        self.exit(2, f"rmft: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rmft", description="Iterative RMFT in JAX: environments, baselines, training, figures.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"rmft_jax.cli.{name}")
        except ModuleNotFoundError as e:  # a sub-command not built yet
            if e.name == f"rmft_jax.cli.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"rmft: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rmft: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
