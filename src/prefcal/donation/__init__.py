"""Data donations: check a participant's Spotify export, add it to a donations folder, and serve
that folder to the workflow (``data.source: donations``).

Public API::

    check_export(path) -> dict                      # what an export holds; writes nothing
    format_check(summary) -> str                    # its human-readable text
    add_export(path, donations, label=None, study_id=None, new_participant=False,
               skip_bad_files=False) -> AddResult   # scrub, assign/reuse a study id, merge
    build_shard(donations, shard, n_shards, out_dir) -> dict   # workflow: canonical tables
    shard_of(study_id, n_shards) -> int
    read_export(path, participant_id, skip_bad_files=False) -> ExportData
    combine_exports(study_id, exports) -> Combined   # a participant's tables from all exports

Modules: :mod:`~prefcal.donation.export` (one export read with the ingest, file by file),
:mod:`~.merge` (no duplicated plays across a person's exports), :mod:`~.folder` (the folder
layout, manifest and private id map), :mod:`~.check`, :mod:`~.add` (who is the same person),
:mod:`~.shard`, :mod:`~.cli` (``prefcal donation check|add|list|shard``).
"""

from prefcal.donation.add import AddResult, add_export
from prefcal.donation.check import check_export, format_check
from prefcal.donation.export import ExportData, read_export
from prefcal.donation.merge import Combined, combine_exports
from prefcal.donation.shard import build_shard, shard_of

__all__ = [
    "AddResult",
    "ExportData",
    "Combined",
    "add_export",
    "build_shard",
    "check_export",
    "format_check",
    "combine_exports",
    "read_export",
    "shard_of",
]
