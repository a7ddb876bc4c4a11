"""Figures of the paper: one plot style for every stage, and byte-reproducible PDF + PNG files.

Call :func:`use_paper_style` once at the top of a notebook (it is idempotent); save with
:func:`save_figure`, which strips the metadata that would change between runs (creation date,
matplotlib version) so the same data give the same bytes. The PDF embeds its fonts as TrueType
(``pdf.fonttype = 42``) so journals accept it and text stays selectable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.figure import Figure

__all__ = ["FIGURE_WIDTH", "PAPER_STYLE", "save_figure", "use_paper_style"]

FIGURE_WIDTH = 6.3  # inches: the text width of paper/main.tex (article, 1 in margins, letter/A4)

PAPER_STYLE: dict[str, Any] = {
    "context": "paper",
    "style": "whitegrid",
    "palette": "colorblind",
    "font": "DejaVu Sans",
    "rc": {
        "figure.dpi": 100,
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.hashsalt": "prefcal",
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
    },
}

# Keys whose values change from run to run (dates) or machine to machine (versions).
PDF_METADATA: dict[str, Any] = {"Creator": None, "Producer": None, "CreationDate": None}
PNG_METADATA: dict[str, Any] = {"Software": None}


def use_paper_style() -> None:
    """Set the seaborn theme and matplotlib settings shared by every figure of the study."""
    sns.set_theme(
        context=PAPER_STYLE["context"],
        style=PAPER_STYLE["style"],
        palette=PAPER_STYLE["palette"],
        font=PAPER_STYLE["font"],
        rc=PAPER_STYLE["rc"],
    )


def save_figure(
    fig: Figure,
    path: str | Path,
    *,
    formats: Sequence[str] = ("pdf", "png"),
    close: bool = False,
) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats``; return the written paths.

    ``path`` may carry one of the suffixes (it is replaced). Creation dates and software versions
    are left out of the files, so two calls with the same figure write identical bytes.
    """
    path = Path(path)
    if path.suffix.lower().lstrip(".") in formats:
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        if fmt == "pdf":
            metadata = PDF_METADATA
        elif fmt == "png":
            metadata = PNG_METADATA
        else:
            raise ValueError(f"unsupported figure format {fmt!r}: use 'pdf' or 'png'")
        out = path.with_name(f"{path.name}.{fmt}")
        fig.savefig(out, format=fmt, metadata=dict(metadata))
        written.append(out)
    if close:
        plt.close(fig)
    return written
