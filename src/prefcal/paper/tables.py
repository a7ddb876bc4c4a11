"""Tables of the paper: one DataFrame -> a CSV (for readers and tests) and a LaTeX ``tabular``.

The LaTeX file holds only the ``tabular`` (booktabs rules: ``\\toprule``, ``\\midrule``,
``\\bottomrule``; ``booktabs.sty`` is in Debian's texlive-latex-recommended); the float, caption and
label live in ``paper/main.tex`` so the text controls them. Formatting is deterministic:

* CSV: ``index=False``, ``\\n`` line ends, floats written with ``float_format`` (``%.6g``), missing
  values as empty fields;
* LaTeX cells: a :class:`~prefcal.paper.macros.Latex` value as is, a ``str`` escaped, an integer
  with thousands commas, a float through the column's formatter (default three decimals), a
  missing value as ``--``. Pass ready-made display strings (``latex_df``) for full control.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prefcal.paper.macros import Latex, format_float, format_int, latex_escape

__all__ = ["latex_cell", "latex_tabular", "write_csv", "write_table", "write_tex"]

MISSING = Latex("--")


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def latex_cell(
    value: Any, formatter: Callable[[Any], str] | None = None, *, escape: bool = True
) -> str:
    """The LaTeX text of one table cell (rules in the module docstring).

    ``escape=False`` treats every ``str`` as ready-made LaTeX (for display frames whose cells
    were formatted already).
    """
    if _is_missing(value):
        return MISSING
    if formatter is not None:
        return str(formatter(value))
    if isinstance(value, Latex) or (isinstance(value, str) and not escape):
        return str(value)
    if isinstance(value, str):
        return latex_escape(value)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return format_int(value)
    if isinstance(value, numbers.Real):
        return format_float(float(value), 3)
    return latex_escape(str(value))


def latex_tabular(
    df: pd.DataFrame,
    *,
    align: str | None = None,
    group: str | None = None,
    header: Sequence[str] | None = None,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
    escape: bool = True,
) -> str:
    """A booktabs ``tabular`` of ``df`` (its index is not written).

    ``group`` names a column whose runs of equal values become blocks, each introduced by an
    italic heading row (the column itself is not shown). ``align`` is the column spec (default:
    ``r`` for numeric columns, ``l`` otherwise); ``header`` replaces the column names (a ``str``
    is escaped, a :class:`Latex` is kept). ``escape=False``: the cells' strings are LaTeX
    already (headers are still escaped unless :class:`Latex`).
    """
    if group is not None and group not in df.columns:
        raise KeyError(f"group column {group!r} is not in the table (columns: {list(df.columns)})")
    shown = [c for c in df.columns if c != group]
    if not shown:
        raise ValueError("a table needs at least one column to show")
    if align is None:
        align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in shown)
    if header is None:
        header = [str(c) for c in shown]
    if len(header) != len(shown):
        raise ValueError(f"header has {len(header)} names for {len(shown)} columns")
    formatters = dict(formatters or {})
    unknown = set(formatters) - set(shown)
    if unknown:
        raise KeyError(f"formatters for unknown columns: {sorted(unknown)}")

    lines = [f"\\begin{{tabular}}{{{align}}}", "\\toprule"]
    lines.append(" & ".join(latex_cell(h) for h in header) + " \\\\")
    lines.append("\\midrule")
    previous: Any = object()
    for row_number, row in enumerate(df.itertuples(index=False, name=None)):
        record = dict(zip(df.columns, row, strict=True))
        if group is not None and record[group] != previous:
            if row_number > 0:
                lines.append("\\midrule")
            heading = latex_cell(record[group], escape=escape)
            lines.append(f"\\multicolumn{{{len(shown)}}}{{@{{}}l}}{{\\textit{{{heading}}}}} \\\\")
            previous = record[group]
        cells = [latex_cell(record[c], formatters.get(c), escape=escape) for c in shown]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_csv(df: pd.DataFrame, path: str | Path, *, float_format: str = "%.6g") -> Path:
    """Write ``df`` as CSV with deterministic formatting (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n", float_format=float_format, encoding="utf-8")
    return path


def write_table(
    df: pd.DataFrame,
    csv_path: str | Path,
    tex_path: str | Path,
    *,
    latex_df: pd.DataFrame | None = None,
    float_format: str = "%.6g",
    **tabular_kwargs: Any,
) -> tuple[Path, Path]:
    """Write ``df`` to ``csv_path`` and its LaTeX ``tabular`` to ``tex_path``.

    ``latex_df`` (same rows, display strings that are LaTeX already, so they are not escaped)
    is typeset instead of ``df`` when given; the remaining keyword arguments go to
    :func:`latex_tabular`.
    """
    shown = df if latex_df is None else latex_df
    if len(shown) != len(df):
        raise ValueError(f"latex_df has {len(shown)} rows but the table has {len(df)}")
    csv_out = write_csv(df, csv_path, float_format=float_format)
    if latex_df is not None:
        tabular_kwargs.setdefault("escape", False)
    return csv_out, write_tex(shown, tex_path, **tabular_kwargs)


def write_tex(df: pd.DataFrame, path: str | Path, **tabular_kwargs: Any) -> Path:
    """Write the LaTeX ``tabular`` of ``df`` (:func:`latex_tabular`) to ``path``: for a paper
    table that shows a selection of a CSV's rows (write the CSV with :func:`write_csv`)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(latex_tabular(df, **tabular_kwargs), encoding="utf-8", newline="\n")
    return out
