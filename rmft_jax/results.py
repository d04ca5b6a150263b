"""Saving results: package versions in every file, atomic writes, nothing overwritten silently."""

from __future__ import annotations

import io
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rmft_jax import _signals, generator
from rmft_jax.checks import fail as _fail

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
        out["jax_backend"] = jax.default_backend()
        out["devices"] = ", ".join(sorted({d.device_kind for d in jax.devices()}))
        out["rng"] = generator.current()  # the generator that drew the results (rmft_jax.generator)
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


def _nearest_existing(path: Path) -> Path:
    for q in (path, *path.parents):
        if q.exists():
            return q
    return Path.cwd()  # pragma: no cover - the root always exists


def probe_directory(directory: Path, field: str, target: str) -> None:
    """Create and delete a temporary file in ``directory``: raise the standard error if that fails."""
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".rmft-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        fail(field, "a path in a writable directory", f"{target}: {e.strerror or type(e).__name__} in {str(directory)!r}")


def check_writable(path: str | os.PathLike, overwrite: bool = False, field: str = "out") -> Path:
    """Check, before any work, that ``path`` can be written; creates nothing.

    Refused: a directory; an existing file unless ``overwrite``; a path whose nearest
    existing ancestor is not a directory; a directory where a probe file cannot be
    created (read-only, ``/proc``, no permission). Missing parent directories are
    created only when the file is written.
    """
    path = Path(path)
    if path.is_dir():
        fail(field, "a file name, not a directory", str(path))
    if path.exists() and not overwrite:
        fail(field, "a file that does not exist yet (or give --overwrite)", str(path))
    check_directory(path.parent, field, target=str(path))
    return path


def check_directory(directory: str | os.PathLike, field: str = "out", target: str | None = None) -> Path:
    """Check that ``directory`` is, or can be created as, a writable directory; creates nothing."""
    directory = Path(directory)
    target = str(directory) if target is None else target
    existing = _nearest_existing(directory)
    if existing == directory and not existing.is_dir():
        fail(field, "a directory (this is a file)", target)
    if not existing.is_dir():
        fail(field, "a path whose parent directories are directories", f"{target}: {str(existing)!r} is a file")
    probe_directory(existing, field, target)
    return directory


def fail(field: str, allowed: str, got: Any) -> None:
    _fail(field, allowed, got)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    An interrupted write leaves the old file (or none), never a partial one; the
    rename is held back from Ctrl-C (:func:`rmft_jax._signals.deferred`). The file
    gets the usual permissions (``0666`` less the umask), not ``mkstemp``'s ``0600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _signals.deferred():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Render a Matplotlib figure to bytes (format from the suffix) and write it atomically."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".").lower(), **savefig_kwargs)
    atomic_write_bytes(path, buf.getvalue())
    return path


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
    except UnicodeDecodeError:
        raise ValueError(f"{field}: must be a UTF-8 JSON file ({path} holds other bytes)") from None
