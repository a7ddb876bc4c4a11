"""The workflow on a donations folder: the three real exports, each added with ``prefcal
donation add``, and ``data.source: donations`` in a small config override. Stage 01 runs
unchanged and its overview table counts 3 participants."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import copy_repo, run_snakemake
from test_ingest_helpers import ACCOUNT, ENDSONG, LEGACY

from prefcal import privacy
from prefcal.cli import main

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def donation_run(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("donation_run")
    donations = tmp / "donations"
    for label, export in (("p-legacy", LEGACY.parent), ("p-endsong", ENDSONG.parent),
                          ("p-account", ACCOUNT)):  # fmt: skip
        argv = ["donation", "add", str(export), "--donations", str(donations)]
        assert main([*argv, "--participant", label]) == 0
    work = copy_repo(tmp / "repo")
    override = work / "config" / "donations.yaml"
    override.write_text(f"data:\n  source: donations\n  donations_dir: {donations}\n")
    out = run_snakemake(
        work, "data_overview", configfiles=("config/smoke.yaml", "config/donations.yaml")
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return work, donations


def test_overview_counts_three_participants(donation_run) -> None:
    work, donations = donation_run
    table = pd.read_csv(work / "results/tables/data_overview.csv")
    values = dict(zip(table["quantity"], table["value"], strict=True))
    assert int(float(values["Participants"])) == 3
    assert int(float(values["Streams"])) == 1500 + 1500 + 3608
    assert int(float(values["Source format: account_podcast"])) == 597
    assert int(float(values["Source format: account_audiobook"])) == 11
    macros = (work / "results/paper/macros/01_data.tex").read_text()
    assert "\\newcommand{\\NParticipants}{3}" in macros
    manifest = json.loads((donations / "manifest.json").read_text())
    ids = set()
    for shard in sorted((work / "results/data").glob("shard_*")):
        ids |= set(pq.read_table(shard / "streams.parquet")["participant_id"].to_pylist())
    assert ids == set(manifest["participants"])
    # nothing was simulated for stage 01
    assert not (work / "results/raw").exists() and not (work / "results/truth").exists()


def test_no_label_or_path_leaves_the_donations_folder(donation_run) -> None:
    """Labels, export paths (in private/id_map.csv) and personal values never reach results/.
    (The donations folder's own path does: the executed notebooks show the config.)"""
    work, donations = donation_run
    found = privacy.scan_outputs(
        [work / "results"],
        substrings=[
            "p-legacy",
            "p-endsong",
            "p-account",
            str(donations / "private"),
            "spotify_exports",
            "198.51.100",
            '"participant"',
        ],  # fmt: skip
    )
    assert found == []
