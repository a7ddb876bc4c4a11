"""The ingest: donations -> canonical tables (streams, playlists, library) + report.

Per participant: list the donation's files (never opening privacy files), read and normalise each
stream file, deduplicate the participant's streams (:mod:`prefcal.ingest.dedupe`), keep the newest
playlist snapshot and the union of the library, then sort. Participants are concatenated in
study-id order, so the same donations give the same bytes whatever order they are listed in.

Participants are processed in batches of :data:`DEFAULT_BATCH` (:func:`ingest_batch`): their
stream files are normalised in one pass per format and their streams deduplicated and sorted in
one pass, with the participant as the first key of every rule, so a pyarrow/numpy call's fixed
cost is paid per batch instead of per file. Every value depends on its own row or participant
only, so the tables, the report and the error raised first are those of one participant and one
file at a time (``tests/test_ingest_batch.py`` checks it for several batch sizes).
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
from prefcal.ingest.normalise import NORMALISED_COLUMNS, normalise_many
from prefcal.ingest.playlists import COLUMNS as PLAYLIST_COLUMNS
from prefcal.ingest.playlists import read_playlist_file
from prefcal.ingest.readers import WRAP_PREFIX, WRAP_SUFFIX, RawStreams, read_stream_wrapped
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
# Participants ingested together (their stream files are normalised in one pass per format):
# large enough that the per-call cost of the compute functions is paid rarely, small enough that
# the batch's parsed files (~1 MB of JSON per participant) keep the memory flat in the study size.
DEFAULT_BATCH = 64


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


def _read_one(f: _File) -> RawStreams | IngestError:
    """Read and parse one stream file: its raw columns, or the IngestError."""
    try:
        wrapped = f.src.read_wrapped(WRAP_PREFIX, WRAP_SUFFIX)
        return read_stream_wrapped(wrapped, f.kind.fmt, f.src.where)
    except IngestError as exc:
        return exc


def _stream_order(files: list[_File]) -> list[_File]:
    """A participant's stream files in preference order (format rank, export unit, path)."""
    return sorted(
        (f for f in files if f.kind.kind == "streams"),
        key=lambda f: (FORMAT_RANK[f.kind.fmt], f.unit, f.rel),
    )


def _normalise_batch(
    batch: list[list[tuple[_File, RawStreams | IngestError]]],
) -> list[list[pa.Table | None]]:
    """Normalised table of every parsed stream file of a batch of participants (None where the
    file could not be read), computed format by format over all the participants' files at once
    (:func:`prefcal.ingest.normalise.normalise_many`; the result equals file-by-file
    normalisation). The raw columns are released afterwards (an empty table keeps the schema)."""
    out: list[list[pa.Table | None]] = [[None] * len(files) for files in batch]
    by_fmt: dict[str, list[tuple[int, int]]] = {}
    for pi, files in enumerate(batch):
        for fi, (f, raw) in enumerate(files):
            if not isinstance(raw, IngestError):
                by_fmt.setdefault(f.kind.fmt, []).append((pi, fi))
    for fmt, where in by_fmt.items():
        raws = [batch[pi][fi][1] for pi, fi in where]
        tables = normalise_many([r.table for r in raws], fmt, [r.skips for r in raws])
        for (pi, fi), norm in zip(where, tables, strict=True):
            out[pi][fi] = norm
        empty = raws[0].table.schema.empty_table()
        for r in raws:
            r.table = empty
    return out


@dataclass
class _StreamFile:
    """A read stream file waiting for the batch's dedupe: its participant (index in the batch),
    report data and row count."""

    p: int
    run: _Run
    f: _File
    parser: str
    n_read: int
    n: int
    skips: SkipLog
    extra: dict[str, Any]


def _stream_parts(
    pi: int,
    order: list[_File],
    parsed: list[RawStreams | IngestError],
    normalised: list[pa.Table | None],
    run: _Run,
    files: list[_StreamFile],
) -> list[pa.Table]:
    """Participant ``pi``'s normalised files in preference order (each described by the
    :class:`_StreamFile` appended to ``files``); a file that could not be read goes to
    ``run.failed`` instead (which raises without ``--skip-bad-files``)."""
    parts = []
    for f, raw, norm in zip(order, parsed, normalised, strict=True):
        if isinstance(raw, IngestError):
            run.failed(f, raw)
            continue
        parts.append(norm)
        extra = {
            "personal_fields_dropped": raw.personal_fields,
            "unexpected_fields": raw.unexpected_fields(f.kind.fmt),
            "values_repaired": raw.repaired,
        }
        files.append(
            _StreamFile(pi, run, f, raw.parser, raw.n_read, norm.num_rows, raw.skips, extra)
        )
    return parts


def _batch_streams(parts: list[pa.Table], files: list[_StreamFile], pids: list[str]) -> pa.Table:
    """The ``streams`` table of a batch of participants (``files[i]`` describes ``parts[i]``;
    ``pids[p]`` is the study id of participant ``p``): each participant's rows deduplicated
    (:func:`dedupe_keep`, participant by participant, with ``_p`` the participant, ``_file``
    the index in ``files``, ``_unit`` the export and ``_ord`` the row's position among the
    participant's rows) and sorted by :data:`STREAM_SORT_KEYS`, participants in batch order;
    the report entry of every file is written to its run."""
    if not parts:
        return STREAMS_SCHEMA.empty_table()
    sizes = np.array([sf.n for sf in files], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    first_row: dict[int, int] = {}  # participant -> their first row in the batch
    for sf, start in zip(files, starts.tolist(), strict=True):
        first_row.setdefault(sf.p, start)
    n = int(sizes.sum())
    # The files' tables are the chunks of one table (no copy); dedupe and sort read chunked
    # columns. Only `table` may hold them from here on, so that the sort can release them.
    table = pa.concat_tables(parts)
    del parts
    ord_ = np.arange(n, dtype=np.int64) - np.repeat(
        np.array([first_row[sf.p] for sf in files], dtype=np.int64), sizes
    )
    table = (
        table.append_column(
            "_p", pa.array(np.repeat(np.array([sf.p for sf in files], np.int32), sizes))
        )
        .append_column("_file", pa.array(np.repeat(np.arange(len(files), dtype=np.int32), sizes)))
        .append_column(
            "_unit", pa.array(np.repeat(np.array([sf.f.unit for sf in files], np.int32), sizes))
        )
        .append_column("_ord", pa.array(ord_))
    )
    keep, removed = dedupe_keep(table)
    dups_of: dict[int, dict[str, int]] = {}
    for (i, rule), c in removed.items():
        dups_of.setdefault(i, {})[rule] = c
    for i, sf in enumerate(files):
        dups = dups_of.get(i, {})
        sf.run.entries[sf.f.rel] = file_entry(
            "streams",
            fmt=sf.f.kind.fmt,
            parser=sf.parser,
            rows_read=sf.n_read,
            rows_kept=sf.n - sum(dups.values()),
            skips=sf.skips,
            duplicates=dups,
            extra=sf.extra,
        )
    # The kept rows in sort order, without a filtered copy of the table: the (stable) sort
    # order of all rows, less the removed ones, is the sort order of the kept rows.
    table = table.select(["_p", *NORMALISED_COLUMNS])
    order_idx = pc.sort_indices(
        table, sort_keys=[(k, "ascending") for k in ["_p", *STREAM_SORT_KEYS]]
    )
    if not keep.all():
        order_np = order_idx.to_numpy()
        order_idx = pa.array(order_np[keep[order_np]])
    part = table["_p"]
    table = table.select(NORMALISED_COLUMNS)
    schema, columns = table.schema, table.columns
    del table
    streams = _take_releasing(schema, columns, order_idx)
    pid = pc.take(pa.array(pids, pa.string()), pc.take(part, order_idx))
    return pa.Table.from_arrays(
        [_one_array(pid), *(_one_array(streams[c]) for c in NORMALISED_COLUMNS)],
        schema=STREAMS_SCHEMA,
    )


def _streams(files: list[_File], run: _Run, pool: ThreadPoolExecutor | None) -> pa.Table:
    """One participant's streams (the columns but ``participant_id``): their stream files among
    ``files`` read, normalised, deduplicated and sorted; entries and errors go to ``run`` (used
    by :mod:`prefcal.donation.export`)."""
    order = _stream_order(files)
    parsed = list(pool.map(_read_one, order) if pool is not None else map(_read_one, order))
    normalised = _normalise_batch([list(zip(order, parsed, strict=True))])[0]
    stream_files: list[_StreamFile] = []
    parts = _stream_parts(0, order, parsed, normalised, run, stream_files)
    del parsed, normalised
    return _batch_streams(parts, stream_files, [run.pid]).drop_columns(["participant_id"])


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


def _playlist_columns(files: list[_File], run: _Run) -> dict[str, list[Any]]:
    """A participant's playlist rows as columns (those of :class:`PlaylistFile` plus
    ``playlist_id``): the newest snapshot's files, one after the other; the report entry of
    every playlist file is written to ``run``."""
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
    columns: dict[str, list[Any]] = {name: [] for name in (*PLAYLIST_COLUMNS, "playlist_id")}
    if not parsed:
        return columns
    # the newest snapshot wins: latest lastModifiedDate, then most items, then first unit
    n_rows: Counter[int] = Counter()
    last: dict[int, str] = {}
    for f, pf in parsed:
        n_rows[f.unit] += pf.n_rows
        last[f.unit] = max(last.get(f.unit, ""), pf.last_modified)
    best = max(last, key=lambda u: (last[u], n_rows[u], -u))
    n_before = 0
    for f, pf in parsed:
        keep = f.unit == best
        if keep:
            ids = [f"{run.pid}-{n_before + i}" for i in range(pf.n_playlists)]
            columns["playlist_id"].extend([ids[i] for i in pf.columns["playlist_index"]])
            for name in PLAYLIST_COLUMNS:
                columns[name].extend(pf.columns[name])
            n_before += pf.n_playlists
        run.entries[f.rel] = file_entry(
            "playlists",
            rows_read=pf.n_read,
            rows_kept=pf.n_rows if keep else 0,
            skips=pf.skips,
            duplicates={} if keep else {"superseded_snapshot": pf.n_rows},
            extra={"playlists": pf.n_playlists, "values_set_to_null": pf.nulled},
        )
    return columns


def _playlist_table(files: list[_File], run: _Run) -> pa.Table:
    """The participant's ``playlists`` table (:func:`_playlist_columns`, built column by
    column)."""
    columns = _playlist_columns(files, run)
    columns["participant_id"] = [run.pid] * len(columns["playlist_id"])
    return pa.Table.from_arrays(
        [pa.array(columns[fld.name], fld.type) for fld in PLAYLISTS_SCHEMA],
        schema=PLAYLISTS_SCHEMA,
    )


def _playlists(files: list[_File], run: _Run) -> list[dict[str, Any]]:
    """The participant's playlist rows as dicts (the columns of :class:`PlaylistFile` and
    ``playlist_id``; used by :mod:`prefcal.donation.export`)."""
    columns = _playlist_columns(files, run)
    names = [*PLAYLIST_COLUMNS, "playlist_id"]
    return [
        dict(zip(names, vals, strict=True))
        for vals in zip(*(columns[c] for c in names), strict=True)
    ]


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
        # (is None, value or "") of kind, uri, name, creator_name: nulls after every string
        k, u, n, c = r["kind"], r["uri"], r["name"], r["creator_name"]
        return (k is None, k or "", u is None, u or "", n is None, n or "", c is None, c or "")

    return sorted(rows, key=key)


def _library_table(rows: list[dict[str, Any]], pid: str) -> pa.Table:
    """The ``library`` table of a participant's rows (built column by column)."""
    columns = {"participant_id": [pid] * len(rows)}
    for name in LIBRARY_SCHEMA.names:
        if name == "participant_id":
            continue
        columns[name] = [r[name] for r in rows]
    return pa.Table.from_arrays(
        [pa.array(columns[fld.name], fld.type) for fld in LIBRARY_SCHEMA], schema=LIBRARY_SCHEMA
    )


def ingest_participant(
    participant: Participant,
    skip_bad_files: bool = False,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[pa.Table, pa.Table, pa.Table, dict[str, dict[str, Any]]]:
    """Streams, playlists and library tables of one participant, and the report entries of
    their files; ``pool`` parses stream files in parallel (results are used in file order)."""
    batch = ingest_batch([participant], skip_bad_files, pool)
    return batch.streams, batch.playlists[0], batch.library[0], batch.entries[0]


@dataclass
class BatchResult:
    """What :func:`ingest_batch` gives for participants ``p_0, p_1, ...``: one ``streams`` table
    (the participants' rows one after the other, in batch order), and per participant the
    ``playlists`` and ``library`` tables and the report entries of their files."""

    streams: pa.Table
    playlists: list[pa.Table]
    library: list[pa.Table]
    entries: list[dict[str, dict[str, Any]]]


def ingest_batch(
    participants: Sequence[Participant],
    skip_bad_files: bool = False,
    pool: ThreadPoolExecutor | None = None,
) -> BatchResult:
    """:func:`ingest_participant` of each participant, with the stream files of all of them
    normalised together (one pass per format, :func:`_normalise_batch`) and deduplicated and
    sorted together (participant by participant, :func:`_batch_streams`): the same rows, entries and
    first error as one participant at a time.

    The files are listed and parsed first; errors are kept and raised (or recorded, with
    ``skip_bad_files``) afterwards, in the order the one-at-a-time ingest meets them: per
    participant, a listing error, then the stream files in preference order, then playlists,
    then library."""
    listed: list[list[_File] | IngestError] = []
    orders: list[list[_File]] = []
    for p in participants:
        try:
            files = _list_files(p)
        except IngestError as exc:
            listed.append(exc)
            orders.append([])
            continue
        listed.append(files)
        orders.append(_stream_order(files))
    flat = [f for order in orders for f in order]
    results = list(pool.map(_read_one, flat) if pool is not None else map(_read_one, flat))
    parsed: list[list[RawStreams | IngestError]] = []
    start = 0
    for order in orders:
        parsed.append(results[start : start + len(order)])
        start += len(order)
    del results
    normalised = _normalise_batch(
        [list(zip(order, raws, strict=True)) for order, raws in zip(orders, parsed, strict=True)]
    )
    parts: list[pa.Table] = []
    stream_files: list[_StreamFile] = []
    out = BatchResult(STREAMS_SCHEMA.empty_table(), [], [], [])
    for i, p in enumerate(participants):
        files = listed[i]
        if isinstance(files, IngestError):
            raise files
        pid = p.participant_id
        run = _Run(pid, skip_bad_files)
        for f in files:
            if f.kind.kind in ("ignored", "privacy", "unknown"):
                run.entries[f.rel] = not_read_entry(f.kind.kind, f.kind.fmt)
        parts.extend(_stream_parts(i, orders[i], parsed[i], normalised[i], run, stream_files))
        parsed[i] = normalised[i] = []  # the parts hold the participant's normalised rows
        out.playlists.append(_playlist_table(files, run))
        out.library.append(_library_table(_library(files, run), pid))
        out.entries.append(run.entries)
    del parsed, normalised
    out.streams = _batch_streams(parts, stream_files, [p.participant_id for p in participants])
    return out


def ingest_donations(
    donations: Sequence[str | Path],
    id_seed: int | None = None,
    skip_bad_files: bool = False,
    threads: int = DEFAULT_THREADS,
    batch_size: int = DEFAULT_BATCH,
) -> IngestResult:
    """Ingest donations (folders or zips, one per participant) into memory.

    ``id_seed`` makes the study ids reproducible (:func:`prefcal.ingest.ids.study_id`);
    ``skip_bad_files`` records a file-level error in the report and goes on instead of raising
    :class:`IngestError`; ``threads`` stream files are parsed at a time; ``batch_size``
    participants are ingested together (:func:`ingest_batch`). The output depends on neither.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    participants = assign_participants(donations, id_seed)
    streams, playlists, library = [], [], []
    entries: dict[str, dict[str, Any]] = {}
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        for b in range(0, len(participants), batch_size):
            batch = participants[b : b + batch_size]
            res = ingest_batch(batch, skip_bad_files, pool)
            streams.append(res.streams)
            playlists.extend(res.playlists)
            library.extend(res.library)
            for p, files in zip(batch, res.entries, strict=True):
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
    batch_size: int = DEFAULT_BATCH,
) -> IngestResult:
    """Ingest donations and write ``streams.parquet``, ``playlists.parquet``,
    ``library.parquet`` and ``ingest_report.json`` to ``out_dir`` (and the id map, if asked);
    ``threads`` and ``batch_size`` as in :func:`ingest_donations` (the output depends on
    neither)."""
    out = Path(out_dir)
    if id_map is not None:
        _check_id_map_path(Path(id_map), out)  # before any work is done
    result = ingest_donations(
        donations,
        id_seed=id_seed,
        skip_bad_files=skip_bad_files,
        threads=threads,
        batch_size=batch_size,
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
