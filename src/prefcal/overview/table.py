"""The data overview table: one row per quantity, as CSV and as LaTeX display strings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prefcal.overview.ingest_report import IngestTotals
from prefcal.overview.summary import StreamSummary
from prefcal.paper.macros import Latex, format_int, format_percent, latex_escape
from prefcal.tables import CONTENT_TYPES, DEVICES, SOURCE_FORMATS

__all__ = ["overview_latex_frame", "overview_table"]


def _share(count: int, total: int) -> float:
    return float(count) / total if total else float("nan")


def overview_table(summary: StreamSummary, ingest: IngestTotals | None = None) -> pd.DataFrame:
    """The data overview as a tidy table: one row per quantity.

    Columns: ``quantity`` (unique name, e.g. ``Participants``, ``Content type: podcast``),
    ``value`` (a count, or an ISO date for the first/last day), ``share`` (the count's share of
    its denominator, see the module docstring; empty where none applies), ``section``.
    Every content type, device and source format of :mod:`prefcal.tables` gets a row, zeros
    included, so tables of different runs have the same shape.
    """
    seconds = summary.min_ms_played / 1000
    play_label = f"Plays >= {seconds:g} s"
    rows: list[tuple[str, Any, float, str]] = []
    sec = "Participants and plays"
    rows.append(("Participants", summary.n_participants, np.nan, sec))
    rows.append(("Streams", summary.n_streams, np.nan, sec))
    rows.append((play_label, summary.n_plays, _share(summary.n_plays, summary.n_streams), sec))
    first, last = summary.date_start, summary.date_end
    rows.append(("First day", first.isoformat() if first else "", np.nan, sec))
    rows.append(("Last day", last.isoformat() if last else "", np.nan, sec))
    n_days = (last - first).days + 1 if first and last else 0
    rows.append(("Days spanned", n_days, np.nan, sec))
    sec = f"Content type ({play_label.lower()})"
    for name in CONTENT_TYPES:
        count = summary.content_type_plays.get(name, 0)
        rows.append((f"Content type: {name}", count, _share(count, summary.n_plays), sec))
    sec = f"Device ({play_label.lower()})"
    for name in DEVICES:
        count = summary.device_plays.get(name, 0)
        rows.append((f"Device: {name}", count, _share(count, summary.n_plays), sec))
    sec = "Source format (streams)"
    for name in SOURCE_FORMATS:
        count = summary.source_format_streams.get(name, 0)
        rows.append((f"Source format: {name}", count, _share(count, summary.n_streams), sec))
    if ingest is not None:
        sec = "Ingest (streaming-history rows)"
        read = ingest.rows_read
        rows.append(("Ingest: rows read", read, np.nan, sec))
        rows.append(("Ingest: rows kept", ingest.rows_kept, _share(ingest.rows_kept, read), sec))
        rows.append(
            ("Ingest: rows skipped", ingest.rows_skipped, _share(ingest.rows_skipped, read), sec)
        )
        for reason, count in ingest.skipped_by_reason.items():
            rows.append((f"Ingest: skipped, {reason}", count, _share(count, read), sec))
        dups = ingest.duplicates_removed
        rows.append(("Ingest: duplicates removed", dups, _share(dups, read), sec))
        sec = "Export files"
        total_files = sum(ingest.files_by_status.values())
        for status, count in ingest.files_by_status.items():
            label = status.replace("_", " ")
            rows.append((f"Files: {label}", count, _share(count, total_files), sec))
    table = pd.DataFrame(rows, columns=["quantity", "value", "share", "section"])
    table["value"] = table["value"].astype(str)
    table["share"] = table["share"].astype(float)
    return table


def _tex(text: str) -> Latex:
    """Escaped LaTeX of a label, with ``>=`` typeset as a proper sign."""
    return Latex(latex_escape(text).replace(r"\textgreater{}=", r"$\geq$"))


#: label prefixes of the category rows that the paper's table omits when their count is zero
OMITTED_WHEN_ZERO = (
    "Content type: ",
    "Device: ",
    "Source format: ",
    "Files: ",
    "Ingest: skipped, ",
)


def overview_latex_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Display strings of :func:`overview_table` for the paper: label, value, share (in %).

    The label drops the section prefix (``Content type: podcast`` -> ``podcast``); counts get
    thousands commas; shares are percentages with one decimal; dates stay ISO. Categories with a
    zero count (:data:`OMITTED_WHEN_ZERO`: a content type, device, source format, file status or
    skip reason that never occurs) are left out of the paper's table; the CSV keeps every row.
    """
    zero = (table["value"] == "0") & table["quantity"].str.startswith(OMITTED_WHEN_ZERO)
    table = table.loc[~zero]

    def value(v: str) -> Latex:
        return format_int(int(v)) if v.lstrip("-").isdigit() else _tex(v)

    def share(s: float) -> Latex:
        return Latex("") if np.isnan(s) else format_percent(s, 1)

    return pd.DataFrame(
        {
            "section": [_tex(v) for v in table["section"]],
            "Quantity": [_tex(q.split(": ", 1)[-1]) for q in table["quantity"]],
            "Value": [value(v) for v in table["value"]],
            "Share": [share(v) for v in table["share"]],
        },
        dtype=object,  # keep the Latex marker type (a str column would drop it)
    )
