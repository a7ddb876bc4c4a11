"""The donations folder: what ``prefcal donation add`` writes and the workflow reads.

Layout (``DIR`` = ``--donations``; only ``manifest.json`` and ``participants/`` are read by the
workflow)::

    DIR/
      README.md                  what the folder is (written once)
      manifest.json              {"layout_version", "participants": {study_id: {"exports",
                                 "streams", "playlists", "library", "sha256"}}}: rows kept and a
                                 digest of each participant's files (the workflow's input: it
                                 changes whenever a participant does)
      participants/<study_id>/
        streams.parquet          the participant's canonical tables (prefcal.tables), scrubbed
        playlists.parquet        (the ingest never reads a personal field or file), recomputed
        library.parquet          from all their exports at every add (prefcal.donation.merge)
        ingest_report.json       the ingest's report (prefcal.ingest.report) of this participant,
                                 files keyed export_NNN/<path inside that export>
        participant.json         {"layout_version", "study_id", "exports"}
        exports/NNN/             each export as read (scrubbed canonical rows, deduplicated
          streams.parquet        within each file, with the file and export unit they came from;
          library.parquet        the playlist snapshot; the report entries of its files): what
          playlists.parquet      a later export is merged with, so that no play is stored twice
          export.json            and every count stays exact
      private/                   0700; never read by the workflow, never copied to results/
        id_map.csv               0600; one row per export added: study_id, label, export,
                                 source (the path given), fingerprint, added_utc

Nothing under ``participants/`` or in the manifest names a person, a file of theirs outside the
export, or a date of adding: only study ids, paths inside exports and counts.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefcal.donation.export import ExportData, FileInfo
from prefcal.donation.merge import Combined
from prefcal.ingest import pipeline as _ip
from prefcal.ingest.errors import IngestError
from prefcal.ingest.ids import is_study_id
from prefcal.ingest.normalise import NORMALISED_COLUMNS
from prefcal.ingest.report import build_report, write_report
from prefcal.tables import LIBRARY_SCHEMA, PLAYLISTS_SCHEMA, STREAMS_SCHEMA

LAYOUT_VERSION = 1
MANIFEST = "manifest.json"
PARTICIPANTS = "participants"
PRIVATE = "private"
ID_MAP = "id_map.csv"
ID_MAP_COLUMNS = ("study_id", "label", "export", "source", "fingerprint", "added_utc")
TABLE_FILES = {
    "streams": "streams.parquet",
    "playlists": "playlists.parquet",
    "library": "library.parquet",
}
TABLE_SCHEMAS = {
    "streams": STREAMS_SCHEMA,
    "playlists": PLAYLISTS_SCHEMA,
    "library": LIBRARY_SCHEMA,
}
REPORT = "ingest_report.json"
META = "participant.json"
EXPORTS = "exports"
EXPORT_META = "export.json"

README = """# Donations folder (prefcal)

Made by `prefcal donation add EXPORT --donations THIS_FOLDER`; read by the workflow when
`config.yaml` says `data.source: donations` and `data.donations_dir: THIS_FOLDER`.

* `participants/<study_id>/`: each participant's scrubbed canonical tables (streams, playlists,
  library) and ingest report, recomputed from all their exports, and under `exports/` each
  export as read (scrubbed too), so that a later export merges without duplicating plays. No
  username, IP address, user agent, country or identity/payment/address/voice/search/inference
  file ever enters them.
* `private/id_map.csv`: which study id belongs to which export and researcher's label. Keep it
  private (it is created with permissions 0600); the workflow never reads it, and it must never be
  copied into `results/` or shared.
* `manifest.json`: study ids and row counts; the workflow's input.
"""


def private_dir(root: str | Path) -> Path:
    """``DIR/private``."""
    return Path(root) / PRIVATE


def participant_dir(root: str | Path, participant_id: str) -> Path:
    """``DIR/participants/<study_id>``."""
    if not is_study_id(participant_id):
        raise IngestError(f"{participant_id!r} is not a study id (P + 10 hex digits)")
    return Path(root) / PARTICIPANTS / participant_id


def init_folder(root: str | Path) -> Path:
    """Create the folder layout (idempotent); ``private/`` gets permissions 0700."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise IngestError(f"--donations {root}: exists and is not a folder")
    (root / PARTICIPANTS).mkdir(parents=True, exist_ok=True)
    priv = private_dir(root)
    priv.mkdir(exist_ok=True)
    os.chmod(priv, 0o700)
    if not (root / "README.md").exists():
        (root / "README.md").write_text(README, encoding="utf-8")
    return root


def list_participants(root: str | Path) -> list[str]:
    """Study ids with a folder under ``participants/``, sorted."""
    d = Path(root) / PARTICIPANTS
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if p.is_dir() and is_study_id(p.name))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IngestError(f"{path}: cannot be read as JSON ({exc})") from exc


def _read_table(path: Path, schema: pa.Schema) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise IngestError(f"{path}: cannot be read ({exc})") from exc
    if not table.schema.equals(schema):
        raise IngestError(
            f"{path}: columns {table.schema.names} do not match the canonical table "
            f"(prefcal.tables): {schema.names}"
        )
    return table


def read_tables(root: str | Path, participant_id: str) -> dict[str, pa.Table]:
    """The three canonical tables of a participant, checked against :mod:`prefcal.tables`."""
    d = participant_dir(root, participant_id)
    return {k: _read_table(d / f, TABLE_SCHEMAS[k]) for k, f in TABLE_FILES.items()}


def read_report_entries(root: str | Path, participant_id: str) -> dict[str, dict[str, Any]]:
    """The file entries of a participant's ``ingest_report.json``."""
    rep = _read_json(participant_dir(root, participant_id) / REPORT)
    try:
        return rep["participants"][participant_id]["files"]
    except (KeyError, TypeError) as exc:
        raise IngestError(
            f"{participant_dir(root, participant_id) / REPORT}: no entry for {participant_id}"
        ) from exc


def _save_export(d: Path, ex: ExportData) -> None:
    d.mkdir(parents=True)
    parts = []
    for rel, unit, _fmt, t in ex.streams:
        n = t.num_rows
        parts.append(
            t.select(NORMALISED_COLUMNS)
            .append_column("file", pa.array([rel] * n, pa.string()))
            .append_column("unit", pa.array(np.full(n, unit, np.int32)))
        )
    empty = STREAMS_SCHEMA.empty_table().drop_columns(["participant_id"])
    streams = pa.concat_tables(parts) if parts else _with_file(empty)
    _ip._write_parquet(streams, d / "streams.parquet")
    lib = [{**r, "file": rel, "unit": unit} for rel, unit, rows in ex.library for r in rows]
    _ip._write_parquet(pa.Table.from_pylist(lib, schema=_LIB_SCHEMA), d / "library.parquet")
    pl = [{**r, "participant_id": ex.participant_id} for r in ex.playlists]
    _ip._write_parquet(pa.Table.from_pylist(pl, schema=PLAYLISTS_SCHEMA), d / "playlists.parquet")
    meta = {
        "participant_id": ex.participant_id,
        "files": [vars(f) for f in ex.files],
        "playlists_last_modified": ex.playlists_last_modified,
        "has_playlists": ex.has_playlists,
        "entries": ex.entries,
    }
    text = json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (d / EXPORT_META).write_text(text, encoding="utf-8")


def _with_file(t: pa.Table) -> pa.Table:
    return t.append_column("file", pa.array([], pa.string())).append_column(
        "unit", pa.array([], pa.int32())
    )


_LIB_SCHEMA = pa.schema(
    [f for f in LIBRARY_SCHEMA if f.name != "participant_id"]
    + [pa.field("file", pa.string()), pa.field("unit", pa.int32())]
)


def _load_export(d: Path) -> ExportData:
    meta = _read_json(d / EXPORT_META)
    streams_t = pq.read_table(d / "streams.parquet")
    streams = []
    if streams_t.num_rows:
        for rel in pc.unique(streams_t["file"]).to_pylist():
            t = streams_t.filter(pc.equal(streams_t["file"], rel))
            streams.append(
                (rel, int(t["unit"][0].as_py()), t["source_format"][0].as_py(),
                 t.select(NORMALISED_COLUMNS))
            )  # fmt: skip
    lib_t = pq.read_table(d / "library.parquet")
    library = []
    if lib_t.num_rows:
        for rel in pc.unique(lib_t["file"]).to_pylist():
            t = lib_t.filter(pc.equal(lib_t["file"], rel))
            rows = t.drop_columns(["file", "unit"]).to_pylist()
            library.append((rel, int(t["unit"][0].as_py()), rows))
    pl = pq.read_table(d / "playlists.parquet").drop_columns(["participant_id"]).to_pylist()
    return ExportData(
        participant_id=meta["participant_id"],
        files=[FileInfo(**f) for f in meta["files"]],
        streams=streams,
        library=library,
        playlists=pl,
        playlists_last_modified=meta["playlists_last_modified"],
        has_playlists=bool(meta["has_playlists"]),
        entries=meta["entries"],
    )


def load_exports(root: str | Path, participant_id: str) -> list[ExportData]:
    """Every export stored for ``participant_id``, in the order they were added (empty when
    there is no such participant)."""
    d = participant_dir(root, participant_id) / EXPORTS
    if not d.is_dir():
        return []
    names = sorted(p.name for p in d.iterdir() if p.is_dir() and p.name.isdigit())
    if names != [f"{i:03d}" for i in range(1, len(names) + 1)]:
        raise IngestError(f"{d}: exports must be numbered 001, 002, ... without gaps")
    return [_load_export(d / n) for n in names]


def save_participant(
    root: str | Path, exports: list[ExportData], combined: Combined
) -> dict[str, Any]:
    """Write a participant's folder: the combined tables, report, and every export (all files in
    a new folder first, then swapped in, so a crash leaves the old or the new version, never a
    mix); returns the report."""
    pid = combined.participant_id
    final = participant_dir(root, pid)
    tmp = final.parent / f".{pid}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for key, name in TABLE_FILES.items():
            _ip._write_parquet(getattr(combined, key), tmp / name)
        report = build_report({pid: {"files": combined.entries}})
        write_report(report, tmp / REPORT)
        meta = {"layout_version": LAYOUT_VERSION, "study_id": pid, "exports": len(exports)}
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", "utf-8")
        for no, ex in enumerate(exports, start=1):
            _save_export(tmp / EXPORTS / f"{no:03d}", ex)
        old = None
        if final.exists():
            old = final.parent / f".{pid}.old-{uuid.uuid4().hex[:8]}"
            final.rename(old)
        tmp.rename(final)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def participant_digest(root: str | Path, participant_id: str) -> str:
    """SHA-256 over the participant's tables and report (what the workflow reads)."""
    d = participant_dir(root, participant_id)
    h = hashlib.sha256()
    for name in (*TABLE_FILES.values(), REPORT):
        h.update(name.encode())
        h.update(hashlib.sha256((d / name).read_bytes()).digest())
    return h.hexdigest()


def write_manifest(root: str | Path) -> dict[str, Any]:
    """Rebuild ``manifest.json`` from the participants' folders (atomically)."""
    root = Path(root)
    parts = {}
    for pid in list_participants(root):
        d = participant_dir(root, pid)
        totals = _read_json(d / REPORT)["totals"]
        parts[pid] = {
            "exports": int(_read_json(d / META)["exports"]),
            "streams": totals["streams"]["rows_kept"],
            "playlists": totals["playlists"]["rows_kept"],
            "library": totals["library"]["rows_kept"],
            "sha256": participant_digest(root, pid),
        }
    manifest = {"layout_version": LAYOUT_VERSION, "participants": parts}
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(root / MANIFEST)
    return manifest


def read_manifest(root: str | Path) -> dict[str, Any]:
    """``manifest.json`` of a donations folder (a clear error when it is not one)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise IngestError(
            f"{root}: not a donations folder (no {MANIFEST}); make one with "
            "`prefcal donation add EXPORT --donations DIR`"
        )
    manifest = _read_json(path)
    if not isinstance(manifest, dict) or manifest.get("layout_version") != LAYOUT_VERSION:
        raise IngestError(f"{path}: layout_version must be {LAYOUT_VERSION}")
    return manifest


def read_id_map(root: str | Path) -> list[dict[str, str]]:
    """Rows of ``private/id_map.csv`` (empty when there is none yet)."""
    path = private_dir(root) / ID_MAP
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and set(rows[0]) != set(ID_MAP_COLUMNS):
        raise IngestError(f"{path}: expected the columns {', '.join(ID_MAP_COLUMNS)}")
    return rows


def append_id_map(root: str | Path, row: dict[str, str]) -> Path:
    """Append one row to ``private/id_map.csv`` (created with permissions 0600)."""
    path = private_dir(root) / ID_MAP
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(ID_MAP_COLUMNS))
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in ID_MAP_COLUMNS})
    os.chmod(path, 0o600)
    return path
