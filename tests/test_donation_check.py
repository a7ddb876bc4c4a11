"""``prefcal donation check`` on the three real exports: the counts are the files' own, nothing is
written, and an export with nothing usable exits non-zero."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from test_ingest_helpers import ACCOUNT, ENDSONG, FIXTURES, LEGACY, PII, dump, load

from prefcal.cli import main
from prefcal.donation import check_export
from prefcal.ingest import ingest_donations


def _tree(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("export", "by_format", "types"),
    [
        (LEGACY.parent, {"legacy_account": 1500}, {"unknown": 1500}),
        (ENDSONG.parent, {"endsong": 1500}, {"music": 1500}),
        (
            ACCOUNT,
            {"account_music": 3000, "account_podcast": 597, "account_audiobook": 11},
            {"music": 3000, "podcast": 597, "audiobook": 11},
        ),
    ],
)
def test_real_exports_row_counts_equal_the_files(export: Path, by_format, types) -> None:
    s = check_export(export)
    own = {}  # the files' own row counts: length of each JSON array
    for f in s["files"]:
        if f["kind"] == "streams":
            own[f["format"]] = len(load(export / f["path"]))
    assert own == by_format
    assert {f["format"]: f["rows_read"] for f in s["files"] if f["kind"] == "streams"} == own
    assert {k: v["rows_kept"] for k, v in s["streams"]["by_format"].items()} == by_format
    assert s["streams"]["content_types"] == types
    assert s["streams"]["rows_read"] == s["streams"]["rows_kept"] == sum(by_format.values())
    assert s["dropped"] == {
        "rows_skipped": 0,
        "skipped_by_reason": {},
        "duplicates_removed": 0,
        "duplicates_by_rule": {},
    }
    assert s["usable"] is True
    # the same numbers as the ingest itself
    r = ingest_donations([export], id_seed=1)
    assert s["streams"]["rows_kept"] == r.streams.num_rows
    assert s["playlists"]["rows_kept"] == r.playlists.num_rows
    assert s["library"]["rows_kept"] == r.library.num_rows


def test_account_export_details() -> None:
    s = check_export(ACCOUNT)
    kinds = {f["path"]: (f["kind"], f["status"]) for f in s["files"]}
    assert kinds["Marquee.json"] == ("ignored", "ignored")
    assert kinds["Playlist1.json"] == ("playlists", "read")
    assert (s["playlists"]["rows_kept"], s["playlists"]["playlists_kept"]) == (1008, 39)
    assert s["library"]["rows_kept"] == 1136
    assert (s["streams"]["first"], s["streams"]["last"]) == ("2023-10-02", "2024-10-03")
    assert s["streams"]["days"] == 368
    assert s["streams"]["plays_30s_by_content_type"] == {
        "audiobook": 4,
        "music": 1933,
        "podcast": 351,
    }


def test_endsong_personal_fields_named_never_valued() -> None:
    s = check_export(ENDSONG.parent)
    assert s["personal"]["fields_removed"] == [
        "conn_country",
        "ip_addr_decrypted",
        "user_agent_decrypted",
        "username",
    ]
    text = json.dumps(s)
    for row in load(ENDSONG)[:50]:  # the scrubbed fixture holds username "participant"
        assert f'"{row["username"]}"' not in text


def test_planted_pii_and_privacy_files(tmp_path: Path) -> None:
    rows = load(ENDSONG)[:20]
    for r in rows:
        r.update(username=PII["username"], ip_addr_decrypted=PII["ip_addr_decrypted"])
        r["user_agent_decrypted"] = PII["user_agent_decrypted"]
    d = tmp_path / "export"
    dump(rows, d / "MyData" / "endsong_0.json")
    dump(
        {"username": PII["username"], "email": "x@example.invalid"}, d / "MyData" / "Userdata.json"
    )
    s = check_export(d)
    assert s["personal"]["files_not_opened"] == ["MyData/Userdata.json"]
    text = json.dumps(s)
    for v in PII.values():
        assert v not in text
    assert "x@example.invalid" not in text


def test_cli_human_and_json_and_writes_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before_fixtures = _tree(FIXTURES)
    assert main(["donation", "check", str(ACCOUNT)]) == 0
    out = capsys.readouterr().out
    assert "StreamingHistory_music_0.json" in out and "3,000 rows, 3,000 kept" in out
    assert "Usable: yes" in out
    assert main(["donation", "check", str(ENDSONG.parent), "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["streams"]["rows_read"] == 1500
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran
    assert _tree(FIXTURES) == before_fixtures  # nor next to the export


def test_nothing_usable_exits_1(tmp_path: Path, capsys) -> None:
    d = tmp_path / "only_privacy"
    dump({"username": "x"}, d / "Userdata.json")
    (d / "Read_Me_First.pdf").write_bytes(b"%PDF-1.4")
    assert main(["donation", "check", str(d)]) == 1
    assert "Usable: NO" in capsys.readouterr().out
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    assert main(["donation", "check", str(empty), "--json"]) == 1
    js = json.loads(capsys.readouterr().out)
    assert js["usable"] is False and js["files"] == []


def test_bad_file_is_reported_not_fatal(tmp_path: Path, capsys) -> None:
    d = tmp_path / "export"
    dump(load(ENDSONG)[:10], d / "endsong_0.json")
    (d / "endsong_1.json").write_text("[{", encoding="utf-8")
    s = check_export(d)
    bad = next(f for f in s["files"] if f["path"] == "endsong_1.json")
    assert bad["status"] == "error" and "truncated JSON" in bad["error"]
    assert "P0000000000" not in bad["error"]
    assert s["streams"]["rows_kept"] == 10 and s["usable"]
    assert main(["donation", "check", str(d)]) == 0
    assert "ERROR" in capsys.readouterr().out


def test_missing_export_one_line_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["donation", "check", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert main(["donation", "check", str(tmp_path / "nope"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["usable"] is False
    assert not os.listdir(tmp_path)
