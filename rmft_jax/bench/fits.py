"""Fitting cost curves: log-log exponents and the linear/quadratic split of a cost against the horizon."""

from __future__ import annotations

import numpy as np


def loglog_exponent(xs, ys) -> float:
    """Least-squares slope of ``log y`` on ``log x`` (cost ``∝ x^slope``)."""
    return float(np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)[0])


def linear_quadratic_fit(xs, ys) -> dict:
    """Non-negative least squares ``y ≈ c + a·x + b·x²`` (relative errors): the per-round
    (linear) and attention-over-history (quadratic) parts of a cost against the horizon.

    Returns the coefficients and ``quadratic_share``, the fraction of the cost at the
    largest ``x`` that the quadratic term accounts for.
    """
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    basis = np.stack([np.ones_like(x), x, x * x], axis=1)
    coef = _nnls(basis / y[:, None], np.ones_like(y))
    fitted = basis @ coef
    return {"const": float(coef[0]), "linear": float(coef[1]), "quadratic": float(coef[2]),
            "quadratic_share": float(coef[2] * x[-1] ** 2 / fitted[-1]) if fitted[-1] > 0 else 0.0}


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with non-negative coefficients, by trying every support (3 columns: 7 subsets)."""
    best, best_err = np.zeros(a.shape[1]), float(np.sum(b * b))
    n = a.shape[1]
    for mask in range(1, 2**n):
        cols = [i for i in range(n) if mask >> i & 1]
        sol, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
        if np.all(sol >= 0):
            coef = np.zeros(n)
            coef[cols] = sol
            err = float(np.sum((a @ coef - b) ** 2))
            if err < best_err:
                best, best_err = coef, err
    return best
