"""Build the paper PDF with latexmk from ``paper/`` and the generated macros, tables and figures.

:func:`prepare_build_dir` assembles a self-contained LaTeX source tree (it can be zipped and
uploaded to arXiv as is)::

    build_dir/main.tex, references.bib     copied from paper/
    build_dir/macros.tex                   results/paper/macros.tex (all stages' macros)
    build_dir/tables/<name>.tex            results/tables/<name>.tex
    build_dir/figures/<name>.pdf           results/figures/<name>.pdf

and :func:`build_pdf` runs ``latexmk -pdf -bibtex -interaction=nonstopmode -halt-on-error`` in it
with ``SOURCE_DATE_EPOCH`` fixed (pdfTeX then writes fixed dates and document id, so the same
inputs give the same PDF bytes), then refuses a PDF with undefined references or citations.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "LATEX_INSTALL_HINT",
    "LatexError",
    "build_pdf",
    "latex_available",
    "latex_problems",
    "prepare_build_dir",
]

LATEX_INSTALL_HINT = (
    "sudo apt-get install texlive-latex-base texlive-latex-recommended "
    "texlive-fonts-recommended latexmk"
)
# 2026-01-01T00:00:00Z: the date pdfTeX writes into the PDF unless SOURCE_DATE_EPOCH is set.
DEFAULT_SOURCE_DATE_EPOCH = "1767225600"
MARKER = ".prefcal-build"
_PROBLEM_PATTERNS = (
    re.compile(r"LaTeX Warning: Reference `[^']*' on page \d+ undefined"),
    re.compile(r"LaTeX Warning: Citation `[^']*' on page \d+ undefined"),
    re.compile(r"Package natbib Warning: Citation `[^']*' on page \d+ undefined"),
    re.compile(r"LaTeX Warning: Label `[^']*' multiply defined"),
    re.compile(r"LaTeX Warning: There were undefined references"),
)


class LatexError(RuntimeError):
    """latexmk failed, or the PDF has undefined references; the message points at the log."""


def latex_available() -> bool:
    """True when ``latexmk`` and ``pdflatex`` are on PATH."""
    return shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None


def _copy_named(paths: Iterable[str | Path], dest: Path, kind: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    seen: dict[str, Path] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{kind} file {path} does not exist")
        if path.name in seen:
            raise ValueError(
                f"two {kind} files share the name {path.name}: {seen[path.name]}, {path}"
            )
        seen[path.name] = path
        shutil.copyfile(path, dest / path.name)


def prepare_build_dir(
    build_dir: str | Path,
    *,
    main_tex: str | Path,
    bib: str | Path,
    macros: str | Path,
    tables: Sequence[str | Path] = (),
    figures: Sequence[str | Path] = (),
) -> Path:
    """Create ``build_dir`` afresh with the layout of the module docstring; return it.

    An existing ``build_dir`` is replaced only if an earlier call made it (it holds the marker
    file ``.prefcal-build``), so a wrong path never deletes someone's folder.
    """
    build_dir = Path(build_dir)
    if build_dir.exists():
        if any(build_dir.iterdir()) and not (build_dir / MARKER).exists():
            raise FileExistsError(
                f"{build_dir} exists and was not made by prefcal's paper build; "
                "remove it or choose another build directory"
            )
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    (build_dir / MARKER).write_text("made by prefcal.paper.build; safe to delete\n")
    for src, name in ((main_tex, "main.tex"), (bib, "references.bib"), (macros, "macros.tex")):
        if not Path(src).is_file():
            raise FileNotFoundError(f"paper input {src} does not exist")
        shutil.copyfile(src, build_dir / name)
    _copy_named(tables, build_dir / "tables", "table")
    _copy_named(figures, build_dir / "figures", "figure")
    return build_dir


def latex_problems(log_text: str) -> list[str]:
    """Lines of a LaTeX log that mean the PDF would show ``??`` or a wrong citation."""
    return [
        line for line in log_text.splitlines() if any(p.search(line) for p in _PROBLEM_PATTERNS)
    ]


def build_pdf(build_dir: str | Path, out_pdf: str | Path, *, main: str = "main.tex") -> Path:
    """Run latexmk on ``build_dir/main`` and copy the PDF to ``out_pdf``.

    Raises :class:`LatexError` when LaTeX is missing, latexmk fails, or the final log reports
    undefined references/citations (the message lists them and names the log file).
    """
    if not latex_available():
        raise LatexError(f"latexmk/pdflatex not found; install LaTeX: {LATEX_INSTALL_HINT}")
    build_dir = Path(build_dir)
    env = dict(os.environ)
    env.setdefault("SOURCE_DATE_EPOCH", DEFAULT_SOURCE_DATE_EPOCH)
    env["FORCE_SOURCE_DATE"] = "1"
    cmd = [
        "latexmk",
        "-pdf",
        "-bibtex",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        main,
    ]
    result = subprocess.run(cmd, cwd=build_dir, env=env, capture_output=True, text=True)
    stem = Path(main).stem
    log = build_dir / f"{stem}.log"
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise LatexError(f"latexmk failed (status {result.returncode}); see {log}\n{tail}")
    problems = latex_problems(log.read_text(encoding="latin-1")) if log.exists() else []
    if problems:
        raise LatexError(f"the PDF has undefined references (see {log}):\n" + "\n".join(problems))
    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(build_dir / f"{stem}.pdf", out_pdf)
    return out_pdf
