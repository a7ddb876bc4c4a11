"""Deduplication of overlapping exports of one person, and the new extended generation."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
from test_ingest_helpers import (
    ACCOUNT,
    ENDSONG,
    PII,
    copy_tree,
    dump,
    load,
    to_account,
    to_new_format,
    with_pii,
)

from prefcal.ingest import ingest_donations, study_id
from prefcal.ingest.report import check_counts

SEED = 7
STREAM_COLS = [
    "ts_start",
    "ts_end",
    "ms_played",
    "content_type",
    "item_uri",
    "item_name",
    "creator_name",
    "album_name",
    "device",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_ts",
]


def _zip_dir(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, f"my_spotify_data/{p.relative_to(src).as_posix()}")
    return dest


def _files(result, name: str) -> dict:
    return result.report["participants"][study_id(name, SEED)]["files"]


def test_same_export_twice_in_one_donation(tmp_path: Path) -> None:
    once = tmp_path / "once"
    copy_tree(ENDSONG.parent, once / "Spotify Extended Streaming History")
    copy_tree(ACCOUNT, once / "Spotify Account Data")
    twice = tmp_path / "twice"
    copy_tree(once, twice / "export_a")
    copy_tree(once, twice / "export_b")
    zipped = tmp_path / "zipped"
    copy_tree(once, zipped / "unpacked")
    _zip_dir(once, zipped / "my_spotify_data.zip")

    r1 = ingest_donations([once], id_seed=SEED)
    r2 = ingest_donations([twice], id_seed=SEED)
    r3 = ingest_donations([zipped], id_seed=SEED)
    base = r1.streams.select(STREAM_COLS)
    assert base.num_rows == 1500 + 3000 + 597 + 11
    assert r2.streams.select(STREAM_COLS).equals(base)
    assert r3.streams.select(STREAM_COLS).equals(base)
    # playlists and library: the second copy is a duplicate snapshot / duplicate rows
    assert r2.playlists.num_rows == r3.playlists.num_rows == r1.playlists.num_rows == 1008
    assert r2.library.num_rows == r3.library.num_rows == r1.library.num_rows == 1136
    for r in (r2, r3):
        check_counts(r.report)
        s = r.report["totals"]["streams"]
        assert s["rows_read"] == 2 * base.num_rows
        assert s["duplicates_removed"] == base.num_rows
        assert s["rows_kept"] == base.num_rows
    # the duplicates are charged to the second copy's files
    f2 = _files(r2, "twice")
    assert f2["export_b/Spotify Extended Streaming History/endsong_1.json"][
        "duplicates_removed"
    ] == {"total": 1500, "exact": 1500}
    assert f2["export_a/Spotify Extended Streaming History/endsong_1.json"]["rows_kept"] == 1500
    f3 = _files(r3, "zipped")
    assert "my_spotify_data.zip/my_spotify_data/Spotify Account Data/Playlist1.json" in f3


def test_folder_and_zip_of_one_name_are_one_participant(tmp_path: Path) -> None:
    each = tmp_path / "each"
    copy_tree(ENDSONG.parent, each / "alice")
    _zip_dir(ENDSONG.parent, each / "alice.zip")
    r = ingest_donations([each / "alice", each / "alice.zip"], id_seed=SEED)
    assert r.streams["participant_id"].unique().to_pylist() == [study_id("alice", SEED)]
    assert r.streams.num_rows == 1500
    assert set(_files(r, "alice")) == {
        "donation_1/endsong_1.json",
        "donation_2/my_spotify_data/endsong_1.json",
    }


def test_overlapping_old_and_new_extended(tmp_path: Path) -> None:
    rows = load(ENDSONG)
    d = tmp_path / "p"
    dump(rows[:1000], d / "old" / "endsong_0.json")
    dump(to_new_format(rows[600:]), d / "new" / "Streaming_History_Audio_2014-2021_0.json")
    r = ingest_donations([d], id_seed=SEED)
    t = r.streams.to_pandas()
    assert len(t) == 1500
    # the overlap (rows 600..999) is kept from the newer generation
    assert (t.source_format == "extended_audio").sum() == 900
    assert (t.source_format == "endsong").sum() == 600
    files = _files(r, "p")
    assert files["old/endsong_0.json"]["duplicates_removed"] == {"total": 400, "exact": 400}
    new = t[t.source_format == "extended_audio"]
    assert new.skipped.notna().all()  # always boolean in the new generation
    check_counts(r.report)


def test_offline_timestamp_ms_and_s(tmp_path: Path) -> None:
    """The old generation writes offline_timestamp in ms, the new in s: both give one time."""
    row = load(ENDSONG)[0]  # offline_timestamp 1632253124315 (ms)
    a, b = tmp_path / "a", tmp_path / "b"
    dump([row], a / "endsong_0.json")
    new = to_new_format([row])[0]
    assert new["offline_timestamp"] == 1632253124
    dump([new], b / "Streaming_History_Audio_2021.json")
    # the real new-generation example row: offline_timestamp 1738689844 s
    c = tmp_path / "c"
    dump(
        [{**new, "ts": "2025-02-05T00:23:15Z", "offline_timestamp": 1738689844}],
        c / "Streaming_History_Audio_2025.json",
    )
    r = ingest_donations([a, b, c], id_seed=SEED)
    t = r.streams.to_pandas().set_index("participant_id")
    by = {p: t.loc[study_id(p, SEED), "offline_ts"] for p in "abc"}
    assert by["a"] == dt.datetime(2021, 9, 21, 19, 38, 44, 315000, tzinfo=dt.UTC)
    assert by["b"] == dt.datetime(2021, 9, 21, 19, 38, 44, tzinfo=dt.UTC)
    assert by["c"] == dt.datetime(2025, 2, 4, 17, 24, 4, tzinfo=dt.UTC)


def test_account_rows_also_in_extended_keep_extended(tmp_path: Path) -> None:
    rows = load(ENDSONG)
    d = tmp_path / "p"
    dump(rows, d / "ext" / "endsong_0.json")
    acc = to_account(rows[:700])
    # one account row that extended history does not hold, and one rounded up a minute
    acc.append({"endTime": "2020-01-01 00:00", "artistName": "X", "trackName": "Y", "msPlayed": 5})
    r0 = rows[800]
    t0 = dt.datetime.fromisoformat(r0["ts"].replace("Z", "+00:00")) + dt.timedelta(minutes=1)
    acc.append(
        {
            "endTime": t0.strftime("%Y-%m-%d %H:%M"),
            "artistName": r0["master_metadata_album_artist_name"],
            "trackName": r0["master_metadata_track_name"],
            "msPlayed": r0["ms_played"],
        }
    )
    dump(acc, d / "acc" / "StreamingHistory_music_0.json")
    r = ingest_donations([d], id_seed=SEED)
    t = r.streams.to_pandas()
    assert len(t) == 1501
    assert (t.source_format == "account_music").sum() == 1
    assert t[t.source_format == "account_music"].iloc[0].item_name == "Y"
    f = _files(r, "p")["acc/StreamingHistory_music_0.json"]
    assert f["duplicates_removed"] == {"total": 701, "account_in_extended": 701}
    assert f["rows_read"] == 702 and f["rows_kept"] == 1
    check_counts(r.report)


def test_account_repeats_within_one_export_are_kept(tmp_path: Path) -> None:
    """Minute precision: two equal rows in one export are two plays; across exports, one."""
    row = {"endTime": "2024-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 0}
    d = tmp_path / "p"
    dump([row, row], d / "e1" / "StreamingHistory_music_0.json")
    dump([row, row, row], d / "e2" / "StreamingHistory_music_0.json")
    r = ingest_donations([d], id_seed=SEED)
    assert r.streams.num_rows == 3  # the largest count one export holds
    f = _files(r, "p")
    e1, e2 = f["e1/StreamingHistory_music_0.json"], f["e2/StreamingHistory_music_0.json"]
    assert (e1["rows_kept"], e1["duplicates_removed"]["total"]) == (2, 0)
    assert (e2["rows_kept"], e2["duplicates_removed"]["total"]) == (1, 2)
    check_counts(r.report)


def test_exact_duplicate_rows_in_extended_are_removed(tmp_path: Path) -> None:
    rows = load(ENDSONG)[:10]
    d = tmp_path / "p"
    dump(rows + rows[:3], d / "endsong_0.json")
    r = ingest_donations([d], id_seed=SEED)
    assert r.streams.num_rows == 10
    f = _files(r, "p")["endsong_0.json"]
    assert (f["rows_read"], f["rows_kept"], f["duplicates_removed"]["exact"]) == (13, 10, 3)


def test_personal_values_never_reach_outputs(tmp_path: Path) -> None:
    rows = load(ENDSONG)[:300]
    d = tmp_path / "p"
    dump(with_pii(rows[:150]), d / "endsong_0.json")
    dump(to_new_format(rows[150:]), d / "Streaming_History_Audio_2021.json")
    out = tmp_path / "out"
    from prefcal.ingest import ingest

    ingest([d], out, id_seed=SEED)
    blobs = b"".join(p.read_bytes() for p in sorted(out.iterdir()))
    t = pq.read_table(out / "streams.parquet").to_pandas()
    assert len(t) == 300
    for value in PII.values():
        if len(value) > 6:  # a 2-letter country code can occur in compressed bytes by chance
            assert value.encode() not in blobs
        assert not t.isin([value]).any().any()
    report = json.loads((out / "ingest_report.json").read_text())
    files = report["participants"][study_id("p", SEED)]["files"]
    assert files["endsong_0.json"]["personal_fields_dropped"] == [
        "conn_country",
        "ip_addr_decrypted",
        "user_agent_decrypted",
        "username",
    ]
    assert files["Streaming_History_Audio_2021.json"]["personal_fields_dropped"] == [
        "conn_country",
        "ip_addr",
    ]


def _naive_dedupe(rows: list[dict]) -> list[bool]:
    """Reference: the three rules of prefcal.ingest.dedupe, one row at a time."""
    ext = {"endsong", "extended_audio"}
    keep = [True] * len(rows)
    seen: set = set()
    for i, r in enumerate(rows):
        if r["source_format"] in ext:
            key = (r["ts_end"], r["ms_played"], r["item_uri"] or r["item_name"])
            if key in seen:
                keep[i] = False
            seen.add(key)
    occ: dict = {}
    seen = set()
    for i, r in enumerate(rows):
        if r["source_format"] not in ext:
            k4 = (r["ts_end"], r["ms_played"], r["item_name"], r["creator_name"])
            o = occ.get((k4, r["_unit"]), 0)
            occ[(k4, r["_unit"])] = o + 1
            if (k4, o) in seen:
                keep[i] = False
            seen.add((k4, o))
    cap: dict = {}
    for i, r in enumerate(rows):
        if r["source_format"] in ext and keep[i] and r["item_name"] is not None:
            k = (r["ts_end"] // 60_000 * 60_000, r["ms_played"], r["item_name"])
            cap[k] = cap.get(k, 0) + 1
    for shift in (0, 60_000):
        for i, r in enumerate(rows):
            if r["source_format"] in ext or not keep[i] or r["item_name"] is None:
                continue
            k = (r["ts_end"] - shift, r["ms_played"], r["item_name"])
            if cap.get(k, 0) > 0:
                cap[k] -= 1
                keep[i] = False
    return keep


def test_dedupe_agrees_with_naive_reference() -> None:
    """Random rows from tiny domains (many collisions): vectorised rules == row-at-a-time."""
    import numpy as np
    import pyarrow as pa

    from prefcal.ingest.dedupe import dedupe_streams

    rng = np.random.default_rng(5)
    for trial in range(20):
        n = 400
        fmts = rng.choice(["extended_audio", "endsong", "account_music", "legacy_account"], n)
        ext = np.isin(fmts, ["extended_audio", "endsong"])
        minute = rng.integers(0, 4, n) * 60_000
        ts = np.where(ext, minute + rng.integers(0, 3, n) * 20_000, minute)
        names = np.array(["a", "b", None], dtype=object)[rng.integers(0, 3, n)]
        uris = np.where(
            ext & (rng.random(n) < 0.7), np.array([f"u:{x}" for x in names], object), None
        )
        rows = [
            {
                "ts_end": int(ts[i]),
                "ms_played": int(rng.integers(0, 2)),
                "item_uri": uris[i],
                "item_name": names[i],
                "creator_name": ["x", "y"][int(rng.integers(0, 2))],
                "source_format": str(fmts[i]),
                "_unit": int(rng.integers(0, 2)),
                "_file": int(rng.integers(0, 3)),
                "_ord": i,
            }
            for i in range(n)
        ]
        table = pa.Table.from_pylist(rows).set_column(
            0, "ts_end", pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
        )
        table = table.set_column(
            table.schema.get_field_index("_unit"), "_unit", table["_unit"].cast(pa.int32())
        )
        kept, removed = dedupe_streams(table)
        expected = _naive_dedupe(rows)
        assert kept["_ord"].to_pylist() == [i for i in range(n) if expected[i]], trial
        assert sum(removed.values()) == n - sum(expected)
