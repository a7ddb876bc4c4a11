"""``prefcal donation add``: scrubbed tables under a random study id, a private id map, the same
person recognised, and no play stored twice however a person's exports overlap."""

from __future__ import annotations

import csv
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest_helpers import ACCOUNT, ENDSONG, LEGACY, PII, dump, load, to_account

from prefcal import privacy
from prefcal.cli import main
from prefcal.donation import add_export, combine_exports, folder
from prefcal.ingest import IngestError, ingest_donations
from prefcal.ingest.report import check_counts
from prefcal.tables import LIBRARY_SCHEMA, PLAYLISTS_SCHEMA, STREAMS_SCHEMA

REAL = {"legacy": LEGACY.parent, "endsong": ENDSONG.parent, "account": ACCOUNT}


def _report(root: Path, pid: str) -> dict:
    return json.loads((root / "participants" / pid / "ingest_report.json").read_text())


def _streams(root: Path, pid: str) -> pa.Table:
    return pq.read_table(root / "participants" / pid / "streams.parquet")


def _id_map(root: Path) -> list[dict[str, str]]:
    with (root / "private" / "id_map.csv").open() as fh:
        return list(csv.DictReader(fh))


def _zip(folder_path: Path, dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for p in sorted(folder_path.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder_path).as_posix())
    return dst


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The three real exports added with the CLI (one with a label)."""
    root = tmp_path_factory.mktemp("don") / "donations"
    pids = {}
    for name, export in REAL.items():
        extra = ["--participant", "consent-017"] if name == "account" else []
        assert main(["donation", "add", str(export), "--donations", str(root), *extra]) == 0
        pids[name] = _id_map(root)[-1]["study_id"]
    return root, pids


def test_real_exports_counts_equal_the_files(three) -> None:
    root, pids = three
    want = {
        "legacy": {"legacy_account": 1500},
        "endsong": {"endsong": 1500},
        "account": {"account_music": 3000, "account_podcast": 597, "account_audiobook": 11},
    }
    for name, by_format in want.items():
        rep = _report(root, pids[name])
        check_counts(rep)
        files = rep["participants"][pids[name]]["files"]
        got = {e["format"]: e["rows_read"] for e in files.values() if e["kind"] == "streams"}
        own = {
            e["format"]: len(load(REAL[name] / k.split("/", 1)[1]))
            for k, e in files.items()
            if e["kind"] == "streams"
        }
        assert got == own == by_format
        t = _streams(root, pids[name])
        assert t.num_rows == sum(by_format.values())
        assert t.to_pandas()["source_format"].value_counts().to_dict() == by_format
    manifest = json.loads((root / "manifest.json").read_text())
    assert sorted(manifest["participants"]) == sorted(pids.values())
    assert manifest["participants"][pids["account"]]["playlists"] == 1008
    assert manifest["participants"][pids["account"]]["library"] == 1136


def test_cli_prints_the_counts(tmp_path: Path, capsys) -> None:
    assert main(["donation", "add", str(ACCOUNT), "--donations", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "streams: 3,608 read, 3,608 kept, 0 skipped, 0 duplicates" in out
    assert "playlists: 1,008 read, 1,008 kept" in out and "library: 1,136 read" in out


def test_tables_equal_the_ingest(three) -> None:
    """For one export, add gives exactly the ingest's tables (under its own study id)."""
    root, pids = three
    for name, export in REAL.items():
        pid = pids[name]
        r = ingest_donations([export], id_seed=1)
        for key, schema in (
            ("streams", STREAMS_SCHEMA),
            ("playlists", PLAYLISTS_SCHEMA),
            ("library", LIBRARY_SCHEMA),
        ):
            got = pq.read_table(root / "participants" / pid / f"{key}.parquet")
            assert got.schema.equals(schema)
            ids = ["participant_id"] + (["playlist_id"] if key == "playlists" else [])
            want = getattr(r, key)
            assert got.drop_columns(ids).equals(want.drop_columns(ids)), (name, key)
            assert set(got["participant_id"].to_pylist()) <= {pid}
            if key == "playlists":  # <study id>-<n>, the same n as the ingest
                n_got = [x.split("-")[1] for x in got["playlist_id"].to_pylist()]
                assert n_got == [x.split("-")[1] for x in want["playlist_id"].to_pylist()]
                assert all(x.startswith(pid + "-") for x in got["playlist_id"].to_pylist())


def test_private_id_map_and_nothing_personal_outside_it(three) -> None:
    root, pids = three
    assert stat.S_IMODE((root / "private").stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "private" / "id_map.csv").stat().st_mode) == 0o600
    rows = _id_map(root)
    assert [r["study_id"] for r in rows] == [pids[n] for n in REAL]
    assert rows[2]["label"] == "consent-017" and rows[0]["label"] == ""
    assert rows[0]["source"] == str(LEGACY.parent.resolve())
    # nothing outside private/ names a label, a source path, the exports' user name
    found = privacy.scan_outputs(
        [root],
        substrings=["consent-017", str(ENDSONG.parent), "spotify_exports", '"participant"'],
        exclude=[root / "private"],
    )
    assert found == []


def test_same_export_twice_folder_or_zip_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "d"
    r1 = add_export(ENDSONG.parent, root)
    before = {p: p.read_bytes() for p in (root / "participants").rglob("*") if p.is_file()}
    r2 = add_export(ENDSONG.parent, root)
    r3 = add_export(_zip(ENDSONG.parent, tmp_path / "export.zip"), root)
    assert r2.participant_id == r3.participant_id == r1.participant_id
    assert r2.export_no is None and r3.export_no is None
    assert "nothing changed" in " ".join(r3.messages)
    after = {p: p.read_bytes() for p in (root / "participants").rglob("*") if p.is_file()}
    assert after == before
    assert len(_id_map(root)) == 1


def test_overlapping_later_export_with_label(tmp_path: Path) -> None:
    rows = load(ENDSONG)
    e1, e2 = tmp_path / "e1", tmp_path / "e2"
    dump(rows[:1000], e1 / "MyData" / "endsong_0.json")
    dump(rows[500:], e2 / "MyData" / "endsong_0.json")
    root = tmp_path / "d"
    a = add_export(e1, root, label="C-1")
    b = add_export(e2, root, label="C-1")
    assert a.participant_id == b.participant_id and b.export_no == 2
    assert b.export_totals["streams"] == {
        "files": 1,
        "rows_read": 1000,
        "rows_kept": 500,
        "rows_skipped": 0,
        "duplicates_removed": 500,
    }
    t = _streams(root, a.participant_id)
    assert t.num_rows == 1500
    rep = _report(root, a.participant_id)
    check_counts(rep)
    files = rep["participants"][a.participant_id]["files"]
    assert set(files) == {"export_001/MyData/endsong_0.json", "export_002/MyData/endsong_0.json"}
    # the same plays as the ingest of one donation that holds both exports
    both = tmp_path / "both"
    shutil.copytree(e1, both / "e1")
    shutil.copytree(e2, both / "e2")
    ref = ingest_donations([both], id_seed=1).streams.drop_columns(["participant_id"])
    assert t.drop_columns(["participant_id"]).equals(ref)


def test_overlap_without_label_is_refused_until_said_who(tmp_path: Path) -> None:
    rows = load(ENDSONG)
    e1, e2 = tmp_path / "e1", tmp_path / "e2"
    dump(rows[:1000], e1 / "endsong_0.json")
    dump(rows[400:], e2 / "endsong_0.json")
    root = tmp_path / "d"
    a = add_export(e1, root)
    snapshot = (root / "manifest.json").read_bytes()
    with pytest.raises(IngestError, match=rf"overlap stored participant\(s\) {a.participant_id}"):
        add_export(e2, root)
    assert (root / "manifest.json").read_bytes() == snapshot  # nothing written
    b = add_export(e2, root, study_id=a.participant_id)
    assert (
        b.participant_id == a.participant_id and _streams(root, a.participant_id).num_rows == 1500
    )
    c = add_export(LEGACY.parent, root, new_participant=True)
    assert c.new_participant and c.participant_id != a.participant_id


def test_who_is_who_errors(tmp_path: Path) -> None:
    root = tmp_path / "d"
    a = add_export(LEGACY.parent, root, label="A")
    with pytest.raises(IngestError, match="no such participant"):
        add_export(ENDSONG.parent, root, study_id="P0123456789")
    with pytest.raises(IngestError, match="already added to participant"):
        add_export(LEGACY.parent, root, label="B")  # the same export under another label
    b = add_export(ENDSONG.parent, root, label="B")
    with pytest.raises(IngestError, match="belongs to"):
        add_export(ACCOUNT, root, label="B", study_id=a.participant_id)
    with pytest.raises(IngestError, match="must not be empty"):
        add_export(ACCOUNT, root, label=" ")
    assert b.participant_id != a.participant_id
    status = main(["donation", "add", str(ACCOUNT), "--donations", str(root), "--study-id", "x"])
    assert status == 2


def test_account_then_extended_replaces_account_rows(tmp_path: Path) -> None:
    rows = load(ENDSONG)
    acc, ext = tmp_path / "acc", tmp_path / "ext"
    dump(to_account(rows[:700]), acc / "StreamingHistory_music_0.json")
    dump(rows, ext / "endsong_0.json")
    root = tmp_path / "d"
    a = add_export(acc, root, label="x")
    b = add_export(ext, root, label="x")
    assert b.replaced == {"streams": 700}
    t = _streams(root, a.participant_id)
    assert t.num_rows == 1500 and set(t["source_format"].to_pylist()) == {"endsong"}
    files = _report(root, a.participant_id)["participants"][a.participant_id]["files"]
    old = files["export_001/StreamingHistory_music_0.json"]
    assert (old["rows_read"], old["rows_kept"]) == (700, 0)
    assert old["duplicates_removed"] == {"total": 700, "account_in_extended": 700}
    # and the other way round: extended first, then account data adds nothing
    root2 = tmp_path / "d2"
    c = add_export(ext, root2, label="y")
    d = add_export(acc, root2, label="y")
    assert d.export_totals["streams"]["rows_kept"] == 0
    assert d.export_totals["streams"]["duplicates_removed"] == 700
    assert _streams(root2, c.participant_id).equals(
        _streams(root, a.participant_id).set_column(
            0, "participant_id", pa.repeat(pa.scalar(c.participant_id), 1500)
        )
    )


def test_account_repeats_union_across_adds(tmp_path: Path) -> None:
    """Minute precision: repeats within one export are plays; across exports the largest
    count any export holds is kept (the ingest's rule), however many adds it takes."""
    row = {"endTime": "2024-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 0}
    other = {"endTime": "2024-01-02 10:00", "artistName": "B", "trackName": "U", "msPlayed": 9}
    root = tmp_path / "d"
    pid = None
    for i, n in enumerate([2, 3, 1, 3]):
        e = tmp_path / f"e{i}"
        dump([row] * n + [other] * (i + 1), e / "StreamingHistory_music_0.json")
        pid = add_export(e, root, label="p").participant_id
    t = _streams(root, pid).to_pandas()
    assert (t.item_name == "T").sum() == 3 and (t.item_name == "U").sum() == 4
    check_counts(_report(root, pid))


def test_playlist_snapshot_newest_wins(tmp_path: Path) -> None:
    def export(name: str, date: str, n: int) -> Path:
        items = [{"track": {"trackName": f"t{i}", "artistName": "a", "albumName": "b",
                            "trackUri": f"spotify:track:{i:022d}"}} for i in range(n)]  # fmt: skip
        pl = {"playlists": [{"name": name, "lastModifiedDate": date, "items": items}]}
        d = tmp_path / name
        dump(pl, d / "Playlist1.json")
        dump({"tracks": [{"artist": "a", "track": name, "uri": f"spotify:track:{name}"}]},
             d / "YourLibrary.json")  # fmt: skip
        return d

    root = tmp_path / "d"
    pid = add_export(export("mid", "2024-01-01", 3), root, label="p").participant_id
    add_export(export("old", "2023-01-01", 5), root, label="p")  # older: not kept
    pl = pq.read_table(root / "participants" / pid / "playlists.parquet")
    assert set(pl["playlist_name"].to_pylist()) == {"mid"}
    add_export(export("new", "2025-01-01", 2), root, label="p")
    pl = pq.read_table(root / "participants" / pid / "playlists.parquet")
    assert set(pl["playlist_name"].to_pylist()) == {"new"} and pl.num_rows == 2
    files = _report(root, pid)["participants"][pid]["files"]
    assert files["export_001/Playlist1.json"]["duplicates_removed"]["superseded_snapshot"] == 3
    assert files["export_002/Playlist1.json"]["duplicates_removed"]["superseded_snapshot"] == 5
    assert files["export_003/Playlist1.json"]["rows_kept"] == 2
    lib = pq.read_table(root / "participants" / pid / "library.parquet")
    assert sorted(lib["name"].to_pylist()) == ["mid", "new", "old"]  # the union
    check_counts(_report(root, pid))


def test_nothing_usable_or_bad_place_writes_nothing(tmp_path: Path) -> None:
    d = tmp_path / "export"
    dump({"username": PII["username"]}, d / "Userdata.json")
    root = tmp_path / "don"
    with pytest.raises(IngestError, match="nothing usable"):
        add_export(d, root)
    assert not root.exists()
    inside = tmp_path / "don2"
    shutil.copytree(ENDSONG.parent, inside / "export")
    with pytest.raises(IngestError, match="must not lie inside"):
        add_export(inside / "export", inside)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(IngestError, match="not a folder"):
        add_export(ENDSONG.parent, tmp_path / "afile")


def test_load_and_resave_is_identical(three, tmp_path: Path) -> None:
    """The stored exports recombine to exactly the stored tables (nothing lost on disk)."""
    root, pids = three
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    pid = pids["account"]
    exports = folder.load_exports(copy, pid)
    assert len(exports) == 1
    folder.save_participant(copy, exports, combine_exports(pid, exports))
    for p in sorted((root / "participants" / pid).rglob("*")):
        if p.is_file():
            rel = p.relative_to(root)
            assert p.read_bytes() == (copy / rel).read_bytes(), rel
