"""The workflow on a donations folder: the three real exports (and a time-shifted copy of one),
each added with ``prefcal donation add``, and ``data.source: donations`` in a small config
override. The default target runs stages 01-03 on them (8 shards for 4 participants: empty shards
too), its overview table counts 4 participants, and stages 04-05 (simulated Home surface) are
left out with a message. Fewer donors than 3 x ``privacy.k_anonymity`` (three cohorts of at least
k) stop the workflow before it runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import copy_repo, run_snakemake
from test_ingest_helpers import ACCOUNT, ENDSONG, LEGACY

from prefcal import overview, privacy
from prefcal.cli import main

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def donation_run(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("donation_run")
    donations = tmp / "donations"
    # a fourth donor: the account export with every play two years earlier (the legacy donor's
    # plays have no content type, and the overview's three cohorts need three typed donors)
    shifted = tmp / "p-shifted"
    shutil.copytree(ACCOUNT, shifted)
    for f in shifted.glob("StreamingHistory_*.json"):
        rows = json.loads(f.read_text(encoding="utf-8"))
        for r in rows:
            r["endTime"] = f"{int(r['endTime'][:4]) - 2}{r['endTime'][4:]}"
        f.write_text(json.dumps(rows), encoding="utf-8")
    for label, export in (("p-legacy", LEGACY.parent), ("p-endsong", ENDSONG.parent),
                          ("p-account", ACCOUNT), ("p-shifted", shifted)):  # fmt: skip
        argv = ["donation", "add", str(export), "--donations", str(donations)]
        assert main([*argv, "--participant", label]) == 0
    work = copy_repo(tmp / "repo")
    override = work / "config" / "donations.yaml"
    # 4 donors: a trial run needs k <= 1 (see test_fewer_donors_than_k_stop_the_workflow)
    override.write_text(
        f"shards: 8\ndata:\n  source: donations\n  donations_dir: {donations}\n"
        "privacy:\n  k_anonymity: 1\npreferences:\n  evaluation_time: per_participant\n"
    )
    out = run_snakemake(work, configfiles=("config/smoke.yaml", "config/donations.yaml"))
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "data.source is donations, so stages 04-05 and the paper are not run" in out.stderr
    return work, donations


def test_stages_01_to_03_run_and_04_05_do_not(donation_run) -> None:
    work, _ = donation_run
    shards = sorted((work / "results/data").glob("shard_*"))
    sizes = [pq.read_metadata(s / "streams.parquet").num_rows for s in shards]
    assert len(sizes) == 8 and 0 in sizes and sum(sizes) == 1500 + 1500 + 2 * 3608
    windows = pd.read_parquet(work / "results/preferences/user_windows.parquet")
    assert len(windows) == 4
    assert (work / "results/tables/cluster_selection.csv").exists()
    assert (work / "results/notebooks/03_preferences.html").exists()
    macros = (work / "results/paper/macros.tex").read_text()
    assert "\\newcommand{\\PrefNUsers}{4}" in macros
    assert "\\CBvsSCNinetyPodcastCI" not in macros  # stage 04 did not run
    for folder in ("home", "evaluation", "rq", "raw", "truth"):
        assert not (work / "results" / folder).exists(), folder
    assert not (work / "results/paper/paper.pdf").exists()
    nb = (work / "results/notebooks/03_preferences.ipynb").read_text()
    # each donor at the end of their own history (they end in 2020-2024): only the legacy donor,
    # whose plays have no content type, has no counting stream in their last 90 days
    assert "each participant at their own t, 2020-" in nb and "(per participant)" in nb
    assert "note: 1 of 4 participants have no counting stream in the 90d before their t" in nb
    windows = windows.set_index("participant_id")
    assert (windows["t"].dt.year.sort_values().tolist()) == [2020, 2021, 2022, 2024]
    # figures of single participants are not drawn for donated data
    assert "donated data: the habit figure (one participant's streams) is not drawn" in nb


def test_fewer_donors_than_k_stop_the_workflow(donation_run, tmp_path) -> None:
    """Also: a donations_dir written with ``~`` is expanded."""
    work, donations = donation_run
    home = tmp_path / "home"
    home.mkdir()
    (home / "dons").symlink_to(donations)
    override = work / "config" / "donations_k5.yaml"
    override.write_text("data:\n  source: donations\n  donations_dir: ~/dons\n")
    env_home = {"HOME": str(home)}
    out = run_snakemake(work, "-n", configfiles=("config/donations_k5.yaml",), env=env_home)
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "holds 4 participant(s), fewer than 3 x privacy.k_anonymity = 15" in said
    assert "set privacy.k_anonymity to at most 1" in said
    assert len(overview.COHORTS) == 3  # the 3 of the rule (workflow/rules/data.smk)


def test_overview_counts_four_participants(donation_run) -> None:
    work, donations = donation_run
    table = pd.read_csv(work / "results/tables/data_overview.csv")
    values = dict(zip(table["quantity"], table["value"], strict=True))
    assert int(float(values["Participants"])) == 4
    assert int(float(values["Streams"])) == 1500 + 1500 + 2 * 3608
    assert int(float(values["Source format: account_podcast"])) == 2 * 597
    assert int(float(values["Source format: account_audiobook"])) == 2 * 11
    macros = (work / "results/paper/macros/01_data.tex").read_text()
    assert "\\newcommand{\\NParticipants}{4}" in macros
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
            "p-shifted",
            str(donations / "private"),
            "spotify_exports",
            "198.51.100",
            '"participant"',
        ],  # fmt: skip
    )
    assert found == []
