"""The ingest on the three real (scrubbed) Spotify exports in tests/fixtures/spotify_exports."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_ingest_helpers import ACCOUNT, ENDSONG, FIXTURES, LEGACY, load

from prefcal.ingest import ingest, study_id
from prefcal.ingest.report import check_counts
from prefcal.tables import LIBRARY_SCHEMA, PLAYLISTS_SCHEMA, STREAMS_SCHEMA

SEED = 20261122
UTC = dt.UTC


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real")
    donations = [FIXTURES / "legacy_account", FIXTURES / "extended_endsong", ACCOUNT]
    ingest(donations, out, id_seed=SEED)
    return out


@pytest.fixture(scope="module")
def streams(out: Path):
    return pq.read_table(out / "streams.parquet")


@pytest.fixture(scope="module")
def report(out: Path) -> dict:
    return json.loads((out / "ingest_report.json").read_text())


def pid(name: str) -> str:
    return study_id(name, SEED)


def rows_of(streams, name: str, fmt: str) -> list[dict]:
    t = streams.to_pandas()
    return t[(t.participant_id == pid(name)) & (t.source_format == fmt)]


def test_schemas_exact(out: Path) -> None:
    assert pq.read_schema(out / "streams.parquet").remove_metadata() == STREAMS_SCHEMA
    assert pq.read_schema(out / "playlists.parquet").remove_metadata() == PLAYLISTS_SCHEMA
    assert pq.read_schema(out / "library.parquet").remove_metadata() == LIBRARY_SCHEMA


def test_row_counts_equal_the_files(streams) -> None:
    counts = Counter(
        zip(
            streams["participant_id"].to_pylist(),
            streams["source_format"].to_pylist(),
            strict=True,
        )
    )
    assert counts == {
        (pid("legacy_account"), "legacy_account"): 1500,
        (pid("extended_endsong"), "endsong"): 1500,
        (pid("account_2024"), "account_music"): 3000,
        (pid("account_2024"), "account_podcast"): 597,
        (pid("account_2024"), "account_audiobook"): 11,
    }
    assert len(load(LEGACY)) == 1500 and len(load(ENDSONG)) == 1500


def test_report_counts_add_up(report: dict) -> None:
    check_counts(report)
    files = report["participants"][pid("account_2024")]["files"]
    assert files["StreamingHistory_podcast_0.json"]["rows_read"] == 597
    assert files["Marquee.json"]["status"] == "ignored"
    assert files["Wrapped2023.json"]["status"] == "ignored"
    endsong = report["participants"][pid("extended_endsong")]["files"]["endsong_1.json"]
    assert endsong["format"] == "endsong"
    assert endsong["personal_fields_dropped"] == [
        "conn_country",
        "ip_addr_decrypted",
        "user_agent_decrypted",
        "username",
    ]
    assert report["totals"]["streams"]["rows_read"] == 6608
    assert report["totals"]["streams"]["rows_kept"] == 6608
    # the donation names never enter the report ("legacy_account" is also a format name)
    text = json.dumps(report)
    for name in ("extended_endsong", "account_2024", "legacy_account/"):
        assert name not in text


def test_endsong_first_row(streams) -> None:
    t = rows_of(streams, "extended_endsong", "endsong")
    row = t[t.ts_end == ts("2021-09-21 19:38:59")].iloc[0]
    assert row.item_uri == "spotify:track:1S0ZfOXMfiF49JvPGVQ2YZ"
    # file row 0: ts 2021-09-21T19:38:59Z, iOS, 14450 ms, offline_timestamp 1632253124315 (ms)
    assert row.ts_end == ts("2021-09-21 19:38:59")
    assert row.ts_start == ts("2021-09-21 19:38:44.550")
    assert row.ms_played == 14450
    assert row.content_type == "music" and row.device == "mobile"
    assert row.item_name == "Colors of Fall, Wool Clothes"
    assert row.creator_name == "Kendall Miles"
    assert row.album_name == "Chillhop Essentials Fall 2021"
    assert (row.reason_start, row.reason_end, row.shuffle) == ("clickrow", "fwdbtn", False)
    assert row.skipped is None or row.skipped != row.skipped  # null in the old generation
    assert row.offline_ts == ts("2021-09-21 19:38:44.315")


def test_endsong_devices_match_platform_text(streams) -> None:
    rows = load(ENDSONG)
    expected = Counter()
    for r in rows:
        p = r["platform"]
        expected[
            "mobile"
            if p.startswith("iOS")
            else "desktop"
            if p.startswith("Windows")
            else "web"
            if p.startswith("web_player")
            else "tv"
            if "cast_tv" in p
            else "?"
        ] += 1
    t = rows_of(streams, "extended_endsong", "endsong")
    assert Counter(t.device) == expected
    assert expected == {"mobile": 1424, "desktop": 71, "tv": 3, "web": 2}


def test_endsong_sorted_and_ms_sum(streams) -> None:
    t = rows_of(streams, "extended_endsong", "endsong")
    assert t.ms_played.sum() == sum(r["ms_played"] for r in load(ENDSONG))
    assert t.ts_start.is_monotonic_increasing
    assert t.ts_end.min() == ts("2014-06-18 00:26:09")  # rows are not sorted in the file


def test_legacy_first_row(streams) -> None:
    t = rows_of(streams, "legacy_account", "legacy_account")
    row = t[(t.item_name == "Perverted Undertone") & (t.ms_played == 31101)].iloc[0]
    assert row.ts_end == ts("2020-08-11 12:47")
    assert row.ts_start == ts("2020-08-11 12:46:28.899")
    assert row.creator_name == "Prefuse 73"
    assert row.content_type == "unknown" and row.device == "unknown"
    assert row.item_uri is None or row.item_uri != row.item_uri


def test_account_first_rows(streams) -> None:
    music = rows_of(streams, "account_2024", "account_music").iloc[0]
    # the earliest music row is the file's first: 2023-10-02 23:43, Cults, Go Outside, 51223 ms
    assert (music.ts_end, music.item_name, music.creator_name, music.ms_played) == (
        ts("2023-10-02 23:43"),
        "Go Outside",
        "Cults",
        51223,
    )
    pod = rows_of(streams, "account_2024", "account_podcast")
    first = pod[pod.ms_played == 1835].iloc[0]
    assert first.ts_end == ts("2023-10-03 21:56")
    assert first.content_type == "podcast"
    assert first.creator_name == "Bobo's Void"
    book = rows_of(streams, "account_2024", "account_audiobook")
    b0 = book[book.ms_played == 41192].iloc[0]
    assert b0.ts_end == ts("2023-10-20 18:58")
    assert b0.content_type == "audiobook"
    assert b0.item_name == b0.creator_name == "How to Keep House While Drowning"
    assert (book.ms_played == 0).sum() == 1


def test_playlists_item_counts(out: Path) -> None:
    pl = pq.read_table(out / "playlists.parquet").to_pandas()
    src = load(ACCOUNT / "Playlist1.json")["playlists"]
    assert len(pl) == sum(len(p["items"]) for p in src) == 1008
    by_name = pl.groupby("playlist_name").size()
    assert by_name["Disney Classics"] == 95
    assert by_name["Skate songs!"] == 71
    assert "Oldies" not in by_name.index  # an empty playlist has no rows
    assert pl.playlist_id.nunique() == 39
    assert Counter(pl.item_kind) == {"track": 1005, "episode": 3}
    first = pl[pl.playlist_id == f"{pid('account_2024')}-0"].iloc[0]
    assert (first.playlist_name, first.item_name, first.item_uri) == (
        "Summrr Vibin’",
        "Diddy Bop",
        "spotify:track:7CRPXJt3IVC7V0VcM0PSQi",
    )
    assert first.added_date == dt.date(2024, 6, 28)
    assert first.position == 0
    ep = pl[pl.item_kind == "episode"].iloc[0]
    assert ep.creator_name == "StumbleWell Podcast"


def test_library_counts(out: Path) -> None:
    lib = pq.read_table(out / "library.parquet").to_pandas()
    assert Counter(lib.kind) == {
        "track": 931,
        "album": 26,
        "show": 85,
        "episode": 61,
        "artist": 33,
    }
    row = lib[lib.uri == "spotify:show:7pfp4PIs0cqdaRsTdPqHn3"].iloc[0]
    assert (row["name"], row.creator_name) == ("A BA Study Podcast", "Hannah Dollinger")


def test_no_personal_values_in_outputs(out: Path) -> None:
    t = pq.read_table(out / "streams.parquet")
    assert not {"username", "ip_addr", "conn_country", "platform"} & set(t.column_names)
    # the scrubbed endsong sample has username "participant" and country "US" in every row
    for name in ("streams", "playlists", "library"):
        tab = pq.read_table(out / f"{name}.parquet").to_pandas()
        for col in tab.columns:
            if tab[col].dtype == object or str(tab[col].dtype).startswith("str"):
                assert not tab[col].isin(["participant", "US"]).any(), (name, col)


def test_byte_identical_across_runs(out: Path, tmp_path: Path) -> None:
    donations = [ACCOUNT, FIXTURES / "extended_endsong", FIXTURES / "legacy_account"]
    ingest(donations, tmp_path, id_seed=SEED, threads=2)  # other order, 2 threads: same bytes
    for name in ("streams.parquet", "playlists.parquet", "library.parquet", "ingest_report.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
