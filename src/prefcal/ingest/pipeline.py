"""The ingest: donations -> canonical tables (streams, playlists, library) + report.

One participant at a time, one file at a time: list the donation's files (never opening privacy
files), read and normalise each stream file, deduplicate the participant's streams
(:mod:`prefcal.ingest.dedupe`), keep the newest playlist snapshot and the union of the library,
then sort. Participants are concatenated in study-id order, so the same donations give the same
bytes whatever order they are listed in.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefcal.ingest.dedupe import dedupe_keep
from prefcal.ingest.donations import DonationFile, donation_name, iter_donation_files
from prefcal.ingest.errors import IngestError
from prefcal.ingest.formats import FORMAT_RANK, FileKind, detect_format
from prefcal.ingest.ids import random_study_id, study_id
from prefcal.ingest.library import read_library_file
from prefcal.ingest.normalise import NORMALISED_COLUMNS, normalise_streams
from prefcal.ingest.playlists import read_playlist_file
from prefcal.ingest.readers import WRAP_PREFIX, WRAP_SUFFIX, read_stream_wrapped
from prefcal.ingest.report import (
    build_report,
    error_entry,
    file_entry,
    not_read_entry,
    write_report,
)
from prefcal.ingest.skips import SkipLog
from prefcal.tables import LIBRARY_SCHEMA, PLAYLISTS_SCHEMA, STREAMS_SCHEMA

# Tie-breaks after participant_id, ts_start, item_uri: every other column, so the order is total.
STREAM_SORT_KEYS = [
    "ts_start",
    "item_uri",
    "ts_end",
    "ms_played",
    "item_name",
    "creator_name",
    "album_name",
    "content_type",
    "device",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_ts",
    "source_format",
]
OUTPUT_FILES = {
    "streams": "streams.parquet",
    "playlists": "playlists.parquet",
    "library": "library.parquet",
}
REPORT_FILE = "ingest_report.json"
# Stream files parsed at a time (Arrow's parser releases the GIL). 1 by default: on the shared
# 2-core machine of bench/ingest.py a second thread gave no speed-up, and the workflow already
# runs shards in parallel.
DEFAULT_THREADS = 1


@dataclass
class Participant:
    """One participant: study id, donation name (never written to results) and the donation
    folders/zips that hold their exports (several when a folder and its zip are both given)."""

    participant_id: str
    name: str
    sources: list[Path]


@dataclass
class IngestResult:
    """The three canonical tables and the report of a run (see :mod:`prefcal.ingest.report`)."""

    streams: pa.Table
    playlists: pa.Table
    library: pa.Table
    report: dict[str, Any]
    participants: list[Participant] = field(default_factory=list)


@dataclass
class _File:
    rel: str
    unit: int
    src: DonationFile
    kind: FileKind


def assign_participants(
    donations: Iterable[str | Path], id_seed: int | None = None
) -> list[Participant]:
    """Group donations by name (``alice/`` and ``alice.zip`` are one participant) and give each
    a study id: :func:`prefcal.ingest.ids.study_id` with a seed, random without."""
    groups: dict[str, list[Path]] = {}
    for d in donations:
        groups.setdefault(donation_name(d), []).append(Path(d))
    out: list[Participant] = []
    used: dict[str, str] = {}
    for name in sorted(groups):
        pid = study_id(name, id_seed) if id_seed is not None else random_study_id()
        while id_seed is None and pid in used:
            pid = random_study_id()
        if pid in used:
            raise IngestError(
                f"donations '{used[pid]}' and '{name}' get the same study id {pid}; "
                "rename one of them or change --id-seed"
            )
        used[pid] = name
        out.append(Participant(pid, name, sorted(groups[name])))
    return sorted(out, key=lambda p: p.participant_id)


def _list_files(p: Participant) -> list[_File]:
    units: dict[tuple[int, str], int] = {}
    files = []
    for i, src in enumerate(p.sources):
        for f in iter_donation_files(src):
            rel = f.relpath if len(p.sources) == 1 else f"donation_{i + 1}/{f.relpath}"
            unit = units.setdefault((i, f.unit), len(units))
            files.append(_File(rel, unit, f, detect_format(f.relpath)))
    return files


def _number(rel: str) -> int:
    m = re.search(r"(\d+)\D*$", rel.rsplit("/", 1)[-1])
    return int(m.group(1)) if m else 0


class _Run:
    """Per-participant state: report entries and the handling of file-level errors."""

    def __init__(self, pid: str, skip_bad_files: bool):
        self.pid = pid
        self.skip_bad_files = skip_bad_files
        self.entries: dict[str, dict[str, Any]] = {}

    def failed(self, f: _File, exc: IngestError) -> None:
        if not self.skip_bad_files:
            raise exc
        # the report names the file by study id and its path inside the donation only
        message = str(exc).replace(f.src.where, f"{self.pid}/{f.rel}")
        self.entries[f.rel] = error_entry(f.kind.kind, f.kind.fmt, message)


def _read_one(f: _File) -> tuple[Any, pa.Table | None, SkipLog | None]:
    """Read, parse and normalise one stream file: (raw or the IngestError, table, skips)."""
    try:
        wrapped = f.src.read_wrapped(WRAP_PREFIX, WRAP_SUFFIX)
        raw = read_stream_wrapped(wrapped, f.kind.fmt, f.src.where)
        del wrapped
        skips = raw.skips
        norm = normalise_streams(raw.table, f.kind.fmt, skips)
    except IngestError as exc:
        return exc, None, None
    # keep the metadata, free the columns (an empty table: a zero-length slice would still
    # hold every buffer of the file's parsed columns until the participant is done)
    raw.table = raw.table.schema.empty_table()
    return raw, norm, skips


def _streams(files: list[_File], run: _Run, pool: ThreadPoolExecutor | None) -> pa.Table:
    order = sorted(
        (f for f in files if f.kind.kind == "streams"),
        key=lambda f: (FORMAT_RANK[f.kind.fmt], f.unit, f.rel),
    )
    results = pool.map(_read_one, order) if pool is not None else map(_read_one, order)
    parts, meta = [], {}
    n_total = 0
    for fi, (f, (raw, norm, skips)) in enumerate(zip(order, results, strict=True)):
        if isinstance(raw, IngestError):
            run.failed(f, raw)
            continue
        n = norm.num_rows
        norm = (
            norm.append_column("_file", pa.array(np.full(n, fi, dtype=np.int32)))
            .append_column("_unit", pa.array(np.full(n, f.unit, dtype=np.int32)))
            .append_column("_ord", pa.array(np.arange(n_total, n_total + n, dtype=np.int64)))
        )
        n_total += n
        parts.append(norm)
        extra = {
            "personal_fields_dropped": raw.personal_fields,
            "unexpected_fields": raw.unexpected_fields(f.kind.fmt),
            "values_repaired": raw.repaired,
        }
        meta[fi] = (f, raw.parser, raw.n_read, n, skips, extra)
    if not parts:
        return _empty_streams()
    # The files' tables are the chunks of one table (no copy); dedupe and sort read chunked
    # columns. Only `table` may hold them from here on, so that the sort can release them.
    table = pa.concat_tables(parts)
    del parts, norm, raw
    keep, removed = dedupe_keep(table)
    for fi, (f, parser, n_read, n, skips, extra) in meta.items():
        dups = {rule: c for (i, rule), c in removed.items() if i == fi}
        run.entries[f.rel] = file_entry(
            "streams",
            fmt=f.kind.fmt,
            parser=parser,
            rows_read=n_read,
            rows_kept=n - sum(dups.values()),
            skips=skips,
            duplicates=dups,
            extra=extra,
        )
    # The kept rows in sort order, without a filtered copy of the table: the (stable) sort
    # order of all rows, less the removed ones, is the sort order of the kept rows.
    table = table.select(NORMALISED_COLUMNS)
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in STREAM_SORT_KEYS])
    if not keep.all():
        order_np = order.to_numpy()
        order = pa.array(order_np[keep[order_np]])
    schema, columns = table.schema, table.columns
    del table
    return _take_releasing(schema, columns, order)


def _take_releasing(schema: pa.Schema, columns: list[Any], order: pa.Array) -> pa.Table:
    """``Table.from_arrays(columns).take(order)``, one column at a time: each column is
    replaced by its reordered copy (one contiguous array) and the original released, so the
    peak memory is the table plus one column, not two tables. The caller must hold no other
    reference to the columns."""
    for i in range(len(columns)):
        columns[i] = _one_array(pc.take(columns[i], order))
    return pa.Table.from_arrays(columns, schema=schema)


def _one_array(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The column as one array; a column of one chunk is returned without a copy."""
    if isinstance(col, pa.Array):
        return col
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def _empty_streams() -> pa.Table:
    return STREAMS_SCHEMA.empty_table().drop_columns(["participant_id"])


def _playlists(files: list[_File], run: _Run) -> list[dict[str, Any]]:
    order = sorted(
        (f for f in files if f.kind.kind == "playlists"),
        key=lambda f: (f.unit, _number(f.rel), f.rel),
    )
    parsed = []
    for f in order:
        try:
            parsed.append((f, read_playlist_file(f.src.read(), f.src.where)))
        except IngestError as exc:
            run.failed(f, exc)
    if not parsed:
        return []
    # the newest snapshot wins: latest lastModifiedDate, then most items, then first unit
    n_rows: Counter[int] = Counter()
    last: dict[int, str] = {}
    for f, pf in parsed:
        n_rows[f.unit] += len(pf.rows)
        last[f.unit] = max(last.get(f.unit, ""), pf.last_modified)
    best = max(last, key=lambda u: (last[u], n_rows[u], -u))
    rows: list[dict[str, Any]] = []
    n_before = 0
    for f, pf in parsed:
        keep = f.unit == best
        if keep:
            for r in pf.rows:
                rows.append({**r, "playlist_id": f"{run.pid}-{n_before + r['playlist_index']}"})
            n_before += pf.n_playlists
        run.entries[f.rel] = file_entry(
            "playlists",
            rows_read=pf.n_read,
            rows_kept=len(pf.rows) if keep else 0,
            skips=pf.skips,
            duplicates={} if keep else {"superseded_snapshot": len(pf.rows)},
            extra={"playlists": pf.n_playlists, "values_set_to_null": pf.nulled},
        )
    return rows


def _library(files: list[_File], run: _Run) -> list[dict[str, Any]]:
    order = sorted((f for f in files if f.kind.kind == "library"), key=lambda f: (f.unit, f.rel))
    seen: set[tuple[Any, ...]] = set()
    rows: list[dict[str, Any]] = []
    for f in order:
        try:
            lf = read_library_file(f.src.read(), f.src.where)
        except IngestError as exc:
            run.failed(f, exc)
            continue
        dups = 0
        for r in lf.rows:
            key = (r["kind"], r["uri"], r["name"], r["creator_name"])
            if key in seen:
                dups += 1
                continue
            seen.add(key)
            rows.append(r)
        run.entries[f.rel] = file_entry(
            "library",
            rows_read=lf.n_read,
            rows_kept=len(lf.rows) - dups,
            skips=lf.skips,
            duplicates={"exact": dups},
            extra={"unexpected_keys": lf.unexpected_keys},
        )

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return tuple((r[k] is None, r[k] or "") for k in ("kind", "uri", "name", "creator_name"))

    return sorted(rows, key=key)


def ingest_participant(
    participant: Participant,
    skip_bad_files: bool = False,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[pa.Table, pa.Table, pa.Table, dict[str, dict[str, Any]]]:
    """Streams, playlists and library tables of one participant, and the report entries of
    their files; ``pool`` parses stream files in parallel (results are used in file order)."""
    pid = participant.participant_id
    run = _Run(pid, skip_bad_files)
    files = _list_files(participant)
    for f in files:
        if f.kind.kind in ("ignored", "privacy", "unknown"):
            run.entries[f.rel] = not_read_entry(f.kind.kind, f.kind.fmt)
    streams = _streams(files, run, pool)
    streams = streams.add_column(0, "participant_id", pa.repeat(pa.scalar(pid), streams.num_rows))
    streams = pa.Table.from_arrays(
        [_one_array(streams[c]) for c in STREAMS_SCHEMA.names], schema=STREAMS_SCHEMA
    )
    pl_rows = _playlists(files, run)
    playlists = pa.Table.from_pylist(
        [{**r, "participant_id": pid} for r in pl_rows], schema=PLAYLISTS_SCHEMA
    )
    lib_rows = _library(files, run)
    library = pa.Table.from_pylist(
        [{**r, "participant_id": pid} for r in lib_rows], schema=LIBRARY_SCHEMA
    )
    return streams, playlists, library, run.entries


def ingest_donations(
    donations: Sequence[str | Path],
    id_seed: int | None = None,
    skip_bad_files: bool = False,
    threads: int = DEFAULT_THREADS,
) -> IngestResult:
    """Ingest donations (folders or zips, one per participant) into memory.

    ``id_seed`` makes the study ids reproducible (:func:`prefcal.ingest.ids.study_id`);
    ``skip_bad_files`` records a file-level error in the report and goes on instead of raising
    :class:`IngestError`; ``threads`` stream files are parsed at a time (the output does not
    depend on it).
    """
    participants = assign_participants(donations, id_seed)
    streams, playlists, library = [], [], []
    entries: dict[str, dict[str, Any]] = {}
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        for p in participants:
            s, pl, lib, files = ingest_participant(p, skip_bad_files, pool)
            streams.append(s)
            playlists.append(pl)
            library.append(lib)
            entries[p.participant_id] = {"files": files}
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return IngestResult(
        _concat(streams, STREAMS_SCHEMA),
        _concat(playlists, PLAYLISTS_SCHEMA),
        _concat(library, LIBRARY_SCHEMA),
        build_report(entries),
        participants,
    )


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """Participants' tables one after the other (chunked: Parquet row groups and bytes depend on
    the rows only, not on the chunks, so no copy is made)."""
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)


# Dictionary encoding only where values repeat a lot (it slows writing high-cardinality columns
# and makes their files larger); zstd level 1 is as small as level 3 here and faster.
_DICTIONARY_COLUMNS = {
    "participant_id",
    "content_type",
    "device",
    "reason_start",
    "reason_end",
    "source_format",
    "playlist_id",
    "playlist_name",
    "item_kind",
    "kind",
}


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        compression_level=1,
        use_dictionary=[c for c in table.column_names if c in _DICTIONARY_COLUMNS],
    )
    tmp.replace(path)


def _check_id_map_path(path: Path, out_dir: Path) -> None:
    if path.resolve().is_relative_to(out_dir.resolve()):
        raise IngestError(
            f"--id-map {path}: the id map must not be written inside the output folder "
            f"{out_dir}; choose a private location"
        )


def write_id_map(participants: Sequence[Participant], path: str | Path, out_dir: Path) -> None:
    """CSV ``participant_id,donation,sources`` for the researcher; refuses a path inside the
    output folder (the tables there may leave the project, the mapping must not)."""
    path = Path(path)
    _check_id_map_path(path, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["participant_id", "donation", "sources"])
        for p in sorted(participants, key=lambda p: p.participant_id):
            w.writerow([p.participant_id, p.name, ";".join(str(s) for s in p.sources)])


def ingest(
    donations: Sequence[str | Path],
    out_dir: str | Path,
    id_seed: int | None = None,
    id_map: str | Path | None = None,
    skip_bad_files: bool = False,
    threads: int = DEFAULT_THREADS,
) -> IngestResult:
    """Ingest donations and write ``streams.parquet``, ``playlists.parquet``,
    ``library.parquet`` and ``ingest_report.json`` to ``out_dir`` (and the id map, if asked)."""
    out = Path(out_dir)
    if id_map is not None:
        _check_id_map_path(Path(id_map), out)  # before any work is done
    result = ingest_donations(
        donations, id_seed=id_seed, skip_bad_files=skip_bad_files, threads=threads
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_parquet(result.streams, out / OUTPUT_FILES["streams"])
    _write_parquet(result.playlists, out / OUTPUT_FILES["playlists"])
    _write_parquet(result.library, out / OUTPUT_FILES["library"])
    write_report(result.report, out / REPORT_FILE)
    if id_map is not None:
        write_id_map(result.participants, id_map, out)
    return result


def removed_rows(report: dict[str, Any]) -> Counter[str]:
    """Total rows removed as duplicates, by rule, over a report (for summaries)."""
    out: Counter[str] = Counter()
    for p in report["participants"].values():
        for e in p["files"].values():
            for k, v in e.get("duplicates_removed", {}).items():
                if k != "total":
                    out[k] += v
    return out
