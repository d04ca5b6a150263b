"""Ctrl-C for the ``rmft`` program: exit 130 at once, but never in the middle of a write.

Python turns SIGINT into a ``KeyboardInterrupt`` raised wherever the main thread
happens to be. Inside JAX that can be a callback invoked from C++ (XLA's garbage
collection callback during the first compilation, for one): there the exception
is printed as "Exception ignored" and the run goes on, or it unwinds through
native frames and the process crashes at exit (exit 139 was seen). So the program
(not the library: it is installed only when ``rmft_jax`` runs as the ``rmft``
program, see :func:`install_if_program`, which the package calls first thing so
that Ctrl-C during the seconds of importing JAX is covered too) replaces the handler: it prints ``rmft: interrupted``, flushes, and
leaves with ``os._exit(130)``, which runs no interpreter teardown. Nothing is lost
by leaving at once: every result file is written to a temporary file and renamed
(:func:`rmft_jax.results.atomic_write_bytes`), and those writes, like the append of
a metrics line, run inside :func:`deferred`, which holds the interrupt until the
write is complete. A run directory is therefore always resumable.

A signal that arrives while the main thread is inside a long native call (an XLA
compilation) is handled when that call returns (or at the first Python callback
it makes), the way Python handles every signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

EXIT_CODE = 130
QUIET_VAR = "RMFT_QUIET_INTERRUPT"  # set (by the launcher) in every process of a job but process 0: one line per job
_depth = 0  # nesting of deferred() sections
_pending = False
_installed = False


def _leave() -> None:
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        if not os.environ.get(QUIET_VAR):
            # On a terminal, start a fresh line (a progress bar may be half drawn).
            sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "rmft: interrupted\n")
            sys.stderr.flush()
    finally:
        os._exit(EXIT_CODE)


def _handler(signum, frame) -> None:
    global _pending
    if _depth > 0:
        _pending = True
        return
    _leave()


def install() -> bool:
    """Handle SIGINT as described above (main thread only); ``True`` if installed."""
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background: keep ignoring
        return False
    signal.signal(signal.SIGINT, _handler)
    _installed = True
    return True


def is_program() -> bool:
    """Whether this process is the ``rmft`` program (the script, or ``python -m rmft_jax``)."""
    argv = getattr(sys, "orig_argv", None) or []
    if any(a == "-m" and b == "rmft_jax" for a, b in zip(argv, argv[1:])):
        return True
    return bool(sys.argv) and os.path.basename(sys.argv[0]) == "rmft"


def install_if_program() -> bool:
    """:func:`install` when :func:`is_program`; a library import changes no signal handler."""
    return install() if is_program() else False


@contextlib.contextmanager
def deferred():
    """Hold an interrupt that arrives inside the block until the block has finished."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending and _installed:
            _leave()
