"""``prefcal donation shard``: a donations folder -> the workflow's canonical shard tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest_helpers import ACCOUNT, ENDSONG, LEGACY

from prefcal.cli import main
from prefcal.donation import add_export, build_shard, shard_of
from prefcal.ingest import IngestError
from prefcal.ingest.report import check_counts
from prefcal.tables import STREAMS_SCHEMA


@pytest.fixture(scope="module")
def donations(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shard") / "donations"
    for export in (LEGACY.parent, ENDSONG.parent, ACCOUNT):
        add_export(export, root)
    return root


def test_shards_partition_the_participants(donations: Path, tmp_path: Path) -> None:
    pids = sorted(json.loads((donations / "manifest.json").read_text())["participants"])
    # the workflow never reads private/: the shards are built without it
    work = tmp_path / "copy"
    shutil.copytree(donations, work)
    shutil.rmtree(work / "private")
    n = 2
    seen, rows = [], 0
    for s in range(n):
        out = tmp_path / f"shard_{s:03d}"
        assert main(["donation", "shard", "--donations", str(work), "--shard", str(s),
                     "--n-shards", str(n), "--out", str(out)]) == 0  # fmt: skip
        t = pq.read_table(out / "streams.parquet")
        assert t.schema.equals(STREAMS_SCHEMA)
        rep = json.loads((out / "ingest_report.json").read_text())
        check_counts(rep)
        assert sorted(rep["participants"]) == sorted(set(t["participant_id"].to_pylist()))
        assert all(shard_of(p, n) == s for p in rep["participants"])
        assert rep["totals"]["streams"]["rows_kept"] == t.num_rows
        ids = t["participant_id"].to_pylist()
        assert ids == sorted(ids)  # participants in study-id order, as the ingest writes them
        seen += list(rep["participants"])
        rows += t.num_rows
        for f in ("playlists.parquet", "library.parquet"):
            assert (out / f).is_file()
    assert sorted(seen) == pids and rows == 1500 + 1500 + 3608


def test_an_empty_shard_is_valid(donations: Path, tmp_path: Path) -> None:
    n = 64  # three participants, 64 shards: most are empty
    empty = next(s for s in range(n) if not any(
        shard_of(p, n) == s for p in json.loads((donations / "manifest.json").read_text())[
            "participants"]))  # fmt: skip
    rep = build_shard(donations, empty, n, tmp_path / "out")
    assert rep["totals"]["participants"] == 0
    assert pq.read_table(tmp_path / "out" / "streams.parquet").num_rows == 0


def test_tampered_or_missing_folder_is_refused(donations: Path, tmp_path: Path) -> None:
    work = tmp_path / "copy"
    shutil.copytree(donations, work)
    pid = sorted(json.loads((work / "manifest.json").read_text())["participants"])[0]
    path = work / "participants" / pid / "streams.parquet"
    t = pq.read_table(path)
    pq.write_table(t.slice(0, 10), path)
    with pytest.raises(IngestError, match="do not match manifest.json"):
        for s in range(2):
            build_shard(work, s, 2, tmp_path / "out")
    with pytest.raises(IngestError, match="not a donations folder"):
        build_shard(tmp_path / "nothing", 0, 1, tmp_path / "out2")
    with pytest.raises(IngestError, match="--shard 3"):
        build_shard(donations, 3, 2, tmp_path / "out3")
    assert isinstance(t, pa.Table)
