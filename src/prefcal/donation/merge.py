"""A participant's tables from all their exports, without duplicating plays.

Every export added for a participant is kept as it was read (:class:`ExportData`: per-file
scrubbed canonical rows, deduplicated within each file, and the ingest's report entries of its
files). The participant's tables are recomputed from *all* their exports at every add, with the
ingest's rules, exactly as :func:`prefcal.ingest.ingest_donations` would on one donation folder
holding every export (one sub-folder each, in the order they were added):

* **streams**: :func:`prefcal.ingest.dedupe.dedupe_streams` over every export's rows together, in
  the ingest's preference order (format rank, then export, export unit, file, position); each
  export's folders are its own units. So the same play in two exports is kept once (rule 1, the
  newer generation wins), account data keeps the largest count any single export holds (rule 2),
  and extended history replaces the account rows of the same plays (rule 3).
* **playlists** (a snapshot): the newest snapshot over all exports (latest ``lastModifiedDate``,
  then more items, then the earlier export); the others' items count as ``superseded_snapshot``.
* **library**: the union, first seen (export, unit, file order) kept, later copies ``exact``.

Every removed row is counted in the ``duplicates_removed`` of the file it came from, so for every
file and in total ``rows_read = rows_kept + rows_skipped + duplicates_removed``. Recomputing from
the exports (instead of merging into the previous result) makes the result independent of how
the exports were grouped into adds, and adding the same rows twice can change nothing: a test
checks the equality with the ingest on random overlapping exports.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from prefcal.donation.export import ExportData
from prefcal.ingest.dedupe import dedupe_streams
from prefcal.ingest.formats import FORMAT_RANK
from prefcal.ingest.normalise import NORMALISED_COLUMNS
from prefcal.ingest.pipeline import STREAM_SORT_KEYS
from prefcal.tables import LIBRARY_SCHEMA, PLAYLISTS_SCHEMA, STREAMS_SCHEMA

_LIB_KEY = ("kind", "uri", "name", "creator_name")


def export_prefix(export_no: int) -> str:
    """Report-key prefix of the files of export number ``export_no`` (1-based)."""
    return f"export_{export_no:03d}/"


@dataclass
class Combined:
    """A participant's canonical tables and the report entries of every file of every export
    (keyed ``export_NNN/<path inside that export>``)."""

    participant_id: str
    streams: pa.Table
    playlists: pa.Table
    library: pa.Table
    entries: dict[str, dict[str, Any]]
    n_exports: int


def _count_removed(entry: dict[str, Any], rule: str, n: int) -> None:
    """Move ``n`` kept rows of a file's report entry to its duplicates under ``rule``."""
    if n <= 0:
        return
    if n > entry["rows_kept"]:
        raise AssertionError(f"removing {n} rows from a file that kept {entry['rows_kept']}")
    dups = {k: v for k, v in entry["duplicates_removed"].items() if k != "total"}
    dups[rule] = dups.get(rule, 0) + int(n)
    entry["rows_kept"] -= int(n)
    entry["duplicates_removed"] = {"total": int(sum(dups.values())), **dict(sorted(dups.items()))}


def _streams(pid: str, exports: list[ExportData], entries: dict[str, dict[str, Any]]) -> pa.Table:
    parts = []
    keys: list[str] = []
    for no, ex in enumerate(exports, start=1):
        for rel, unit, fmt, t in ex.streams:
            n = t.num_rows
            keys.append(export_prefix(no) + rel)
            parts.append(
                t.select(NORMALISED_COLUMNS)
                .append_column("_file", pa.array(np.full(n, len(keys) - 1, np.int32)))
                # one unit per (export, folder inside it), ordered by export then folder
                .append_column("_unit", pa.array(np.full(n, no * 1_000_000 + unit, np.int64)))
                .append_column("_rank", pa.array(np.full(n, FORMAT_RANK[fmt], np.int32)))
                .append_column("_pos", pa.array(np.arange(n, dtype=np.int64)))
            )
    if not parts:
        return STREAMS_SCHEMA.empty_table()
    # the ingest's preference order: format rank, unit, file (by path), position
    table = pa.concat_tables(parts).combine_chunks()
    table = table.sort_by([(c, "ascending") for c in ("_rank", "_unit", "_file", "_pos")])
    table = table.append_column("_ord", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    kept, removed = dedupe_streams(table)
    for (fi, rule), c in sorted(removed.items()):
        _count_removed(entries[keys[fi]], rule, c)
    kept = kept.sort_by([(k, "ascending") for k in STREAM_SORT_KEYS])
    cols = [pa.array(np.full(kept.num_rows, pid, dtype=object), pa.string())]
    cols += [kept[c].combine_chunks() for c in NORMALISED_COLUMNS]
    return pa.Table.from_arrays(cols, schema=STREAMS_SCHEMA)


def _playlists(pid: str, exports: list[ExportData], entries: dict[str, dict[str, Any]]) -> pa.Table:
    with_pl = [(no, ex) for no, ex in enumerate(exports, start=1) if ex.has_playlists]
    if not with_pl:
        return PLAYLISTS_SCHEMA.empty_table()
    best_no, best = max(
        with_pl, key=lambda x: (x[1].playlists_last_modified, len(x[1].playlists), -x[0])
    )
    for no, _ex in with_pl:
        if no == best_no:
            continue
        for k, e in entries.items():
            if k.startswith(export_prefix(no)) and e["kind"] == "playlists":
                if e["status"] == "read":
                    _count_removed(e, "superseded_snapshot", e["rows_kept"])
    return pa.Table.from_pylist(
        [{**r, "participant_id": pid} for r in best.playlists], schema=PLAYLISTS_SCHEMA
    )


def _library(pid: str, exports: list[ExportData], entries: dict[str, dict[str, Any]]) -> pa.Table:
    seen: set[tuple[Any, ...]] = set()
    rows: list[dict[str, Any]] = []
    for no, ex in enumerate(exports, start=1):
        for rel, _unit, lib_rows in sorted(ex.library, key=lambda x: (x[1], x[0])):
            dups = 0
            for r in lib_rows:
                key = tuple(r[k] for k in _LIB_KEY)
                if key in seen:
                    dups += 1
                    continue
                seen.add(key)
                rows.append(r)
            _count_removed(entries[export_prefix(no) + rel], "exact", dups)
    rows.sort(key=lambda r: tuple((r[k] is None, r[k] or "") for k in _LIB_KEY))
    return pa.Table.from_pylist(
        [{**{k: r[k] for k in _LIB_KEY}, "participant_id": pid} for r in rows],
        schema=LIBRARY_SCHEMA,
    )


def combine_exports(participant_id: str, exports: list[ExportData]) -> Combined:
    """The participant's tables and report entries from all their exports, in the order they
    were added (module doc: the rules). The exports are not changed."""
    for ex in exports:
        if ex.participant_id != participant_id:
            raise ValueError(f"an export of {ex.participant_id} is not one of {participant_id}")
    entries: dict[str, dict[str, Any]] = {}
    for no, ex in enumerate(exports, start=1):
        for rel, e in ex.entries.items():
            entries[export_prefix(no) + rel] = copy.deepcopy(e)
    streams = _streams(participant_id, exports, entries)
    playlists = _playlists(participant_id, exports, entries)
    library = _library(participant_id, exports, entries)
    return Combined(
        participant_id, streams, playlists, library, dict(sorted(entries.items())), len(exports)
    )


def kept_by_file(combined: Combined) -> dict[str, int]:
    """Rows kept per file (report key): what a later export may take away (replace)."""
    return {k: e["rows_kept"] for k, e in combined.entries.items() if e["status"] == "read"}
