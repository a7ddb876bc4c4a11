"""Results do not depend on the number of shards, and the SLURM profile plans a valid run (issue 7).

The smoke study runs twice more, with 1 and with 8 user shards (same seed, same everything else);
every table, the paper's macros and the stage outputs must be identical, and identical to the
session's smoke run (2 shards).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_repo, run_snakemake

pytestmark = pytest.mark.workflow

STAGE_PARQUETS = (
    "clusters/playlist_clusters.parquet",
    "clusters/item_taste.parquet",
    "preferences/user_windows.parquet",
    "preferences/descriptors.parquet",
    "preferences/context_profiles.parquet",
    "preferences/user_profiles.parquet",
)


def _run_with_shards(root: Path, n: int) -> Path:
    work = copy_repo(root / f"shards_{n}")
    (work / "config" / "shards_test.yaml").write_text(f"shards: {n}\npaper: {{build_pdf: false}}\n")
    out = run_snakemake(work, configfiles=("config/smoke.yaml", "config/shards_test.yaml"))
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return work / "results"


@pytest.fixture(scope="module")
def shard_runs(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("shards")
    return {n: _run_with_shards(root, n) for n in (1, 8)}


def test_shard_folders_match_the_config(shard_runs):
    for n, results in shard_runs.items():
        assert len(list((results / "data").glob("shard_*/streams.parquet"))) == n
        assert len(list((results / "home").glob("shard_*/impressions.parquet"))) == n


def test_one_and_eight_shards_give_identical_tables(shard_runs, smoke_run):
    one, eight = shard_runs[1], shard_runs[8]
    two = smoke_run / "results"
    tables = sorted(p.name for p in (one / "tables").glob("*.csv"))
    assert len(tables) >= 14
    assert tables == sorted(p.name for p in (eight / "tables").glob("*.csv"))
    for name in tables:
        a = (one / "tables" / name).read_bytes()
        assert a == (eight / "tables" / name).read_bytes(), f"{name}: 1 vs 8 shards differ"
        assert a == (two / "tables" / name).read_bytes(), f"{name}: 1 vs 2 shards differ"
    macros = [(r / "paper" / "macros.tex").read_text() for r in (one, eight, two)]
    assert len(re.findall(r"\\newcommand", macros[0])) > 50
    assert macros[0] == macros[1] == macros[2]
    for rel in STAGE_PARQUETS:
        pd.testing.assert_frame_equal(pd.read_parquet(one / rel), pd.read_parquet(eight / rel))


def test_slurm_profile_gives_a_valid_plan(smoke_run):
    """``snakemake --profile profiles/slurm -n`` plans every job, one per shard where sharded."""
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        "--profile", "profiles/slurm",
        "--configfile", "config/smoke.yaml",
        "-n", "--forceall",
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=smoke_run, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.stdout, flags=re.M))
    assert stats["simulate_users"] == stats["ingest"] == stats["home_log"] == "2"
    assert stats["paper"] == "1"
    assert "This was a dry-run" in out.stdout
