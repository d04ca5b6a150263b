"""Measuring: best-of-n wall times, compile times, compilation counts, memory and the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import time
from collections.abc import Callable

import jax

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def time_best(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time (s) of ``repeats`` calls of ``fn``, each blocked until ready."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def compile_timed(jitted, *args, **kwargs):
    """``(compiled, seconds)``: ``jitted.lower(*args, **kwargs).compile()``, timed."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - t0


def xla_cost(compiled) -> dict[str, float]:
    """XLA's own ``flops`` and ``bytes accessed`` of a compiled program (NaN where it reports none).

    Its cost analysis counts a loop's body once, not once per trip."""
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return {k: float(analysis.get(k, float("nan"))) for k in ("flops", "bytes accessed")}


@contextlib.contextmanager
def count_compiles():
    """Count XLA backend compilations inside the block: ``with count_compiles() as n: ...; n[0]``."""
    count = [0]

    def listener(event, duration, **_):
        if event == COMPILE_EVENT:
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield count
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def rss_mb() -> float:
    """Current resident set size (MiB), from ``/proc/self/statm`` (peak RSS where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MiB; ``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_memory() -> dict | None:
    """``memory_stats()`` of the first device (``None`` on backends without them, e.g. CPU)."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - optional on every backend
        return None
    if not stats:
        return None
    keep = ("bytes_in_use", "peak_bytes_in_use", "bytes_limit")
    return {k: int(v) for k, v in stats.items() if k in keep}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu, "cpu_count": os.cpu_count(), "load_avg_1min": load, "backend": jax.default_backend(),
        "devices": [d.device_kind for d in jax.devices()],
    }
