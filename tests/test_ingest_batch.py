"""Batched ingest == one participant / one file at a time: normalise, dedupe, playlists, and the
whole ingest (tables and report) for several batch sizes, on tiny mixed inputs with bad rows."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from test_ingest_helpers import ACCOUNT, ENDSONG, dump, load, to_account, to_new_format

from prefcal.ingest import IngestError, ingest_donations, study_id
from prefcal.ingest.dedupe import dedupe_keep
from prefcal.ingest.normalise import normalise_many, normalise_streams
from prefcal.ingest.playlists import _date, _item, read_playlist_file
from prefcal.ingest.readers import read_stream_file
from prefcal.ingest.report import check_counts
from prefcal.ingest.skips import SkipLog

SEED = 11


def _bad_extended(rows: list[dict], k: int) -> list[object]:
    """Endsong rows with a different mix of row problems for each ``k``."""
    bad: list[object] = [dict(r) for r in rows]
    if k % 3 == 0:
        bad[1]["ms_played"] = -5  # negative
        bad[2]["ts"] = "yesterday"  # unparseable: the batch's fast cast fails
    if k % 3 == 1:
        bad[0]["ms_played"] = None  # null where a value is required
        bad[3]["ts"] = "2021-09-21T19:38:59.250+00:00"  # accepted by the per-value fallback
        bad[4]["ms_played"] = 10**15  # implausible
        bad[5] = 17  # not an object
    if k % 3 == 2:
        bad[2]["ts"] = "2001-01-01T00:00:00Z"  # before Spotify
        bad[3]["master_metadata_track_name"] = ""  # empty string -> null
    return bad


def _skips_json(s: SkipLog) -> dict:
    return s.to_json()


@pytest.mark.parametrize("fmt", ["endsong", "extended_audio", "account_music"])
def test_normalise_many_equals_file_by_file(fmt: str) -> None:
    rows = load(ENDSONG)
    files: list[bytes] = []
    for k in range(6):
        part = rows[k * 7 : k * 7 + 9]
        if fmt == "extended_audio":
            part = to_new_format(part)
        if fmt == "account_music":
            part = to_account(part)
            if k % 2 == 0:
                part[1]["msPlayed"] = -1
                part[2]["endTime"] = "not a time"
        elif k < 4:
            part = _bad_extended(part, k)
        files.append(json.dumps(part).encode())
    files.insert(2, b"[]")  # an empty file
    raws = [read_stream_file(b, fmt, f"f{i}") for i, b in enumerate(files)]
    single = [SkipLog() for _ in raws]
    batch = [SkipLog() for _ in raws]
    for r, s, b in zip(raws, single, batch, strict=True):
        s.merge(r.skips)
        b.merge(r.skips)
    expected = [normalise_streams(r.table, fmt, s) for r, s in zip(raws, single, strict=True)]
    got = normalise_many([r.table for r in raws], fmt, batch)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        assert g.schema == e.schema
        assert g.to_pylist() == e.to_pylist()
    assert [_skips_json(s) for s in batch] == [_skips_json(s) for s in single]
    # bad rows were really counted, and in their own file only
    assert sum(s.total for s in batch) > 0
    assert batch[2].total == 0


def test_normalise_many_checks_its_arguments() -> None:
    assert normalise_many([], "endsong", []) == []
    with pytest.raises(ValueError, match="skip logs"):
        normalise_many([pa.table({"a": [1]})], "endsong", [])


def _random_participant(rng: np.random.Generator, n: int) -> pa.Table:
    fmts = rng.choice(["extended_audio", "endsong", "account_music", "legacy_account"], n)
    ext = np.isin(fmts, ["extended_audio", "endsong"])
    minute = rng.integers(0, 4, n) * 60_000
    ts = np.where(ext, minute + rng.integers(0, 3, n) * 20_000, minute)
    names = np.array(["a", "b", None], dtype=object)[rng.integers(0, 3, n)]
    uris = np.where(ext & (rng.random(n) < 0.7), np.array([f"u:{x}" for x in names], object), None)
    return pa.table(
        {
            "ts_end": pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "ms_played": pa.array(rng.integers(0, 2, n), pa.int64()),
            "item_uri": pa.array(list(uris), pa.string()),
            "item_name": pa.array(list(names), pa.string()),
            "creator_name": pa.array([["x", "y"][i] for i in rng.integers(0, 2, n)]),
            "source_format": pa.array([str(f) for f in fmts]),
            "_unit": pa.array(rng.integers(0, 2, n), pa.int32()),
            "_file": pa.array(rng.integers(0, 3, n), pa.int32()),
            "_ord": pa.array(np.arange(n), pa.int64()),
        }
    )


def test_batched_dedupe_equals_participant_by_participant() -> None:
    """Participants with colliding keys: with ``_p`` the rules never match across participants."""
    rng = np.random.default_rng(3)
    for trial in range(5):
        tables = [_random_participant(rng, int(rng.integers(1, 200))) for _ in range(5)]
        keep_single, removed_single = [], Counter()
        parts = []
        for p, t in enumerate(tables):
            k, removed = dedupe_keep(t)
            keep_single.append(k)
            for (f, rule), c in removed.items():
                removed_single[(3 * p + f, rule)] += c
            parts.append(
                t.set_column(
                    t.schema.get_field_index("_file"),
                    "_file",
                    pa.array(t["_file"].to_numpy() + 3 * p, pa.int32()),
                ).append_column("_p", pa.array(np.full(t.num_rows, p, np.int32)))
            )
        keep, removed = dedupe_keep(pa.concat_tables(parts))
        assert keep.tolist() == np.concatenate(keep_single).tolist(), trial
        assert removed == removed_single, trial
        assert not keep.all()  # the random keys do collide


def test_playlist_fast_loop_equals_item_by_item() -> None:
    track = {"trackName": "A", "artistName": "B", "albumName": "C", "trackUri": "spotify:track:x"}
    items = [
        {"track": track, "addedDate": "2024-01-01"},
        {"track": {**track, "trackName": "", "trackUri": None}, "addedDate": "2024-01-01"},
        {"track": {**track, "artistName": "", "albumName": "Ünïcode \ud800"}, "addedDate": 5},
        {"track": None, "episode": {"episodeName": "E", "showName": "S", "episodeUri": "u:e"}},
        {"track": None, "audiobook": {"name": "Book", "author": "W", "uri": "u:b"}},
        {"localTrack": {"uri": "spotify:local:Some+Artist:Alb:My+Song:201"}, "addedDate": "bad"},
        {"track": "wrong"},
        {"track": None, "episode": None},
        "junk",
        {"track": track, "addedDate": "2024-02-30T10:00:00Z"},
        {"track": track, "addedDate": "2023-12-31T10:00:00Z"},
    ]
    doc = {
        "playlists": [
            {"name": "P", "lastModifiedDate": "2024-03-01", "items": items},
            42,
            {"name": "", "lastModifiedDate": "2024-04-01", "items": "nope"},
            {"name": "Q", "items": items[::-1]},
        ]
    }
    pf = read_playlist_file(json.dumps(doc).encode(), "Playlist1.json")
    # reference: every item through the general item reader
    expected, skips, n_read, nulled = [], SkipLog(), 0, 0
    for p_idx, pl in enumerate(doc["playlists"]):
        if not isinstance(pl, dict):
            skips.add(f"not_an_object:playlist[{p_idx}]", [n_read])
            n_read += 1
            continue
        if not isinstance(pl["items"], list):
            skips.add("bad_type:items", [n_read])
            n_read += 1
            continue
        for pos, item in enumerate(pl["items"]):
            row, reason = _item(item)
            if row is None:
                skips.add(reason, [n_read])
            else:
                added, bad = _date(item.get("addedDate"))
                nulled += bad
                kind, uri, name, creator, album = row
                expected.append(
                    {
                        "item_kind": kind,
                        "item_uri": uri,
                        "item_name": name,
                        "creator_name": creator,
                        "album_name": album,
                        "playlist_index": p_idx,
                        "playlist_name": pl.get("name") or None,
                        "position": pos,
                        "added_date": added,
                    }
                )
            n_read += 1
    assert pf.rows == expected
    assert pf.n_rows == len(expected) == 14
    assert pf.skips.to_json() == skips.to_json()
    assert pf.n_read == n_read
    assert pf.nulled == {"bad_value:addedDate": nulled} and nulled == 6
    assert pf.last_modified == "2024-03-01"  # a playlist whose items are not a list: not read
    assert expected[1]["album_name"] == "Ünïcode \ufffd"  # the lone surrogate is repaired


def _donations(root: Path) -> list[Path]:
    """Five small donations: extended history with row problems, account data, playlists with
    bad items, a library, overlapping exports, and one file that is not JSON."""
    rows = load(ENDSONG)
    out = []
    for k in range(5):
        d = root / f"donor{k}"
        part = rows[k * 10 : k * 10 + 40]
        dump(_bad_extended(part, k), d / "export" / "endsong_0.json")
        dump(to_new_format(part[5:20]), d / "export" / f"Streaming_History_Audio_2019_{k}.json")
        dump(to_account(part[:25]), d / "account" / "StreamingHistory_music_0.json")
        if k % 2 == 0:
            for name in ("Playlist1.json", "YourLibrary.json", "StreamingHistory_podcast_0.json"):
                (d / "account" / name).write_bytes((ACCOUNT / name).read_bytes())
        if k == 3:
            (d / "export" / "endvideo.json").write_text("{not json", encoding="utf-8")
        playlist = {
            "playlists": [
                {
                    "name": f"L{k}",
                    "lastModifiedDate": f"2024-0{k + 1}-01",
                    "items": [
                        {"track": {"trackName": "T", "trackUri": "u:t"}, "addedDate": "x"},
                        "junk",
                        {"track": None},
                    ],
                }
            ]
        }
        dump(playlist, d / "export" / "Playlist1.json")
        out.append(d)
    return out


def test_batch_size_does_not_change_tables_or_report(tmp_path: Path) -> None:
    donations = _donations(tmp_path)
    results = [
        ingest_donations(donations, id_seed=SEED, skip_bad_files=True, batch_size=b, threads=t)
        for b, t in ((1, 1), (2, 1), (64, 1), (3, 2))
    ]
    ref = results[0]
    check_counts(ref.report)
    s = ref.report["totals"]["streams"]
    assert s["rows_skipped"] > 0 and s["duplicates_removed"] > 0
    assert ref.report["totals"]["files"]["error"] == 1
    assert ref.playlists.num_rows > 0 and ref.library.num_rows > 0
    for r in results[1:]:
        assert r.streams.equals(ref.streams)
        assert r.playlists.equals(ref.playlists)
        assert r.library.equals(ref.library)
        assert json.dumps(r.report, sort_keys=True) == json.dumps(ref.report, sort_keys=True)
    with pytest.raises(ValueError, match="batch_size"):
        ingest_donations(donations, id_seed=SEED, batch_size=0)


def test_batch_raises_the_first_error_of_the_one_at_a_time_order(tmp_path: Path) -> None:
    """Without --skip-bad-files the error raised is the first one in participant order (a
    playlist of an earlier participant before a stream file of a later one), whatever the batch."""
    donations = _donations(tmp_path)
    order = sorted(range(5), key=lambda k: study_id(f"donor{k}", SEED))
    first = order[0] if order[0] != 3 else order[1]  # donor3 holds a bad stream file
    (donations[first] / "export" / "Playlist1.json").write_text("[1, 2", encoding="utf-8")
    messages = set()
    for b in (1, 2, 64):
        with pytest.raises(IngestError) as exc:
            ingest_donations(donations, id_seed=SEED, batch_size=b)
        messages.add(str(exc.value))
    assert len(messages) == 1
    (msg,) = messages
    # donor3 first: its stream file fails before anyone's playlist; else the earlier playlist
    assert ("endvideo.json" if order[0] == 3 else "Playlist1.json") in msg


def test_group_ids_equal_the_lexsort_ranks() -> None:
    """Packed single-key ranking == dense ranks of a lexicographic sort, also for keys near the
    int64 limits (which force re-ranking instead of packing)."""
    from prefcal.ingest.dedupe import _group_ids

    def reference(cols: list[np.ndarray]) -> np.ndarray:
        n = len(cols[0])
        order = np.lexsort(cols[::-1])
        new = np.zeros(n, dtype=bool)
        new[0] = True
        for c in cols:
            cs = c[order]
            new[1:] |= cs[1:] != cs[:-1]
        ids = np.empty(n, dtype=np.int64)
        ids[order] = np.cumsum(new) - 1
        return ids

    rng = np.random.default_rng(9)
    big = np.array([-(2**63), 2**63 - 1, 0, -1, 2**40], dtype=np.int64)
    for trial in range(30):
        n = int(rng.integers(1, 300))
        cols = [
            rng.integers(-3, 4, n),
            big[rng.integers(0, len(big), n)],
            rng.integers(0, 2**31, n) * 60_000,
            rng.integers(0, 2, n),
        ][: 1 + trial % 4]
        assert _group_ids(cols).tolist() == reference(cols).tolist(), trial
    assert _group_ids([np.zeros(0, np.int64)]).tolist() == []
