"""Unit tests of the ingest's parts: ids, format detection, device classes, the two parsers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest_helpers import ENDSONG, FIXTURES, LEGACY, dump, load, to_new_format

from prefcal.cli import main
from prefcal.ingest import detect_format, device_class, study_id
from prefcal.ingest.ids import is_study_id, random_study_id
from prefcal.ingest.normalise import normalise_streams, offline_utc, parse_utc
from prefcal.ingest.readers import _checked, read_stream_file
from prefcal.ingest.skips import SkipLog


def test_study_id_deterministic_and_keyed() -> None:
    a = study_id("sim_000123", 20261122)
    assert re.fullmatch(r"P[0-9a-f]{10}", a)
    assert a == study_id("sim_000123", 20261122) == study_id("sim_000123.zip", 20261122)
    assert a != study_id("sim_000123", 20261123)
    assert a != study_id("sim_000124", 20261122)
    ids = {study_id(f"sim_{i:06d}", 1) for i in range(2000)}
    assert len(ids) == 2000
    assert is_study_id(random_study_id()) and random_study_id() != random_study_id()
    with pytest.raises(TypeError):
        study_id("x", "1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "kind", "fmt"),
    [
        ("StreamingHistory0.json", "streams", "legacy_account"),
        ("StreamingHistory_music_3.json", "streams", "account_music"),
        ("StreamingHistory_podcast_0.json", "streams", "account_podcast"),
        ("StreamingHistory_audiobook_0.json", "streams", "account_audiobook"),
        ("endsong_12.json", "streams", "endsong"),
        ("endvideo.json", "streams", "endvideo"),
        ("Streaming_History_Audio_2023_5.json", "streams", "extended_audio"),
        ("Streaming_History_Audio_2022-2023_4.json", "streams", "extended_audio"),
        ("Streaming_History_Audio_2014-2016.json", "streams", "extended_audio"),
        ("Streaming_History_Video_2018-2024.json", "streams", "extended_video"),
        ("endsong_1 (1).json", "streams", "endsong"),
        ("Playlist1.json", "playlists", None),
        ("Playlist12.json", "playlists", None),
        ("YourLibrary.json", "library", None),
        ("Marquee.json", "ignored", None),
        ("Wrapped2023.json", "ignored", None),
        ("Follow.json", "ignored", None),
        ("PodcastInteractivityVotedPollOption.json", "ignored", None),
        ("ReadMeFirst_ExtendedStreamingHistory.pdf", "ignored", None),
        ("Userdata.json", "privacy", None),
        ("Identifiers.json", "privacy", None),
        ("Identity.json", "privacy", None),
        ("Payments.json", "privacy", None),
        ("UserAddress.json", "privacy", None),
        ("VoiceInput.json", "privacy", None),
        ("Inferences.json", "privacy", None),
        ("SearchQueries.json", "privacy", None),
        ("Something_New.json", "unknown", None),
    ],
)
def test_detect_format(name: str, kind: str, fmt: str | None) -> None:
    got = detect_format(f"Spotify Account Data/{name}")
    assert (got.kind, got.fmt) == (kind, fmt)


@pytest.mark.parametrize(
    ("platform", "device"),
    [
        ("iOS 14.7.1 (iPhone10,3)", "mobile"),
        ("iOS 14.3 (iPad11,3)", "mobile"),
        ("Android OS 9 API 28 (samsung, SM-G960F)", "mobile"),
        ("Android-tablet OS 8.0.0 API 26 (HUAWEI, LG)", "mobile"),
        ("android", "mobile"),
        ("ios", "mobile"),
        ("Windows 10 (10.0.18362; x64; AppX)", "desktop"),
        ("OS X 10.14.6 [x86 8]", "desktop"),
        ("osx", "desktop"),
        ("windows", "desktop"),
        ("linux", "desktop"),
        ("web_player windows 10;chrome 76.0.3809.132;desktop", "web"),
        ("WebPlayer (websocket RFC6455)", "web"),
        ("web_player", "web"),
        ("Partner google cast_tv;Chromecast;;", "tv"),
        ("Partner android_tv Sony;BRAVIA 4K", "tv"),
        ("smart_tv", "tv"),
        ("Partner ps4 Sony;PS4;;", "tv"),
        ("xbox one", "tv"),
        ("Partner sonos_arm Sonos;Play:1;;", "speaker"),
        ("google home", "speaker"),
        ("Partner google cast_audio;Google Home Mini;;", "speaker"),
        ("Partner amazon_salmon Amazon;Echo_Dot;;", "speaker"),
        ("cast", "speaker"),
        ("Partner android_auto", "other"),
        ("Partner vw_group_car", "other"),
        ("not_applicable", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_device_class(platform: str | None, device: str) -> None:
    assert device_class(platform) == device


def test_timestamps() -> None:
    ext = parse_utc(
        pa.array(["2021-09-21T19:38:59Z", "2021-09-21T19:38:59.5Z", "x", None]), "endsong"
    )
    assert ext.to_pylist()[0].isoformat() == "2021-09-21T19:38:59+00:00"
    assert ext[1].as_py().microsecond == 500000 and ext[2].as_py() is None
    acc = parse_utc(pa.array(["2023-10-02 23:43"]), "account_music")
    assert acc[0].as_py().isoformat() == "2023-10-02T23:43:00+00:00"
    off = offline_utc(pa.array([1632253124315, 1632253124, 0, None, -4], pa.int64()))
    got = [None if v is None else v.isoformat() for v in off.to_pylist()]
    assert got == [
        "2021-09-21T19:38:44.315000+00:00",
        "2021-09-21T19:38:44+00:00",
        None,
        None,
        None,
    ]


@pytest.mark.parametrize("path", [ENDSONG, LEGACY])
def test_fast_and_checked_parsers_agree(path: Path) -> None:
    fmt = detect_format(path.name).fmt
    data = path.read_bytes()
    fast = read_stream_file(data, fmt, str(path))
    slow = _checked(data, fmt, str(path))
    assert fast.parser == "fast" and slow.parser == "checked"
    assert fast.table.equals(slow.table)
    assert fast.n_read == slow.n_read == 1500
    a = normalise_streams(fast.table, fmt, SkipLog())
    b = normalise_streams(slow.table, fmt, SkipLog())
    assert a.equals(b)


def test_new_generation_content_types(tmp_path: Path) -> None:
    rows = to_new_format(load(ENDSONG)[:3])
    rows[1].update(
        master_metadata_track_name=None,
        master_metadata_album_artist_name=None,
        master_metadata_album_album_name=None,
        spotify_track_uri=None,
        episode_name="Ep",
        episode_show_name="Show",
        spotify_episode_uri="spotify:episode:e",
    )
    rows[2].update(
        master_metadata_track_name=None,
        master_metadata_album_artist_name=None,
        master_metadata_album_album_name=None,
        spotify_track_uri=None,
        audiobook_title="Book",
        audiobook_uri="spotify:show:b",
        audiobook_chapter_uri="spotify:episode:c",
        audiobook_chapter_title="Chapter 1",
    )
    path = dump(rows, tmp_path / "Streaming_History_Audio_2021.json", indent=None)
    raw = read_stream_file(path.read_bytes(), "extended_audio", str(path))
    t = normalise_streams(raw.table, "extended_audio", SkipLog()).to_pylist()
    assert [r["content_type"] for r in t] == ["music", "podcast", "audiobook"]
    assert (t[1]["item_uri"], t[1]["item_name"], t[1]["creator_name"]) == (
        "spotify:episode:e",
        "Ep",
        "Show",
    )
    assert (t[2]["item_uri"], t[2]["item_name"], t[2]["creator_name"]) == (
        "spotify:episode:c",
        "Chapter 1",
        "Book",
    )
    assert t[1]["album_name"] is None and t[0]["album_name"] is not None
    # a video file row with no item fields is "video"; a local file (no URI) keeps its name
    vid = [
        dict(
            rows[0],
            master_metadata_track_name=None,
            master_metadata_album_artist_name=None,
            master_metadata_album_album_name=None,
            spotify_track_uri=None,
        ),
        dict(rows[0], spotify_track_uri=None),
    ]
    vpath = dump(vid, tmp_path / "Streaming_History_Video_2021.json")
    raw = read_stream_file(vpath.read_bytes(), "extended_video", str(vpath))
    v = normalise_streams(raw.table, "extended_video", SkipLog()).to_pylist()
    assert [r["content_type"] for r in v] == ["video", "music"]
    assert v[1]["item_uri"] is None and v[1]["item_name"] == rows[0]["master_metadata_track_name"]


def test_cli_each_with_seed(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    status = main(["ingest", "--each", str(FIXTURES), "--out", str(out), "--id-seed", "11"])
    assert status == 0
    assert "3 participants" in capsys.readouterr().out
    ids = set(pq.read_table(out / "streams.parquet")["participant_id"].to_pylist())
    assert ids == {study_id(n, 11) for n in ("legacy_account", "extended_endsong", "account_2024")}
    report = json.loads((out / "ingest_report.json").read_text())
    assert sorted(report["participants"]) == sorted(ids)


def test_random_ids_without_seed(tmp_path: Path) -> None:
    from prefcal.ingest import ingest_donations

    d = tmp_path / "someone"
    dump(load(ENDSONG)[:2], d / "endsong_0.json")
    a = ingest_donations([d]).streams["participant_id"][0].as_py()
    b = ingest_donations([d]).streams["participant_id"][0].as_py()
    assert is_study_id(a) and is_study_id(b) and a != b


def test_byte_order_mark_and_compact_layout(tmp_path: Path) -> None:
    """A UTF-8 BOM (some editors add one) and a compact, one-line array both read the same."""
    from prefcal.ingest import ingest_donations

    rows = load(ENDSONG)[:50]
    a, b = tmp_path / "a", tmp_path / "b"
    dump(rows, a / "endsong_0.json")
    b.mkdir()
    (b / "endsong_0.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(rows).encode())
    ra, rb = ingest_donations([a], id_seed=1), ingest_donations([b], id_seed=1)
    cols = [c for c in ra.streams.column_names if c != "participant_id"]
    assert ra.streams.select(cols).equals(rb.streams.select(cols))
    assert ra.streams.num_rows == 50


def test_old_generation_chapter_rows_are_audiobooks(tmp_path):
    """endsong files have no audiobook fields; a spotify:chapter: episode URI marks a chapter."""
    import json

    import pyarrow.parquet as pq

    from prefcal.ingest import ingest

    row = {
        "ts": "2021-09-21T19:38:59Z",
        "username": "x",
        "platform": "Android OS 11",
        "ms_played": 600000,
        "conn_country": "US",
        "ip_addr_decrypted": None,
        "user_agent_decrypted": None,
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": "Chapter 3",
        "episode_show_name": "A Book",
        "spotify_episode_uri": "spotify:chapter:0123456789abcdefghijkl",
        "reason_start": "clickrow",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": None,
        "offline": False,
        "offline_timestamp": 1632253124315,
        "incognito_mode": False,
    }
    donation = tmp_path / "d"
    donation.mkdir()
    (donation / "endsong_0.json").write_text(
        json.dumps(
            [
                row,
                {
                    **row,
                    "spotify_episode_uri": "spotify:episode:0123456789abcdefghijkl",
                    "ts": "2021-09-22T19:38:59Z",
                },
            ]
        )
    )
    ingest([donation], tmp_path / "out", id_seed=1)
    streams = pq.read_table(tmp_path / "out" / "streams.parquet").to_pandas()
    by_uri = dict(zip(streams["item_uri"], streams["content_type"], strict=True))
    assert by_uri == {
        "spotify:chapter:0123456789abcdefghijkl": "audiobook",
        "spotify:episode:0123456789abcdefghijkl": "podcast",
    }
    assert set(streams["creator_name"]) == {"A Book"}


def test_has_empty_string_reads_offsets_and_validity_of_sliced_arrays():
    from prefcal.ingest.normalise import _has_empty_string, _nonempty

    arr = pa.array(["a", None, "", "bc", None, "d"])
    assert _has_empty_string(arr)
    assert not _has_empty_string(arr.slice(3))  # "bc", None, "d": a null is not empty
    assert _has_empty_string(arr.slice(2, 1))
    assert not _has_empty_string(pa.array(["x", "y"]))
    assert _nonempty(arr).to_pylist() == ["a", None, None, "bc", None, "d"]
    assert _nonempty(arr.slice(3)).to_pylist() == ["bc", None, "d"]
