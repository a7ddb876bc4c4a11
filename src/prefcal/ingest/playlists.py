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


# The columns of a playlist file's rows (:class:`PlaylistFile`), in this order.
COLUMNS = (
    "item_kind",
    "item_uri",
    "item_name",
    "creator_name",
    "album_name",
    "playlist_index",
    "playlist_name",
    "position",
    "added_date",
)


@dataclass
class PlaylistFile:
    """Rows of one playlist file as columns (``columns[name]`` is a list per name of
    :data:`COLUMNS`: the ``playlists`` columns but the ids, plus ``playlist_index``, the
    playlist's 0-based index in the file), the number of rows read (items, plus malformed
    playlist entries), skipped rows, values set to null, and the latest ``lastModifiedDate`` in
    the file."""

    columns: dict[str, list[Any]]
    n_read: int
    n_playlists: int
    skips: SkipLog = field(default_factory=SkipLog)
    nulled: dict[str, int] = field(default_factory=dict)
    last_modified: str = ""

    @property
    def n_rows(self) -> int:
        """Number of rows (items kept)."""
        return len(self.columns["item_kind"])

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (one per item kept; for tests and small files)."""
        cols = [self.columns[c] for c in COLUMNS]
        return [dict(zip(COLUMNS, vals, strict=True)) for vals in zip(*cols, strict=True)]


def _str(v: Any) -> str | None:
    """A non-empty string value (repaired, see :func:`repair_text`), else None."""
    if type(v) is str:
        if v.isascii():  # ASCII text holds no lone surrogate: nothing to repair
            return v or None
        return repair_text(v)
    if isinstance(v, str) and v != "":
        return repair_text(v)
    return None


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


_Row = tuple[str, str | None, str | None, str | None, str | None]


def _item(item: Any) -> tuple[_Row | None, str | None]:
    """((kind, uri, name, creator, album), None) or (None, skip reason) of one playlist item."""
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
        return (kind, uri, name, creator, album), None
    return None, "empty_item"


def read_playlist_file(data: bytes, where: str) -> PlaylistFile:
    """Parse one ``PlaylistN.json`` (see module doc); file-level problems raise
    :class:`IngestError`.

    One pass over the items that appends to the column lists. A track item (the usual case) is
    read inline; any other item goes through :func:`_item`, which gives the same row for a track.
    """
    doc = load_json(data, where)
    if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
        found = type(doc).__name__ if not isinstance(doc, dict) else "no 'playlists' list"
        raise IngestError(f"{where}: expected an object with a 'playlists' list, found {found}")
    skips, n_read, nulled = SkipLog(), 0, 0
    kinds: list[str] = []
    uris: list[str | None] = []
    names: list[str | None] = []
    creators: list[str | None] = []
    albums: list[str | None] = []
    pl_index: list[int] = []
    pl_names: list[str | None] = []
    positions: list[int] = []
    added: list[dt.date | None] = []
    dates: dict[str, tuple[dt.date | None, bool]] = {}  # addedDate string -> _date of it
    bad_rows: list[tuple[str, int]] = []
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
        pl_name = _str(pl.get("name"))
        n_before = len(kinds)
        for pos, item in enumerate(items):
            tr = item.get("track") if type(item) is dict else None
            if type(tr) is dict:
                name = _str(tr.get("trackName"))
                uri = _str(tr.get("trackUri"))
                if name is None and uri is None:
                    bad_rows.append(("empty_item", n_read + pos))
                    continue
                kinds.append("track")
                uris.append(uri)
                names.append(name)
                creators.append(_str(tr.get("artistName")))
                albums.append(_str(tr.get("albumName")))
            else:
                row, reason = _item(item)
                if row is None:
                    bad_rows.append((reason or "empty_item", n_read + pos))
                    continue
                kind, uri, name, creator, album = row
                kinds.append(kind)
                uris.append(uri)
                names.append(name)
                creators.append(creator)
                albums.append(album)
            positions.append(pos)
            v = item.get("addedDate")
            if type(v) is str:
                got = dates.get(v)
                if got is None:
                    got = dates[v] = _date(v)
            else:
                got = _date(v)
            added.append(got[0])
            nulled += got[1]
        k = len(kinds) - n_before
        pl_index.extend([p_idx] * k)
        pl_names.extend([pl_name] * k)
        n_read += len(items)
    # skips.add keeps per reason the count and the smallest rows, so adding them grouped by
    # reason gives the same log as adding them one at a time
    by_reason: dict[str, list[int]] = {}
    for reason, row in bad_rows:
        by_reason.setdefault(reason, []).append(row)
    for reason, rows in by_reason.items():
        skips.add(reason, rows)
    columns = {
        "item_kind": kinds,
        "item_uri": uris,
        "item_name": names,
        "creator_name": creators,
        "album_name": albums,
        "playlist_index": pl_index,
        "playlist_name": pl_names,
        "position": positions,
        "added_date": added,
    }
    return PlaylistFile(
        columns,
        n_read,
        len(doc["playlists"]),
        skips,
        {"bad_value:addedDate": nulled} if nulled else {},
        last,
    )
