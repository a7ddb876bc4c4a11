"""The numbers of stage 01 that the paper quotes, as LaTeX macros."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from prefcal.overview.by_hour import DEFAULT_PERIODS
from prefcal.overview.ingest_report import IngestTotals
from prefcal.overview.summary import StreamSummary
from prefcal.paper.macros import Latex, format_float, format_int, format_percent, latex_escape

__all__ = ["DATA_SOURCE_WORDS", "overview_macros"]

DATA_SOURCE_WORDS = {"simulated": "simulated", "donations": "donated"}


def overview_macros(
    summary: StreamSummary,
    *,
    seed: int,
    data_source: str,
    ingest: IngestTotals | None,
    cohort_table: pd.DataFrame,
    contrast: pd.DataFrame,
    periods: Mapping[str, tuple[int, int]] = DEFAULT_PERIODS,
    n_boot: int,
    ci: float,
) -> dict[str, Any]:
    """The numbers of stage 01 that the paper quotes, as ``{MacroName: value}``.

    Shares are percentages with one decimal; counts have thousands commas; dates are ISO.
    """

    n_plays = summary.n_plays
    if summary.date_start is None or n_plays == 0:
        raise ValueError("the streams tables hold no plays: nothing to describe")
    macros: dict[str, Any] = {
        "StudySeed": latex_escape(str(int(seed))),
        "DataSource": latex_escape(DATA_SOURCE_WORDS.get(data_source, data_source)),
        "NParticipants": summary.n_participants,
        "NStreams": summary.n_streams,
        "NPlays": n_plays,
        "MinPlaySeconds": latex_escape(f"{summary.min_ms_played / 1000:g}"),
        "ShareLongPlays": format_percent(n_plays / summary.n_streams),
        "MusicShare": format_percent(summary.content_type_plays.get("music", 0) / n_plays),
        "PodcastShare": format_percent(summary.content_type_plays.get("podcast", 0) / n_plays),
        "AudiobookShare": format_percent(summary.content_type_plays.get("audiobook", 0) / n_plays),
        "MobileShare": format_percent(summary.device_plays.get("mobile", 0) / n_plays),
        "DateStart": summary.date_start,
        "DateEnd": summary.date_end,
        "NDays": (summary.date_end - summary.date_start).days + 1,
        "TimeZone": latex_escape(summary.tz),
        "NSourceFormats": sum(1 for v in summary.source_format_streams.values() if v > 0),
    }
    if ingest is not None:
        macros["NRowsRead"] = ingest.rows_read
        macros["NRowsSkipped"] = ingest.rows_skipped
        read = max(ingest.rows_read, 1)
        macros["ShareRowsSkipped"] = format_percent(ingest.rows_skipped / read)
        macros["NDuplicatesRemoved"] = ingest.duplicates_removed
        macros["NFilesRead"] = ingest.files_by_status.get("read", 0)
        macros["NFilesSkippedPrivacy"] = ingest.files_by_status.get("skipped_for_privacy", 0)
    by_cohort = cohort_table.set_index("cohort")
    macros["NCohortUsers"] = int(by_cohort["n_users"].sum())
    macros["MusicFirstMaxUserShare"] = format_percent(
        by_cohort.loc["music-first", "max_user_share"]
    )
    macros["PodcastLeaningMinUserShare"] = format_percent(
        by_cohort.loc["podcast-leaning", "min_user_share"]
    )
    for cohort, prefix in (("music-first", "MusicFirst"), ("podcast-leaning", "PodcastLeaning")):
        macros[f"{prefix}PodcastShare"] = format_percent(by_cohort.loc[cohort, "podcast_share"])
    first, second = list(periods)
    for name in (first, second):
        start, end = periods[name]
        macros[f"{name.capitalize()}Hours"] = Latex(f"{start:02d}:00--{end:02d}:00")
    rows = contrast[contrast["cohort"] == "podcast-leaning"].set_index("quantity")
    for quantity, suffix in (
        (first, first.capitalize()),
        (second, second.capitalize()),
        (f"{first} - {second}", f"{first.capitalize()}Minus{second.capitalize()}"),
    ):
        row = rows.loc[quantity]
        if "Minus" in suffix:  # a difference of shares, in percentage points
            name = f"PodcastLeaning{suffix}Points"
            values = [format_float(100 * row[c], 1, sign=True) for c in ("estimate", "low", "high")]
        else:
            name = f"PodcastLeaning{suffix}Share"
            values = [format_percent(row[c]) for c in ("estimate", "low", "high")]
        macros[name], macros[f"{name}Low"], macros[f"{name}High"] = values
    macros["NBootstrap"] = format_int(n_boot)
    macros["CILevel"] = format_percent(ci, 0)
    return macros
