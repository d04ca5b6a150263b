"""Figures drawn from saved results only (never by re-running anything).

Uses Matplotlib's object API with the Agg canvas directly, so importing this
module neither needs a display nor changes the global ``pyplot`` backend.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rmft_jax.results import atomic_write_bytes

FORMATS = ("png", "pdf", "svg")


def check_figure_path(path: str | os.PathLike, field: str = "plot") -> Path:
    """Raise ``ValueError`` unless ``path`` ends in a supported image format."""
    path = Path(path)
    if path.suffix.lstrip(".").lower() not in FORMATS:
        raise ValueError(f"{field}: must be a file name ending in .{', .'.join(FORMATS)} (got {str(path)!r})")
    return path


def _curve(result: dict[str, Any], key: str) -> np.ndarray | None:
    v = result.get(key)
    return None if v is None else np.asarray(v, np.float64)


def _fmt(x: Any) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.3g}"


def plot_evaluation(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Draw an ``rmft evaluate`` result (the dict, as saved in JSON) to ``path``.

    Panels: the mean cumulative regret with its bootstrap CI band against ``t``
    (title: ``β̂``, ``p_reg``, ``p_trend``); for bandits also ``SuffFailFreq(t)``
    and ``K·MinFrac(t)``. Written atomically; the format follows the suffix.
    """
    path = check_figure_path(path)
    regret = _curve(result, "regret_mean")
    if regret is None:
        raise ValueError("result: must contain regret_mean (an rmft evaluate result)")
    t = np.arange(1, regret.shape[0] + 1)
    sff, kmf = _curve(result, "suff_fail_freq"), _curve(result, "k_min_frac")
    bandit = sff is not None and kmf is not None
    cfg = result.get("config", {})
    policy = cfg.get("policy", {}).get("name", "policy")
    env = cfg.get("env_name") or cfg.get("env", {}).get("class", "env")

    fig = Figure(figsize=(12 if bandit else 5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3 if bandit else 1, squeeze=False)[0]

    ax = axes[0]
    ax.plot(t, regret, color="C0", label=f"{policy} (mean of {cfg.get('runs', '?')} runs)")
    low, high = _curve(result, "regret_ci_low"), _curve(result, "regret_ci_high")
    if low is not None and high is not None:
        level = cfg.get("ci_level", 0.95)
        ax.fill_between(t, low, high, color="C0", alpha=0.25, linewidth=0, label=f"{level:.0%} bootstrap CI")
    ax.set_xlabel("round t")
    ax.set_ylabel("cumulative regret")
    ax.set_title(
        f"β̂={_fmt(result.get('beta_hat'))}, p_reg={_fmt(result.get('p_reg'))}, "
        f"p_trend={_fmt(result.get('p_trend'))}",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper left")
    if bandit:
        axes[1].plot(t, sff, color="C3")
        axes[1].set_ylim(-0.02, 1.02)
        axes[1].set_xlabel("round t")
        axes[1].set_ylabel("SuffFailFreq(t)")
        axes[2].plot(t, kmf, color="C2")
        axes[2].set_ylim(-0.02, 1.02)
        axes[2].set_xlabel("round t")
        axes[2].set_ylabel("K·MinFrac(t)")
    fig.suptitle(f"{policy} on {env}, T = {regret.shape[0]}", fontsize=10)

    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".").lower(), dpi=120)
    atomic_write_bytes(path, buf.getvalue())
    return path


__all__ = ["FORMATS", "check_figure_path", "plot_evaluation"]
