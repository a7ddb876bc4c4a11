"""``YourLibrary.json`` -> rows of the ``library`` table.

The file is an object of lists: ``tracks`` (artist, album, track, uri), ``albums`` (artist, album,
uri), ``shows`` (name, publisher, uri), ``episodes`` (name, show, uri), ``artists`` (name, uri),
``bannedTracks``, ``bannedArtists``, ``other``. Any other list is read as kind ``other`` and its
key reported. Row-level problems are skipped and counted: ``not_an_object:<key>``,
``missing:<key>.<name field>`` (no name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefcal.ingest.errors import IngestError
from prefcal.ingest.readers import load_json, repair_text
from prefcal.ingest.skips import SkipLog

# key -> (kind, name fields, creator fields)
_KEYS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "tracks": ("track", ("track", "name"), ("artist",)),
    "albums": ("album", ("album", "name"), ("artist",)),
    "shows": ("show", ("name", "show"), ("publisher",)),
    "episodes": ("episode", ("name", "episode"), ("show",)),
    "artists": ("artist", ("name", "artist"), ()),
    "bannedTracks": ("banned_track", ("track", "name"), ("artist",)),
    "bannedArtists": ("banned_artist", ("name", "artist"), ()),
    "other": ("other", ("name", "title", "track"), ("artist", "publisher", "show")),
}
_GENERIC = ("other", ("name", "title", "track", "album", "show"), ("artist", "publisher", "show"))


@dataclass
class LibraryFile:
    """Rows of ``YourLibrary.json`` (dicts with kind, uri, name, creator_name), rows read,
    skips, and top-level keys the study does not know."""

    rows: list[dict[str, Any]]
    n_read: int
    skips: SkipLog = field(default_factory=SkipLog)
    unexpected_keys: list[str] = field(default_factory=list)


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = obj.get(k)
        if isinstance(v, str) and v != "":
            return repair_text(v)
    return None


def read_library_file(data: bytes, where: str) -> LibraryFile:
    """Parse ``YourLibrary.json`` (see module doc); file-level problems raise
    :class:`IngestError`."""
    doc = load_json(data, where)
    if not isinstance(doc, dict):
        raise IngestError(f"{where}: expected a JSON object of lists, found {type(doc).__name__}")
    rows: list[dict[str, Any]] = []
    skips, n_read, unexpected = SkipLog(), 0, []
    for key in sorted(doc):
        entries = doc[key]
        if key not in _KEYS:
            unexpected.append(key)
        if not isinstance(entries, list):
            if key in _KEYS and entries is not None:
                raise IngestError(f"{where}: field '{key}' must be a list")
            continue
        kind, name_k, creator_k = _KEYS.get(key, _GENERIC)
        for entry in entries:
            if not isinstance(entry, dict):
                skips.add(f"not_an_object:{key}", [n_read])
            else:
                name = _first(entry, name_k)
                if name is None:
                    skips.add(f"missing:{key}.{name_k[0]}", [n_read])
                else:
                    uri = entry.get("uri")
                    rows.append(
                        {
                            "kind": kind,
                            "uri": repair_text(uri) if isinstance(uri, str) and uri else None,
                            "name": name,
                            "creator_name": _first(entry, creator_k),
                        }
                    )
            n_read += 1
    return LibraryFile(rows, n_read, skips, unexpected)
