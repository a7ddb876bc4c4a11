"""Paper tables (prefcal.paper.tables): exact CSV and LaTeX text, deterministic bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.paper.macros import Latex, format_percent
from prefcal.paper.tables import latex_cell, latex_tabular, write_table, write_tex


def test_cells():
    assert latex_cell(1234) == "1,234"
    assert latex_cell(0.12345) == "0.123"
    assert latex_cell("a_b & c") == r"a\_b \& c"
    assert latex_cell(Latex(r"$\geq$")) == r"$\geq$"
    assert latex_cell(None) == "--"
    assert latex_cell(np.nan) == "--"
    assert latex_cell(pd.NA) == "--"
    assert latex_cell(True) == "yes"
    assert latex_cell(0.5, lambda x: format_percent(x, 0)) == r"50\%"


def test_tabular_with_groups_exact_text():
    df = pd.DataFrame(
        {
            "section": ["People", "People", "Types"],
            "Quantity": ["Participants", "Streams", "podcast_x"],
            "Value": [40, 12345, 7],
            "Share": [np.nan, 0.5, 0.25],
        }
    )
    tex = latex_tabular(df, group="section", formatters={"Share": format_percent})
    assert tex == (
        "\\begin{tabular}{lrr}\n"
        "\\toprule\n"
        "Quantity & Value & Share \\\\\n"
        "\\midrule\n"
        "\\multicolumn{3}{@{}l}{\\textit{People}} \\\\\n"
        "Participants & 40 & -- \\\\\n"
        "Streams & 12,345 & 50.0\\% \\\\\n"
        "\\midrule\n"
        "\\multicolumn{3}{@{}l}{\\textit{Types}} \\\\\n"
        "podcast\\_x & 7 & 25.0\\% \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_tabular_errors():
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(KeyError, match="group column 'g'"):
        latex_tabular(df, group="g")
    with pytest.raises(ValueError, match="header has 2 names for 1 columns"):
        latex_tabular(df, header=["x", "y"])
    with pytest.raises(KeyError, match="unknown columns"):
        latex_tabular(df, formatters={"b": str})


def test_write_table_is_deterministic(tmp_path):
    df = pd.DataFrame(
        {
            "quantity": ["a", "b"],
            "value": pd.array([1, None], dtype="Int64"),
            "share": [1 / 3, np.nan],
        }
    )
    csv1, tex1 = write_table(df, tmp_path / "t.csv", tmp_path / "t.tex", header=["Q", "V", "S"])
    assert csv1.read_text() == "quantity,value,share\na,1,0.333333\nb,,\n"
    before = (csv1.read_bytes(), tex1.read_bytes())
    write_table(df, tmp_path / "t.csv", tmp_path / "t.tex", header=["Q", "V", "S"])
    assert (csv1.read_bytes(), tex1.read_bytes()) == before
    assert "a & 1 & 0.333 \\\\" in tex1.read_text()
    with pytest.raises(ValueError, match="latex_df has 1 rows"):
        write_table(df, tmp_path / "x.csv", tmp_path / "x.tex", latex_df=df.iloc[:1])
    # a selection of the rows goes through write_tex, with the same typesetting
    tex2 = write_tex(df, tmp_path / "sub" / "t.tex", header=["Q", "V", "S"])
    assert tex2.read_bytes() == before[1]
    one = write_tex(df.iloc[:1], tmp_path / "one.tex", header=["Q", "V", "S"]).read_text()
    assert "a & 1 & 0.333 \\\\" in one and "b &" not in one


def test_display_frames_are_not_escaped_twice(tmp_path):
    df = pd.DataFrame({"q": ["Plays >= 30 s"], "s": [0.5]})
    shown = pd.DataFrame({"q": [r"Plays $\geq$ 30 s"], "s": [r"50.0\%"]})  # plain str cells
    _, tex = write_table(df, tmp_path / "t.csv", tmp_path / "t.tex", latex_df=shown)
    assert r"Plays $\geq$ 30 s & 50.0\% \\" in tex.read_text()
    assert r"Plays \$" in latex_tabular(shown)  # the default escapes plain strings
