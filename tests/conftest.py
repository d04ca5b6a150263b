"""Test-session settings.

XLA's persistent compilation cache is switched on for the session (in a
temporary directory), so the many tests that build the same small model or
policy under different Python closures pay for each distinct XLA program once.
It changes no result: a cached executable is the same compiled program.
"""

from __future__ import annotations

import tempfile

import jax

_CACHE = tempfile.mkdtemp(prefix="rmft-jax-xla-cache-")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
