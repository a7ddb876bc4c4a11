r"""Tables, figures and macros of stage 04 (what ``notebooks/04_offline_evaluation.ipynb`` writes).

Outputs under ``out_dir`` (``results`` in the workflow; :func:`output_paths`):

* ``tables/table1_offline_accuracy.{csv,tex}``: Table 1 analogue, lifts of CB over each
  baseline in podcast / overall / type-level replay accuracy with paired bootstrap CIs, beside
  the paper's lifts;
* ``tables/replay_accuracy.csv``: every policy's three accuracies and lifts over SC-90;
* ``tables/table2_ab_test.{csv,tex}``: Table 2 analogue, simulated A/B lifts over SC-90 (realised
  with CIs, and true), with DR's relative error for the policy's stream rate;
* ``tables/ope_estimates.{csv,tex}``: every estimator's stream-rate estimate and relative error
  per policy;
* ``tables/obd_check.{csv,tex}``: the real-data check on the Open Bandit Dataset
  (:func:`prefcal.obd.obd_check`);
* ``figures/cb_sensitivity.{png,pdf}``: "when does CB win?" (lift vs context strength,
  epsilon, lambda, arm grid, K);
* ``figures/ope_error.{png,pdf}``: relative error of every estimator for every policy;
* ``tables/cb_oracle_ceiling.csv``: the oracle check (:mod:`prefcal.evaluation.oracle`);
* ``tables/podcast_accuracy_by_intent.csv``, ``figures/podcast_by_intent.{png,pdf}``: podcast
  accuracy and podcasts per slate by the request's true podcast intent
  (:mod:`prefcal.evaluation.intent_bands`, :mod:`prefcal.evaluation.intent_report`);
* ``paper/macros/04_evaluation.tex``: the numbers the paper quotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from prefcal.evaluation.ab_test import PAPER_TABLE2
from prefcal.evaluation.policyset import EvalSettings
from prefcal.evaluation.shards import StageResult
from prefcal.home.settings import HomeSettings
from prefcal.paper.figures import FIGURE_WIDTH
from prefcal.paper.macros import Latex, format_float, format_int, format_percent

__all__ = [
    "METRIC_LABELS",
    "ab_frames",
    "lift_ci",
    "as_records",
    "ope_frames",
    "ope_error_figure",
    "output_paths",
    "sensitivity_figure",
    "sensitivity_summary",
    "stage_macros",
    "table1_frames",
]

METRIC_LABELS = {
    "podcast": "podcast accuracy",
    "overall": "overall accuracy",
    "type_level": "type-level accuracy",
    "podcast_i2s": "podcast i2s",
    "overall_i2s": "overall i2s",
    "consumption": "consumption",
    "home_activity": "Home activity",
}
PARAMETER_LABELS = {
    "context_strength": "context\nstrength",
    "epsilon": "logging\n$\\varepsilon$",
    "lam": "calibration\n$\\lambda$",
    "arm_step": "arm grid\nstep",
    "slate_size": "slate\nsize $K$",
    "examination_decay": "examination\ndecay",
}


def output_paths(out_dir: str | Path) -> dict[str, Path]:
    """Every file stage 04 writes under ``out_dir`` (module docstring)."""
    out = Path(out_dir)
    t, f = out / "tables", out / "figures"
    return {
        "table1": t / "table1_offline_accuracy.csv",
        "table1_tex": t / "table1_offline_accuracy.tex",
        "accuracy": t / "replay_accuracy.csv",
        "table2": t / "table2_ab_test.csv",
        "table2_tex": t / "table2_ab_test.tex",
        "ope": t / "ope_estimates.csv",
        "ope_tex": t / "ope_estimates.tex",
        "obd": t / "obd_check.csv",
        "obd_tex": t / "obd_check.tex",
        "ceiling": t / "cb_oracle_ceiling.csv",
        "intent_bands": t / "podcast_accuracy_by_intent.csv",
        "fig_intent": f / "podcast_by_intent.png",
        "fig_intent_pdf": f / "podcast_by_intent.pdf",
        "fig_sensitivity": f / "cb_sensitivity.png",
        "fig_sensitivity_pdf": f / "cb_sensitivity.pdf",
        "fig_ope": f / "ope_error.png",
        "fig_ope_pdf": f / "ope_error.pdf",
        "macros": out / "paper" / "macros" / "04_evaluation.tex",
    }


def lift_ci(est: float, lo: float, hi: float, digits: int = 1) -> Latex:
    """``+12.3 % [+8.1, +16.0]`` as LaTeX (shares of 1 in, percent out)."""
    return Latex(
        f"{format_percent(est, digits, sign=True)} "
        f"[{format_float(100 * lo, digits, sign=True)}, "
        f"{format_float(100 * hi, digits, sign=True)}]"
    )


def table1_frames(table1: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1 analogue: (CSV frame, LaTeX display frame), one row per baseline."""
    rows, tex = [], []
    for base, grp in table1.groupby("baseline", sort=False):
        g = grp.set_index("metric")
        rec: dict[str, Any] = {"baseline": base}
        disp: dict[str, Any] = {"CB vs": base}
        for m in ("podcast", "overall", "type_level"):
            rec[f"{m}_acc_cb"] = g.loc[m, "value_cb"]
            rec[f"{m}_acc_base"] = g.loc[m, "value_base"]
            rec[f"{m}_lift"] = g.loc[m, "lift"]
            rec[f"{m}_lower"] = g.loc[m, "lower"]
            rec[f"{m}_upper"] = g.loc[m, "upper"]
            disp[METRIC_LABELS[m]] = lift_ci(g.loc[m, "lift"], g.loc[m, "lower"], g.loc[m, "upper"])
        for m in ("podcast", "overall"):
            rec[f"paper_{m}_lift"] = g.loc[m, "paper"]
            paper = g.loc[m, "paper"]
            disp[f"paper {m}"] = (
                format_percent(paper, 1, sign=True) if np.isfinite(paper) else Latex("--")
            )
        rows.append(rec)
        tex.append(disp)
    return pd.DataFrame(rows), pd.DataFrame(tex)


def ab_frames(ab: pd.DataFrame, ope: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2 analogue: (CSV frame, LaTeX frame), one row per policy (SC-90 is the control),
    plus a last row with the paper's online lifts of CB."""
    dr = ope[ope["estimator"] == "DR"].set_index("policy")["rel_error"]
    rows, tex = [], []
    for policy, grp in ab.groupby("policy", sort=False):
        g = grp.set_index("metric")
        rec: dict[str, Any] = {"policy": policy}
        disp: dict[str, Any] = {"policy": policy}
        for m in PAPER_TABLE2:
            for col in ("value", "lift", "lower", "upper", "true_value", "true_lift"):
                rec[f"{m}_{col}"] = g.loc[m, col]
            disp[METRIC_LABELS[m]] = (
                Latex("control")
                if policy == "SC-90"
                else lift_ci(g.loc[m, "lift"], g.loc[m, "lower"], g.loc[m, "upper"])
            )
        rec["dr_rel_error"] = dr.get(policy, np.nan)
        disp["DR error"] = format_percent(rec["dr_rel_error"], 1, sign=True)
        rows.append(rec)
        tex.append(disp)
    paper = {"policy": "paper (CB, online)"}
    paper.update(
        {METRIC_LABELS[m]: format_percent(v, 2, sign=True) for m, v in PAPER_TABLE2.items()}
    )
    paper["DR error"] = Latex("--")
    tex.append(paper)
    rows.append(
        {"policy": "paper (CB, online)", **{f"{m}_lift": v for m, v in PAPER_TABLE2.items()}}
    )
    return pd.DataFrame(rows), pd.DataFrame(tex)


def ope_frames(ope: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """OPE table, one row per policy: (CSV with every estimator's estimate, CI and relative
    error, LaTeX with the true stream rate and the relative errors)."""
    order = list(dict.fromkeys(ope["policy"]))
    cols = list(dict.fromkeys(ope["estimator"]))
    first = ope.drop_duplicates("policy").set_index("policy").loc[order]
    wide = pd.DataFrame({"policy": order, "true": first["true"].to_numpy()})
    by = ope.set_index(["policy", "estimator"])
    for c in cols:
        for field in ("estimate", "lower", "upper", "rel_error"):
            wide[f"{c}_{field}"] = [by.loc[(p, c), field] for p in order]
    for field in ("ess_share", "max_weight", "unsupported"):
        wide[field] = first[field].to_numpy()
    tex = pd.DataFrame({"policy": order, "true i2s": [format_float(v, 4) for v in wide["true"]]})
    for c in cols:
        tex[c] = [format_percent(v, 1, sign=True) for v in wide[f"{c}_rel_error"]]
    return wide, tex


def sensitivity_figure(
    sens: pd.DataFrame, metrics: tuple[str, ...] = ("podcast", "overall")
) -> Figure:
    """One panel per parameter: CB's replay lift over SC-90 (point, CI) against its value.

    When the table has ``oracle_lift`` (:mod:`prefcal.evaluation.sensitivity`), the oracle CB's
    lift (exact reward model) is drawn as a dashed line of the same colour.
    """
    params = list(dict.fromkeys(sens["parameter"]))
    fig, axes = plt.subplots(
        1, len(params), figsize=(FIGURE_WIDTH, 3.0), sharey=True, squeeze=False
    )
    colors = {"podcast": "C0", "overall": "C1", "type_level": "C2"}
    offsets = np.linspace(-0.12, 0.12, len(metrics))
    for ax, param in zip(axes[0], params, strict=True):
        sub = sens[sens["parameter"] == param]
        values = np.sort(sub["value"].unique())
        pos = {v: i for i, v in enumerate(values)}
        for off, m in zip(offsets, metrics, strict=True):
            d = sub[sub["metric"] == m].sort_values("value")
            x = np.array([pos[v] for v in d["value"]]) + off
            ax.errorbar(
                x,
                100 * d["lift"],
                yerr=[100 * (d["lift"] - d["lower"]), 100 * (d["upper"] - d["lift"])],
                fmt="o-",
                ms=3,
                lw=1,
                capsize=2,
                color=colors[m],
                label=METRIC_LABELS[m],
            )
            if "oracle_lift" in d:  # the ceiling: CB with an exact reward model
                ax.plot(
                    x,
                    100 * d["oracle_lift"],
                    "x--",
                    ms=3,
                    lw=0.8,
                    color=colors[m],
                    label=f"{METRIC_LABELS[m]}, oracle CB",
                )
        default = sub.loc[sub["is_config_value"], "value"].unique()
        for v in default:
            ax.axvspan(pos[v] - 0.3, pos[v] + 0.3, color="0.92", zorder=0)
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels([f"{v:g}" for v in values])
        ax.set_xlabel(PARAMETER_LABELS.get(param, param))
    axes[0][0].set_ylabel("CB vs SC-90 lift (%)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, fontsize=7)
    fig.tight_layout(rect=(0.0, 0.14, 1.0, 1.0))
    return fig


def ope_error_figure(ope: pd.DataFrame) -> Figure:
    """Relative error of every estimator (x) for every policy (lines), with the 5 % band."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 2.6))
    est = list(dict.fromkeys(ope["estimator"]))
    markers, styles = "osD^vP*Xh<>", ("-", "--", ":", "-.")
    for i, (policy, grp) in enumerate(ope.groupby("policy", sort=False)):
        g = grp.set_index("estimator").loc[est]
        ax.plot(  # colour, marker and line style together tell up to 11 x 4 policies apart
            range(len(est)),
            100 * g["rel_error"],
            marker=markers[i % len(markers)],
            ls=styles[(i // 10) % len(styles)],
            ms=3.5,
            lw=0.8,
            color=f"C{i % 10}",
            label=policy,
        )
    ax.axhspan(-5, 5, color="0.92", zorder=0)
    ax.axhline(0, color="0.4", lw=0.8)
    ax.set_xticks(range(len(est)))
    ax.set_xticklabels(est)
    ax.set_ylabel("estimate / true - 1 (%)")
    ax.legend(ncol=2, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


_NAME = {
    "SC-7": "SCSeven",
    "SC-90": "SCNinety",
    "MB": "MB",
    "MB-90": "MBNinety",
    "Popularity": "Popularity",
    "CB": "CB",
    "CB-UCB": "CBUCB",
    "CB-TS": "CBTS",
    "CB-MO": "CBMO",
    "Single-feature": "SingleFeature",
    "Logging": "Logging",
}
_METRIC = {
    "podcast": "Podcast",
    "overall": "Overall",
    "type_level": "TypeLevel",
    "podcast_i2s": "PodcastIts",
    "overall_i2s": "OverallIts",
    "consumption": "Consumption",
    "home_activity": "HomeActivity",
}
_PARAM = {
    "context_strength": "ContextStrength",
    "epsilon": "Epsilon",
    "lam": "Lambda",
    "arm_step": "ArmStep",
    "slate_size": "SlateSize",
    "examination_decay": "ExaminationDecay",
}


def stage_macros(
    result: StageResult,
    sensitivity: pd.DataFrame | None,
    hs: HomeSettings,
    es: EvalSettings,
    obd: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The macros of stage 04 (names: letters only)."""
    m: dict[str, Any] = {}
    c = result.counts
    m["HomeUsers"] = format_int(c["users"])
    m["HomeLogRequests"] = format_int(c["log_requests"])
    m["HomeTrainRequests"] = format_int(c["train_requests"])
    m["EvalFitUsers"] = format_int(c.get("fit_users", c["users"]))
    m["EvalFitMaxUsers"] = format_int(es.fit_max_users)
    m["HomeTestRequests"] = format_int(c["test_requests"])
    m["HomeTestStreams"] = format_int(c["test_streams"])
    m["HomeABRequests"] = format_int(c["ab_requests"])
    m["HomeArms"] = format_int(c["arms"])
    m["HomeSlateSize"] = format_int(hs.slate_size)
    m["HomeLogDays"] = format_int(hs.log_days)
    m["HomeTestDays"] = format_int(hs.test_days)
    m["HomeLoggingEpsilon"] = Latex(format_float(hs.logging_epsilon, 2))
    m["HomeLambda"] = Latex(format_float(hs.lam, 2))
    m["HomeArmStep"] = Latex(format_float(hs.arm_step, 2))
    m["CBEpsilon"] = Latex(format_float(es.cb_epsilon, 2))
    m["EvalBootstrap"] = format_int(es.n_bootstrap)
    m["EvalCILevel"] = format_percent(es.ci_level, 0)
    for rec in result.table1.to_dict("records"):
        key = f"CBvs{_NAME[rec['baseline']]}{_METRIC[rec['metric']]}"
        m[f"{key}Lift"] = format_percent(rec["lift"], 1, sign=True)
        m[f"{key}CI"] = lift_ci(rec["lift"], rec["lower"], rec["upper"])
    acc = result.accuracy
    for rec in acc.to_dict("records"):
        m[f"Acc{_NAME[rec['policy']]}{_METRIC[rec['metric']]}"] = format_percent(rec["value"], 1)
    for rec in result.ab.to_dict("records"):
        if rec["policy"] == "SC-90":
            continue
        key = f"AB{_NAME[rec['policy']]}{_METRIC[rec['metric']]}"
        m[f"{key}Lift"] = format_percent(rec["lift"], 1, sign=True)
        m[f"{key}CI"] = lift_ci(rec["lift"], rec["lower"], rec["upper"])
        m[f"{key}TrueLift"] = format_percent(rec["true_lift"], 1, sign=True)
    ope = result.ope
    dr = ope[ope["estimator"] == "DR"]
    worst = dr.loc[dr["abs_rel_error"].idxmax()]
    m["OPEDRMaxError"] = format_percent(float(worst["abs_rel_error"]), 1)
    m["OPEDRMaxErrorPolicy"] = str(worst["policy"])
    m["OPEMaxErrorBar"] = format_percent(es.ope_max_error, 0)
    m["OPEDRBarMet"] = "met" if bool((dr["abs_rel_error"] < es.ope_max_error).all()) else "not met"
    for name, grp in ope.groupby("estimator", sort=False):
        tag = "".join(ch for ch in str(name) if ch.isalpha())
        m[f"OPE{tag}MeanError"] = format_percent(float(grp["abs_rel_error"].mean()), 1)
    if sensitivity is not None and len(sensitivity):
        for rec in sensitivity.to_dict("records"):
            if rec["metric"] not in ("podcast", "overall"):
                continue
            val = _spell(rec["value"])
            key = f"Sens{_PARAM[rec['parameter']]}{val}{_METRIC[rec['metric']]}"
            m[f"{key}Lift"] = format_percent(rec["lift"], 1, sign=True)
            m[f"{key}CI"] = lift_ci(rec["lift"], rec["lower"], rec["upper"])
    if obd is not None and len(obd):
        for rec in obd.to_dict("records"):
            tag = "".join(part.capitalize() for part in str(rec["estimator"]).split("_"))
            m[f"OBD{tag}Error"] = format_percent(float(rec["relative_error"]), 1)
        m["OBDTruth"] = Latex(format_float(float(obd["truth"].iloc[0]), 4))
    return m


#: policies of :func:`prefcal.evaluation.oracle.ceiling_table` -> macro name part
_CEILING = {
    "CB": "CB",
    "SC-90": "SCNinety",
    "CB-oracle": "OracleCB",
    "CB-oracle-greedy": "OracleCBGreedy",
    "True-preference": "TruePreference",
}


def ceiling_macros(ceiling: pd.DataFrame) -> dict[str, Any]:
    """Macros of the oracle check (:func:`prefcal.evaluation.oracle.ceiling_table`):
    ``Ceiling{Policy}{Metric}Lift`` / ``...CI`` (replay lift over SC-90) and
    ``Ceiling{Policy}TrueReward`` (mean true P(at least one stream) per held-out request)."""
    m: dict[str, Any] = {}
    for rec in ceiling.to_dict("records"):
        name = _CEILING.get(str(rec["policy"]))
        if name is None:
            raise ValueError(f"unknown policy {rec['policy']!r} in the ceiling table")
        m[f"Ceiling{name}TrueReward"] = format_percent(float(rec["true_any_stream"]), 2)
        if rec["policy"] == "SC-90" or rec["metric"] not in _METRIC:
            continue
        key = f"Ceiling{name}{_METRIC[rec['metric']]}"
        m[f"{key}Lift"] = format_percent(rec["lift"], 1, sign=True)
        m[f"{key}CI"] = lift_ci(rec["lift"], rec["lower"], rec["upper"])
    return m


_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")


def _spell(value: float) -> str:
    """A grid value as letters for a macro name: 0.25 -> ZeroPointTwoFive, 10 -> OneZero."""
    text = f"{value:g}"
    return "".join("Point" if ch == "." else _DIGITS[int(ch)] for ch in text)


def sensitivity_summary(sens: pd.DataFrame) -> pd.DataFrame:
    """Wide view of the sensitivity runs: one row per (parameter, value), lifts per metric."""
    wide = sens.pivot_table(index=["parameter", "value"], columns="metric", values="lift")
    return wide.reset_index()


def as_records(mapping: Mapping[str, Any]) -> pd.DataFrame:
    """A macro dict as a two-column frame (for display in the notebook)."""
    return pd.DataFrame({"macro": list(mapping), "value": [str(v) for v in mapping.values()]})
