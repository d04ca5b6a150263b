"""Several processes, one program: JAX's distributed runtime, and a launcher for local processes.

JAX runs one Python process per host (or per group of devices); after
:func:`initialize` (``jax.distributed.initialize``) every process sees every
process's devices in ``jax.devices()``, so the one-axis mesh of
:mod:`rmft_jax.sharding` spans them all and the same jitted iterations run
data-parallel across processes: each process computes its share of the tasks and
rollouts, and XLA's collectives (gloo over TCP on CPU, NCCL on GPUs) reduce the
SFT gradients. Every process runs the same program on the same inputs (configs,
seeds and keys are equal everywhere), so replicated values, such as the weights and
the metrics, are equal in every process; only process 0 writes the run's files
(:func:`is_primary`), except checkpoints, whose shards every process writes.

Where the arguments come from (:func:`initialize`): explicit arguments, else the
environment: ``JAX_COORDINATOR_ADDRESS`` (JAX's own variable), and
:data:`NUM_PROCESSES_VAR` / :data:`PROCESS_ID_VAR`; what is still missing is left to
JAX's cluster detection (SLURM: ``SLURM_NTASKS``, ``SLURM_PROCID``,
``SLURM_STEP_NODELIST``, ...; Open MPI; Kubernetes), which picks the coordinator
(the job's first node) and the process's local devices itself.

:func:`launch_local` starts ``N`` local processes of one ``rmft`` command with a free
port on ``127.0.0.1`` (``rmft train --processes N``, which checks its flags and the run
folder before it starts any, :func:`rmft_jax.training.check_before_start`), waits for all
of them, and returns the first non-zero exit code, stopping the others when one fails;
a refusal in the processes is one line for the job, and Ctrl-C interrupts them all.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

from rmft_jax import _signals, checks
from rmft_jax.cli import ERROR_FILE_VAR

COORDINATOR_VAR = "JAX_COORDINATOR_ADDRESS"
BIND_VAR = "JAX_COORDINATOR_BIND_ADDRESS"
NUM_PROCESSES_VAR = "RMFT_NUM_PROCESSES"
PROCESS_ID_VAR = "RMFT_PROCESS_ID"
TIMEOUT_VAR = "RMFT_CONNECT_TIMEOUT"  # seconds to wait for the coordinator and the other processes
TIMEOUT_S = 60  # the default of TIMEOUT_VAR (JAX's own is 300)
# On CPU, collectives across processes need an implementation; gloo (TCP) ships with jaxlib.
CPU_COLLECTIVES = "gloo"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}: must be an integer (got {value!r})") from None


def coordinator(address: str, field: str = "coordinator_address") -> tuple[str, int]:
    """``(host, port)`` of a ``host:port`` address (``[v6]:port`` for IPv6), or a one-line ``ValueError``
    naming ``field`` (JAX would crash on some malformed addresses: an ``IndexError``, a segfault)."""
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ok = sep and host and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535
    if not ok or any(c.isspace() or c in "/[]@" for c in host) or ":" in host and not address.startswith("["):
        checks.fail(field, "host:port with a port in 1..65535 (IPv6: [host]:port)", address)
    return host, int(port)


def _wait_for(host: str, port: int, timeout_s: float, address: str) -> None:
    """Return once ``host:port`` accepts a TCP connection; a one-line ``ValueError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(2.0, deadline - time.monotonic()))):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise ValueError(f"distributed: the coordinator {address} did not answer within {timeout_s:g} s "
                                 f"(is process 0 running there? ${TIMEOUT_VAR} sets the wait)") from None
            time.sleep(0.2)


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, timeout_s: float | None = None) -> None:
    """Join a multi-process job (``jax.distributed.initialize``); call before any other JAX call.

    Args:
      coordinator_address: ``host:port`` of process 0 (default: ``$JAX_COORDINATOR_ADDRESS``,
        else the cluster's, e.g. SLURM's first node).
      num_processes: processes in the job (default: ``$RMFT_NUM_PROCESSES``, else the cluster's).
      process_id: this process's index ``0 .. num_processes - 1`` (default: ``$RMFT_PROCESS_ID``,
        else the cluster's).
      timeout_s: how long to wait for the coordinator and the other processes (default:
        ``$RMFT_CONNECT_TIMEOUT``, else :data:`TIMEOUT_S` = 60 s).

    Every setting is checked before JAX sees it: a malformed address, port or process id is a
    one-line ``ValueError``. A process other than 0 whose coordinator does not accept connections
    within ``timeout_s`` gets a one-line ``ValueError`` too (it waits for the port itself, before
    JAX would). Process 0, if the others never connect, is stopped by JAX after ``timeout_s``
    (with JAX's own message). Also refused: joining when JAX has already started its backend in
    this process (too late to join).
    """
    num_processes = _env_int(NUM_PROCESSES_VAR) if num_processes is None else num_processes
    process_id = _env_int(PROCESS_ID_VAR) if process_id is None else process_id
    if timeout_s is None:
        value = os.environ.get(TIMEOUT_VAR)
        try:
            timeout_s = TIMEOUT_S if value in (None, "") else float(value)
        except ValueError:
            checks.fail(TIMEOUT_VAR, "a number of seconds", value)
        timeout_s = checks.real(TIMEOUT_VAR, timeout_s, low=1.0)
    else:
        timeout_s = checks.real("timeout_s", timeout_s, low=1.0)
    if num_processes is not None:
        num_processes = checks.integer("num_processes", num_processes, 1)
    if process_id is not None:
        process_id = checks.integer("process_id", process_id, 0)
        if num_processes is not None and process_id >= num_processes:
            checks.fail("process_id", f"< num_processes = {num_processes}", process_id)
    if coordinator_address is None and os.environ.get(COORDINATOR_VAR):
        host, port = coordinator(os.environ[COORDINATOR_VAR], COORDINATOR_VAR)
        where = os.environ[COORDINATOR_VAR]
    elif coordinator_address is not None:
        if not isinstance(coordinator_address, str):
            checks.fail("coordinator_address", "a host:port string", coordinator_address)
        host, port = coordinator(coordinator_address)
        where = coordinator_address
    else:
        where = None  # the cluster's (SLURM, Open MPI, ...)
    if os.environ.get(BIND_VAR):
        coordinator(os.environ[BIND_VAR], BIND_VAR)
    if jax.distributed.is_initialized():
        raise ValueError("distributed: this process has already joined a multi-process job")
    if where is not None and process_id not in (None, 0):
        _wait_for(host, port, timeout_s, where)
    # Before the backend starts: the CPU client picks its collectives when it is created.
    jax.config.update("jax_cpu_collectives_implementation", CPU_COLLECTIVES)
    try:
        jax.distributed.initialize(coordinator_address, num_processes, process_id,
                                   initialization_timeout=max(1, round(timeout_s)))
    except (RuntimeError, ValueError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"distributed: cannot join the multi-process job ({msg})") from None


def process_index() -> int:
    return jax.process_index()


def process_count() -> int:
    return jax.process_count()


def is_primary() -> bool:
    """Whether this is process 0, the one that writes files (always true in a single process)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier ``name`` (nothing to do in a single process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def to_host(tree):
    """Every leaf as a NumPy array holding its whole (global) value, in every process.

    Arrays split across processes are gathered (a collective: every process must call this at
    the same point, with the same tree); anything else is read locally, without communication.
    """
    leaves, treedef = jax.tree.flatten(tree)
    split = [i for i, x in enumerate(leaves)
             if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated]
    gathered = multihost_utils.process_allgather([leaves[i] for i in split], tiled=True) if split else []
    out = [_local_value(x) for x in leaves]
    for i, value in zip(split, gathered, strict=True):
        out[i] = np.asarray(value)
    return jax.tree.unflatten(treedef, out)


def _local_value(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return x  # typed keys stay keys
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        # Fully replicated: any local copy is the value (split leaves are replaced by to_host).
        return np.asarray(x.addressable_data(0)) if x.is_fully_replicated else None
    return np.asarray(x)


# --- the local launcher ----------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the operating system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def launch_local(command: Sequence[str], processes: int, env: dict[str, str] | None = None,
                 poll_s: float = 0.1, grace_s: float = 10.0, stdout: int | None = None) -> int:
    """Run ``command`` (an argument list) as ``processes`` local processes of one job; return the exit code.

    Each process gets ``$JAX_COORDINATOR_ADDRESS`` (``127.0.0.1`` and a free port, where process 0
    listens: ``$JAX_COORDINATOR_BIND_ADDRESS``),
    ``$RMFT_NUM_PROCESSES`` and its ``$RMFT_PROCESS_ID``. The launcher waits for all;
    when one exits with a non-zero code the others are terminated (``SIGTERM``, then
    ``SIGKILL`` after ``grace_s``) and that code is returned (0 when all succeed). An ``rmft``
    command that refuses its input writes its one-line error to ``$RMFT_ERROR_FILE`` (one file
    per process) instead of stderr; the first process's such error (by process id) is raised
    here as a one-line ``ValueError``, so a job prints one line, not one per process. Ctrl-C or
    ``SIGTERM`` to the launcher sends ``SIGINT`` to every process (an ``rmft`` process finishes
    a checkpoint save first, then exits; only process 0 says "interrupted", see
    :data:`rmft_jax._signals.QUIET_VAR`), ``SIGKILL`` after ``grace_s``, and returns 130.
    ``stdout``: where the processes'
    standard output goes (``subprocess.Popen``'s argument: ``None`` inherits the launcher's; a
    measurement that prints its own table sends theirs, gloo's connection lines included, to
    file descriptor 2).
    """
    processes = checks.integer("processes", processes, 1)
    base = dict(os.environ if env is None else env)
    address = f"127.0.0.1:{free_port()}"
    base[COORDINATOR_VAR] = address
    base[BIND_VAR] = address  # local processes only: bind the loopback interface, not every interface
    base[NUM_PROCESSES_VAR] = str(processes)
    procs = []
    previous = _interrupt_on_signals()
    try:
        with tempfile.TemporaryDirectory(prefix="rmft-launch-") as errors:
            for i in range(processes):
                child = {**base, PROCESS_ID_VAR: str(i), ERROR_FILE_VAR: os.path.join(errors, str(i))}
                if i:
                    child[_signals.QUIET_VAR] = "1"
                procs.append(subprocess.Popen(list(command), env=child, stdout=stdout))
            while True:
                codes = [p.poll() for p in procs]
                failed = [c for c in codes if c not in (None, 0)]
                if failed:
                    _stop(procs, grace_s)
                    refusal = _first_error(errors, processes)
                    if refusal:
                        raise ValueError(refusal)
                    return failed[0] if failed[0] > 0 else 128 - failed[0]  # killed by signal s: 128 + s
                if all(c == 0 for c in codes):
                    return 0
                time.sleep(poll_s)
    except KeyboardInterrupt:
        _stop(procs, grace_s, signal.SIGINT)
        return _signals.EXIT_CODE
    finally:
        _stop(procs, grace_s)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _first_error(folder: str, processes: int) -> str | None:
    """The one-line error the process of lowest id wrote into ``folder`` (``None``: none did)."""
    for i in range(processes):
        try:
            with open(os.path.join(folder, str(i))) as f:
                line = f.read().strip()
        except OSError:
            continue
        if line:
            return line.splitlines()[0]
    return None


def _interrupt_on_signals() -> dict:
    """While launching, ``SIGINT`` and ``SIGTERM`` raise ``KeyboardInterrupt`` in the launcher, so that it
    stops the processes it started before leaving (the ``rmft`` program's own Ctrl-C handler would leave
    at once). Main thread only; returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, frame):
        raise KeyboardInterrupt()

    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}


def _stop(procs, grace_s: float, signum: int = signal.SIGTERM) -> None:
    """Send ``signum`` to the processes still running, ``SIGKILL`` to those left after ``grace_s``."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        p.send_signal(signum)
    deadline = time.monotonic() + grace_s
    for p in live:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def module_command(*args: str) -> list[str]:
    """``python -m rmft_jax *args`` with this interpreter."""
    return [sys.executable, "-m", "rmft_jax", *args]


__all__ = [
    "COORDINATOR_VAR", "NUM_PROCESSES_VAR", "PROCESS_ID_VAR", "TIMEOUT_VAR", "coordinator", "initialize",
    "process_index", "process_count",
    "is_primary", "barrier", "to_host", "free_port", "launch_local", "module_command",
]
