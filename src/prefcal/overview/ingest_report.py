"""The shards' ``ingest_report.json`` files, summed (layout in :mod:`prefcal.ingest.report`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefcal.overview.summary import StreamSummary

__all__ = ["FILE_STATUSES", "IngestTotals", "check_consistency", "read_ingest_reports"]

FILE_STATUSES = ("read", "ignored", "skipped_for_privacy", "unknown_not_read", "error")


_STREAM_COUNTS = ("files", "rows_read", "rows_kept", "rows_skipped", "duplicates_removed")


@dataclass(frozen=True)
class IngestTotals:
    """What the ingest did with the streaming-history rows of all shards' export files.

    ``rows_read = rows_kept + rows_skipped + duplicates_removed`` (checked on reading);
    ``skipped_by_reason`` splits ``rows_skipped`` by the ingest's reason codes (for example
    ``missing:ts``); ``files_by_status`` counts every export file (streams, playlists, library
    and the files never opened) by status. ``participants_with_streams`` counts the participants
    with at least one kept stream row (a donor whose history is empty, e.g. a user who did not
    listen in the period, is a participant without rows in the streams tables); ``None`` when
    the reports' per-participant sections do not list every participant.
    """

    participants: int
    stream_files: int
    rows_read: int
    rows_kept: int
    rows_skipped: int
    duplicates_removed: int
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    files_by_status: dict[str, int] = field(default_factory=dict)
    participants_with_streams: int | None = None


def _int_field(block: Mapping[str, Any], key: str, where: str) -> int:
    value = block.get(key) if isinstance(block, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: field {key} is missing or not a count")
    return value


def read_ingest_reports(paths: Iterable[str | Path]) -> IngestTotals:
    """Sum the shards' ``ingest_report.json`` files (layout in :mod:`prefcal.ingest.report`).

    Uses ``totals.participants``, ``totals.streams`` (files, rows_read, rows_kept, rows_skipped,
    duplicates_removed), ``totals.files`` (files by status) and, per participant and stream file,
    ``rows_skipped.by_reason``. A missing field, or stream totals with read != kept + skipped +
    duplicates, raise ValueError naming the file and the field.
    """
    counts: Counter = Counter()
    reasons: Counter = Counter()
    statuses: Counter = Counter()
    participants = 0
    with_streams, listed = 0, 0
    n = 0
    for path in paths:
        path = Path(path)
        where = str(path)
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc})") from None
        totals = report.get("totals") if isinstance(report, Mapping) else None
        if not isinstance(totals, Mapping):
            raise ValueError(f"{where}: field totals is missing")
        participants += _int_field(totals, "participants", f"{where}: totals")
        streams = totals.get("streams")
        got = {k: _int_field(streams, k, f"{where}: totals.streams") for k in _STREAM_COUNTS}
        if got["rows_read"] != got["rows_kept"] + got["rows_skipped"] + got["duplicates_removed"]:
            raise ValueError(
                f"{where}: totals.streams.rows_read ({got['rows_read']}) != rows_kept + "
                "rows_skipped + duplicates_removed"
            )
        counts.update(got)
        files = totals.get("files", {})
        if not isinstance(files, Mapping):
            raise ValueError(f"{where}: field totals.files is not an object")
        statuses.update({str(k): _int_field(files, k, f"{where}: totals.files") for k in files})
        for pid, part in (report.get("participants") or {}).items():
            listed += 1
            kept = 0
            for name, entry in (part.get("files") or {}).items():
                if entry.get("kind") != "streams" or entry.get("status") != "read":
                    continue
                kept += int(entry.get("rows_kept") or 0)
                by_reason = (entry.get("rows_skipped") or {}).get("by_reason", {})
                if not isinstance(by_reason, Mapping):
                    raise ValueError(
                        f"{where}: {pid}/{name}: rows_skipped.by_reason is not an object"
                    )
                reasons.update({str(k): int(v) for k, v in by_reason.items()})
            with_streams += kept > 0
        n += 1
    if n == 0:
        raise ValueError("read_ingest_reports needs at least one report")
    return IngestTotals(
        participants=participants,
        stream_files=counts["files"],
        rows_read=counts["rows_read"],
        rows_kept=counts["rows_kept"],
        rows_skipped=counts["rows_skipped"],
        duplicates_removed=counts["duplicates_removed"],
        skipped_by_reason=dict(sorted(reasons.items())),
        files_by_status={
            k: statuses.get(k, 0)
            for k in (*FILE_STATUSES, *sorted(set(statuses) - set(FILE_STATUSES)))
        },
        participants_with_streams=with_streams if listed == participants else None,
    )


def check_consistency(summary: StreamSummary, ingest: IngestTotals) -> None:
    """Raise ValueError unless the streams tables hold exactly what the reports say was kept
    (rows and participants): a row lost or invented between ingest and tables is a bug."""
    if ingest.rows_kept != summary.n_streams:
        raise ValueError(
            f"the ingest reports say {ingest.rows_kept} stream rows were kept, but the streams "
            f"tables hold {summary.n_streams}"
        )
    expected = ingest.participants_with_streams
    if expected is None:
        expected = ingest.participants
    if expected != summary.n_participants:
        raise ValueError(
            f"the ingest reports count {expected} participants with kept stream rows (of "
            f"{ingest.participants}), but the streams tables hold {summary.n_participants}"
        )
