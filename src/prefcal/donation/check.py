"""``prefcal donation check``: what one export holds and what the study would keep. Writes nothing.

The export is read exactly as ``prefcal donation add`` would read it for a new participant (the
ingest, file by file: :mod:`prefcal.donation.export`, then :mod:`prefcal.donation.merge`), in
memory, with unreadable files reported instead of stopping. The summary (:func:`check_export`):

* ``files``: every file with its kind and export generation, status, rows read / kept / skipped
  (by reason) / removed as duplicates (by rule), and the personal fields it holds (names only);
* ``streams``: rows read and kept, date span (UTC dates of the first and last ``ts_end`` of the
  kept rows; days = last - first + 1), rows by content type and plays (>= 30 s) by content type,
  the span and rows of each export format;
* ``dropped``: rows that would not be kept, by reason (skipped) and by rule (duplicates);
* ``personal``: the personal field names found (``username``, IP address, user agent, country),
  which are never read, and the personal files (identity, payment, ...), which are never opened;
* ``usable``: ``prefcal donation add`` would take the export as it is (a new participant): every
  stream, playlist and library file can be read and at least one row would be kept;
* ``unreadable_files``: the files that cannot be read (path, size in bytes, error). ``add`` refuses
  an export that holds one (unless ``--skip-bad-files``), so it is not usable, and the counts above
  leave its rows out; then ``error`` says so in one line (exit status 2, as ``add``'s), and
  ``usable_with_skip_bad_files`` tells whether ``add --skip-bad-files`` would take the rest.

Counts satisfy ``rows_read = rows_kept + rows_skipped + duplicates_removed`` per file and table.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from prefcal.donation.export import read_export
from prefcal.donation.merge import combine_exports
from prefcal.ingest.report import TABLE_KINDS, participant_totals

PLAY_MS = 30_000
GENERATIONS = {
    "legacy_account": "account data, legacy (StreamingHistoryN.json: no content type, no URIs)",
    "account_music": "account data, current: music (StreamingHistory_music_N.json)",
    "account_podcast": "account data, current: podcasts (StreamingHistory_podcast_N.json)",
    "account_audiobook": "account data, current: audiobooks (StreamingHistory_audiobook_N.json)",
    "endsong": "extended streaming history, old generation (endsong_N.json)",
    "endvideo": "extended streaming history, old generation, video (endvideo.json)",
    "extended_audio": "extended streaming history, new generation (Streaming_History_Audio_*)",
    "extended_video": (
        "extended streaming history, new generation, video (Streaming_History_Video_*)"
    ),
}
KIND_WORDS = {
    "playlists": "playlists (PlaylistN.json)",
    "library": "saved library (YourLibrary.json)",
    "ignored": "not used by the study",
    "privacy": "personal data: never opened",
    "unknown": "unknown file: not opened",
}
_CHECK_ID = "P0000000000"


def _date(ts: Any) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%d")


def _span(ts_end: pa.ChunkedArray | pa.Array) -> dict[str, Any]:
    mm = pc.min_max(ts_end).as_py()
    lo, hi = mm["min"], mm["max"]
    days = (hi.date() - lo.date()).days + 1 if lo is not None else 0
    return {"first": _date(lo), "last": _date(hi), "days": days}


def _counts(col: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    vc = pc.value_counts(col)
    return {
        str(v): int(n)
        for v, n in sorted(zip(vc.field(0).to_pylist(), vc.field(1).to_pylist(), strict=True))
    }


def check_export(path: str | Path) -> dict[str, Any]:
    """Summary of one export (module doc); raises :class:`prefcal.ingest.IngestError` only when
    the export as a whole cannot be read (missing, not a folder or zip, unsafe zip)."""
    data = read_export(path, _CHECK_ID, skip_bad_files=True)
    merged = combine_exports(_CHECK_ID, [data])
    prefix = "export_001/"
    entries = {k[len(prefix) :]: e for k, e in merged.entries.items()}
    totals = participant_totals(entries)
    files = []
    personal_fields: set[str] = set()
    skipped: Counter[str] = Counter()
    dups: Counter[str] = Counter()
    for info in sorted(data.files, key=lambda f: f.rel):
        e = entries[info.rel]
        item: dict[str, Any] = {
            "path": info.rel,
            "kind": info.kind,
            "format": info.fmt,
            "generation": GENERATIONS.get(info.fmt or "", KIND_WORDS.get(info.kind, info.kind)),
            "status": e["status"],
        }
        if e["status"] == "error":
            item["bytes"] = data.sizes.get(info.rel)
        if e["status"] == "read":
            item.update(
                rows_read=e["rows_read"],
                rows_kept=e["rows_kept"],
                rows_skipped=e["rows_skipped"]["by_reason"],
                duplicates_removed={
                    k: v for k, v in e["duplicates_removed"].items() if k != "total"
                },
            )
            skipped.update(e["rows_skipped"]["by_reason"])
            dups.update({k: v for k, v in e["duplicates_removed"].items() if k != "total"})
        if e.get("personal_fields_dropped"):
            item["personal_fields"] = e["personal_fields_dropped"]
            personal_fields.update(e["personal_fields_dropped"])
        if e["status"] == "error":
            item["error"] = e["error"].replace(f"{_CHECK_ID}/", "")
        files.append(item)

    s = merged.streams
    streams: dict[str, Any] = {k: totals["streams"][k] for k in totals["streams"]}
    streams.update(_span(s["ts_end"]) if s.num_rows else {"first": None, "last": None, "days": 0})
    streams["content_types"] = _counts(s["content_type"]) if s.num_rows else {}
    plays = s.filter(pc.greater_equal(s["ms_played"], PLAY_MS))
    streams["plays_30s"] = plays.num_rows
    streams["plays_30s_by_content_type"] = _counts(plays["content_type"]) if plays.num_rows else {}
    by_format = {}
    for fmt in sorted(set(s["source_format"].to_pylist())):
        sub = s.filter(pc.equal(s["source_format"], fmt))
        by_format[fmt] = {"rows_kept": sub.num_rows, **_span(sub["ts_end"])}
    streams["by_format"] = by_format
    kept = {k: totals[k]["rows_kept"] for k in TABLE_KINDS}
    n_playlists = len(set(merged.playlists["playlist_id"].to_pylist()))
    bad = [
        {"path": f["path"], "bytes": f["bytes"], "error": f["error"]}
        for f in files
        if f["status"] == "error"
    ]
    out: dict[str, Any] = {
        "export": str(path),
        # what `add` does: it stops at an unreadable file (without --skip-bad-files)
        "usable": not bad and any(kept.values()),
        "usable_with_skip_bad_files": any(kept.values()),
        "unreadable_files": bad,
        "files": files,
        "files_by_status": totals["files"],
        "streams": streams,
        "playlists": {**totals["playlists"], "playlists_kept": n_playlists},
        "library": dict(totals["library"]),
        "dropped": {
            "rows_skipped": int(sum(skipped.values())),
            "skipped_by_reason": dict(sorted(skipped.items())),
            "duplicates_removed": int(sum(dups.values())),
            "duplicates_by_rule": dict(sorted(dups.items())),
        },
        "personal": {
            "fields_removed": sorted(personal_fields),
            "files_not_opened": sorted(f.rel for f in data.files if f.kind == "privacy"),
        },
    }
    if bad:
        out["error"] = (
            f"{len(bad)} file(s) of the export cannot be read, so `prefcal donation add` refuses "
            f"it: {'; '.join(_bad_file(b) for b in bad)}"
        )
    return out


def _size(n: int | None) -> str:
    return "size unknown" if n is None else f"{n:,} bytes"


def _bad_file(b: dict[str, Any]) -> str:
    """``path (size): error``, the error without its leading ``path: ``."""
    why = b["error"].removeprefix(f"{b['path']}: ")
    return f"{b['path']} ({_size(b['bytes'])}): {why}"


def _n(x: int) -> str:
    return f"{x:,}"


def format_check(summary: dict[str, Any]) -> str:
    """The human-readable text of a :func:`check_export` summary."""
    lines = [f"Export: {summary['export']}"]
    fs = summary["files_by_status"]
    lines.append(
        f"Files: {sum(fs.values())} ("
        + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(fs.items()))
        + ")"
    )
    width = max((len(f["path"]) for f in summary["files"]), default=0)
    for f in summary["files"]:
        text = f"  {f['path']:<{width}}  {f['generation']}"
        if f["status"] == "read":
            text += f": {_n(f['rows_read'])} rows, {_n(f['rows_kept'])} kept"
            dropped = sum(f["rows_skipped"].values()) + sum(f["duplicates_removed"].values())
            if dropped:
                text += f", {_n(dropped)} dropped"
        elif f["status"] == "error":
            text += f": ERROR {f['error']}"
        lines.append(text)
    s = summary["streams"]
    if s["rows_read"]:
        lines.append(
            f"Streams: {_n(s['rows_read'])} rows read, {_n(s['rows_kept'])} kept, "
            f"from {s['first']} to {s['last']} ({_n(s['days'])} days, UTC)"
        )
        lines.append(
            "  content types (rows): "
            + ", ".join(f"{k} {_n(v)}" for k, v in s["content_types"].items())
        )
        lines.append(
            f"  plays >= 30 s: {_n(s['plays_30s'])} ("
            + ", ".join(f"{k} {_n(v)}" for k, v in s["plays_30s_by_content_type"].items())
            + ")"
        )
        for fmt, b in s["by_format"].items():
            lines.append(f"  {fmt}: {_n(b['rows_kept'])} rows, {b['first']} to {b['last']}")
    else:
        lines.append("Streams: none")
    p, lib = summary["playlists"], summary["library"]
    lines.append(
        f"Playlists: {_n(p['playlists_kept'])} playlists, {_n(p['rows_kept'])} items kept; "
        f"library: {_n(lib['rows_kept'])} saved items kept"
    )
    d = summary["dropped"]
    why = [f"{k} {_n(v)}" for k, v in d["skipped_by_reason"].items()]
    why += [f"duplicate ({k}) {_n(v)}" for k, v in d["duplicates_by_rule"].items()]
    lines.append(
        f"Rows that would be dropped: {_n(d['rows_skipped'] + d['duplicates_removed'])}"
        + (f" ({', '.join(why)})" if why else "")
    )
    pers = summary["personal"]
    lines.append(
        "Personal fields removed (never read): " + (", ".join(pers["fields_removed"]) or "none")
    )
    lines.append("Personal files not opened: " + (", ".join(pers["files_not_opened"]) or "none"))
    bad = summary["unreadable_files"]
    if bad:
        lines.append(
            f"Usable: NO - {len(bad)} file(s) cannot be read, so `prefcal donation add` refuses "
            "the export (the counts above leave their rows out):"
        )
        lines += [f"  {b['path']} ({_size(b['bytes'])})" for b in bad]
        lines.append(
            "  Repair or re-export the file(s); `prefcal donation add --skip-bad-files` would add "
            "the rest without them."
            if summary["usable_with_skip_bad_files"]
            else "  Nothing would be kept from the rest of the export either."
        )
    else:
        lines.append(
            "Usable: yes" if summary["usable"] else "Usable: NO - nothing would be kept from it"
        )
    return "\n".join(lines)
