"""Test-session settings.

XLA's persistent compilation cache is switched on for the session (in a
temporary directory), so the many tests that build the same small model or
policy under different Python closures pay for each distinct XLA program once.
It changes no result: a cached executable is the same compiled program.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import jax
import pytest

_CACHE = tempfile.mkdtemp(prefix="rmft-jax-xla-cache-")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """One output directory per test module, shared by its figure runs (later runs reuse earlier models)."""
    return tmp_path_factory.mktemp("figures")


def figure(name, out, *extra):
    """Run ``rmft figure NAME --quick`` into ``out``; it must succeed."""
    from rmft_jax.cli import main

    assert main(["figure", name, "--quick", "--out", str(out), "--no-progress", *extra]) == 0


def cli(argv, capsys):
    """``rmft ARGV`` in this process: ``(exit code, stdout, stderr)`` (argparse's own exits included)."""
    from rmft_jax.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file (bytes) and folder under ``root``, by relative path: what a refused command must leave as it was."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(root.rglob("*"))}


def assert_refused(code, out, err, field):
    """Exit code 2, one line on stderr naming ``field``, no traceback, nothing on stdout."""
    assert code == 2, err
    assert err.startswith(f"rmft: error: {field}") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
