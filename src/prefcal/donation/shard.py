"""The workflow's view of a donations folder: one shard of participants -> the canonical tables.

``prefcal donation shard`` writes, for shard ``s`` of ``n``, the same four files the simulated
path's ``prefcal ingest`` writes (``streams.parquet``, ``playlists.parquet``, ``library.parquet``,
``ingest_report.json``) from the participants with :func:`shard_of` ``(study id, n) = s``, so every
later stage runs unchanged. It reads only ``manifest.json`` and ``participants/`` (never
``private/``), checks each participant's files against the manifest's digest and the canonical
schemas, and concatenates the participants in study-id order (the ingest's order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from prefcal.donation import folder
from prefcal.ingest import pipeline as _ip
from prefcal.ingest.errors import IngestError
from prefcal.ingest.ids import is_study_id
from prefcal.ingest.report import build_report, write_report
from prefcal.tables import LIBRARY_SCHEMA, PLAYLISTS_SCHEMA, STREAMS_SCHEMA

_SCHEMAS = {"streams": STREAMS_SCHEMA, "playlists": PLAYLISTS_SCHEMA, "library": LIBRARY_SCHEMA}


def shard_of(participant_id: str, n_shards: int) -> int:
    """Shard of a participant: its study id's 40-bit number modulo ``n_shards``.

    Study ids are uniformly random hex (:func:`prefcal.ingest.random_study_id`), so shards get
    equal shares in expectation, and a participant's shard never changes while ``n_shards`` does
    not.
    """
    if not is_study_id(participant_id):
        raise ValueError(f"{participant_id!r} is not a study id")
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    return int(participant_id[1:], 16) % n_shards


def build_shard(
    donations: str | Path, shard: int, n_shards: int, out_dir: str | Path
) -> dict[str, Any]:
    """Write shard ``shard`` of ``n_shards`` of a donations folder to ``out_dir``; return the
    report (layout of :mod:`prefcal.ingest.report`)."""
    root = Path(donations)
    if not 0 <= shard < n_shards:
        raise IngestError(f"--shard {shard}: must be in 0..{n_shards - 1}")
    manifest = folder.read_manifest(root)
    pids = sorted(p for p in manifest["participants"] if shard_of(p, n_shards) == shard)
    tables: dict[str, list[pa.Table]] = {k: [] for k in _SCHEMAS}
    entries = {}
    for pid in pids:
        want = manifest["participants"][pid]["sha256"]
        if folder.participant_digest(root, pid) != want:
            raise IngestError(
                f"{folder.participant_dir(root, pid)}: its files do not match {folder.MANIFEST} "
                "(changed by hand or by an interrupted add); add the export again"
            )
        got = folder.read_tables(root, pid)
        files = folder.read_report_entries(root, pid)
        rep = build_report({pid: {"files": files}})  # also checks that the counts add up
        for kind, t in got.items():
            if t.num_rows != rep["totals"][kind]["rows_kept"]:
                raise IngestError(
                    f"{folder.participant_dir(root, pid)}: {kind} has {t.num_rows} rows, its "
                    f"report says {rep['totals'][kind]['rows_kept']} were kept"
                )
            tables[kind].append(t)
        entries[pid] = {"files": files}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for kind, schema in _SCHEMAS.items():
        t = pa.concat_tables(tables[kind]) if tables[kind] else schema.empty_table()
        _ip._write_parquet(t, out / _ip.OUTPUT_FILES[kind])
    report = build_report(entries)
    write_report(report, out / _ip.REPORT_FILE)
    return report
