"""``ingest_report.json``: what happened to every file, participant and row.

Layout (all counts are rows; for playlists a row is an item, for the library a saved item)::

    {
      "report_version": 1,
      "totals": {"participants": n, "streams": COUNTS, "playlists": COUNTS, "library": COUNTS,
                 "files": {status: n}},
      "participants": {
        "P0123456789": {
          "totals": {"streams": COUNTS, "playlists": COUNTS, "library": COUNTS,
                     "files": {status: n}},
          "files": {
            "<path inside the donation>": {
              "kind": "streams" | "playlists" | "library" | "ignored" | "privacy" | "unknown",
              "status": "read" | "ignored" | "skipped_for_privacy" | "unknown_not_read" | "error",
              "format": "endsong" | ...,            (stream files)
              "parser": "fast" | "checked",          (stream files)
              "rows_read": n, "rows_kept": n,
              "rows_skipped": {"total": n, "by_reason": {reason: n},
                               "examples": [{"row": i, "reason": r}]},
              "duplicates_removed": {"total": n, rule: n},
              "personal_fields_dropped": [...], "unexpected_fields": [...],
              "error": "message"                     (status error, with --skip-bad-files)
            }}}}}

where ``COUNTS = {"files", "rows_read", "rows_kept", "rows_skipped", "duplicates_removed"}`` and
always ``rows_read = rows_kept + rows_skipped + duplicates_removed`` (checked by
:func:`check_counts`). Only study ids and paths *inside* a donation appear: never the donation's
own name.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from prefcal.ingest.skips import SkipLog

REPORT_VERSION = 1
TABLE_KINDS = ("streams", "playlists", "library")
STATUS_BY_KIND = {
    "ignored": "ignored",
    "privacy": "skipped_for_privacy",
    "unknown": "unknown_not_read",
}


def file_entry(
    kind: str,
    *,
    fmt: str | None = None,
    parser: str | None = None,
    rows_read: int = 0,
    rows_kept: int = 0,
    skips: SkipLog | None = None,
    duplicates: dict[str, int] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report entry of one file that was read."""
    skips = skips or SkipLog()
    dups = {k: int(v) for k, v in sorted((duplicates or {}).items()) if v}
    entry: dict[str, Any] = {
        "kind": kind,
        "status": "read",
        "rows_read": int(rows_read),
        "rows_kept": int(rows_kept),
        "rows_skipped": {"total": skips.total, **skips.to_json()},
        "duplicates_removed": {"total": int(sum(dups.values())), **dups},
    }
    if fmt is not None:
        entry["format"] = fmt
    if parser is not None:
        entry["parser"] = parser
    entry.update(extra or {})
    return entry


def not_read_entry(kind: str, fmt: str | None = None) -> dict[str, Any]:
    """The report entry of a file that was not opened (ignored, privacy, unknown)."""
    entry: dict[str, Any] = {"kind": kind, "status": STATUS_BY_KIND[kind]}
    if fmt is not None:
        entry["format"] = fmt
    return entry


def error_entry(kind: str, fmt: str | None, message: str) -> dict[str, Any]:
    """The report entry of a file whose ingest failed (kept going with --skip-bad-files)."""
    entry = {"kind": kind, "status": "error", "error": message}
    if fmt is not None:
        entry["format"] = fmt
    return entry


def _zero() -> dict[str, int]:
    return {
        "files": 0,
        "rows_read": 0,
        "rows_kept": 0,
        "rows_skipped": 0,
        "duplicates_removed": 0,
    }


def participant_totals(files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-table sums over a participant's file entries, and the number of files by status."""
    out: dict[str, Any] = {k: _zero() for k in TABLE_KINDS}
    status: Counter[str] = Counter()
    for entry in files.values():
        status[entry["status"]] += 1
        if entry["kind"] in TABLE_KINDS and entry["status"] == "read":
            t = out[entry["kind"]]
            t["files"] += 1
            t["rows_read"] += entry["rows_read"]
            t["rows_kept"] += entry["rows_kept"]
            t["rows_skipped"] += entry["rows_skipped"]["total"]
            t["duplicates_removed"] += entry["duplicates_removed"]["total"]
    out["files"] = dict(sorted(status.items()))
    return out


def overall_totals(participants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sums of the participants' totals."""
    out: dict[str, Any] = {"participants": len(participants)}
    status: Counter[str] = Counter()
    for kind in TABLE_KINDS:
        t = _zero()
        for p in participants.values():
            for k in t:
                t[k] += p["totals"][kind][k]
        out[kind] = t
    for p in participants.values():
        status.update(p["totals"]["files"])
    out["files"] = dict(sorted(status.items()))
    return out


def check_counts(report: dict[str, Any]) -> None:
    """Raise AssertionError unless read = kept + skipped + duplicates for every file and total."""
    for pid, p in report["participants"].items():
        for path, e in p["files"].items():
            if e["status"] == "read":
                got = e["rows_kept"] + e["rows_skipped"]["total"] + e["duplicates_removed"]["total"]
                if e["rows_read"] != got:
                    raise AssertionError(f"{pid}/{path}: read {e['rows_read']} != {got}")
    for kind in TABLE_KINDS:
        t = report["totals"][kind]
        got = t["rows_kept"] + t["rows_skipped"] + t["duplicates_removed"]
        if t["rows_read"] != got:
            raise AssertionError(f"totals {kind}: read {t['rows_read']} != {got}")


def build_report(participants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The whole report from ``{participant_id: {"files": {...}}}`` (totals are added)."""
    parts = {}
    for pid in sorted(participants):
        files = dict(sorted(participants[pid]["files"].items()))
        parts[pid] = {"totals": participant_totals(files), "files": files}
    report = {
        "report_version": REPORT_VERSION,
        "totals": overall_totals(parts),
        "participants": parts,
    }
    check_counts(report)
    return report


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the report as sorted, indented JSON (the same report gives the same bytes)."""
    text = json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
