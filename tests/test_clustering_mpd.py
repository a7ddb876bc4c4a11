"""Million Playlist Dataset reader on a tiny hand-written slice (the MPD is never shipped)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from prefcal.clustering import iter_mpd, read_mpd, write_mpd_parquet
from prefcal.tables import PLAYLISTS_SCHEMA


def _track(pos: int, artist: str, uri: str) -> dict:
    return {
        "pos": pos,
        "artist_name": artist,
        "track_uri": uri,
        "artist_uri": f"spotify:artist:{artist}",
        "track_name": f"song {uri}",
        "album_uri": "spotify:album:x",
        "album_name": "Album",
        "duration_ms": 200000,
    }


def _write_slice(folder, start: int, playlists: list[dict]):
    path = folder / f"mpd.slice.{start}-{start + 999}.json"
    path.write_text(
        json.dumps({"info": {"slice": f"{start}-{start + 999}"}, "playlists": playlists})
    )
    return path


def test_read_mpd_slices_in_pid_order(tmp_path):
    sub = tmp_path / "data"
    sub.mkdir()
    _write_slice(sub, 1000, [{"pid": 1000, "name": "later", "tracks": [_track(0, "C", "t9")]}])
    _write_slice(
        sub,
        0,
        [
            {
                "pid": 0,
                "name": "run",
                "modified_at": 1500000000,
                "tracks": [_track(0, "A", "t1"), _track(1, "B", "t2")],
            },
            {"pid": 1, "name": "empty", "tracks": []},
        ],
    )
    table = read_mpd(tmp_path)
    assert table.schema == PLAYLISTS_SCHEMA
    df = table.to_pandas()
    assert df["playlist_id"].tolist() == ["mpd-0", "mpd-0", "mpd-1000"]
    assert df["position"].tolist() == [0, 1, 0]
    assert df["creator_name"].tolist() == ["A", "B", "C"]
    assert df["item_uri"].tolist() == ["t1", "t2", "t9"]
    assert df["item_kind"].unique().tolist() == ["track"]
    assert str(df["added_date"].iloc[0]) == "2017-07-14"
    assert df["added_date"].isna().tolist() == [False, False, True]
    assert [t.num_rows for t in iter_mpd(tmp_path)] == [2, 1]
    assert read_mpd(tmp_path, max_slices=1).num_rows == 2
    out = tmp_path / "mpd.parquet"
    assert write_mpd_parquet(tmp_path, out) == 3
    assert pq.read_table(out).equals(table)


def test_malformed_slice_names_file_playlist_and_field(tmp_path):
    bad = _track(0, "A", "t1")
    del bad["track_uri"]
    path = _write_slice(
        tmp_path, 0, [{"pid": 7, "name": "x", "tracks": [_track(0, "A", "t0"), bad]}]
    )
    with pytest.raises(
        ValueError, match=r"mpd\.slice\.0-999\.json: playlist pid=7 track #1 lacks field"
    ):
        read_mpd(path)
    (tmp_path / "mpd.slice.0-999.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable MPD slice"):
        read_mpd(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no mpd.slice"):
        read_mpd(empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_mpd(tmp_path / "missing")
