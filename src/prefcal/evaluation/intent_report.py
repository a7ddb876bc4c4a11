"""Figure and macros of podcast accuracy by true intent (:mod:`prefcal.evaluation.intent_bands`).

* :func:`intent_band_figure`: left, the lift over SC-90 in podcast replay accuracy band by band
  (paired bootstrap intervals); right, the expected podcasts in each policy's slate. The x labels
  carry each band's share of the held-out podcast streams in brackets.
* :func:`intent_band_macros`: ``Intent{Low,High}...`` for the lowest and the highest band with
  enough podcast streams: the band, its share of podcast streams, the podcast accuracy and the
  podcasts per slate of SC-90, CB and the oracle, and CB's and the oracle's lift over SC-90.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from prefcal.evaluation.report import lift_ci
from prefcal.paper.figures import FIGURE_WIDTH
from prefcal.paper.macros import Latex, format_float, format_int, format_percent

__all__ = ["INTENT_POLICIES", "intent_band_figure", "intent_band_macros"]

#: policies drawn, their colours and markers (SC-90 is the reference of the lifts)
INTENT_POLICIES = {
    "SC-90": ("0.3", "s"),
    "CB": ("C0", "o"),
    "CB-oracle": ("C3", "x"),
    "True-preference": ("C2", "^"),
}


def _present(bands: pd.DataFrame) -> list[str]:
    have = set(bands["policy"])
    return [p for p in INTENT_POLICIES if p in have]


def intent_band_figure(bands: pd.DataFrame) -> Figure:
    """Two panels of the module docstring from :func:`~prefcal.evaluation.intent_bands.
    intent_band_table`'s long table."""
    policies = _present(bands)
    ref = bands[bands["policy"] == policies[0]].sort_values("band")
    ticks = [
        f"{lab}\n[{100 * s:.0f} %]" if np.isfinite(s) else lab
        for lab, s in zip(ref["label"], ref["stream_share"], strict=True)
    ]
    x = np.arange(len(ref))
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.1))
    treated = [p for p in policies if p != "SC-90"]
    offsets = np.linspace(-0.15, 0.15, max(len(treated), 1))
    for off, p in zip(offsets, treated, strict=False):
        d = bands[bands["policy"] == p].sort_values("band")
        color, marker = INTENT_POLICIES[p]
        ax_l.errorbar(
            x + off,
            100 * d["lift"],
            yerr=[100 * (d["lift"] - d["lift_lower"]), 100 * (d["lift_upper"] - d["lift"])],
            fmt=marker + "-",
            ms=3,
            lw=1,
            capsize=2,
            color=color,
            label=p,
        )
    ax_l.axhline(0, color="0.4", lw=0.8)
    ax_l.set_ylabel("podcast accuracy,\nlift over SC-90 (%)")
    for p in policies:
        d = bands[bands["policy"] == p].sort_values("band")
        color, marker = INTENT_POLICIES[p]
        ax_r.plot(x, d["podcasts_per_slate"], marker + "-", ms=3, lw=1, color=color, label=p)
    ax_r.set_ylabel("podcasts per slate")
    ax_r.set_ylim(bottom=0)
    for ax in (ax_l, ax_r):
        ax.set_xticks(x)
        ax.set_xticklabels(ticks, fontsize=7)
        ax.set_xlabel("true P(podcast intent) of the request\n[share of the podcast streams]")
    handles, labels = ax_r.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=7)
    fig.tight_layout(rect=(0.0, 0.07, 1.0, 1.0))
    return fig


def _band_tex(lower: float, upper: float) -> Latex:
    return Latex(f"{100 * lower:.10g}--{100 * upper:.10g}\\%")


def _ci(row: pd.Series) -> Latex:
    if not all(np.isfinite(row[c]) for c in ("lift", "lift_lower", "lift_upper")):
        return Latex("--")
    return lift_ci(row["lift"], row["lift_lower"], row["lift_upper"])


def _num(value: float, fmt: Any) -> Latex:
    return fmt(value) if np.isfinite(value) else Latex("--")


#: a band enters the macros only with at least this many held-out podcast streams
MIN_BAND_STREAMS = 20
_POLICIES = (("SC-90", "SCNinety"), ("CB", "CB"), ("CB-oracle", "Oracle"))


def intent_band_macros(bands: pd.DataFrame, min_streams: int = MIN_BAND_STREAMS) -> dict[str, Any]:
    """Macros of the module docstring for the lowest (``Low``) and the highest (``High``) band
    with at least ``min_streams`` held-out podcast streams and a non-zero SC-90 accuracy (the
    reference of the lifts): ``Intent{Low,High}Band``, ``...StreamShare``, ``...Acc{Policy}``,
    ``...Podcasts{Policy}`` (SC-90, CB, oracle) and ``...{CB,Oracle}LiftCI``. Every macro is
    defined; without such a band (a tiny study) each reads ``--``."""
    sc = bands[bands["policy"] == "SC-90"]
    ok = sc[(sc["podcast_streams"] >= min_streams) & (sc["accuracy"] > 0)]
    m: dict[str, Any] = {"IntentMinStreams": format_int(min_streams)}
    picks = (
        (("Low", None), ("High", None))
        if ok.empty
        else (("Low", int(ok["band"].min())), ("High", int(ok["band"].max())))
    )
    for tag, band in picks:
        rows = (
            pd.DataFrame(columns=bands.columns).set_index("policy")
            if band is None
            else bands[bands["band"] == band].set_index("policy")
        )
        if band is None:
            m[f"Intent{tag}Band"] = Latex("--")
            m[f"Intent{tag}StreamShare"] = Latex("--")
        else:
            ref = rows.loc["SC-90"]
            m[f"Intent{tag}Band"] = _band_tex(ref["lower_edge"], ref["upper_edge"])
            m[f"Intent{tag}StreamShare"] = format_percent(ref["stream_share"], 0)
        for policy, name in _POLICIES:
            have = policy in rows.index
            acc = float(rows.loc[policy, "accuracy"]) if have else float("nan")
            slots = float(rows.loc[policy, "podcasts_per_slate"]) if have else float("nan")
            m[f"Intent{tag}Acc{name}"] = _num(acc, lambda v: format_percent(v, 1))
            m[f"Intent{tag}Podcasts{name}"] = _num(slots, lambda v: format_float(v, 2))
            if policy != "SC-90":
                m[f"Intent{tag}{name}LiftCI"] = _ci(rows.loc[policy]) if have else Latex("--")
    return m
