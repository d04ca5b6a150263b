"""Validation helpers shared by every config: one-line ``ValueError`` messages.

Every message names the field and what is allowed, so the CLI can print it as is
(exit code 2) and library users see the same text.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any


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
    except (TypeError, ValueError):
        fail(field, "a finite number", value)
    if not math.isfinite(x):
        fail(field, "a finite number", value)
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
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        fail(field, "a list of finite numbers", values)
    if any(not math.isfinite(v) for v in out):
        fail(field, "a list of finite numbers", values)
    if length is not None and len(out) != length:
        fail(field, f"a list of exactly {length} numbers", values)
    return out
