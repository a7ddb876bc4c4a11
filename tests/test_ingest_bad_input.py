"""Bad input: a clear IngestError naming file (row, field), or a counted row skip; never a
bare traceback, never a silent drop."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_ingest_helpers import ENDSONG, dump, load

from prefcal.cli import main
from prefcal.ingest import IngestError, ingest, ingest_donations, study_id
from prefcal.ingest.report import check_counts

SEED = 3


def _one(tmp_path: Path, name: str, content: bytes | str | object) -> Path:
    d = tmp_path / "donor"
    d.mkdir(exist_ok=True)
    p = d / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, str):
        p.write_text(content, encoding="utf-8")
    else:
        dump(content, p)
    return d


def _entry(result, name: str) -> dict:
    return result.report["participants"][study_id("donor", SEED)]["files"][name]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"this is not json", "not valid JSON"),
        (ENDSONG.read_bytes()[:5000], "truncated JSON"),
        (b"", "empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (json.dumps({"ts": "2021-01-01T00:00:00Z"}), "expected a JSON array"),
        (json.dumps([{"endTime": "2021-01-01 00:00", "msPlayed": 5}]), "field 'ts' is absent"),
    ],
)
def test_file_level_errors_name_the_file(tmp_path: Path, content, needle: str) -> None:
    d = _one(tmp_path, "endsong_0.json", content)
    with pytest.raises(IngestError) as err:
        ingest_donations([d], id_seed=SEED)
    msg = str(err.value)
    assert needle in msg
    assert str(d / "endsong_0.json") in msg


def test_truncated_message_names_line(tmp_path: Path) -> None:
    d = _one(tmp_path, "endsong_0.json", ENDSONG.read_bytes()[:5000])
    with pytest.raises(IngestError, match=r"truncated JSON: the text ends at line \d+"):
        ingest_donations([d], id_seed=SEED)


def test_truncated_inside_a_string_message_wording(tmp_path: Path) -> None:
    d = _one(tmp_path, "endsong_0.json", '[{"ts": "2021-01-01T00')
    with pytest.raises(IngestError) as err:
        ingest_donations([d], id_seed=SEED)
    msg = str(err.value)
    assert msg.endswith(
        "truncated JSON: the text ends at line 1 before the document is complete "
        "(Unterminated string starting at line 1, column 9)"
    )
    assert "at at" not in msg


def test_cli_prints_one_line_and_exits_2(tmp_path: Path, capsys) -> None:
    d = _one(tmp_path, "StreamingHistory0.json", "[{")
    status = main(["ingest", str(d), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("prefcal ingest: error: ")
    assert "StreamingHistory0.json" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_skip_bad_files_records_the_error(tmp_path: Path) -> None:
    d = _one(tmp_path, "endsong_0.json", "not json")
    dump(load(ENDSONG)[:5], d / "endsong_1.json")
    r = ingest_donations([d], id_seed=SEED, skip_bad_files=True)
    bad = _entry(r, "endsong_0.json")
    assert bad["status"] == "error"
    assert "not valid JSON" in bad["error"]
    assert str(tmp_path) not in bad["error"]  # the report holds no local paths / names
    assert r.streams.num_rows == 5


def test_row_level_problems_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = load(ENDSONG)[:12]
    bad = [dict(r) for r in rows]
    bad[1]["ms_played"] = "abc"  # wrong type
    del bad[2]["ts"]  # missing field
    bad[3]["ms_played"] = None  # null where a value is required
    bad[4]["ms_played"] = -5  # negative
    bad[5]["ts"] = "yesterday"  # unparseable time
    bad[6] = 17  # not an object
    bad[7]["shuffle"] = "yes"  # wrong type of an optional field
    bad[8]["ms_played"] = 10**15  # no play lasts 30,000 years
    bad[9]["ts"] = "2021-09-21T19:38:59.250+00:00"  # another ISO spelling: accepted
    d = _one(tmp_path, "endsong_0.json", bad)
    r = ingest_donations([d], id_seed=SEED)
    e = _entry(r, "endsong_0.json")
    assert e["parser"] == "checked"
    assert e["rows_skipped"]["by_reason"] == {
        "bad_type:ms_played": 1,
        "bad_type:shuffle": 1,
        "bad_value:ts": 1,
        "implausible:ms_played": 1,
        "missing:ms_played": 1,
        "missing:ts": 1,
        "negative:ms_played": 1,
        "not_an_object": 1,
    }
    assert {"row": 4, "reason": "negative:ms_played"} in e["rows_skipped"]["examples"]
    assert {"row": 6, "reason": "not_an_object"} in e["rows_skipped"]["examples"]
    assert (e["rows_read"], e["rows_kept"]) == (12, 4)
    check_counts(r.report)
    kept = r.streams.to_pandas()
    assert len(kept) == 4
    assert (kept.ts_end.dt.microsecond == 250000).sum() == 1


def test_fast_path_counts_negative_and_bad_time(tmp_path: Path) -> None:
    """Problems that JSON types cannot show are counted the same by the fast parser."""
    rows = [dict(r) for r in load(ENDSONG)[:6]]
    rows[0]["ms_played"] = -1
    rows[1]["ts"] = "2021-13-45T99:00:00Z"
    d = _one(tmp_path, "endsong_0.json", rows)
    r = ingest_donations([d], id_seed=SEED)
    e = _entry(r, "endsong_0.json")
    assert e["parser"] == "fast"
    assert e["rows_skipped"]["by_reason"] == {"bad_value:ts": 1, "negative:ms_played": 1}
    assert e["rows_kept"] == 4


def test_account_row_problems(tmp_path: Path) -> None:
    rows = [
        {"endTime": "2024-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1000},
        {"endTime": None, "artistName": "A", "trackName": "T", "msPlayed": 1000},
        {"endTime": "2024-01-01 10:01", "artistName": None, "trackName": None, "msPlayed": 3},
        {"endTime": "2024-01-01", "artistName": "A", "trackName": "T", "msPlayed": 3},
        {"endTime": "2024-01-01 10:02", "artistName": "A", "trackName": 5, "msPlayed": 3},
    ]
    d = _one(tmp_path, "StreamingHistory_music_0.json", rows)
    r = ingest_donations([d], id_seed=SEED)
    e = _entry(r, "StreamingHistory_music_0.json")
    assert e["rows_skipped"]["by_reason"] == {"bad_type:trackName": 1, "missing:endTime": 1}
    # null names are allowed; a date without time parses as midnight (ISO fallback)
    assert e["rows_kept"] == 3


def test_unknown_ignored_and_privacy_files(tmp_path: Path) -> None:
    d = _one(tmp_path, "endsong_0.json", load(ENDSONG)[:3])
    # invalid content proves these files are never opened
    (d / "Userdata.json").write_text("{not json", encoding="utf-8")
    (d / "SearchQueries.json").write_text("{not json", encoding="utf-8")
    (d / "Inferences.json").write_text("{not json", encoding="utf-8")
    (d / "Mystery.json").write_text("{not json", encoding="utf-8")
    (d / "Marquee.json").write_text("{not json", encoding="utf-8")
    (d / "ReadMeFirst.pdf").write_bytes(b"%PDF-1.4")
    r = ingest_donations([d], id_seed=SEED)
    assert _entry(r, "Userdata.json")["status"] == "skipped_for_privacy"
    assert _entry(r, "SearchQueries.json")["status"] == "skipped_for_privacy"
    assert _entry(r, "Inferences.json")["status"] == "skipped_for_privacy"
    assert _entry(r, "Mystery.json")["status"] == "unknown_not_read"
    assert _entry(r, "Marquee.json")["status"] == "ignored"
    assert _entry(r, "ReadMeFirst.pdf")["status"] == "ignored"
    totals = r.report["participants"][study_id("donor", SEED)]["totals"]["files"]
    assert totals == {"ignored": 2, "read": 1, "skipped_for_privacy": 3, "unknown_not_read": 1}


def test_bad_playlist_and_library(tmp_path: Path) -> None:
    playlists = {
        "playlists": [
            {
                "name": "Mixed",
                "lastModifiedDate": "2024-01-02",
                "items": [
                    {
                        "track": {
                            "trackName": "A",
                            "artistName": "B",
                            "albumName": "C",
                            "trackUri": "spotify:track:x",
                        },
                        "addedDate": "2024-01-01",
                    },
                    {"track": None, "episode": None, "audiobook": None, "localTrack": None},
                    "junk",
                    {
                        "localTrack": {"uri": "spotify:local:Some+Artist:Alb:My+Song:201"},
                        "addedDate": "not a date",
                    },
                    {"track": "wrong"},
                ],
            },
            42,
        ]
    }
    d = _one(tmp_path, "Playlist1.json", playlists)
    dump(
        {
            "tracks": [{"artist": "B", "track": "A", "uri": "spotify:track:x"}, {"uri": "u"}, 3],
            "audiobooks": [{"name": "Book", "uri": "spotify:show:b"}],
        },
        d / "YourLibrary.json",
    )
    r = ingest_donations([d], id_seed=SEED)
    e = _entry(r, "Playlist1.json")
    assert e["rows_skipped"]["by_reason"] == {
        "bad_type:track": 1,
        "empty_item": 1,
        "not_an_object": 1,
        "not_an_object:playlist[1]": 1,
    }
    assert (e["rows_read"], e["rows_kept"]) == (6, 2)
    assert e["values_set_to_null"] == {"bad_value:addedDate": 1}
    pl = r.playlists.to_pandas()
    local = pl[pl.item_kind == "local"].iloc[0]
    assert (local.item_name, local.creator_name, local.album_name) == (
        "My Song",
        "Some Artist",
        "Alb",
    )
    assert pd.isna(local.item_uri) and local.position == 3
    lib = _entry(r, "YourLibrary.json")
    assert lib["unexpected_keys"] == ["audiobooks"]
    assert lib["rows_skipped"]["by_reason"] == {
        "missing:tracks.track": 1,
        "not_an_object:tracks": 1,
    }
    assert sorted(r.library["kind"].to_pylist()) == ["other", "track"]
    check_counts(r.report)


def test_bad_zip_and_missing_donation(tmp_path: Path) -> None:
    z = tmp_path / "broken.zip"
    z.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(IngestError, match="broken.zip"):
        ingest_donations([z], id_seed=SEED)
    with pytest.raises(IngestError, match="does not exist"):
        ingest_donations([tmp_path / "nobody"], id_seed=SEED)


def test_id_map_outside_results(tmp_path: Path) -> None:
    d = _one(tmp_path, "endsong_0.json", load(ENDSONG)[:3])
    out = tmp_path / "out"
    with pytest.raises(IngestError, match="must not be written inside the output folder"):
        ingest([d], out, id_map=out / "ids.csv")
    assert not out.exists()
    ingest([d], out, id_map=tmp_path / "private" / "ids.csv")
    lines = (tmp_path / "private" / "ids.csv").read_text().splitlines()
    assert lines[0] == "participant_id,donation,sources"
    pid, name, _ = lines[1].split(",")
    assert name == "donor" and pid.startswith("P") and len(pid) == 11


def test_lone_surrogate_escapes_are_repaired_not_fatal(tmp_path: Path) -> None:
    rows = load(ENDSONG)[:3]
    text = json.dumps(rows).replace('"Colors of Fall, Wool Clothes"', '"Colors \\ud800 Fall"')
    d = _one(tmp_path, "endsong_0.json", text)
    pl = {"playlists": [{"name": "x\\udc00", "items": [{"track": {"trackName": "t\\ud800"}}]}]}
    (d / "Playlist1.json").write_text(json.dumps(pl).replace("\\\\u", "\\u"), encoding="utf-8")
    r = ingest_donations([d], id_seed=SEED)
    e = _entry(r, "endsong_0.json")
    assert (e["parser"], e["values_repaired"], e["rows_kept"]) == ("checked", 1, 3)
    assert "Colors \ufffd Fall" in r.streams["item_name"].to_pylist()
    assert r.playlists["item_name"].to_pylist() == ["t\ufffd"]
    assert r.playlists["playlist_name"].to_pylist() == ["x\ufffd"]
