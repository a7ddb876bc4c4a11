"""Paper figures (prefcal.paper.figures): the same figure gives the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from prefcal.overview import COHORTS, plot_podcast_share_by_hour  # noqa: E402
from prefcal.paper.figures import save_figure, use_paper_style  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"

SCRIPT = """
import sys
import matplotlib
matplotlib.use("Agg")
import numpy as np, pandas as pd
from prefcal.overview import COHORTS, plot_podcast_share_by_hour
from prefcal.paper.figures import save_figure, use_paper_style
rng = np.random.default_rng(4)
share = rng.uniform(0.1, 0.6, 72)
curves = pd.DataFrame({"cohort": np.repeat(COHORTS, 24), "hour": np.tile(np.arange(24), 3),
                       "share": share, "low": share - 0.05, "high": share + 0.05})
use_paper_style()
save_figure(plot_podcast_share_by_hour(curves), sys.argv[1])
"""


def curves() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    share = rng.uniform(0.1, 0.6, 72)
    return pd.DataFrame(
        {
            "cohort": np.repeat(COHORTS, 24),
            "hour": np.tile(np.arange(24), 3),
            "share": share,
            "low": share - 0.05,
            "high": share + 0.05,
        }
    )


def test_two_saves_give_identical_bytes(tmp_path):
    use_paper_style()
    fig = plot_podcast_share_by_hour(curves())
    first = save_figure(fig, tmp_path / "a" / "fig.png")
    second = save_figure(fig, tmp_path / "b" / "fig", close=True)
    assert [p.name for p in first] == ["fig.pdf", "fig.png"]
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes()
    pdf, png = first[0].read_bytes(), first[1].read_bytes()
    assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf and b"Matplotlib" not in pdf
    assert png.startswith(b"\x89PNG") and b"Software" not in png and b"matplotlib" not in png
    assert b"/FontFile2" in pdf  # TrueType fonts embedded (pdf.fonttype 42)


def test_same_bytes_in_a_fresh_process(tmp_path):
    use_paper_style()
    here = save_figure(plot_podcast_share_by_hour(curves()), tmp_path / "here", close=True)
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONHASHSEED="123", MPLBACKEND="Agg")
    subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "there")], env=env, check=True, timeout=120
    )
    for path in here:
        assert path.read_bytes() == path.with_name(f"there{path.suffix}").read_bytes()


def test_unknown_format_is_refused(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="unsupported figure format 'svg'"):
        save_figure(fig, tmp_path / "x", formats=("svg",), close=True)
