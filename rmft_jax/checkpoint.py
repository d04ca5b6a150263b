"""Training-run directories: config, per-iteration metrics and an exactly-resumable checkpoint.

A run directory holds::

    config.json         the TrainConfig (and package versions)
    metrics.jsonl       one JSON line per completed iteration, appended as they come
    checkpoint.msgpack  the whole TrainState (weights, optimiser state, SFT buffer,
                        iteration count) as msgpack'd arrays, written atomically

The state is stored as its flattened leaves and restored into the tree structure
of a freshly initialised state for the same config, with every shape and dtype
checked, so a checkpoint either restores bit-for-bit or fails with a one-line
``ValueError``. (We use Flax's msgpack serialisation rather than Orbax: a run
directory is small, and a single atomically renamed file needs no async
machinery to be crash-safe.)

Tamper evidence: the file is a msgpack map ``{"format": "rmft-checkpoint",
"version": 2, "sha256": ..., "payload": ...}`` whose payload (the msgpack'd leaves)
must match its SHA-256 on load; a truncated, bit-flipped or foreign file is
refused. Checkpoints written before the checksum (a bare ``{"leaves": ...}`` map,
such as the committed runs under ``figures/runs``) still load, with the structural
check only (array count, shapes, dtypes). A kill during a write can leave a
``.checkpoint.msgpack.*.tmp`` file; :func:`remove_stray_files` deletes such files
when the run is started or resumed again.

``metrics.jsonl`` is appended one line per iteration; a kill during an append can
leave a torn last line, which :func:`read_metrics` drops (its iteration is re-run
on ``--resume``, from the checkpoint, so the run stays bit-identical).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from rmft_jax.results import atomic_write_bytes, to_jsonable, versions

CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATE = "checkpoint.msgpack"
FILES = (CONFIG, METRICS, STATE)
FORMAT = "rmft-checkpoint"
VERSION = 2


def is_stray(name: str) -> bool:
    """Whether ``name`` is a temporary file of an interrupted write of a run file (or of a path probe)."""
    prefixes = [f".{f}." for f in FILES] + [".rmft-probe."]
    return name.endswith(".tmp") and any(name.startswith(p) for p in prefixes)


def remove_stray_files(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files an interrupted atomic write of a run file left behind."""
    removed = []
    if not Path(run_dir).is_dir():
        return removed
    for p in Path(run_dir).iterdir():
        if is_stray(p.name) and p.is_file():
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed


def save_state(run_dir: str | Path, state) -> None:
    leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
    payload = serialization.msgpack_serialize({"leaves": {str(i): x for i, x in enumerate(leaves)}})
    blob = serialization.msgpack_serialize(
        {"format": FORMAT, "version": VERSION, "sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}
    )
    atomic_write_bytes(Path(run_dir) / STATE, blob)


def _saved_leaves(path: Path) -> list[np.ndarray]:
    """The arrays stored in the checkpoint at ``path``, checksum verified (one-line ``ValueError`` otherwise)."""
    corrupt = f"checkpoint: {path} must be an intact rmft checkpoint, not a corrupt or foreign file"
    try:
        outer = serialization.msgpack_restore(path.read_bytes())
    except Exception as e:  # noqa: BLE001 - any decoding failure means a damaged or foreign file
        raise ValueError(f"{corrupt} (it cannot be decoded: {type(e).__name__}); restore it or start a new run") from None
    if isinstance(outer, dict) and outer.get("format") == FORMAT:
        payload, digest = outer.get("payload"), outer.get("sha256")
        if outer.get("version") != VERSION or not isinstance(payload, bytes) or not isinstance(digest, str):
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


def load_state(run_dir: str | Path, template):
    """Restore the state saved in ``run_dir`` into the structure of ``template``."""
    path = Path(run_dir) / STATE
    if not path.is_file():
        raise ValueError(f"checkpoint: must be a run directory containing {STATE} (got {str(run_dir)!r})")
    saved = _saved_leaves(path)
    leaves, treedef = jax.tree.flatten(template)
    if len(saved) != len(leaves):
        raise ValueError(f"checkpoint: {path} holds {len(saved)} arrays, the config needs {len(leaves)}")
    for i, (a, b) in enumerate(zip(saved, leaves)):
        if a.shape != np.shape(b) or a.dtype != np.asarray(b).dtype:
            raise ValueError(
                f"checkpoint: array {i} of {path} has shape {a.shape} {a.dtype}, the config needs "
                f"{np.shape(b)} {np.asarray(b).dtype}"
            )
    return jax.tree.unflatten(treedef, [jax.numpy.asarray(a) for a in saved])


def save_config(run_dir: str | Path, config_dict: dict) -> None:
    payload = dict(config_dict, versions=versions())
    atomic_write_bytes(Path(run_dir) / CONFIG, (json.dumps(to_jsonable(payload), indent=1) + "\n").encode())


def load_config_dict(run_dir: str | Path) -> dict:
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
    return d


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
    from rmft_jax import _signals

    with _signals.deferred(), open(Path(run_dir) / METRICS, "a") as f:
        f.write(json.dumps(to_jsonable(row)) + "\n")
