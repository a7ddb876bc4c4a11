"""The paper build (prefcal.paper.build, paper/main.tex): a real PDF from generated inputs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prefcal import overview
from prefcal.paper.build import LatexError, build_pdf, latex_problems, prepare_build_dir
from prefcal.paper.figures import save_figure, use_paper_style
from prefcal.paper.macros import merge_macro_files, parse_macros, write_macros
from prefcal.paper.tables import write_csv, write_tex

REPO = Path(__file__).resolve().parents[1]
needs_latex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdflatex") is None,
    reason="latexmk/pdflatex not installed (sudo apt-get install texlive-latex-base "
    "texlive-latex-recommended texlive-fonts-recommended latexmk)",
)


def synthetic_streams(n_users: int, n_rows: int, seed: int) -> pd.DataFrame:
    """Seeded synthetic streams table (the columns stage 01 reads)."""
    rng = np.random.default_rng(seed)
    users = np.array([f"P{i:010x}" for i in range(n_users)])
    level = rng.uniform(0.0, 0.6, n_users)
    who = rng.integers(0, n_users, n_rows)
    ts = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 28 * 86_400, n_rows), unit="s"
    )
    hour = ts.hour.to_numpy()
    p = level[who] * np.where((hour >= 6) & (hour < 10), 1.5, 1.0)
    return pd.DataFrame(
        {
            "participant_id": users[who],
            "ts_start": ts.astype("datetime64[ms, UTC]"),
            "ms_played": rng.integers(0, 240_000, n_rows),
            "content_type": np.where(rng.uniform(size=n_rows) < p, "podcast", "music"),
            "device": rng.choice(["mobile", "desktop", "speaker"], n_rows),
            "source_format": rng.choice(["endsong", "extended_audio"], n_rows),
        }
    )


def write_stage01_outputs(out_dir: Path, seed: int = 20261122) -> dict[str, Path]:
    """What notebooks/01_data.ipynb writes, from a synthetic streams table."""
    summary = overview.summarise_streams([synthetic_streams(45, 6000, seed=1)])
    ingest = overview.IngestTotals(
        participants=summary.n_participants,
        stream_files=90,
        rows_read=summary.n_streams + 25,
        rows_kept=summary.n_streams,
        rows_skipped=20,
        duplicates_removed=5,
        skipped_by_reason={"missing:ts": 20},
        files_by_status={"read": 180, "skipped_for_privacy": 45},
    )
    overview.check_consistency(summary, ingest)
    paths = overview.output_paths(out_dir)
    table = overview.overview_table(summary, ingest)
    write_csv(table, paths["table"])
    write_tex(
        overview.overview_latex_frame(table),
        paths["table_tex"],
        group="section",
        align="lrr",
        escape=False,
    )
    shares = overview.user_podcast_shares(summary.user_hour)
    cohorts = overview.assign_cohorts(shares)
    curves = overview.podcast_share_by_hour(summary.user_hour, cohorts, n_boot=200, seed=seed)
    use_paper_style()
    save_figure(overview.plot_podcast_share_by_hour(curves), paths["fig_pdf"], close=True)
    contrast = overview.period_contrast(summary.user_hour, cohorts, n_boot=200, seed=seed)
    macros = overview.overview_macros(
        summary,
        seed=seed,
        data_source="simulated",
        ingest=ingest,
        cohort_table=overview.cohort_summary(shares, cohorts),
        contrast=contrast,
        n_boot=200,
        ci=0.95,
    )
    write_macros(paths["macros"], macros)
    merge_macro_files([paths["macros"]], out_dir / "paper" / "macros.tex")
    return paths


def main_tex_needs(main_tex: str) -> tuple[set[str], set[str], set[str]]:
    """(tables, figures, macro names) that paper/main.tex uses."""
    body = "\n".join(line.split("%")[0] for line in main_tex.splitlines())
    tables = set(re.findall(r"\\input\{tables/([^}]+?)(?:\.tex)?\}", body))
    figures = set(
        re.findall(r"\\includegraphics(?:\[[^]]*\])?\{figures/([^}]+?)(?:\.pdf)?\}", body)
    )
    # our macros are CamelCase with at least two capitals (\NStreams); LaTeX's own (\LaTeX) aside
    names = set(re.findall(r"\\([A-Z][a-z]*[A-Z][A-Za-z]*)", body)) - {"LaTeX", "TeX"}
    return tables, figures, names


def pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (apt-get install poppler-utils)")
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    return out.stdout


def test_main_tex_inputs_are_workflow_outputs():
    """Every table and figure the paper includes is an output of some rule."""
    tables, figures, _ = main_tex_needs((REPO / "paper/main.tex").read_text())
    rules = "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    for name in tables:
        assert f"{{RESULTS}}/tables/{name}.tex" in rules, name
    for name in figures:
        assert f"{{RESULTS}}/figures/{name}.pdf" in rules, name


@needs_latex
def test_paper_pdf_from_generated_inputs(tmp_path):
    results = tmp_path / "results"
    paths = write_stage01_outputs(results)
    macros_file = results / "paper" / "macros.tex"
    macros = parse_macros(macros_file.read_text())
    main = REPO / "paper" / "main.tex"
    tables, figures, names = main_tex_needs(main.read_text())
    later = tables - {"data_overview"} or figures - {"podcast_share_by_hour"} or names - set(macros)
    if later:
        pytest.skip(
            f"paper/main.tex needs later stages' outputs {sorted(later)[:5]}; the "
            "workflow test builds the full paper"
        )
    kwargs = dict(
        main_tex=main,
        bib=REPO / "paper" / "references.bib",
        macros=macros_file,
        tables=[paths["table_tex"]],
        figures=[paths["fig_pdf"]],
    )
    build = prepare_build_dir(results / "paper" / "build", **kwargs)
    assert (build / "tables" / "data_overview.tex").is_file()
    assert (build / "figures" / "podcast_share_by_hour.pdf").is_file()
    pdf = build_pdf(build, results / "paper" / "paper.pdf")
    text = pdf_text(pdf)
    assert "??" not in text
    assert "[?]" not in text  # an unresolved natbib citation
    flat = " ".join(text.split())
    for name in ("NStreams", "NParticipants", "DateStart", "DateEnd", "StudySeed"):
        assert macros[name] in flat, (name, macros[name])
    assert "Semerci" in flat and "Feijer" in flat  # the bibliography was built
    # a second build from scratch gives the same bytes (SOURCE_DATE_EPOCH, fixed figure metadata)
    again = prepare_build_dir(results / "paper" / "build", **kwargs)
    assert build_pdf(again, tmp_path / "again.pdf").read_bytes() == pdf.read_bytes()


@needs_latex
def test_undefined_reference_fails_the_build(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.tex").write_text(
        "\\documentclass{article}\n\\input{macros.tex}\n\\begin{document}\n"
        "See Section~\\ref{sec:nowhere}; \\NOne.\n\\end{document}\n"
    )
    (src / "references.bib").write_text("")
    (src / "m.tex").write_text("\\newcommand{\\NOne}{1}\n")
    build = prepare_build_dir(
        tmp_path / "build",
        main_tex=src / "main.tex",
        bib=src / "references.bib",
        macros=src / "m.tex",
    )
    with pytest.raises(LatexError, match=r"(?s)undefined references.*sec:nowhere"):
        build_pdf(build, tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()


def test_log_problems_are_found():
    log = "\n".join(
        [
            "LaTeX Warning: Reference `fig:x' on page 2 undefined on input line 40.",
            "Package natbib Warning: Citation `steck' on page 1 undefined on input line 3.",
            "LaTeX Warning: Label `a' multiply defined.",
            "Overfull \\hbox (1.2pt too wide) in paragraph at lines 5--6",
        ]
    )
    assert len(latex_problems(log)) == 3


def test_build_dir_is_never_someone_elses(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    files = {n: tmp_path / n for n in ("main.tex", "references.bib", "macros.tex")}
    for path in files.values():
        path.write_text("")
    with pytest.raises(FileExistsError, match="not made by prefcal"):
        prepare_build_dir(
            foreign,
            main_tex=files["main.tex"],
            bib=files["references.bib"],
            macros=files["macros.tex"],
        )
    assert (foreign / "thesis.tex").read_text() == "precious"
    one, two = tmp_path / "a" / "t.tex", tmp_path / "b" / "t.tex"
    for path in (one, two):
        path.parent.mkdir()
        path.write_text("")
    with pytest.raises(ValueError, match="two table files share the name t.tex"):
        prepare_build_dir(
            tmp_path / "build",
            main_tex=files["main.tex"],
            bib=files["references.bib"],
            macros=files["macros.tex"],
            tables=[one, two],
        )
