"""Read the Million Playlist Dataset (``mpd.slice.*.json``) into the canonical playlists schema.

The MPD has a research-only licence and is never shipped with the artifact: the user points
:func:`read_mpd` at their own copy. Each slice is ``{"info": {...}, "playlists": [{"pid", "name",
"modified_at"?, "tracks": [{"pos", "artist_name", "track_uri", "artist_uri", "track_name",
"album_uri", "album_name", "duration_ms"}]}]}``. Slices are read one at a time (a slice is 1,000
playlists), so memory is bounded by one slice plus the output.

Mapping to :data:`prefcal.tables.PLAYLISTS_SCHEMA`: ``participant_id = "mpd"`` (the MPD has no
study participants), ``playlist_id = "mpd-<pid>"``, ``playlist_name = name``, ``position = pos``,
``item_kind = "track"``, ``item_uri = track_uri``, ``item_name = track_name``,
``creator_name = artist_name``, ``album_name = album_name``, ``added_date`` = the date (UTC) of the
playlist's ``modified_at`` when present, else null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa

from prefcal.tables import PLAYLISTS_SCHEMA

MPD_PATTERN = "mpd.slice.*.json"
TRACK_FIELDS = ("pos", "artist_name", "track_uri", "track_name", "album_name")
_SLICE_START = re.compile(r"mpd\.slice\.(\d+)-\d+\.json$")


def mpd_slices(path: str | Path) -> list[Path]:
    """The slice files under ``path`` (a folder, searched recursively, or a file), in pid order."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"MPD folder {root} does not exist")
    files = sorted(root.rglob(MPD_PATTERN))
    if not files:
        raise FileNotFoundError(f"no {MPD_PATTERN} files under {root}")

    def start(p: Path) -> tuple[int, str]:
        m = _SLICE_START.search(p.name)
        return (int(m.group(1)) if m else -1, p.name)

    return sorted(files, key=start)


def _slice_table(file: Path) -> pa.Table:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{file}: not a readable MPD slice ({exc})") from exc
    playlists = data.get("playlists") if isinstance(data, dict) else None
    if not isinstance(playlists, list):
        raise ValueError(f"{file}: no 'playlists' list at the top level")
    try:
        return _build_table(playlists)
    except (KeyError, TypeError, AttributeError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        _locate_error(file, playlists)
        raise ValueError(f"{file}: malformed MPD slice ({exc})") from exc


def _locate_error(file: Path, playlists: list) -> None:
    """Raise a ValueError naming the playlist, track and field that broke the fast path."""
    for i, pl in enumerate(playlists):
        if not isinstance(pl, dict) or "pid" not in pl or not isinstance(pl.get("tracks"), list):
            raise ValueError(f"{file}: playlist #{i} lacks 'pid' or a 'tracks' list")
        for j, tr in enumerate(pl["tracks"]):
            if not isinstance(tr, dict):
                raise ValueError(f"{file}: playlist pid={pl['pid']} track #{j} is not an object")
            missing = [f for f in TRACK_FIELDS if f not in tr]
            if missing:
                raise ValueError(
                    f"{file}: playlist pid={pl['pid']} track #{j} lacks field(s) {missing}"
                )


def _build_table(playlists: list) -> pa.Table:
    n_tracks = np.fromiter(
        (len(pl["tracks"]) for pl in playlists), dtype=np.int64, count=len(playlists)
    )
    tracks = list(chain.from_iterable(pl["tracks"] for pl in playlists))
    pl_ids = np.array([f"mpd-{pl['pid']}" for pl in playlists], dtype=object)
    names = np.array([pl.get("name") for pl in playlists], dtype=object)
    modified = np.array(
        [
            pl.get("modified_at") if isinstance(pl.get("modified_at"), int) else -1
            for pl in playlists
        ],
        dtype=np.int64,
    )
    days = np.where(modified >= 0, modified // 86400, -1)
    added = pa.array(
        np.repeat(days, n_tracks), type=pa.int32(), mask=np.repeat(days < 0, n_tracks)
    ).cast(pa.date32())

    def col(name: str) -> list:
        return [t[name] for t in tracks]

    n = len(tracks)
    return pa.table(
        {
            "participant_id": pa.array(np.full(n, "mpd", dtype=object), pa.string()),
            "playlist_id": pa.array(np.repeat(pl_ids, n_tracks), pa.string()),
            "playlist_name": pa.array(np.repeat(names, n_tracks), pa.string()),
            "position": pa.array(col("pos"), pa.int32()),
            "item_kind": pa.array(np.full(n, "track", dtype=object), pa.string()),
            "item_uri": pa.array(col("track_uri"), pa.string()),
            "item_name": pa.array(col("track_name"), pa.string()),
            "creator_name": pa.array(col("artist_name"), pa.string()),
            "album_name": pa.array(col("album_name"), pa.string()),
            "added_date": added,
        },
        schema=PLAYLISTS_SCHEMA,
    )


def iter_mpd(path: str | Path, *, max_slices: int | None = None) -> Iterator[pa.Table]:
    """Yield one canonical playlists table per slice file, in pid order."""
    for i, file in enumerate(mpd_slices(path)):
        if max_slices is not None and i >= max_slices:
            return
        yield _slice_table(file)


def read_mpd(path: str | Path, *, max_slices: int | None = None) -> pa.Table:
    """All slices under ``path`` as one canonical playlists table (read slice by slice).

    For the full MPD (66 million rows) prefer :func:`write_mpd_parquet` or iterate
    :func:`iter_mpd` yourself.
    """
    tables = list(iter_mpd(path, max_slices=max_slices))
    return pa.concat_tables(tables) if tables else PLAYLISTS_SCHEMA.empty_table()


def write_mpd_parquet(path: str | Path, out: str | Path, *, max_slices: int | None = None) -> int:
    """Stream the slices under ``path`` into one Parquet file ``out``; return the number of rows."""
    import pyarrow.parquet as pq

    n = 0
    with pq.ParquetWriter(str(out), PLAYLISTS_SCHEMA) as writer:
        for table in iter_mpd(path, max_slices=max_slices):
            writer.write_table(table)
            n += table.num_rows
    return n
