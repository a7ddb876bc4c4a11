"""Ingest of Spotify data exports (donations) into the study's canonical tables.

Public API::

    ingest(donations, out_dir, id_seed=None, id_map=None, skip_bad_files=False, threads=1,
           batch_size=64) -> IngestResult # writes the tables and ingest_report.json
    ingest_donations(donations, id_seed=None, skip_bad_files=False, threads=1, batch_size=64)
        -> IngestResult                   # the same, in memory
    study_id(name, seed) -> str           # "P" + 10 hex digits, deterministic in (seed, name)
    detect_format(filename) -> FileKind   # which export file is what, by name
    device_class(platform) -> str         # free-text platform -> device class
    IngestError                           # bad input, naming file / row / field

Modules: :mod:`~prefcal.ingest.donations` (walk folders and zips), :mod:`~.formats`,
:mod:`~.readers` (bytes -> typed columns), :mod:`~.normalise`, :mod:`~.dedupe`,
:mod:`~.playlists`, :mod:`~.library`, :mod:`~.report`, :mod:`~.ids`, :mod:`~.pipeline`,
:mod:`~.cli`. The output contract is :mod:`prefcal.tables`.
"""

from prefcal.ingest.errors import IngestError
from prefcal.ingest.formats import FileKind, detect_format
from prefcal.ingest.ids import random_study_id, study_id
from prefcal.ingest.normalise import device_class
from prefcal.ingest.pipeline import IngestResult, Participant, ingest, ingest_donations

__all__ = [
    "FileKind",
    "IngestError",
    "IngestResult",
    "Participant",
    "detect_format",
    "device_class",
    "ingest",
    "ingest_donations",
    "random_study_id",
    "study_id",
]
