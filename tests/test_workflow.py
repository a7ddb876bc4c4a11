"""The whole workflow on config/smoke.yaml in a temporary copy of the repository.

This is the test that proves `make reproduce CONFIG=config/smoke.yaml` works from a clean
`results/`: it checks values in the outputs, that a second run has nothing to do, and that two
runs with the same seed give byte-identical tables.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_repo, run_snakemake

pytestmark = pytest.mark.workflow


def _copy_repo(dst: Path) -> Path:
    return copy_repo(dst)


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args)


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name + str(p.parent.name): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


# smoke_run: the session-scoped fixture of conftest.py (the smoke workflow runs once per session)


def test_data_overview_values(smoke_run):
    table = pd.read_csv(smoke_run / "results/tables/data_overview.csv")
    values = dict(zip(table.iloc[:, 0], table.iloc[:, 1], strict=True))
    assert int(float(values["Participants"])) == 40
    assert int(float(values["Streams"])) > 1000
    macros = (smoke_run / "results/paper/macros.tex").read_text()
    assert "\\newcommand{\\NParticipants}{40}" in macros


def test_executed_notebooks_and_html(smoke_run):
    names = ("01_data", "02_playlist_clusters", "03_preferences", "04_offline_evaluation")
    for name in (*names, "05_rq_analysis"):
        assert (smoke_run / f"results/notebooks/{name}.ipynb").stat().st_size > 0
        html = (smoke_run / f"results/notebooks/{name}.html").read_text()
        assert "<html" in html.lower()


def test_every_rule_logged_and_benchmarked(smoke_run):
    logs = list((smoke_run / "results/logs").rglob("*.log"))
    bench = list((smoke_run / "results/benchmarks").rglob("*.tsv"))
    # one log and one benchmark per job: 18 jobs on the 2-shard smoke study (rule all excluded)
    assert len(logs) == len(bench) >= 17


def test_stage_tables_hold_values(smoke_run):
    res = smoke_run / "results/tables"
    agreement = pd.read_csv(res / "cluster_truth_agreement.csv")
    # ~300 playlists in the smoke study: playlists well above chance, tracks (whose taste type
    # comes from the few playlists holding them) clearly above it (the default study: 0.999)
    playlists = agreement["unit"] == "playlists"
    assert agreement.loc[playlists, "ari"].between(0.5, 1.0).all()
    assert agreement.loc[~playlists, "ari"].between(0.3, 1.0).all()
    errors = pd.read_csv(res / "profile_error.csv")
    assert set(errors["population"]) == {"context strength 1", "no context"}
    hyp = pd.read_csv(res / "rq_hypotheses.csv")
    assert {"H1", "H2", "H3", "H4", "H5"} <= set(hyp["hypothesis"])
    tested = hyp.dropna(subset=["p_bh"])
    assert ((tested["p_bh"] >= tested["p_value"] - 1e-12) & (tested["p_bh"] <= 1)).all()


def test_report_has_captioned_figures(smoke_run):
    out = _snakemake(smoke_run, "--report", "results/report.html")
    assert out.returncode == 0, out.stderr[-3000:]
    html = (smoke_run / "results/report.html").read_text(errors="replace")
    assert "podcast_share_by_hour.png" in html
    assert "Podcast share of plays by hour of day" in html


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk not installed")
def test_pdf_builds_without_undefined_references(smoke_run):
    pdf = smoke_run / "results/paper/paper.pdf"
    assert pdf.stat().st_size > 10_000
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "??" not in text
        assert "40" in text


def test_second_run_has_nothing_to_do(smoke_run):
    out = _snakemake(smoke_run, "--dry-run")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Nothing to be done" in out.stdout + out.stderr


def test_same_seed_same_bytes(smoke_run, tmp_path):
    other = _copy_repo(tmp_path / "repo")
    out = _snakemake(other, "data_overview")
    assert out.returncode == 0, out.stderr[-4000:]
    files = sorted((smoke_run / "results").glob("data/shard_*/*.parquet")) + sorted(
        (smoke_run / "results/tables").glob("data_overview.*")
    )
    assert len(files) >= 7
    again = [other / p.relative_to(smoke_run) for p in files]
    assert _digest(files) == _digest(again)
