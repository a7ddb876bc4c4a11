"""Read one export (a folder, or the zip Spotify sends) with the ingest, keeping each file apart.

This is the ingest of :mod:`prefcal.ingest.pipeline` (same listing, readers, normalisation,
per-file report entries, playlist snapshot and library rules), run file by file so that every
stream row and library row still knows the file it came from: when a later export of the same
person replaces or repeats rows, the report's per-file counts stay exact
(:mod:`prefcal.donation.merge`). Within one export the result is the same as
:func:`prefcal.ingest.ingest_donations` (the merge applies the same deduplication rules across
files; a test checks it on the real exports).

Nothing here writes a file. Files that hold identity, payment, address, voice, search or inference
data are never opened (the ingest's rule); the fingerprint reads only stream, playlist and library
files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from prefcal.ingest import pipeline as _ip
from prefcal.ingest.errors import IngestError
from prefcal.ingest.formats import FORMAT_RANK
from prefcal.ingest.playlists import read_playlist_file
from prefcal.ingest.report import not_read_entry

DATA_KINDS = ("streams", "playlists", "library")


@dataclass
class FileInfo:
    """One file of an export: path inside the export, kind, stream format (or None), export
    unit (the folder that holds it: the ingest's ``_unit``)."""

    rel: str
    kind: str
    fmt: str | None
    unit: int


@dataclass
class ExportData:
    """An export read into per-file tables (nothing written).

    ``streams``: ``(rel, unit, fmt, table)`` per stream file that was read, in the ingest's
    preference order (format rank, unit, path); each table has the canonical stream columns
    without ``participant_id``, deduplicated within the file. ``library``: ``(rel, unit, rows)``
    per library file. ``playlists``: the rows of the export's newest playlist snapshot (with
    ``playlist_id``), ``playlists_last_modified`` its latest ``lastModifiedDate`` and
    ``has_playlists`` whether any playlist file was read. ``entries``: the ingest's report entry
    of every file, keyed by path inside the export. ``fingerprint``: see :func:`fingerprint`.
    ``sizes``: bytes of every file by path inside the export (None: unknown), for messages; not
    stored with the export.
    """

    participant_id: str
    files: list[FileInfo]
    streams: list[tuple[str, int, str, pa.Table]]
    library: list[tuple[str, int, list[dict[str, Any]]]]
    playlists: list[dict[str, Any]]
    playlists_last_modified: str
    has_playlists: bool
    entries: dict[str, dict[str, Any]]
    fingerprint: str = ""
    sizes: dict[str, int | None] = field(default_factory=dict)

    def kept(self) -> dict[str, int]:
        """Rows kept per table within this export alone."""
        return {
            "streams": sum(t.num_rows for *_, t in self.streams),
            "playlists": len(self.playlists),
            "library": sum(e["rows_kept"] for e in self.entries.values() if _is(e, "library")),
        }


def _is(entry: dict[str, Any], kind: str) -> bool:
    return entry["kind"] == kind and entry["status"] == "read"


def unsafe_member(rel: str) -> bool:
    """True for a path that would leave the folder it is unpacked into: an absolute path, a drive
    letter, or a ``..`` component (a crafted zip; Spotify's exports never hold one)."""
    norm = rel.replace("\\", "/")
    parts = PurePosixPath(norm).parts
    return norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or ".." in parts


def fingerprint(files: list[tuple[FileInfo, bytes | None]]) -> str:
    """SHA-256 over the sorted ``kind:sha256(content)`` of the export's stream, playlist and
    library files. Paths and names are left out, so a zip and the folder it unpacks to, or the
    same files renamed, have the same fingerprint; a file that cannot be read counts by path."""
    lines = sorted(
        f"{info.kind}:{hashlib.sha256(data).hexdigest() if data is not None else 'unreadable'}"
        + ("" if data is not None else f":{info.rel}")
        for info, data in files
    )
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def read_export(path: str | Path, participant_id: str, skip_bad_files: bool = False) -> ExportData:
    """Read one export for ``participant_id`` (see :class:`ExportData`).

    Raises :class:`IngestError` when the export does not exist, is not a folder or zip, holds a
    member whose path leaves the folder (``../``, absolute), or (without ``skip_bad_files``) holds
    a file the ingest cannot read. With ``skip_bad_files`` such a file gets an ``error`` entry in
    the report and the others are read.
    """
    participant = _ip.Participant(participant_id, "export", [Path(path)])
    files = _ip._list_files(participant)
    unsafe = sorted(f.rel for f in files if unsafe_member(f.rel))
    if unsafe:
        raise IngestError(
            f"{path}: the zip holds {len(unsafe)} member(s) whose path leaves the folder it would "
            f"be unpacked into (for example '{unsafe[0]}'); Spotify's exports never do: not read"
        )
    infos = [FileInfo(f.rel, f.kind.kind, f.kind.fmt, f.unit) for f in files]
    run = _ip._Run(participant_id, skip_bad_files)
    for f in files:
        if f.kind.kind in ("ignored", "privacy", "unknown"):
            run.entries[f.rel] = not_read_entry(f.kind.kind, f.kind.fmt)

    streams: list[tuple[str, int, str, pa.Table]] = []
    order = sorted(
        (f for f in files if f.kind.kind == "streams"),
        key=lambda f: (FORMAT_RANK[f.kind.fmt], f.unit, f.rel),
    )
    for f in order:
        table = _ip._streams([f], run, None)  # one file: read, normalise, dedupe within it
        if run.entries.get(f.rel, {}).get("status") == "read":
            streams.append((f.rel, f.unit, f.kind.fmt, table))

    library = []
    for f in sorted((f for f in files if f.kind.kind == "library"), key=lambda f: (f.unit, f.rel)):
        rows = _ip._library([f], run)
        if run.entries.get(f.rel, {}).get("status") == "read":
            library.append((f.rel, f.unit, rows))

    pl_files = [f for f in files if f.kind.kind == "playlists"]
    playlists = _ip._playlists(pl_files, run)
    last = ""
    read_ok = [f for f in pl_files if run.entries.get(f.rel, {}).get("status") == "read"]
    for f in read_ok:  # the newest snapshot's date (small files: read again for the date only)
        last = max(last, read_playlist_file(f.src.read(), f.src.where).last_modified)

    fp_inputs: list[tuple[FileInfo, bytes | None]] = []
    for f, info in zip(files, infos, strict=True):
        if info.kind not in DATA_KINDS:
            continue
        try:
            fp_inputs.append((info, f.src.read()))
        except IngestError:
            fp_inputs.append((info, None))
    return ExportData(
        participant_id=participant_id,
        files=infos,
        streams=streams,
        library=library,
        playlists=playlists,
        playlists_last_modified=last,
        has_playlists=bool(read_ok),
        entries=run.entries,
        fingerprint=fingerprint(fp_inputs),
        sizes={f.rel: f.src.nbytes() for f in files},
    )
