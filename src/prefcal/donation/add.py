"""``prefcal donation add``: scrub one export and add it to a donations folder.

**Who is the same person.** A study id is reused, never derived from a name:

1. ``--participant LABEL``: the researcher's own label for the person (a consent-form number, a
   code; any text). The same label always means the same study id. The label is stored only in
   ``private/id_map.csv``. Use it whenever a person donates more than once.
2. ``--study-id P...``: add to an existing participant by study id.
3. Neither: the export's *fingerprint* (SHA-256 of the contents of its stream, playlist and library
   files, paths ignored: :func:`prefcal.donation.export.fingerprint`) is looked up in the id map.
   The same export added again (the zip, or the folder it unpacks to) goes to the same study id and
   changes nothing.
4. Otherwise the export is a new participant with a random study id
   (:func:`prefcal.ingest.random_study_id`) - unless its plays overlap a stored participant's:
   if at least :data:`OVERLAP_SHARE` of its plays (those of >= 1 s; a play = end minute and
   ``ms_played``) are also a stored participant's, it is refused with a message naming that study
   id: an overlapping later export of a person added without a label must be added with
   ``--study-id`` (or ``--new-participant`` if it really is somebody else).

The username in old extended-history files is never used or stored (it is never even read), and
neither is any other personal field; Spotify's default zip name (``my_spotify_data.zip``) is the
same for everybody, so names are not used either.

A fingerprint already added for the same participant is a no-op. An export from which nothing is
usable (no stream, playlist or library row kept) is refused for a new participant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefcal.donation import folder
from prefcal.donation.export import ExportData, read_export
from prefcal.donation.merge import combine_exports, export_prefix, kept_by_file
from prefcal.ingest.errors import IngestError
from prefcal.ingest.ids import is_study_id, random_study_id
from prefcal.ingest.report import build_report

OVERLAP_SHARE = 0.5
_MINUTE_MS = 60_000
_TMP_ID = "P0000000000"  # the export is read before its study id is known


@dataclass
class AddResult:
    """What one ``add`` did: study id, whether the participant is new, the export number (None
    for a no-op), the report totals of the export's own files and of the participant, the rows
    the export took away from earlier exports (replaced by richer or newer rows), and messages."""

    participant_id: str
    new_participant: bool
    export_no: int | None
    export_totals: dict[str, dict[str, int]]
    participant_totals: dict[str, Any]
    replaced: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def _play_keys(ts_end: pa.ChunkedArray, ms: pa.ChunkedArray) -> np.ndarray:
    """(end minute, ms_played) of each stream with ms_played >= 1000, as one int64 each."""
    t = pc.cast(ts_end, pa.int64()).to_numpy(zero_copy_only=False)
    m = ms.to_numpy(zero_copy_only=False)
    ok = m >= 1000
    with np.errstate(over="ignore"):
        return (t[ok] // _MINUTE_MS).astype(np.int64) * np.int64(1_000_003) ^ m[ok].astype(np.int64)


def overlapping_participants(
    root: str | Path, export: ExportData, exclude: str | None = None
) -> list[tuple[str, float]]:
    """Stored participants sharing at least :data:`OVERLAP_SHARE` of the export's plays:
    ``(study id, share)``, largest share first. Share = |plays of the export whose (end minute,
    ms_played) a stored participant also has| / |plays of the export| (plays of >= 1 s)."""
    if not export.streams:
        return []
    new = np.unique(
        np.concatenate([_play_keys(t["ts_end"], t["ms_played"]) for *_, t in export.streams])
    )
    if new.size == 0:
        return []
    out = []
    for pid in folder.list_participants(root):
        if pid == exclude:
            continue
        path = folder.participant_dir(root, pid) / folder.TABLE_FILES["streams"]
        t = pq.read_table(path, columns=["ts_end", "ms_played"])
        share = float(np.isin(new, _play_keys(t["ts_end"], t["ms_played"])).mean())
        if share >= OVERLAP_SHARE:
            out.append((pid, share))
    return sorted(out, key=lambda x: (-x[1], x[0]))


def _resolve(
    root: Path,
    export: ExportData,
    label: str | None,
    study_id: str | None,
    new_participant: bool,
) -> tuple[str | None, list[str]]:
    """The study id the export belongs to (None: a new participant), with explanations."""
    rows = folder.read_id_map(root)
    existing = set(folder.list_participants(root))
    by_label = {r["label"]: r["study_id"] for r in rows if r["label"]}
    by_fp = {r["fingerprint"]: r["study_id"] for r in rows}
    msgs = []
    if study_id is not None:
        if not is_study_id(study_id) or study_id not in existing:
            raise IngestError(f"--study-id {study_id}: no such participant in {root}")
        if label is not None and by_label.get(label, study_id) != study_id:
            raise IngestError(
                f"--participant {label!r} belongs to {by_label[label]}, not to {study_id}"
            )
        pid: str | None = study_id
    elif label is not None and label in by_label:
        pid = by_label[label]
        msgs.append(f"label {label!r} is participant {pid}")
    elif label is None and export.fingerprint in by_fp:
        pid = by_fp[export.fingerprint]
        msgs.append(f"this export was added before, to participant {pid}")
    else:
        pid = None
    owner = by_fp.get(export.fingerprint)
    if owner is not None and pid is not None and owner != pid:
        raise IngestError(
            f"this export was already added to participant {owner}; it cannot also be {pid}"
        )
    if owner is not None and pid is None:
        raise IngestError(
            f"this export was already added to participant {owner}; give --study-id {owner} "
            "(or the label it was added with) to add it to them"
        )
    if pid is None and not new_participant:
        hits = overlapping_participants(root, export)
        if hits:
            who = ", ".join(f"{p} ({s:.0%} of its plays)" for p, s in hits)
            raise IngestError(
                f"this export's plays overlap stored participant(s) {who}: if it is a later "
                f"export of the same person, add it with --study-id {hits[0][0]} (or their "
                "--participant label); if it really is somebody else, add --new-participant"
            )
    return pid, msgs


def _new_id(root: Path) -> str:
    used = set(folder.list_participants(root)) | {r["study_id"] for r in folder.read_id_map(root)}
    while True:
        pid = random_study_id()
        if pid not in used:
            return pid


def _relabel(export: ExportData, pid: str) -> ExportData:
    """The export read under the temporary id, given the participant's study id."""
    export.participant_id = pid
    export.playlists = [
        {**r, "playlist_id": pid + r["playlist_id"][len(_TMP_ID) :]} for r in export.playlists
    ]
    for e in export.entries.values():
        if "error" in e:
            e["error"] = e["error"].replace(_TMP_ID, pid)
    return export


def _totals(entries: dict[str, dict[str, Any]], prefix: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for k, e in entries.items():
        if not k.startswith(prefix) or e["status"] != "read":
            continue
        t = out.setdefault(
            e["kind"],
            {
                "files": 0,
                "rows_read": 0,
                "rows_kept": 0,
                "rows_skipped": 0,
                "duplicates_removed": 0,
            },
        )
        t["files"] += 1
        t["rows_read"] += e["rows_read"]
        t["rows_kept"] += e["rows_kept"]
        t["rows_skipped"] += e["rows_skipped"]["total"]
        t["duplicates_removed"] += e["duplicates_removed"]["total"]
    return out


def add_export(
    export: str | Path,
    donations: str | Path,
    label: str | None = None,
    study_id: str | None = None,
    new_participant: bool = False,
    skip_bad_files: bool = False,
) -> AddResult:
    """Scrub ``export`` (a folder or zip) and add it to the donations folder ``donations``.

    Writes ``participants/<study_id>/*``, ``manifest.json`` and a row of
    ``private/id_map.csv`` (module :mod:`prefcal.donation.folder`); see the module doc for how the
    study id is chosen. Raises :class:`IngestError` (nothing written) for an unreadable export,
    an unsafe zip, an export with nothing usable, or an ambiguous person.
    """
    if label is not None and not label.strip():
        raise IngestError("--participant: the label must not be empty")
    root = Path(donations)
    src = Path(export)
    if root.exists() and not root.is_dir():
        raise IngestError(f"--donations {root}: exists and is not a folder")
    if src.resolve().is_relative_to(root.resolve()):
        raise IngestError(f"{src}: the export must not lie inside the donations folder {root}")
    data = read_export(src, _TMP_ID, skip_bad_files=skip_bad_files)
    pid, msgs = _resolve(root, data, label, study_id, new_participant)
    is_new = pid is None
    if is_new:
        if not any(data.kept().values()):
            raise IngestError(
                f"{src}: nothing usable: no stream, playlist or library row would be kept "
                "(run `prefcal donation check` on it to see why)"
            )
        pid = _new_id(root)
    previous = folder.load_exports(root, pid) if not is_new else []
    data = _relabel(data, pid)
    done = {r["fingerprint"] for r in folder.read_id_map(root) if r["study_id"] == pid}
    before = combine_exports(pid, previous)
    if data.fingerprint in done:
        msgs.append("nothing changed: this export is already part of the participant's data")
        rep = build_report({pid: {"files": before.entries}})
        return AddResult(pid, False, None, {}, rep["totals"], {}, msgs, rep)
    exports = [*previous, data]
    combined = combine_exports(pid, exports)
    export_no = len(exports)
    folder.init_folder(root)
    report = folder.save_participant(root, exports, combined)
    folder.write_manifest(root)
    folder.append_id_map(
        root,
        {
            "study_id": pid,
            "label": label or "",
            "export": str(export_no),
            "source": str(src.resolve()),
            "fingerprint": data.fingerprint,
            "added_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    after = kept_by_file(combined)
    replaced: dict[str, int] = {}
    for k, n in kept_by_file(before).items():
        if n != after[k]:
            kind = before.entries[k]["kind"]
            replaced[kind] = replaced.get(kind, 0) + n - after[k]
    totals = _totals(combined.entries, export_prefix(export_no))
    return AddResult(pid, is_new, export_no, totals, report["totals"], replaced, msgs, report)
