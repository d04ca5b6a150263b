"""Saving results: package versions in every file, atomic writes, nothing overwritten silently."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

PACKAGES = ("rmft-jax", "jax", "jaxlib", "flax", "optax", "chex", "numpy", "scipy", "matplotlib", "tqdm")


def versions() -> dict[str, str]:
    """Python, platform, JAX backend and package versions, for every results file."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        import jax

        out["jax_backend"] = jax.default_backend()
        out["devices"] = ", ".join(sorted({d.device_kind for d in jax.devices()}))
    except Exception:  # noqa: BLE001 - versions must never fail a save
        pass
    return out


def to_jsonable(obj: Any) -> Any:
    """Arrays to lists, NumPy scalars to Python scalars, recursively; non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        if arr.ndim == 0:
            return to_jsonable(arr.item())
        return [to_jsonable(v) for v in arr.tolist()]
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, (np.generic,)):
        return to_jsonable(obj.item())
    return obj


def check_writable(path: str | os.PathLike, overwrite: bool = False, field: str = "out") -> Path:
    """Fail early (before any work) if ``path`` exists and ``overwrite`` is off."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ValueError(f"{field}: must not be an existing file unless --overwrite is given (got {str(path)!r})")
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_json(path: str | os.PathLike, obj: dict, overwrite: bool = False, field: str = "out") -> Path:
    """Write ``obj`` (plus ``versions`` if absent) atomically as JSON."""
    path = check_writable(path, overwrite, field)
    obj = dict(obj)
    obj.setdefault("versions", versions())
    atomic_write_bytes(path, (json.dumps(to_jsonable(obj), indent=1) + "\n").encode())
    return path


def load_json(path: str | os.PathLike, field: str = "results") -> dict:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{field}: must be an existing JSON file (got {str(path)!r})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{field}: must be valid JSON ({path}: {e.msg} at line {e.lineno})") from None
