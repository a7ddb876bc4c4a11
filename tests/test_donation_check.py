"""``prefcal donation check`` on the three real exports: the counts are the files' own, nothing is
written, and an export with nothing usable exits non-zero."""

from __future__ import annotations

import json
import os
import shutil
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


def test_bad_file_is_reported_and_makes_the_export_unusable(tmp_path: Path, capsys) -> None:
    d = tmp_path / "export"
    dump(load(ENDSONG)[:10], d / "endsong_0.json")
    (d / "endsong_1.json").write_text("[{", encoding="utf-8")
    s = check_export(d)
    bad = next(f for f in s["files"] if f["path"] == "endsong_1.json")
    assert bad["status"] == "error" and "truncated JSON" in bad["error"]
    assert bad["bytes"] == 2
    assert "P0000000000" not in bad["error"]
    assert s["streams"]["rows_kept"] == 10  # the readable file is still counted
    # but `add` refuses the export, so check must not call it usable
    assert s["usable"] is False and s["usable_with_skip_bad_files"] is True
    assert s["unreadable_files"] == [{"path": "endsong_1.json", "bytes": 2, "error": bad["error"]}]
    assert main(["donation", "check", str(d)]) == 2
    out = capsys.readouterr().out
    assert "ERROR" in out and "Usable: yes" not in out
    assert "Usable: NO - 1 file(s) cannot be read" in out
    assert "  endsong_1.json (2 bytes)" in out and "--skip-bad-files" in out


def _corrupt_account(tmp_path: Path) -> tuple[Path, int]:
    """The real account export with a comma deleted in the middle of its music file."""
    d = tmp_path / "account_2024"
    shutil.copytree(ACCOUNT, d)
    music = d / "StreamingHistory_music_0.json"
    text = music.read_text(encoding="utf-8")
    i = text.index("},", len(text) // 2) + 1
    music.write_text(text[:i] + text[i + 1 :], encoding="utf-8")
    return d, music.stat().st_size


def test_check_agrees_with_add_on_an_invalid_file(tmp_path: Path, capsys) -> None:
    d, size = _corrupt_account(tmp_path)
    assert size == (ACCOUNT / "StreamingHistory_music_0.json").stat().st_size - 1
    root = tmp_path / "donations"
    assert main(["donation", "add", str(d), "--donations", str(root)]) == 2
    add_err = capsys.readouterr().err
    assert "StreamingHistory_music_0.json: not valid JSON" in add_err
    assert not root.exists()

    assert main(["donation", "check", str(d)]) == 2
    cap = capsys.readouterr()
    assert "Usable: yes" not in cap.out
    assert "Usable: NO - 1 file(s) cannot be read, so `prefcal donation add` refuses" in cap.out
    assert f"  StreamingHistory_music_0.json ({size:,} bytes)" in cap.out
    assert cap.err.startswith("prefcal donation: error: 1 file(s) of the export cannot be read")
    assert f"StreamingHistory_music_0.json ({size:,} bytes): not valid JSON" in cap.err
    assert len(cap.err.strip().splitlines()) == 1

    assert main(["donation", "check", str(d), "--json"]) == 2
    js = json.loads(capsys.readouterr().out)
    assert js["usable"] is False and js["usable_with_skip_bad_files"] is True
    assert [(b["path"], b["bytes"]) for b in js["unreadable_files"]] == [
        ("StreamingHistory_music_0.json", size)
    ]
    assert "not valid JSON: Expecting ',' delimiter" in js["unreadable_files"][0]["error"]
    assert "cannot be read, so `prefcal donation add` refuses it" in js["error"]
    assert js["streams"]["by_format"].keys() == {"account_podcast", "account_audiobook"}
    # with --skip-bad-files add takes the rest, as check says
    assert main(["donation", "add", str(d), "--donations", str(root), "--skip-bad-files"]) == 0


def test_bad_member_of_a_zip_named_with_its_size(tmp_path: Path, capsys) -> None:
    z = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("MyData/StreamingHistory0.json", "not json " * 100)
    s = check_export(z)
    assert s["unreadable_files"][0]["path"] == "MyData/StreamingHistory0.json"
    assert s["unreadable_files"][0]["bytes"] == 900  # uncompressed, as the zip declares
    assert s["usable"] is False and s["usable_with_skip_bad_files"] is False
    assert main(["donation", "check", str(z)]) == 2
    out = capsys.readouterr().out
    assert "  MyData/StreamingHistory0.json (900 bytes)" in out
    assert "Nothing would be kept from the rest of the export either." in out
    assert main(["donation", "add", str(z), "--donations", str(tmp_path / "d")]) == 2


def test_readable_export_has_no_unreadable_files() -> None:
    s = check_export(ACCOUNT)
    assert s["unreadable_files"] == [] and "error" not in s
    assert s["usable"] is True and s["usable_with_skip_bad_files"] is True


def test_missing_export_one_line_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["donation", "check", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert main(["donation", "check", str(tmp_path / "nope"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["usable"] is False
    assert not os.listdir(tmp_path)
