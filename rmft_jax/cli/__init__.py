"""The ``rmft`` command line: ``rmft evaluate | train | figure | theory | bench``.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)`` (which registers its flags and sets ``func``). Bad input
anywhere — a flag, a config file, a checkpoint — surfaces as a ``ValueError`` with a
one-line message; :func:`main` prints it and exits with code 2, without a traceback.
So do operating-system errors (a full disk, a permission that changed mid-run) and
running out of memory. A flag given twice is refused (``--set`` may repeat).
Ctrl-C exits 130 (see :mod:`rmft_jax._signals`). A process started by the local launcher
(:func:`rmft_jax.distributed.launch_local`) writes its one-line error to the file
``$RMFT_ERROR_FILE`` instead, and the launcher prints one line for the whole job.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = ("evaluate", "train", "figure", "theory", "bench")
ERROR_FILE_VAR = "RMFT_ERROR_FILE"  # set by the launcher: where this process's one-line error goes


class UsageError(ValueError):
    """A command-line usage error (exit code 2)."""


_SEEN = "_rmft_flags_seen"


def _once(action_cls):
    """``action_cls`` that refuses a second occurrence of its flag (argparse keeps the last silently)."""

    class Once(action_cls):
        def __call__(self, parser, namespace, values, option_string=None):
            seen = getattr(namespace, _SEEN, None)
            if seen is None:
                seen = {}
                setattr(namespace, _SEEN, seen)
            if option_string is not None:
                if self.dest in seen:
                    parser.error(f"{option_string}: must be given at most once (given again after {seen[self.dest]})")
                seen[self.dest] = option_string
            super().__call__(parser, namespace, values, option_string)

    return Once


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in (None, "store", "store_true", "store_false", "store_const"):
            self.register("action", name, _once(self._registry_get("action", name)))

    def error(self, message):  # argparse's own errors: same one-line form, exit 2
        self.exit(2, f"rmft: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        ns, rest = super().parse_known_args(args, namespace)
        if hasattr(ns, _SEEN):
            delattr(ns, _SEEN)
        return ns, rest


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


def _os_message(e: OSError) -> str:
    where = e.filename if e.filename is not None else "a file"
    return f"{where}: {e.strerror or type(e).__name__} (an operating-system error; nothing more was written)"


def _error(msg: str) -> int:
    """Report a one-line error (on stderr, or to the launcher's file) and return exit code 2."""
    path = os.environ.get(ERROR_FILE_VAR)
    if path:
        try:
            with open(path, "w") as f:
                f.write(msg + "\n")
            return 2
        except OSError:
            pass  # the launcher's folder is gone: say it here
    print(f"rmft: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run ``rmft argv``; returns the exit code (0, 2 for bad input, 130 for Ctrl-C).

    Called as the program (``argv`` is ``None``: the ``rmft`` script, ``python -m
    rmft_jax``), it also installs the Ctrl-C handler of :mod:`rmft_jax._signals`;
    called in-process with a list, Ctrl-C stays a ``KeyboardInterrupt`` (code 130).
    """
    if argv is None:
        from rmft_jax import _signals

        _signals.install()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except ValueError as e:
        return _error(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except OSError as e:
        return _error(_os_message(e))
    except MemoryError:
        return _error("out of memory (choose smaller sizes)")
    except RuntimeError as e:  # XLA's out-of-memory is a RuntimeError; anything else is a bug
        if "RESOURCE_EXHAUSTED" not in str(e):
            raise
        return _error("out of device memory (choose smaller sizes)")
    except KeyboardInterrupt:
        print("rmft: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
