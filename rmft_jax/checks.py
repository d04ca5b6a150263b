"""Validation helpers shared by every config, environment and policy: one-line ``ValueError`` messages.

Every message names the field and what is allowed, so the CLI can print it as is
(exit code 2) and library users see the same text. Public: a frozen dataclass of
one's own (a new policy or environment) validates its fields the way the
library's do, from ``__post_init__``::

    checks.validate(self, arms=checks.at_least(2), c=checks.number(low=0.0))
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# Every number ends up in a float32 array: a value beyond this is inf on the device
# (and a NaN regret after it), so it is refused up front.
FLOAT32_MAX = 3.4028234663852886e38
# jax.random.key takes a signed 64-bit seed; negative seeds are refused as user errors.
SEED_LIMIT = 2**63


def fail(field: str, allowed: str, got: Any) -> None:
    """Raise the project's standard one-line error for ``field``."""
    raise ValueError(f"{field}: must be {allowed} (got {got!r})")


def integer(field: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; bools and non-integral numbers are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(field, f"an integer >= {minimum}", value)
    value = int(value)
    if value < minimum:
        fail(field, f"an integer >= {minimum}", value)
    return value


def real(
    field: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float inside the stated interval."""
    if isinstance(value, bool):
        fail(field, "a finite number", value)
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        fail(field, "a finite number", value)
    if not math.isfinite(x):
        fail(field, "a finite number", value)
    if abs(x) > FLOAT32_MAX:
        fail(field, "a number within float32 range (|x| <= 3.4e38)", value)
    lo = "" if low is None else (f"> {low}" if low_open else f">= {low}")
    hi = "" if high is None else (f"< {high}" if high_open else f"<= {high}")
    desc = "a number " + " and ".join(s for s in (lo, hi) if s) if (lo or hi) else "a finite number"
    if low is not None and (x < low or (low_open and x == low)):
        fail(field, desc, value)
    if high is not None and (x > high or (high_open and x == high)):
        fail(field, desc, value)
    return x


def choice(field: str, value: Any, options: Iterable[str]) -> str:
    """``value`` if it is one of ``options``."""
    options = tuple(options)
    if value not in options:
        fail(field, "one of " + ", ".join(options), value)
    return value


def reals(field: str, values: Sequence[Any] | None, length: int | None = None) -> tuple[float, ...] | None:
    """A tuple of finite floats, of ``length`` if given (``None`` passes through)."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        fail(field, "a list of finite numbers", values)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        fail(field, "a list of finite numbers", values)
    if any(not math.isfinite(v) for v in out):
        fail(field, "a list of finite numbers", values)
    if any(abs(v) > FLOAT32_MAX for v in out):
        fail(field, "a list of numbers within float32 range (|x| <= 3.4e38)", values)
    if length is not None and len(out) != length:
        fail(field, f"a list of exactly {length} numbers", values)
    return out


def seed(field: str, value: Any) -> int:
    """``value`` as a seed in ``[0, 2**63)``, the range ``jax.random.key`` accepts."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) < SEED_LIMIT:
        fail(field, "an integer in [0, 2**63)", value)
    return int(value)


def boolean(field: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (``0``/``1`` and other truthy values are refused)."""
    if not isinstance(value, bool):
        fail(field, "true or false", value)
    return value


# ----- declared checks for frozen config dataclasses ---------------------------------

Check = Callable[[str, Any], Any]


def at_least(minimum: int) -> Check:
    """The check of an integer field ``>= minimum`` (:func:`integer`)."""
    return lambda field, value: integer(field, value, minimum)


def number(**bounds: Any) -> Check:
    """The check of a real field inside ``bounds`` (the keywords of :func:`real`)."""
    return lambda field, value: real(field, value, **bounds)


def one_of(options: Iterable[str]) -> Check:
    """The check of a field that takes one of ``options`` (:func:`choice`)."""
    options = tuple(options)
    return lambda field, value: choice(field, value, options)


def optional(check: Check) -> Check:
    """The check of a field that may be ``None`` (kept as is); any other value must pass ``check``."""
    return lambda field, value: value if value is None else check(field, value)


def validate(obj: Any, **checks: Check) -> None:
    """Check and normalise fields of a frozen dataclass, from its ``__post_init__``.

    ``checks`` maps a field name to ``check(field, value) -> value`` (:func:`at_least`,
    :func:`number`, :func:`one_of`, :func:`boolean`, :func:`seed`, :func:`optional`, ...); each field is
    replaced by what its check returns (``1`` becomes ``1.0`` for a real field), in the
    order given. The first failing check raises its one-line ``ValueError``.
    """
    for name, check in checks.items():
        object.__setattr__(obj, name, check(name, getattr(obj, name)))


# ----- sizes: refuse what cannot fit before anything is allocated ----------------------

# The share of available memory one array may take (the rest is for copies, XLA
# scratch space, the interpreter). ``RMFT_MEMORY_LIMIT`` (bytes) overrides the
# measured available memory, for machines whose accelerator memory is the limit.
MEMORY_SHARE = 0.5


def available_memory() -> int:
    """Bytes of memory a new allocation can use: ``RMFT_MEMORY_LIMIT`` if set, else the
    host's ``MemAvailable`` (``/proc/meminfo``), else physical memory (``os.sysconf``)."""
    env = os.environ.get("RMFT_MEMORY_LIMIT")
    if env:
        try:
            return int(float(env))
        except ValueError:
            fail("RMFT_MEMORY_LIMIT", "a number of bytes", env)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**34  # 16 GiB when nothing can be measured


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def fits_in_memory(field: str, nbytes: float, what: str) -> None:
    """Refuse ``nbytes`` (an estimate of the largest arrays; ``what`` says how they were counted)
    if it exceeds :data:`MEMORY_SHARE` of :func:`available_memory`."""
    limit = MEMORY_SHARE * available_memory()
    if nbytes > limit:
        raise ValueError(
            f"{field}: must be small enough to fit in memory (about {human_bytes(nbytes)} needed for {what}; "
            f"the limit is {human_bytes(limit)}, {MEMORY_SHARE:.0%} of the available memory or of RMFT_MEMORY_LIMIT)"
        )
