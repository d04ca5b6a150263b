"""Test-session settings.

XLA's persistent compilation cache is switched on for the session (in a
temporary directory), so the many tests that build the same small model or
policy under different Python closures pay for each distinct XLA program once.
It changes no result: a cached executable is the same compiled program.
"""

from __future__ import annotations

import tempfile

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
