"""Measurements that need another device layout: one function run as a job of local processes.

The device count of a CPU process is fixed when its backend starts
(``--xla_force_host_platform_device_count``), and a multi-process job needs processes of
its own, so the measurements against devices and processes (:mod:`~rmft_jax.bench.processes`,
:mod:`~rmft_jax.bench.generator_sharding`) run their function in fresh processes:
:func:`run_job` starts ``processes`` local processes of ``devices`` CPU devices each through
:func:`rmft_jax.distributed.launch_local` (the launcher of ``rmft train --processes``, which
stops every process when one fails or on Ctrl-C), each joins the job (when there are several),
draws with the launcher's generator and calls the function by name; process 0 writes its
JSON-ready result to a temporary file, which :func:`run_job` returns.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from rmft_jax import distributed, generator, results
from rmft_jax._signals import EXIT_CODE as INTERRUPTED

_CHILD = "import sys; from rmft_jax.bench import jobs; jobs.child(sys.argv[1:])"
_DEVICE_FLAG = re.compile(r"--xla_force_host_platform_device_count=\S*")


def job_env(devices: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``devices`` forced CPU devices per process."""
    base = dict(os.environ if base is None else base)
    flags = _DEVICE_FLAG.sub("", base.get("XLA_FLAGS", "")).strip()
    base["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    base["JAX_PLATFORMS"] = "cpu"
    return base


def run_job(target: str, kwargs: dict, processes: int = 1, devices: int = 1) -> dict:
    """``target(**kwargs)`` (``"module:function"``, JSON-ready arguments and result) in a job of
    ``processes`` local processes with ``devices`` CPU devices each; returns process 0's result.

    Raises ``KeyboardInterrupt`` when the launcher was interrupted (its processes already
    stopped) and ``RuntimeError`` when a process failed (its traceback is on stderr above).
    """
    with tempfile.TemporaryDirectory(prefix="rmft-bench-job-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-c", _CHILD, target, json.dumps(kwargs), generator.current(), str(result)]
        # The processes' stdout (gloo's connection lines) goes to stderr: the bench prints its table on stdout.
        code = distributed.launch_local(cmd, processes, env=job_env(devices), stdout=2)
        if code == INTERRUPTED:  # the launcher was interrupted (Ctrl-C / SIGTERM), its processes stopped
            raise KeyboardInterrupt()
        if code != 0 or not result.is_file():
            raise RuntimeError(f"bench job {target} on {processes} process(es) x {devices} device(s): "
                               f"exited with code {code} (its error is above)")
        return json.loads(result.read_text())


def child(argv: list[str]) -> None:
    """The body of each launched process: ``argv`` is ``[target, kwargs JSON, generator, result path]``."""
    target, kwargs, rng, result = argv
    if int(os.environ.get(distributed.NUM_PROCESSES_VAR) or 1) > 1:
        distributed.initialize()  # before any JAX computation
    generator.use(rng)
    module, _, name = target.partition(":")
    out = getattr(importlib.import_module(module), name)(**json.loads(kwargs))
    if distributed.is_primary():
        results.atomic_write_bytes(Path(result), json.dumps(results.to_jsonable(out)).encode())


__all__ = ["run_job", "job_env", "child"]
