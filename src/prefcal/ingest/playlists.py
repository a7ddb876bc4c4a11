"""``Playlist1.json``, ``Playlist2.json``, ... -> rows of the ``playlists`` table.

The file is ``{"playlists": [{name, lastModifiedDate, description, numberOfFollowers,
items: [{track | episode | audiobook | localTrack, addedDate}]}]}``; one row per item, with
``position`` its 0-based index in the playlist's ``items`` (a skipped item keeps the positions of
the others). Kinds: ``track`` (trackName, artistName, albumName, trackUri), ``episode``
(episodeName, showName, episodeUri), ``audiobook`` (audiobookName, audiobookUri, author if given),
``local`` (a local file: no URI; names from its ``spotify:local:artist:album:title:seconds`` URI
when the item does not carry them). Descriptions and follower counts are not kept.

Row-level problems are skipped and counted: ``not_an_object`` (an item or playlist that is not a
JSON object), ``empty_item`` (none of the four kinds set, or a kind without name and URI),
``bad_type:<kind>`` (a kind that is not an object), ``bad_type:items``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from prefcal.ingest.errors import IngestError
from prefcal.ingest.readers import load_json, repair_text
from prefcal.ingest.skips import SkipLog

_KINDS = (
    ("track", "track", ("trackName",), ("artistName",), ("albumName",), ("trackUri",)),
    ("episode", "episode", ("episodeName",), ("showName",), (), ("episodeUri",)),
    (
        "audiobook",
        "audiobook",
        ("audiobookName", "name", "title"),
        ("authorName", "author"),
        (),
        ("audiobookUri", "uri"),
    ),
    ("localTrack", "local", ("trackName",), ("artistName",), ("albumName",), ()),
)


@dataclass
class PlaylistFile:
    """Rows of one playlist file (dicts with the ``playlists`` columns but the ids), the number of
    rows read (items, plus malformed playlist entries), skipped rows, values set to null, and the
    latest ``lastModifiedDate`` in the file."""

    rows: list[dict[str, Any]]
    n_read: int
    n_playlists: int
    skips: SkipLog = field(default_factory=SkipLog)
    nulled: dict[str, int] = field(default_factory=dict)
    last_modified: str = ""


def _str(v: Any) -> str | None:
    return repair_text(v) if isinstance(v, str) and v != "" else None


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = _str(obj.get(k))
        if v is not None:
            return v
    return None


def _local_names(uri: str | None) -> tuple[str | None, str | None, str | None]:
    """(title, artist, album) of a ``spotify:local:artist:album:title:seconds`` URI."""
    if not uri or not uri.startswith("spotify:local:"):
        return None, None, None
    parts = [unquote_plus(p) or None for p in uri[len("spotify:local:") :].split(":")]
    parts += [None] * (4 - len(parts))
    return parts[2], parts[0], parts[1]


def _date(v: Any) -> tuple[dt.date | None, bool]:
    """(date, was_bad) of an ``addedDate`` value."""
    if v is None:
        return None, False
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v[:10]), False
        except ValueError:
            pass
    return None, True


def _item(item: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(row, None) or (None, skip reason) of one playlist item."""
    if not isinstance(item, dict):
        return None, "not_an_object"
    for key, kind, name_k, creator_k, album_k, uri_k in _KINDS:
        obj = item.get(key)
        if obj is None:
            continue
        if not isinstance(obj, dict):
            return None, f"bad_type:{key}"
        name, creator = _first(obj, name_k), _first(obj, creator_k)
        album = _first(obj, album_k) if album_k else None
        uri = _first(obj, uri_k) if uri_k else None
        if kind == "local":
            t, a, b = _local_names(_str(obj.get("uri")))
            name, creator, album = name or t, creator or a, album or b
        if name is None and uri is None:
            return None, "empty_item"
        return {
            "item_kind": kind,
            "item_uri": uri,
            "item_name": name,
            "creator_name": creator,
            "album_name": album,
        }, None
    return None, "empty_item"


def read_playlist_file(data: bytes, where: str) -> PlaylistFile:
    """Parse one ``PlaylistN.json`` (see module doc); file-level problems raise
    :class:`IngestError`."""
    doc = load_json(data, where)
    if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
        found = type(doc).__name__ if not isinstance(doc, dict) else "no 'playlists' list"
        raise IngestError(f"{where}: expected an object with a 'playlists' list, found {found}")
    skips, rows, n_read, nulled = SkipLog(), [], 0, 0
    last = ""
    for p_idx, pl in enumerate(doc["playlists"]):
        if not isinstance(pl, dict):
            skips.add(f"not_an_object:playlist[{p_idx}]", [n_read])
            n_read += 1
            continue
        items = pl.get("items")
        if items is None:
            items = []
        if not isinstance(items, list):
            skips.add("bad_type:items", [n_read])
            n_read += 1
            continue
        modified = _str(pl.get("lastModifiedDate")) or ""
        last = max(last, modified)
        for pos, item in enumerate(items):
            row, reason = _item(item)
            if row is None:
                skips.add(reason or "empty_item", [n_read])
            else:
                added, bad = _date(item.get("addedDate"))
                nulled += bad
                row.update(
                    playlist_index=p_idx,
                    playlist_name=_str(pl.get("name")),
                    position=pos,
                    added_date=added,
                )
                rows.append(row)
            n_read += 1
    return PlaylistFile(
        rows,
        n_read,
        len(doc["playlists"]),
        skips,
        {"bad_value:addedDate": nulled} if nulled else {},
        last,
    )
