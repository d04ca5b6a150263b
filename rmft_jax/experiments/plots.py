"""Comparison figures drawn only from saved result files (several methods on one environment)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np

from rmft_jax import results

COLORS = {
    "rmft": "#d62728",
    "base": "#7f7f7f",
    "ucb": "#1f77b4",
    "thompson": "#2ca02c",
    "greedy": "#ff7f0e",
    "ftrl": "#1f77b4",
    "hedge": "#2ca02c",
    "single_round": "#9467bd",
}


def _color(name: str, i: int):
    import matplotlib.pyplot as plt

    return COLORS.get(name, plt.rcParams["axes.prop_cycle"].by_key()["color"][i % 10])


def subplots(*args, **kwargs):
    """``plt.subplots`` on the non-interactive Agg backend: figures are written to files, never shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, out_dir: Path, stem: str) -> None:
    """Write ``fig`` as ``out_dir/STEM.png`` and ``.pdf`` (tight layout, 130 dpi) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    for ext in ("png", "pdf"):
        results.save_figure(fig, Path(out_dir) / f"{stem}.{ext}", dpi=130)
    plt.close(fig)


def plot_methods(methods: dict[str, dict], paths: list[Path], title: str) -> None:
    """Regret with 95% bands, final-regret distribution and, for bandits, SuffFailFreq(t) and K·MinFrac(t).

    ``methods`` maps a method name to its ``rmft evaluate``-style result dict.
    """
    import matplotlib.pyplot as plt

    bandit = all(m.get("suff_fail_freq") is not None for m in methods.values())
    ncols = 4 if bandit else 2
    fig, axes = subplots(1, ncols, figsize=(4.2 * ncols, 3.6))
    names = list(methods)
    for i, name in enumerate(names):
        m, c = methods[name], _color(name, i)
        mean = np.asarray(m["regret_mean"], float)
        t = np.arange(1, len(mean) + 1)
        axes[0].plot(t, mean, color=c, label=name)
        axes[0].fill_between(t, m["regret_ci_low"], m["regret_ci_high"], color=c, alpha=0.2, lw=0)
        if bandit:
            axes[2].plot(t, m["suff_fail_freq"], color=c, label=name)
            axes[3].plot(t, m["k_min_frac"], color=c, label=name)
    axes[0].set(xlabel="round t", ylabel="regret", title="regret (mean, 95% CI)")
    box = axes[1].boxplot([np.asarray(methods[n]["final_regret"], float) for n in names], showfliers=False)
    del box
    axes[1].set_xticks(range(1, len(names) + 1), names, rotation=30)
    axes[1].set(ylabel="final regret", title="final regret over runs")
    if bandit:
        axes[2].set(xlabel="round t", ylabel="SuffFailFreq(t)", title="suffix failures", ylim=(-0.02, 1.02))
        axes[3].set(xlabel="round t", ylabel="K·MinFrac(t)", title="K·MinFrac", ylim=(-0.02, 1.02))
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    for p in paths:
        results.save_figure(fig, p, dpi=130)
    plt.close(fig)


def plot_curves(series: dict[str, tuple[list, list]], paths: list[Path], xlabel: str, ylabel: str, title: str, logx=False) -> None:
    """Simple line plot of ``{label: (x, y)}``."""
    import matplotlib.pyplot as plt

    fig, ax = subplots(figsize=(5, 3.6))
    for i, (label, (x, y)) in enumerate(series.items()):
        ax.plot(x, y, marker="o" if len(x) < 12 else None, color=_color(label, i), label=label)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for p in paths:
        results.save_figure(fig, p, dpi=130)
    plt.close(fig)


def plus_minus(mean: float, spread: float) -> str:
    """The table cell ``mean ± spread`` (standard error or spread over seeds), two decimals."""
    return f"{mean:.2f} ± {spread:.2f}"


def horizon_cells(evals: dict[str, dict], thompson: dict[str, dict], detail: Collection[str]) -> dict:
    """Table cells of one method evaluated at several horizons.

    ``evals``: horizon -> the method's summary row there (``final_regret_mean``,
    ``final_regret_sem``, ``suff_fail_freq_half``, ``beta_hat``), in table order;
    ``thompson``: horizon -> Thompson sampling's row on the same runs. Cells: regret ± s.e.
    at every horizon, followed at each horizon in ``detail`` by the regret ÷ Thompson's and
    SuffFailFreq(T/2); last, β̂ at the last horizon.
    """
    cells = {}
    for h, e in evals.items():
        cells[f"regret T={h}"] = plus_minus(e["final_regret_mean"], e["final_regret_sem"])
        if h in detail:
            cells[f"÷TS T={h}"] = e["final_regret_mean"] / thompson[h]["final_regret_mean"]
            cells[f"SFF(T/2) T={h}"] = e["suff_fail_freq_half"]
    last = list(evals)[-1]
    cells[f"β̂ T={last}"] = evals[last]["beta_hat"]
    return cells


def markdown_table(rows: dict[str, dict], columns: list[tuple[str, str]], first: str = "method") -> str:
    """``rows`` name -> {key: value}; ``columns`` (key, header); ``first`` heads the column of row names."""

    def fmt(v):
        if v is None:
            return "–"
        if isinstance(v, float):
            if v != v:
                return "nan"
            return f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:.3f}"
        return str(v)

    head = f"| {first} | " + " | ".join(h for _, h in columns) + " |"
    sep = "|---" * (len(columns) + 1) + "|"
    lines = [head, sep] + [f"| {n} | " + " | ".join(fmt(r.get(k)) for k, _ in columns) + " |" for n, r in rows.items()]
    return "\n".join(lines) + "\n"


def save_table(out_dir: Path, stem: str, title: str, preamble: str, rows: dict[str, dict], first: str) -> None:
    """Write ``out_dir/STEM.md``: ``# title``, the preamble paragraph, and ``rows`` as a table whose columns
    are the first row's keys (headed by the keys themselves)."""
    columns = [(c, c) for c in next(iter(rows.values()))]
    text = f"# {title}\n\n{preamble}\n\n" + markdown_table(rows, columns, first=first)
    results.atomic_write_bytes(Path(out_dir) / f"{stem}.md", text.encode())

