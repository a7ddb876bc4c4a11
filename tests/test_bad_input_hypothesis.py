"""Bad input, tried on purpose: generated export files with missing fields, wrong types, nulls,
huge and negative ``ms_played``, timestamps in the future or before 2008, duplicate rows,
non-UTF-8 bytes, truncated JSON, empty zips, zips with path traversal, and a 2 GB file.

For every case the ingest (``prefcal ingest``), ``prefcal donation check`` and ``prefcal donation
add`` must give either a clear error naming the file (row, field), or a counted skip whose reason
names the field: the counts add up (rows read = kept + skipped + duplicates, each reason exactly
as often as it was planted), nothing is dropped silently, nothing is written outside the output
folder, and no command ends in a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefcal.cli import main
from prefcal.donation import add_export, check_export
from prefcal.ingest import IngestError, ingest, ingest_donations, study_id
from prefcal.ingest import donations as donations_mod
from prefcal.ingest.normalise import MAX_MS_PLAYED
from prefcal.ingest.report import check_counts

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SEED = 7

# format -> (file name, ts field, ms field, an optional string field, an optional bool field)
FORMATS = {
    "endsong": ("endsong_0.json", "ts", "ms_played", "master_metadata_track_name", "shuffle"),
    "extended_audio": (
        "Streaming_History_Audio_2020.json",
        "ts",
        "ms_played",
        "episode_name",
        "offline",
    ),
    "account_music": ("StreamingHistory_music_0.json", "endTime", "msPlayed", "trackName", None),
    "legacy_account": ("StreamingHistory0.json", "endTime", "msPlayed", "artistName", None),
}
EXTENDED = {"endsong", "extended_audio"}
T0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def _ts(fmt: str, t: dt.datetime) -> str:
    if fmt in EXTENDED:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return t.strftime("%Y-%m-%d %H:%M")


def base_row(fmt: str, i: int, name: str) -> dict[str, Any]:
    """A valid row of ``fmt``; rows with different ``i`` differ in time (hours apart)."""
    t = T0 + dt.timedelta(hours=i)
    ms = 1000 * i + 1
    if fmt in EXTENDED:
        row = {
            "ts": _ts(fmt, t),
            "username": "secret-user-99",
            "platform": "iOS 14.7.1 (iPhone10,3)" if fmt == "endsong" else "ios",
            "ms_played": ms,
            "conn_country": "ZQ",
            "ip_addr_decrypted" if fmt == "endsong" else "ip_addr": "198.51.100.99",
            "master_metadata_track_name": name,
            "master_metadata_album_artist_name": "Artist",
            "master_metadata_album_album_name": "Album",
            "spotify_track_uri": f"spotify:track:{i:022d}",
            "episode_name": None,
            "episode_show_name": None,
            "spotify_episode_uri": None,
            "reason_start": "clickrow",
            "reason_end": "trackdone",
            "shuffle": False,
            "skipped": None,
            "offline": False,
            "offline_timestamp": int(t.timestamp() * 1000),
            "incognito_mode": False,
        }
        if fmt == "endsong":
            row["user_agent_decrypted"] = "Mozilla/5.0 (SecretAgent 9.9)"
        return row
    return {"endTime": _ts(fmt, t), "artistName": "Artist", "trackName": name, "msPlayed": ms}


# mutation -> (how to apply it to a row, the skip reason it must produce or None for "kept")
def _set(field_key: str, value_st: st.SearchStrategy) -> Any:
    return ("set", field_key, value_st)


MUTATIONS: dict[str, tuple[Any, str | None]] = {
    "ok": (None, None),
    "drop_ts": (("drop", "ts"), "missing:{ts}"),
    "null_ts": (_set("ts", st.just(None)), "missing:{ts}"),
    "drop_ms": (("drop", "ms"), "missing:{ms}"),
    "null_ms": (_set("ms", st.just(None)), "missing:{ms}"),
    "ts_wrong_type": (_set("ts", st.sampled_from([5, 1.5, True, [], {}])), "bad_type:{ts}"),
    "ms_wrong_type": (
        _set("ms", st.sampled_from(["abc", "1000", 1.5, True, [], {"v": 1}])),
        "bad_type:{ms}",
    ),
    "ms_overflow": (_set("ms", st.integers(2**63, 2**80)), "bad_type:{ms}"),
    "ms_negative": (_set("ms", st.integers(-(2**63), -1)), "negative:{ms}"),
    "ms_huge": (_set("ms", st.integers(MAX_MS_PLAYED + 1, 2**63 - 1)), "implausible:{ms}"),
    "ms_integral_float": (_set("ms", st.just(1234.0)), None),
    "ts_future": (("when", "future"), "implausible:{ts}"),
    "ts_before_2008": (("when", "past"), "implausible:{ts}"),
    "ts_garbage": (
        _set("ts", st.sampled_from(["yesterday", "", "2021-13-45 99:00"])),
        "bad_value:{ts}",
    ),  # fmt: skip
    "opt_wrong_type": (("opt_type", None), "bad_type:{opt}"),
    "opt_null": (_set("opt", st.just(None)), None),
    "not_an_object": (
        ("replace", st.sampled_from([17, "row", None, [1, 2], True])),
        "not_an_object",
    ),  # fmt: skip
}

names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@st.composite
def export_file(draw: st.DrawFn) -> dict[str, Any]:
    """Rows of one generated file and what the ingest must report about them."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    fname, ts_f, ms_f, opt_f, bool_f = FORMATS[fmt]
    n = draw(st.integers(1, 25))
    muts = draw(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=n, max_size=n))
    fields = {"ts": ts_f, "ms": ms_f, "opt": opt_f}
    rows: list[Any] = []
    reasons: Counter[str] = Counter()
    ok_rows = []
    for i, m in enumerate(muts):
        row = base_row(fmt, i, draw(names))
        how, reason = MUTATIONS[m]
        if how is not None:
            kind = how[0]
            if kind == "drop":
                del row[fields[how[1]]]
            elif kind == "set":
                row[fields[how[1]]] = draw(how[2])
            elif kind == "when":
                if how[1] == "future":
                    t = dt.datetime.now(dt.UTC) + dt.timedelta(days=draw(st.integers(2, 30000)))
                else:
                    t = dt.datetime(2007, 12, 31, 23, 0, tzinfo=dt.UTC) - dt.timedelta(
                        days=draw(st.integers(0, 10000))
                    )
                row[ts_f] = _ts(fmt, t)
            elif kind == "opt_type":
                use_bool = bool_f is not None and draw(st.booleans())
                field_name = bool_f if use_bool else opt_f
                row[field_name] = "yes" if use_bool else draw(st.sampled_from([5, True, [], {}]))
                reason = f"bad_type:{field_name}"
            elif kind == "replace":
                row = draw(how[1])
        if reason is not None:
            reasons[reason.format(ts=ts_f, ms=ms_f, opt=opt_f)] += 1
        else:
            ok_rows.append(row)
        rows.append(row)
    n_dup = draw(st.integers(0, min(3, len(ok_rows))))
    rows += ok_rows[:n_dup]  # exact copies of valid rows
    order = draw(st.permutations(range(len(rows))))
    rows = [rows[i] for i in order]
    objects = [r for r in rows if isinstance(r, dict)]
    absent = [f for f in (ts_f, ms_f) if objects and not any(f in r for r in objects)]
    return {
        "fmt": fmt,
        "name": fname,
        "rows": rows,
        "reasons": reasons,
        "n_ok": len(ok_rows) + n_dup,
        "n_dup": n_dup if fmt in EXTENDED else 0,  # account data: a repeat is a second play
        "absent": absent,  # a required field absent from every record: a file-level error
    }


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@SETTINGS
@given(case=export_file())
def test_rows_are_kept_or_skipped_with_a_reason_and_counted(tmp_path_factory, case) -> None:
    tmp = tmp_path_factory.mktemp("bad")
    donor = tmp / "donor"
    donor.mkdir()
    path = donor / case["name"]
    path.write_text(json.dumps(case["rows"], ensure_ascii=False), encoding="utf-8")
    out = tmp / "out"
    before = _tree(tmp)
    if case["absent"]:
        with pytest.raises(IngestError) as err:
            ingest([donor], out, id_seed=SEED)
        assert str(path) in str(err.value) and f"'{case['absent'][0]}'" in str(err.value)
        assert _tree(tmp) == before  # nothing written at all
        return
    r = ingest([donor], out, id_seed=SEED)
    assert _tree(tmp) - before <= {f"out/{f}" for f in os.listdir(out)} | {"out"}
    check_counts(r.report)
    e = r.report["participants"][study_id("donor", SEED)]["files"][case["name"]]
    assert e["rows_read"] == len(case["rows"])  # every record is accounted for
    assert e["rows_skipped"]["by_reason"] == dict(case["reasons"])
    assert e["rows_kept"] == case["n_ok"] - case["n_dup"] == r.streams.num_rows
    assert e["duplicates_removed"]["total"] == case["n_dup"]
    for ex in e["rows_skipped"]["examples"]:  # example rows name the row and a reason
        assert 0 <= ex["row"] < len(case["rows"]) and ex["reason"] in case["reasons"]
    # check reports the same, and writes nothing
    s = check_export(donor)
    assert s["streams"]["rows_read"] == len(case["rows"])
    assert s["streams"]["rows_kept"] == e["rows_kept"]
    assert s["dropped"]["skipped_by_reason"] == dict(case["reasons"])
    assert s["usable"] == (e["rows_kept"] > 0)
    assert _tree(tmp) - before <= {f"out/{f}" for f in os.listdir(out)} | {"out"}
    # no personal value reaches the outputs
    for f in out.iterdir():
        data = f.read_bytes()
        assert b"secret-user-99" not in data and b"198.51.100.99" not in data


@st.composite
def broken_file(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """(file name, bytes, a word the error must contain) of a file that cannot be read."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    rows = [base_row(fmt, i, f"t{i}") for i in range(draw(st.integers(1, 6)))]
    text = json.dumps(rows, indent=draw(st.sampled_from([None, 2])))
    how = draw(st.sampled_from(["truncate", "latin1", "bad_byte", "not_array"]))
    if how == "truncate":
        cut = draw(st.integers(0, len(text) - 1))
        return FORMATS[fmt][0], text[:cut].encode(), "JSON" if cut else "empty"
    if how == "latin1":  # a name with an accent, written in Latin-1 instead of UTF-8
        return FORMATS[fmt][0], text.replace('"t0"', '"t\u00e9"').encode("latin-1"), "UTF-8"
    if how == "bad_byte":
        data = text.encode()
        pos = draw(st.integers(0, len(data)))
        return FORMATS[fmt][0], data[:pos] + b"\xff\xfe" + data[pos:], ""
    return FORMATS[fmt][0], json.dumps({"rows": rows}).encode(), "array"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(bad=broken_file())
def test_unreadable_files_give_one_clear_error(tmp_path_factory, bad, capsys) -> None:
    name, data, word = bad
    tmp = tmp_path_factory.mktemp("broken")
    donor = tmp / "donor"
    donor.mkdir()
    (donor / name).write_bytes(data)
    before = _tree(tmp)
    with pytest.raises(IngestError) as err:
        ingest_donations([donor], id_seed=SEED)
    msg = str(err.value)
    assert str(donor / name) in msg and word in msg
    # the CLIs: one line on stderr, exit 2 (ingest, add, and check: add would refuse it)
    capsys.readouterr()
    assert main(["ingest", str(donor), "--out", str(tmp / "out")]) == 2
    assert main(["donation", "add", str(donor), "--donations", str(tmp / "don")]) == 2
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 2 and "Traceback" not in err_text and name in err_text
    assert main(["donation", "check", str(donor)]) == 2
    cap = capsys.readouterr()
    assert "ERROR" in cap.out and "Usable: NO - 1 file(s) cannot be read" in cap.out
    assert cap.err.count("\n") == 1 and name in cap.err
    assert _tree(tmp) == before  # nothing written anywhere
    # with --skip-bad-files the error is recorded and counted, and the run goes on
    r = ingest_donations([donor], id_seed=SEED, skip_bad_files=True)
    e = r.report["participants"][study_id("donor", SEED)]["files"][name]
    assert e["status"] == "error" and r.report["totals"]["files"] == {"error": 1}
    assert str(tmp) not in e["error"]


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_empty_zip_is_nothing_usable(tmp_path: Path, capsys) -> None:
    z = _zip(tmp_path / "my_spotify_data.zip", {})
    r = ingest_donations([z], id_seed=SEED)
    assert r.report["totals"]["files"] == {} and r.streams.num_rows == 0
    assert check_export(z)["usable"] is False
    assert main(["donation", "check", str(z)]) == 1
    with pytest.raises(IngestError, match="nothing usable"):
        add_export(z, tmp_path / "don")
    assert not (tmp_path / "don").exists()


TRAVERSAL = ["../endsong_0.json", "../../tmp_evil/endsong_1.json", "a/../../endsong_2.json",
             "/abs/endsong_3.json", "..\\endsong_4.json", "C:/x/endsong_5.json"]  # fmt: skip


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    evil=st.lists(st.sampled_from(TRAVERSAL), min_size=1, max_size=3, unique=True),
    safe=st.booleans(),
)
def test_zip_with_path_traversal_never_writes_outside(tmp_path_factory, evil, safe) -> None:
    tmp = tmp_path_factory.mktemp("zip")
    work = tmp / "a" / "b"
    work.mkdir(parents=True)
    row = json.dumps([base_row("endsong", 1, "x")]).encode()
    members = {name: row for name in evil}
    if safe:
        members["MyData/endsong_9.json"] = row
    z = _zip(work / "export.zip", members)
    before = _tree(tmp)
    # a member whose base name starts with "." is operating-system clutter to the ingest
    # ("..\\x.json" on POSIX): never read, like .DS_Store; every other one makes the zip unsafe
    if all(name.rsplit("/", 1)[-1].startswith(".") for name in evil):
        assert check_export(z)["usable"] is safe
    else:
        with pytest.raises(IngestError, match="leaves the folder"):
            check_export(z)
        with pytest.raises(IngestError, match="leaves the folder"):
            add_export(z, work / "don")
        assert main(["donation", "add", str(z), "--donations", str(work / "don")]) == 2
    assert _tree(tmp) == before
    # the plain ingest never unpacks anything: it reads members in memory, writes only --out
    ingest([z], work / "out", id_seed=SEED)
    assert _tree(tmp) - before == {"a/b/out"} | {f"a/b/out/{f}" for f in os.listdir(work / "out")}


def test_2gb_file_is_refused_before_it_is_read(tmp_path: Path, capsys) -> None:
    donor = tmp_path / "donor"
    donor.mkdir()
    big = donor / "endsong_0.json"
    with big.open("wb") as fh:  # sparse: 2 GiB long, no block written
        os.truncate(fh.fileno(), 2 * 1024**3)
    (donor / "endsong_1.json").write_text(json.dumps([base_row("endsong", 1, "x")]))
    with pytest.raises(IngestError, match=r"endsong_0.json: the file is 2\.15 GB, more than"):
        ingest_donations([donor], id_seed=SEED)
    r = ingest_donations([donor], id_seed=SEED, skip_bad_files=True)
    files = r.report["participants"][study_id("donor", SEED)]["files"]
    assert files["endsong_0.json"]["status"] == "error" and r.streams.num_rows == 1
    s = check_export(donor)
    bad = next(f for f in s["files"] if f["path"] == "endsong_0.json")
    assert "2.15 GB" in bad["error"] and s["streams"]["rows_kept"] == 1
    assert main(["donation", "add", str(donor), "--donations", str(tmp_path / "don")]) == 2
    assert "2.15 GB" in capsys.readouterr().err
    big.unlink()


def test_oversized_zip_member_is_refused_by_its_declared_size(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(donations_mod, "MAX_FILE_BYTES", 1000)
    rows = [base_row("endsong", i, "x") for i in range(20)]
    z = _zip(tmp_path / "export.zip", {"MyData/endsong_0.json": json.dumps(rows).encode()})
    with pytest.raises(IngestError, match=r"export.zip::MyData/endsong_0.json: the file is"):
        ingest_donations([z], id_seed=SEED)
    inner = _zip(tmp_path / "inner.zip", {"endsong_0.json": json.dumps(rows[:1]).encode()})
    outer = _zip(tmp_path / "outer.zip", {"inner.zip": b"x" * 2000 + inner.read_bytes()})
    with pytest.raises(IngestError, match=r"outer.zip::inner.zip: the file is"):
        ingest_donations([outer], id_seed=SEED)


def test_regression_future_and_pre_2008_timestamps_are_skipped(tmp_path: Path) -> None:
    """Before the fix these rows were kept silently (a 1999 play, a 2099 play)."""
    rows = [
        {"endTime": "1999-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1},
        {"endTime": "2099-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1},
        {"endTime": "2008-01-01 00:00", "artistName": "A", "trackName": "T", "msPlayed": 1},
    ]
    d = tmp_path / "donor"
    d.mkdir()
    (d / "StreamingHistory0.json").write_text(json.dumps(rows))
    r = ingest_donations([d], id_seed=SEED)
    e = r.report["participants"][study_id("donor", SEED)]["files"]["StreamingHistory0.json"]
    assert e["rows_skipped"]["by_reason"] == {"implausible:endTime": 2}
    assert e["rows_skipped"]["examples"] == [
        {"row": 0, "reason": "implausible:endTime"},
        {"row": 1, "reason": "implausible:endTime"},
    ]
    assert r.streams.num_rows == 1


def test_no_row_silently_lost_in_a_huge_row_count(tmp_path: Path) -> None:
    """Counts add up on a larger file too (fast parser path)."""
    rows = [base_row("endsong", i, f"t{i}") for i in range(3000)]
    rows[10]["ms_played"] = -1
    rows += rows[:7]
    d = tmp_path / "donor"
    d.mkdir()
    (d / "endsong_0.json").write_text(json.dumps(rows))
    r = ingest_donations([d], id_seed=SEED)
    e = r.report["participants"][study_id("donor", SEED)]["files"]["endsong_0.json"]
    assert e["parser"] == "fast"
    assert (e["rows_read"], e["rows_kept"], e["duplicates_removed"]["total"]) == (3007, 2999, 7)
    assert e["rows_skipped"]["by_reason"] == {"negative:ms_played": 1}
