"""Training-run directories: config, per-iteration metrics and exactly-resumable checkpoints.

A run directory holds::

    .rmft.lock          the writer's lock (:func:`run_lock`): the process id of the command writing the run
    config.json         the TrainConfig, the run's id (``run_id``, drawn when the run is created) and package versions
    metrics.jsonl       one JSON line per completed iteration, appended as they come
    checkpoints/N/      the whole TrainState after N iterations (weights, optimiser state,
                        SFT buffer, iteration count), one Orbax checkpoint per saved step:
                        state/ (the arrays), record/ (a JSON record) and rmft-seal.json

Checkpoints are written by Orbax's ``CheckpointManager`` (:class:`Saver`), the JAX
ecosystem's checkpointer, because it saves *global* arrays: with the state sharded
over a mesh that spans processes, every process writes its own shards and one commit
covers them all, which a single msgpack file cannot do. A step is written into
``checkpoints/N.orbax-checkpoint-tmp/`` and renamed to ``checkpoints/N/`` when
complete (Orbax's commit). Retention: the last ``keep`` steps are kept (default
:data:`KEEP` = 2: the latest, and the one before it should the latest be found
damaged: delete the damaged step and ``--resume`` continues from the previous one);
Orbax deletes older ones after each commit.

Tamper evidence, in two layers. After the commit, process 0 writes the *seal*,
``rmft-seal.json``: the SHA-256 of every file of the step, and the identity of the run it
belongs to (:func:`run_identity`: the run id and the SHA-256 of the saved config, seed
included). Loading checks the identity against the folder's ``config.json``, so a step
copied from another run (the same config with another seed, or the same config trained
again) is refused in one line. Seals written before the identity existed (the
committed ``figures/runs``) are accepted in folders whose ``config.json`` has no run id
either (both from before), and refused in any newer run's folder. Loading checks the seal
first, before Orbax reads a byte (a damaged file makes Orbax's parallel reads fail
with tracebacks printed from its worker threads, which no ``except`` can keep off
the terminal), so a truncated, bit-flipped, emptied or replaced file, or a file
added or missing, is a one-line ``ValueError``. Then ``record/`` (``{"format":
"rmft-checkpoint", "version": 3, "shapes": ..., "dtypes": ..., "sha256": ...}``) gives
the array count, shapes and dtypes, checked against a freshly initialised state for
the same config before restoring, and the SHA-256 of the arrays themselves (dtype,
shape and bytes of each, in order), computed from the state when it is saved and
recomputed from what Orbax restores, so a checkpoint either restores bit for bit or
fails with a one-line ``ValueError``. Hashing needs the arrays on the host: arrays
not addressable from this process are gathered first (the state is small, and its
weights are replicated anyway). The state is stored as its flattened leaves
(``{"0": leaf0, "1": leaf1, ...}``) and restored into the template's tree structure
and shardings.

Saves are synchronous: :meth:`Saver.save` returns when the step is committed and
sealed, and Ctrl-C during a save takes effect once it is sealed (:func:`rmft_jax._signals.deferred`),
so an interrupt leaves no temporary step folder and no unsealed step (a kill still can:
they are removed on the next start). Orbax can save asynchronously (its ``save`` returned in ~25 ms instead of
~200-300 ms for the Figure 2 state here), and that would be safe for exact resume,
since ``--resume`` trusts the newest sealed step and re-runs the iterations after it
whatever ``metrics.jsonl`` says; but the seal can only be written once the commit is
done, so an asynchronous save would leave the newest checkpoint unsealed (and lost
to a kill) for a whole checkpoint interval, for a saving of about 0.5% of a Figure 2
run (a save every 10 iterations of ~4.8 s each) on a machine whose cores the
training already keeps busy.

Interrupted writes: a kill can leave a ``.NAME.*.tmp`` file (an atomic write of a run
file), a ``checkpoints/N.orbax-checkpoint-tmp`` directory (a step never committed),
or a committed step of ours without its seal (a kill between the commit and the
seal); :func:`remove_stray_files` deletes these when the run is started or resumed
again, and nothing else (a step directory that is not ours stays, and is refused
when loaded). Exact resume does not depend on which of them a kill leaves: the run
continues from the newest sealed step, and iteration *i* draws its randomness from
its index alone.

Older runs (such as the committed ``figures/runs``) hold ``checkpoint.msgpack``, the
format before Orbax: a msgpack map ``{"format": "rmft-checkpoint", "version": 2,
"sha256": ..., "payload": ...}`` whose payload (the msgpack'd leaves) must match its
SHA-256, or, older still, a bare ``{"leaves": ...}`` map, loaded with the structural
check only. They are read, never written: a resumed old run writes its next
checkpoints under ``checkpoints/`` (which then take precedence) and leaves
``checkpoint.msgpack`` as it was.

One writer at a time: every command that writes a run folder holds :func:`run_lock` (an
advisory ``flock`` on ``.rmft.lock``, the way ``git`` holds ``index.lock``) from before its
first write until it ends; a second writer is refused in one line naming the holder's
process id. The operating system releases the lock when its holder dies, however it
dies, so a lock file left by a killed process blocks nobody. Readers (``rmft evaluate
--checkpoint``) take no lock: they see only committed and sealed steps.

``metrics.jsonl`` is appended one line per iteration; a kill during an append can
leave a torn last line, which :func:`read_metrics` drops (its iteration is re-run
on ``--resume``, from the checkpoint, so the run stays bit-identical).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization
from jax.experimental import multihost_utils
from orbax.checkpoint.checkpoint_managers import preservation_policy

from rmft_jax import _signals
from rmft_jax.results import atomic_write_bytes, to_jsonable, versions

CONFIG = "config.json"
LOCK = ".rmft.lock"  # held (flock) by the one command writing the run; holds its process id
RUN_ID = "run_id"  # config.json's key for the run's id, drawn when the run is created (not part of the config)
METRICS = "metrics.jsonl"
STATE = "checkpoints"  # Orbax's step directories
MSGPACK = "checkpoint.msgpack"  # the single-file format before Orbax: read, never written
FILES = (CONFIG, METRICS, MSGPACK)
FORMAT = "rmft-checkpoint"
VERSION = 3  # the Orbax layout; 2 was the checksummed msgpack file
MSGPACK_VERSION = 2
KEEP = 2  # checkpoints kept by default: the latest and the one before it
_ARRAYS, _RECORD = "state", "record"  # the two items of an Orbax step
SEAL = "rmft-seal.json"  # in a step directory: the SHA-256 of each of its files, written after Orbax's commit
_ORBAX_TMP = re.compile(r"\d+\.orbax-checkpoint-tmp(-\d+)?")  # Orbax 0.12: no suffix; older: a timestamp


def is_stray(name: str) -> bool:
    """Whether ``name`` is a temporary file of an interrupted write of a run file (or of a path probe)."""
    prefixes = [f".{f}." for f in FILES] + [".rmft-probe."]
    return name.endswith(".tmp") and any(name.startswith(p) for p in prefixes)


def is_bookkeeping(name: str) -> bool:
    """Whether ``name`` (in a run folder) is ours without being part of a run: the writer's lock
    (left by any writer, even one refused before it wrote), or a stray temporary file."""
    return name == LOCK or is_stray(name)


@contextlib.contextmanager
def run_lock(run_dir: str | Path, attempts: int = 10, wait_s: float = 0.05):
    """Hold the writer's lock of ``run_dir`` for the block: an exclusive ``flock`` on ``run_dir/.rmft.lock``,
    which records this process's id while held (and is emptied, not deleted, when the block ends; a
    command killed or interrupted with ``os._exit`` leaves its id there, which is harmless: see below).

    Creates ``run_dir`` (and the lock file) if needed. Refused in one line, naming the holder's process id,
    while another process (or another lock in this one) holds it; a lock that stays taken for
    ``attempts`` tries ``wait_s`` apart is a writer's (:func:`check_unlocked` holds it for an instant
    only). The lock is advisory and per open file: the kernel releases it when its holder exits or is
    killed, so a stale lock file never blocks. (On NFS, ``flock`` works through the server's locks.)
    """
    run_dir = Path(run_dir)
    path = run_dir / LOCK
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise ValueError(f"out: must be a writable run folder (cannot create its lock {str(path)!r}: "
                         f"{e.strerror or type(e).__name__})") from None
    try:
        _flock(fd, path, attempts, wait_s)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def check_unlocked(run_dir: str | Path) -> None:
    """One-line ``ValueError`` naming the holder if another process holds ``run_dir``'s writer lock; writes
    nothing (the lock is taken and released at once, through a read-only descriptor)."""
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no lock file (or none we can open): nobody holds it, or run_lock will say why
    try:
        _flock(fd, path, attempts=10, wait_s=0.05)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _flock(fd: int, path: Path, attempts: int, wait_s: float) -> None:
    for attempt in range(attempts):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(wait_s)
    holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
    who = f"process {holder}" if holder.isdigit() else "another process"
    raise ValueError(f"out: must be a run folder no other command is writing ({str(path.parent)!r} is locked by "
                     f"{who}, see {path.name}); wait for it to end or stop it")


def is_stray_step(name: str) -> bool:
    """Whether ``name`` (in ``checkpoints/``) is the temporary directory of a step Orbax never committed.

    (A committed step without its seal, cut short between Orbax's commit and the seal, is
    removed too, by :func:`remove_stray_files`.)"""
    return _ORBAX_TMP.fullmatch(name) is not None


def remove_stray_files(run_dir: str | Path) -> list[Path]:
    """Delete what interrupted writes left behind: temporary files of the run's files, uncommitted
    Orbax step directories in ``checkpoints/``, and committed steps of ours without their seal.
    Nothing else is touched."""
    removed = []
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return removed
    for p in run_dir.iterdir():
        if is_stray(p.name) and p.is_file():
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    root = run_dir / STATE
    if root.is_dir():
        interrupted = [p for p in _step_dirs(run_dir) if _interrupted(p)]
        for p in [p for p in root.iterdir() if is_stray_step(p.name)] + interrupted:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def _host(x) -> np.ndarray:
    """A leaf's value on this host; arrays spread over several processes are gathered (a collective:
    every process must call this, as every process saves)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(x)


def _digest(arrays: list[np.ndarray]) -> str:
    """SHA-256 of the arrays, in order: each one's index, dtype and shape, then its bytes (C order)."""
    h = hashlib.sha256()
    for i, a in enumerate(arrays):
        h.update(f"{i}:{a.dtype.str}:{a.shape}\n".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _manager(run_dir: Path, keep: int) -> ocp.CheckpointManager:
    """Orbax's manager of ``run_dir/checkpoints``, keeping the last ``keep`` steps."""
    options = ocp.CheckpointManagerOptions(
        create=True, preservation_policy=preservation_policy.LatestN(n=keep), enable_async_checkpointing=False,
        enable_background_delete=True,  # old steps are deleted while training goes on; close() waits
    )
    return ocp.CheckpointManager((run_dir / STATE).absolute(), options=options)  # Orbax takes absolute paths only


def _file_digests(step_dir: Path) -> dict[str, str]:
    """SHA-256 of every file under ``step_dir`` but the seal, by path relative to it."""
    return {
        p.relative_to(step_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(step_dir.rglob("*"))
        if p.is_file() and p.name != SEAL
    }


def _interrupted(step_dir: Path) -> bool:
    """Whether a committed step directory is one of ours whose seal was never written (a save cut short
    after Orbax's commit): no seal, and a record that says it is an rmft checkpoint."""
    if (step_dir / SEAL).exists():
        return False
    try:
        return json.loads((step_dir / _RECORD / "metadata").read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _step_dirs(run_dir: Path) -> list[Path]:
    """The committed step directories under ``run_dir/checkpoints``, in increasing step order."""
    root = run_dir / STATE
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.name.isdigit() and p.is_dir()), key=lambda p: int(p.name))


class Saver:
    """Writes a run's checkpoints (an Orbax ``CheckpointManager`` opened at the first save).

    Call :meth:`save` with the state after each checkpointed iteration, on every process,
    and :meth:`close` at the end.
    """

    def __init__(self, run_dir: str | Path, keep: int = KEEP):
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep_checkpoints: must be an integer >= 1 (got {keep!r})")
        self.run_dir, self.keep, self._manager = Path(run_dir), keep, None
        self._identity = None  # the run's, read from config.json at the first seal

    def save(self, state) -> None:
        """Write ``state`` as step ``state.iteration``, commit and seal it; returns when it is on disk."""
        leaves = jax.tree.leaves(state)
        arrays = [_host(x) for x in leaves]
        record = {
            "format": FORMAT, "version": VERSION, "arrays": len(arrays), "sha256": _digest(arrays),
            "shapes": [list(a.shape) for a in arrays], "dtypes": [a.dtype.str for a in arrays],
        }
        if self._manager is None:
            self._manager = _manager(self.run_dir, self.keep)
        step = int(state.iteration)
        with _signals.deferred():  # Ctrl-C waits for the commit and the seal: no temporary or unsealed step is left
            saved = self._manager.save(step, args=ocp.args.Composite(**{
                _ARRAYS: ocp.args.StandardSave({str(i): x for i, x in enumerate(leaves)}),
                _RECORD: ocp.args.JsonSave(record),
            }))
            if not saved:  # Orbax saves only steps after its latest one
                raise ValueError(f"checkpoint: {self.run_dir / STATE} must hold no step >= {step} (one is there and "
                                 "could not be removed); move it away, then --resume")
            self._manager.wait_until_finished()
            if jax.process_index() == 0:  # one process seals what all of them wrote (a shared file system)
                if self._identity is None:
                    self._identity = run_identity(self.run_dir)
                step_dir = self.run_dir / STATE / str(step)
                seal = {"format": FORMAT, "step": step, "run": self._identity, "files": _file_digests(step_dir)}
                atomic_write_bytes(step_dir / SEAL, (json.dumps(seal, indent=1) + "\n").encode())

    def close(self) -> None:
        """Release the manager, once its background deletion of old steps is done (every save has
        already waited for its own write)."""
        if self._manager is not None:
            self._manager.close()
            self._manager = None


def save_state(run_dir: str | Path, state, keep: int = KEEP) -> None:
    """Save ``state`` in ``run_dir`` (one-off saves; the training loop keeps a :class:`Saver` open instead)."""
    saver = Saver(run_dir, keep)
    try:
        saver.save(state)
    finally:
        saver.close()


def latest_step(run_dir: str | Path) -> int | None:
    """The newest step (iteration count) in ``run_dir/checkpoints``, leaving out saves cut short before
    their seal (``None``: none)."""
    steps = [int(p.name) for p in _step_dirs(Path(run_dir)) if not _interrupted(p)]
    return steps[-1] if steps else None


def unsealed_steps(run_dir: str | Path) -> list[int]:
    """The committed steps of ours newer than :func:`latest_step` that have no seal: a save in progress
    (between Orbax's commit and the seal) or one cut short there. :func:`load_state` skips them."""
    newest = latest_step(run_dir)
    return [int(p.name) for p in _step_dirs(Path(run_dir))
            if _interrupted(p) and (newest is None or int(p.name) > newest)]


def has_state(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a checkpoint to resume from (a step, or an old ``checkpoint.msgpack``)."""
    return latest_step(run_dir) is not None or (Path(run_dir) / MSGPACK).is_file()


def _corrupt(path: Path) -> str:
    return f"checkpoint: {path} must be an intact rmft checkpoint, not a corrupt or foreign file"


def _check_arrays(path: Path, shapes: list, dtypes: list, leaves: list) -> None:
    """One-line ``ValueError`` unless the saved arrays' shapes and dtypes are the template's."""
    if len(shapes) != len(leaves):
        raise ValueError(f"checkpoint: {path} holds {len(shapes)} arrays, the config needs {len(leaves)}")
    for i, (shape, dtype, b) in enumerate(zip(shapes, dtypes, leaves)):
        if tuple(shape) != tuple(np.shape(b)) or np.dtype(dtype) != np.dtype(b.dtype):
            raise ValueError(
                f"checkpoint: array {i} of {path} has shape {tuple(shape)} {np.dtype(dtype)}, the config needs "
                f"{tuple(np.shape(b))} {np.dtype(b.dtype)}"
            )


def _check_seal(path: Path, identity: dict | None) -> None:
    """One-line ``ValueError`` unless the step at ``path`` belongs to the run ``identity`` (its folder's,
    :func:`run_identity`) and every file of it is the one its seal names."""
    try:
        seal = json.loads((path / SEAL).read_text())
        files = seal["files"]
        run = seal.get("run")
        if seal["format"] != FORMAT or not isinstance(files, dict) or not isinstance(run, (dict, type(None))):
            raise TypeError
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{_corrupt(path)} (its seal {SEAL} cannot be read: {type(e).__name__}); "
                         "restore it or start a new run") from None
    # A seal from before run identities ("run" absent) is trusted only in a folder from before them too.
    legacy = "run" not in seal and (identity is None or identity[RUN_ID] is None)
    if not legacy and seal.get("run") != identity:
        theirs, ours = (_name_run(r) for r in (seal.get("run"), identity))
        raise ValueError(f"checkpoint: {path} must be a step of the run in {str(path.parent.parent)!r} (its seal names "
                         f"{theirs}, the folder's {CONFIG} is {ours}: a step copied from another run); "
                         "restore this run's checkpoints or start a new run")
    found = _file_digests(path)
    if set(found) != set(files):
        odd = sorted(set(found) ^ set(files))
        raise ValueError(f"{_corrupt(path)} (its files are not the ones it was saved with: {odd[0]}"
                         + (", ..." if len(odd) > 1 else "") + "); restore it or start a new run")
    for name, digest in found.items():
        if digest != files[name]:
            raise ValueError(f"{_corrupt(path)} (the SHA-256 checksum of {name} does not match: it was damaged "
                             "or altered); restore it or start a new run")


def _name_run(identity: dict | None) -> str:
    if identity is None:
        return "no run"
    run_id = identity[RUN_ID] or "(no id)"
    return f"run {run_id} with config SHA-256 {identity['config_sha256'][:12]}"


def _load_orbax(run_dir: Path, step: int, template):
    """Restore step ``step`` of ``run_dir/checkpoints`` into ``template``'s structure and shardings, checked
    against its seal (the run's identity, every file's SHA-256) and its record (shapes, dtypes, SHA-256)."""
    path = (run_dir / STATE / str(step)).absolute()  # Orbax takes absolute paths only
    leaves, treedef = jax.tree.flatten(template)
    # Before Orbax reads a byte: damaged files make its restore print tracebacks.
    _check_seal(path, run_identity(run_dir))
    try:
        with ocp.Checkpointer(ocp.JsonCheckpointHandler()) as reader:
            record = reader.restore(path / _RECORD, args=ocp.args.JsonRestore())
    except Exception as e:  # noqa: BLE001 - an unreadable record means a damaged or foreign checkpoint
        raise ValueError(f"{_corrupt(path)} (its record cannot be read: {type(e).__name__}); "
                         "restore it or start a new run") from None
    fields = ("format", "version", "arrays", "sha256", "shapes", "dtypes")
    if not isinstance(record, dict) or any(k not in record for k in fields) or record["format"] != FORMAT:
        raise ValueError(f"{_corrupt(path)} (its record is not an rmft checkpoint's)")
    shapes, dtypes = record["shapes"], record["dtypes"]
    try:  # every dtype a NumPy dtype, every shape a list of integers
        well_formed = record["version"] == VERSION and len(shapes) == len(dtypes) == record["arrays"] and all(
            isinstance(np.dtype(d), np.dtype) and all(isinstance(n, int) for n in s) for s, d in zip(shapes, dtypes)
        )
    except (TypeError, ValueError):
        well_formed = False
    if not well_formed:
        raise ValueError(f"{_corrupt(path)} (unknown version or malformed record)")
    _check_arrays(path, shapes, dtypes, leaves)
    default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])  # for a template of host arrays
    target = {str(i): jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=getattr(x, "sharding", None) or default)
              for i, x in enumerate(leaves)}
    try:
        with ocp.StandardCheckpointer() as reader:
            restored = reader.restore(path / _ARRAYS, target)
        arrays = [restored[str(i)] for i in range(len(leaves))]
        digest = _digest([_host(a) for a in arrays])
    except Exception as e:  # noqa: BLE001 - any restore failure means a damaged or foreign checkpoint
        raise ValueError(f"{_corrupt(path)} (its arrays cannot be restored: {type(e).__name__}); "
                         "restore it or start a new run") from None
    if digest != record["sha256"]:
        raise ValueError(f"{_corrupt(path)} (its SHA-256 checksum does not match: it was damaged or altered); "
                         "restore it or start a new run")
    return jax.tree.unflatten(treedef, arrays)


def _msgpack_leaves(path: Path) -> list[np.ndarray]:
    """The arrays stored in the old single-file checkpoint at ``path``, checksum verified when it has one."""
    corrupt = _corrupt(path)
    try:
        outer = serialization.msgpack_restore(path.read_bytes())
    except Exception as e:  # noqa: BLE001 - any decoding failure means a damaged or foreign file
        raise ValueError(f"{corrupt} (it cannot be decoded: {type(e).__name__}); restore it or start a new run") from None
    if isinstance(outer, dict) and outer.get("format") == FORMAT:
        payload, digest = outer.get("payload"), outer.get("sha256")
        if outer.get("version") != MSGPACK_VERSION or not isinstance(payload, bytes) or not isinstance(digest, str):
            raise ValueError(f"{corrupt} (unknown version or missing fields)")
        if hashlib.sha256(payload).hexdigest() != digest:
            raise ValueError(f"{corrupt} (its SHA-256 checksum does not match: it was damaged or altered); "
                             "restore it or start a new run")
        try:
            raw = serialization.msgpack_restore(payload)
        except Exception as e:  # noqa: BLE001 - a payload that hashes right but does not decode
            raise ValueError(f"{corrupt} (its payload cannot be decoded: {type(e).__name__})") from None
    else:
        raw = outer  # written before checksums: structural checks only
    leaves = raw.get("leaves") if isinstance(raw, dict) else None
    if not isinstance(leaves, dict) or set(leaves) != {str(i) for i in range(len(leaves))}:
        raise ValueError(f"{corrupt} (no numbered arrays in it)")
    saved = [leaves[str(i)] for i in range(len(leaves))]
    for i, a in enumerate(saved):
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{corrupt} (entry {i} is a {type(a).__name__}, not an array)")
    return saved


def _load_msgpack(path: Path, template):
    saved = _msgpack_leaves(path)
    leaves, treedef = jax.tree.flatten(template)
    _check_arrays(path, [a.shape for a in saved], [a.dtype for a in saved], leaves)
    placed = [jax.device_put(a, getattr(b, "sharding", None)) for a, b in zip(saved, leaves)]
    return jax.tree.unflatten(treedef, placed)


def load_state(run_dir: str | Path, template, step: int | None = None):
    """Restore the state saved in ``run_dir`` into the structure (and shardings) of ``template``.

    Step ``step`` if given, else the newest sealed Orbax step if there is one (:func:`latest_step`),
    else an old ``checkpoint.msgpack``; a damaged, foreign (another run's) or mismatched checkpoint
    is a one-line ``ValueError``.
    """
    run_dir = Path(run_dir)
    step = latest_step(run_dir) if step is None else step
    if step is not None:
        return _load_orbax(run_dir, step, template)
    if (run_dir / MSGPACK).is_file():
        identity = run_identity(run_dir)
        if identity is not None and identity[RUN_ID] is not None:  # runs with ids never wrote this file
            raise ValueError(f"checkpoint: {run_dir / MSGPACK} must be a checkpoint of the run in {str(run_dir)!r} "
                             f"(it is from before run ids, this run is {_name_run(identity)}: a file copied from "
                             "another run); restore this run's checkpoints or start a new run")
        return _load_msgpack(run_dir / MSGPACK, template)
    raise ValueError(
        f"checkpoint: must be a run directory containing {STATE}/ (or an older {MSGPACK}) (got {str(run_dir)!r})"
    )


def save_config(run_dir: str | Path, config_dict: dict) -> None:
    """Write a new run's ``config.json``: the config, a run id drawn now, and the package versions."""
    payload = dict(config_dict, **{RUN_ID: secrets.token_hex(8)}, versions=versions())
    atomic_write_bytes(Path(run_dir) / CONFIG, (json.dumps(to_jsonable(payload), indent=1) + "\n").encode())


def _read_config(run_dir: str | Path) -> tuple[dict, str | None]:
    """``(config, run id)`` saved in ``run_dir/config.json`` (the versions left out; no id: a run from before ids)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise ValueError(f"checkpoint: must be a run directory containing {CONFIG} (got {str(run_dir)!r})")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"checkpoint: {path} must be valid JSON (the run's config)") from None
    if not isinstance(d, dict):
        raise ValueError(f"checkpoint: {path} must hold a JSON object (the run's config)")
    d.pop("versions", None)
    run_id = d.pop(RUN_ID, None)
    if run_id is not None and not isinstance(run_id, str):
        raise ValueError(f"checkpoint: {path} must hold a string {RUN_ID} (got {run_id!r})")
    return d, run_id


def load_config_dict(run_dir: str | Path) -> dict:
    """The config saved in ``run_dir`` (without the run id and the package versions)."""
    return _read_config(run_dir)[0]


def run_identity(run_dir: str | Path) -> dict | None:
    """``{"run_id": ..., "config_sha256": ...}`` of the run in ``run_dir``: its id (``None`` for a run
    from before ids) and the SHA-256 of its config as saved (canonical JSON, sorted keys, seed
    included, versions and id left out). ``None`` for a folder without ``config.json``."""
    if not (Path(run_dir) / CONFIG).is_file():
        return None
    config, run_id = _read_config(run_dir)
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return {RUN_ID: run_id, "config_sha256": hashlib.sha256(canonical).hexdigest()}


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The rows of ``metrics.jsonl``; a torn last line (an append cut short by a kill) is dropped.

    Any other line that is not a JSON object is a one-line ``ValueError`` naming it.
    """
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    try:
        lines = path.read_text().split("\n")
    except UnicodeDecodeError:
        raise ValueError(f"metrics: {path} must be UTF-8 text (move it away to start a new run)") from None
    lines.pop()  # "" when the file ends with a newline, else a torn last line: dropped
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            raise ValueError(
                f"metrics: line {n} of {path} must be a JSON object (delete that line and the ones after it, "
                "then --resume re-runs those iterations from the checkpoint)"
            )
        rows.append(row)
    return rows


def write_metrics(run_dir: str | Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(to_jsonable(r)) + "\n" for r in rows)
    atomic_write_bytes(Path(run_dir) / METRICS, text.encode())


def append_metrics(run_dir: str | Path, row: dict) -> None:
    with _signals.deferred(), open(Path(run_dir) / METRICS, "a") as f:
        f.write(json.dumps(to_jsonable(row)) + "\n")
