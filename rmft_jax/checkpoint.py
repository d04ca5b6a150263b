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
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from rmft_jax.results import atomic_write_bytes, to_jsonable, versions

CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATE = "checkpoint.msgpack"


def save_state(run_dir: str | Path, state) -> None:
    leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
    blob = serialization.msgpack_serialize({"leaves": {str(i): x for i, x in enumerate(leaves)}})
    atomic_write_bytes(Path(run_dir) / STATE, blob)


def load_state(run_dir: str | Path, template):
    """Restore the state saved in ``run_dir`` into the structure of ``template``."""
    path = Path(run_dir) / STATE
    if not path.is_file():
        raise ValueError(f"checkpoint: must be a run directory containing {STATE} (got {str(run_dir)!r})")
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
        saved = [raw["leaves"][str(i)] for i in range(len(raw["leaves"]))]
    except Exception as e:  # noqa: BLE001 - any decoding failure means a corrupt file
        raise ValueError(f"checkpoint: {path} is corrupt or not an rmft checkpoint ({type(e).__name__})") from None
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
    except json.JSONDecodeError:
        raise ValueError(f"checkpoint: {path} is not valid JSON") from None
    d.pop("versions", None)
    return d


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_metrics(run_dir: str | Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(to_jsonable(r)) + "\n" for r in rows)
    atomic_write_bytes(Path(run_dir) / METRICS, text.encode())


def append_metrics(run_dir: str | Path, row: dict) -> None:
    with open(Path(run_dir) / METRICS, "a") as f:
        f.write(json.dumps(to_jsonable(row)) + "\n")
