"""What ``rmft evaluate`` and ``rmft figure`` print for a person: aligned text tables and the paths written.

The numbers come from the summary a command already holds (an evaluation result, or
the dict a figure's ``run`` returns); the JSON itself stays in the result files, and
``--json`` prints it for scripts. Everything here is a pure function of its arguments:
nothing is computed, read or written.

A *method table* has one row per method (a dict with ``final_regret_mean``) and the
columns of the validation framework that the rows hold: regret at T with its 95%
bootstrap CI (or its standard error), the ratio to Thompson sampling (its
``ratio_to_thompson``, or computed when a ``thompson`` row is in the same table),
SuffFailFreq(T/2), β̂ and ``p_reg``; rows without SuffFailFreq (online learning) show
the trend test ``p_trend`` in its place. Headers are ASCII, so any terminal encoding
prints them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

GAP = "  "
NONE = "-"
REGRET = "final_regret_mean"


def scalar(value: Any, spec: str = ".4g") -> str:
    """One cell: a number in ``spec``, ``-`` for ``None`` or a non-finite float, ``yes``/``no`` for a bool."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, spec) if math.isfinite(value) else NONE
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v, spec) for v in value) + "]" if len(value) <= 4 else f"[{len(value)} values]"
    return str(value)


def text_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded to their widest cell (the first left-aligned, the others right-aligned), a rule
    under the header."""
    rows = [list(r) for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells):
        return GAP.join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(header), line("-" * w for w in widths), *(line(r) for r in rows)])


def _present(rows: Mapping[str, Mapping], key: str) -> bool:
    return any(r.get(key) is not None for r in rows.values())


def _label_header(keys: Iterable[str], default: str) -> str:
    """``default`` for named rows; blank for rows named by numbers (horizons, k, K), which the title explains."""
    return "" if all(str(k).lstrip("-").replace(".", "", 1).isdigit() for k in keys) else default


def is_method_row(value: Any) -> bool:
    return isinstance(value, Mapping) and REGRET in value


def method_table(rows: Mapping[str, Mapping[str, Any]], label: str = "method") -> str:
    """The method table of ``rows`` (method name -> summary row; see the module docstring)."""
    columns: list[tuple[str, Any]] = [("regret(T)", lambda r: scalar(r.get(REGRET)))]
    if _present(rows, "final_regret_ci"):
        columns.append(("95% CI", lambda r: NONE if r.get("final_regret_ci") is None else
                        "[{}, {}]".format(*(scalar(v) for v in r["final_regret_ci"]))))
    elif _present(rows, "final_regret_sem"):
        columns.append(("s.e.", lambda r: scalar(r.get("final_regret_sem"), ".2g")))
    thompson = rows.get("thompson", {}).get(REGRET)
    if _present(rows, "ratio_to_thompson"):
        columns.append(("vs Thompson", lambda r: _times(r.get("ratio_to_thompson"))))
    elif len(rows) > 1 and thompson is not None and thompson > 0:
        columns.append(("vs Thompson", lambda r: _times(None if r.get(REGRET) is None else r[REGRET] / thompson)))
    bandit = _present(rows, "suff_fail_freq_half")
    if bandit:
        columns.append(("SuffFailFreq(T/2)", lambda r: scalar(r.get("suff_fail_freq_half"), ".3f")))
    columns.append(("beta_hat", lambda r: scalar(r.get("beta_hat"), ".2f")))
    columns.append(("p_reg", lambda r: scalar(r.get("p_reg"), ".2g")))
    if not bandit:
        columns.append(("p_trend", lambda r: scalar(r.get("p_trend"), ".2g")))
    header = [_label_header(rows, label), *(name for name, _ in columns)]
    return text_table(header, ([str(name), *(cell(row) for _, cell in columns)] for name, row in rows.items()))


def _times(ratio: float | None) -> str:
    return NONE if ratio is None or not math.isfinite(ratio) else f"{ratio:.2f}x"


def grid_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """Rows of scalars by name (the title says what names them): one column per key that any row has,
    in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows.values():
        keys.update(dict.fromkeys(map(str, row)))
    by_key = {name: {str(k): v for k, v in row.items()} for name, row in rows.items()}
    cells = ([str(name), *(scalar(row.get(k)) for k in keys)] for name, row in by_key.items())
    return text_table(["", *keys], cells)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping)


def summary_blocks(summary: Mapping[str, Any], title: tuple[str, ...] = ()) -> list[str]:
    """The tables and lines of a figure's summary, walked recursively.

    A dict of method rows is a :func:`method_table`; a dict of dicts of scalars a
    :func:`grid_table`; a dict of scalars one ``title: key value, ...`` line; any other
    dict is walked key by key, its scalars gathered on one line. Each table is headed
    by its path of keys (``summary / gaussian``) unless it is the top-level ``summary``.
    Top-level strings (the paths a figure returns) are left out: the caller lists the
    files written.
    """
    name = " / ".join(title)
    values = list(summary.values())
    if values and all(is_method_row(v) for v in values):
        table = method_table(summary)
        untitled = title in ((), ("summary",)) and bool(_label_header(summary, "method"))
        return [table if untitled or not name else f"{name}:\n{table}"]
    if values and all(isinstance(v, Mapping) and v and all(map(_is_scalar, v.values())) for v in values):
        return [f"{name}:\n{grid_table(summary)}" if name else grid_table(summary)]
    blocks: list[str] = []
    loose = {k: v for k, v in summary.items() if _is_scalar(v) and (title or not isinstance(v, str))}
    for key, value in summary.items():
        if isinstance(value, Mapping) and value:
            blocks.extend(summary_blocks(value, (*title, str(key))))
    if loose:
        line = ", ".join(f"{k} {scalar(v)}" for k, v in loose.items())
        blocks.append(f"{name}: {line}" if name else line)
    return blocks


def written(paths: Sequence[str]) -> str:
    """``wrote:`` and one indented path a line; a note when nothing was written."""
    if not paths:
        return "wrote: nothing"
    return "\n".join(["wrote:", *(f"  {p}" for p in paths)])


def evaluation(result: Mapping[str, Any], name: str, paths: Sequence[str]) -> str:
    """``rmft evaluate``'s report: what ran, the method table of its one row, and the paths written
    (or how to keep the result when none was)."""
    cfg = result["config"]
    env = cfg.get("env", {})
    size = f"K={env['arms']}, " if "arms" in env else (f"d={env['dim']}, " if "dim" in env else "")
    where = cfg.get("env_name", env.get("class", "?"))
    head = f"{name} on {where} ({size}T={cfg['horizon']}, runs={cfg['runs']}, seed={cfg['seed']})"
    tail = written(paths) if paths else "nothing saved (--out FILE.json keeps the result, --plot FILE.png draws it)"
    return "\n".join([head, method_table({name: result}), tail])


def figure(name: str, quick: bool, summary: Mapping[str, Any], paths: Sequence[str]) -> str:
    """``rmft figure``'s report: the figure's name and mode, its summary's tables, the paths written."""
    head = f"{name} ({'quick' if quick else 'full'} mode)"
    return "\n\n".join([head, *summary_blocks(summary), written(paths)])
