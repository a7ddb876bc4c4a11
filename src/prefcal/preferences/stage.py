"""Stage 03 of the workflow: listening preferences at the end of the data, and their validation.

The notebook ``notebooks/03_preferences.ipynb`` narrates these steps; this module holds the logic.
Everything is evaluated at one time ``t_eval`` (:func:`evaluation_time`: the UTC midnight after
the last stream), using only streams before it. Files written for later stages (the contract):

``results/preferences/user_windows.parquet`` (one row per participant)
    ``participant_id``, ``t`` (= t_eval) and the columns of
    :func:`prefcal.preferences.window_features` (``n_{W}d``, ``weight_{W}d``, ``{type}_{W}d``,
    ``weight_hl{h}d``, ``{type}_hl{h}d``) and of :func:`prefcal.preferences.taste_window_features`
    with prefix ``c`` (``n_known_{W}d``, ``taste_weight_{W}d``, ``c{j}_{W}d``,
    ``taste_weight_hl{h}d``, ``c{j}_hl{h}d``; j = taste cluster of stage 02).
``results/preferences/descriptors.parquet`` (one row per participant)
    :func:`prefcal.preferences.user_descriptors` over all streams before t_eval: ``n_streams``,
    ``entropy_content``, ``entropy_taste``, ``n_taste_known``, ``gs_score`` (item vectors = the
    item taste types), ``repeat_share``, ``habit_score``, ``n_podcast_mornings``, ``habit_show``
    (the show's name: internal, never shown), ``user_initiated_share``.
``results/preferences/context_profiles.parquet`` (one row per participant x observed cell x type)
    :meth:`prefcal.preferences.ContextProfiles.to_frame` of the profiles estimated from the
    streams of the last ``max(preferences.windows)`` days before t_eval.
``results/preferences/user_profiles.parquet`` (one row per participant x type)
    :meth:`~prefcal.preferences.ContextProfiles.users_frame` of the same profiles.

Validation (simulated data): :func:`profile_error_table` compares every estimator of a user's
content-type profile per context cell with the true one (:mod:`prefcal.preferences.truth`), as
mean Jensen-Shannon distance, and each estimator with the static estimator of the longest window
by a paired bootstrap over users (:func:`prefcal.preferences.paired_bootstrap_profile_error`).
The estimators (``window`` ``W`` = the streams of ``[t_eval - W days, t_eval)``):

* ``population``: the pooled mix of all users' streams in the longest window, for everybody;
* ``static``: the user's own mix in the window (or decayed with half-life h), the same in every
  context; a user without streams there gets the population mix of that window;
* ``context, raw``: the user's mix in the cell, ``n_uc / N_uc`` (``p_u`` where ``N_uc = 0``);
* ``context, shrunk``: the empirical-Bayes profile of :func:`prefcal.preferences.context_profiles`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prefcal.paper.macros import Latex, format_float, format_int, format_percent, latex_escape
from prefcal.preferences.context import ContextProfiles, context_profiles
from prefcal.preferences.descriptors import entropy_bits, user_descriptors
from prefcal.preferences.params import PreferenceParams
from prefcal.preferences.profile_error import CELL_KEYS, paired_bootstrap_profile_error
from prefcal.preferences.streams import MS_PER_DAY
from prefcal.preferences.windows import taste_window_features, window_features

__all__ = [
    "ERROR_COLUMNS",
    "STREAM_COLUMNS",
    "block_profiles",
    "descriptors_table",
    "ensure_context0_data",
    "estimate_profiles",
    "evaluation_time",
    "example_users",
    "habitual_user",
    "output_paths",
    "profile_error_latex_frame",
    "profile_error_table",
    "stage_macros",
    "taste_entropy_order",
    "user_windows",
    "window_streams",
]

STREAM_COLUMNS = (
    "participant_id",
    "ts_start",
    "ts_end",
    "ms_played",
    "content_type",
    "item_uri",
    "creator_name",
    "device",
    "reason_start",
    "skipped",
)
ERROR_COLUMNS = (
    "population",
    "estimator",
    "window",
    "uses_context",
    "error",
    "diff_vs_static",
    "ci_low",
    "ci_high",
    "n_users",
    "n_cells",
)


def output_paths(out_dir: str | Path) -> dict[str, Path]:
    """Where stage 03 writes under ``out_dir`` (``results`` in the workflow)."""
    out = Path(out_dir)
    return {
        "user_windows": out / "preferences" / "user_windows.parquet",
        "descriptors": out / "preferences" / "descriptors.parquet",
        "context_profiles": out / "preferences" / "context_profiles.parquet",
        "user_profiles": out / "preferences" / "user_profiles.parquet",
        "error": out / "tables" / "profile_error.csv",
        "error_tex": out / "tables" / "profile_error.tex",
        "fig_heatmap": out / "figures" / "preference_heatmap.png",
        "fig_heatmap_pdf": out / "figures" / "preference_heatmap.pdf",
        "fig_hourly": out / "figures" / "hourly_profiles.png",
        "fig_hourly_pdf": out / "figures" / "hourly_profiles.pdf",
        "fig_habit": out / "figures" / "habit_pattern.png",
        "fig_habit_pdf": out / "figures" / "habit_pattern.pdf",
        "fig_error": out / "figures" / "profile_error.png",
        "fig_error_pdf": out / "figures" / "profile_error.pdf",
        "macros": out / "paper" / "macros" / "03_preferences.tex",
    }


def evaluation_time(streams: pd.DataFrame, time_column: str = "ts_end") -> pd.Timestamp:
    """``t_eval``: the UTC midnight after the last stream's ``time_column``."""
    if streams.empty:
        raise ValueError("streams table is empty: no evaluation time")
    last = pd.Timestamp(streams[time_column].max())
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    return last.floor("D") + pd.Timedelta(days=1)


def window_streams(
    streams: pd.DataFrame, t: pd.Timestamp, days: float | None, time_column: str = "ts_end"
) -> pd.DataFrame:
    """The streams with ``t - days <= time_column < t`` (all before ``t`` when days is None)."""
    ts = streams[time_column]
    keep = ts < t
    if days is not None:
        keep &= ts >= t - pd.Timedelta(milliseconds=int(round(days * MS_PER_DAY)))
    return streams.loc[keep.to_numpy()]


def user_windows(
    streams: pd.DataFrame,
    t: pd.Timestamp,
    params: PreferenceParams,
    taste: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Window and decay features of every participant at ``t`` (``user_windows.parquet``)."""
    users = pd.Index(pd.unique(streams["participant_id"]), name="participant_id").sort_values()
    req = pd.DataFrame({"participant_id": np.asarray(users, dtype=object), "t": t})
    out = [req, window_features(streams, req, **params.window_kwargs())]
    if taste is not None:
        tw = taste_window_features(streams, req, taste[0], taste[1], **params.window_kwargs())
        out.append(tw.rename(columns=lambda c: f"taste_{c}" if c.startswith("weight_") else c))
    return pd.concat(out, axis=1)


def _label(days: float) -> str:
    return f"{days:g}d"


def estimate_profiles(
    streams: pd.DataFrame, t: pd.Timestamp, params: PreferenceParams
) -> tuple[dict[str, pd.DataFrame], dict[str, ContextProfiles]]:
    """Static estimates ``{window label: users x types shares}`` (population fallback, plus the
    ``population`` entry) and context profiles ``{window label: ContextProfiles}`` at ``t``."""
    types = list(params.types)
    feats = user_windows(streams, t, params).set_index("participant_id")
    static: dict[str, pd.DataFrame] = {}
    labels = [(_label(w), f"{w:g}d") for w in params.windows]
    labels += [(f"hl{h:g}d", f"hl{h:g}d") for h in params.half_lives]
    for label, suffix in labels:
        shares = feats[[f"{k}_{suffix}" for k in types]].to_numpy(dtype=np.float64, copy=True)
        weight = feats[f"weight_{suffix}"].to_numpy()
        ok = np.isfinite(shares).all(axis=1)
        pooled = (shares[ok] * weight[ok, None]).sum(axis=0)
        pop = pooled / pooled.sum() if pooled.sum() > 0 else np.full(len(types), 1 / len(types))
        shares[~ok] = pop
        static[label] = pd.DataFrame(shares, index=feats.index, columns=types)
        if label == _label(max(params.windows)):
            static["population"] = pd.DataFrame(
                np.broadcast_to(pop, shares.shape).copy(), index=feats.index, columns=types
            )
    context = {
        _label(w): context_profiles(
            window_streams(streams, t, w, params.time_column), **params.context_kwargs()
        )
        for w in params.windows
    }
    return static, context


def _static_cells(shares: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Tidy estimate table on the truth's cells: every cell of a user gets the user's mix."""
    keys = truth[[*CELL_KEYS, "content_type"]]
    long = shares.stack()
    long.index = long.index.set_names(["participant_id", "content_type"])
    idx = pd.MultiIndex.from_arrays([keys["participant_id"], keys["content_type"]])
    est = long.reindex(idx).to_numpy()
    fallback = shares.mean(axis=0).reindex(keys["content_type"]).to_numpy()
    return keys.assign(est=np.where(np.isnan(est), fallback, est))


def profile_error_table(
    static: Mapping[str, pd.DataFrame],
    context: Mapping[str, ContextProfiles],
    truth: pd.DataFrame,
    *,
    params: PreferenceParams,
    seed: int,
    population: str,
    level: float = 0.95,
) -> pd.DataFrame:
    """Rows of :data:`ERROR_COLUMNS` for every estimator of the module doc.

    ``error`` is the mean Jensen-Shannon distance (base 2) over the truth's cells;
    ``diff_vs_static`` = error - error of the static estimator of the longest window, with a paired
    percentile bootstrap CI over users (``params.n_bootstrap`` resamples, the same resamples for
    every row: a generator seeded from ``seed`` afresh per row).
    """
    ref_label = _label(max(params.windows))
    ref = _static_cells(static[ref_label], truth)
    rows: list[tuple[str, str, bool, Any, str]] = [("population", ref_label, False, None, "")]
    rows += [("static", lab, False, None, "") for lab in static if lab != "population"]
    rows += [("context, raw", lab, True, prof, "raw") for lab, prof in context.items()]
    rows += [("context, shrunk", lab, True, prof, "shrunk") for lab, prof in context.items()]
    out = []
    for estimator, label, uses_context, prof, kind in rows:
        if prof is None:
            key = "population" if estimator == "population" else label
            est: Any = _static_cells(static[key], truth)
        else:
            est = prof
        res = paired_bootstrap_profile_error(
            est,
            ref,
            truth,
            rng=np.random.default_rng(np.random.SeedSequence([int(seed), 3])),
            n_bootstrap=params.n_bootstrap,
            level=level,
            est_col="est",
            kind_a=kind or "shrunk",
        )
        out.append(
            {
                "population": population,
                "estimator": estimator,
                "window": label,
                "uses_context": uses_context,
                "error": res["error_a"],
                "diff_vs_static": res["diff"],
                "ci_low": res["ci_low"],
                "ci_high": res["ci_high"],
                "n_users": res["n_users"],
                "n_cells": res["n_cells"],
            }
        )
    return pd.DataFrame(out, columns=list(ERROR_COLUMNS))


def profile_error_latex_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Display frame of the profile-error table (LaTeX cells; group by ``population``).

    The reference row (the static estimator of the longest window: difference and CI exactly 0)
    shows ``--`` for the difference.
    """

    def f(x: float, sign: bool = False) -> str:
        return format_float(float(x), 3, sign=sign) if np.isfinite(x) else "--"

    is_ref = (
        (table["estimator"] == "static")
        & (table["diff_vs_static"] == 0)
        & (table["ci_low"] == 0)
        & (table["ci_high"] == 0)
    ).to_numpy()
    diff, ci = [], []
    for ref, d, lo, hi in zip(
        is_ref, table["diff_vs_static"], table["ci_low"], table["ci_high"], strict=True
    ):
        diff.append("--" if ref else f(d, sign=True))
        ci.append("--" if ref else f"[{f(lo, True)}, {f(hi, True)}]")
    return pd.DataFrame(
        {
            "population": [latex_escape(p) for p in table["population"]],
            "Estimator": [latex_escape(e) for e in table["estimator"]],
            "Window": [latex_escape(w) for w in table["window"]],
            "Context": ["yes" if u else "no" for u in table["uses_context"]],
            "JS distance": [f(x) for x in table["error"]],
            "Difference": diff,
            "Bootstrap CI": ci,
        }
    )


def block_profiles(profiles: ContextProfiles, kind: str = "shrunk") -> np.ndarray:
    """Per user, hour block and day type, the profile with devices pooled by the user's streams,
    ``sum_d N_ubwd p_ubwd / sum_d N_ubwd`` (the user's overall profile where ``N = 0``); shape
    ``(U, B, 2, G)``."""
    cells = profiles.cells(kind)
    n = profiles.cell_counts.sum(axis=-1)  # (U, B, 2, D)
    tot = n.sum(axis=-1)
    pooled = np.einsum("ubwd,ubwdk->ubwk", n, cells)
    fallback = np.broadcast_to(profiles.user_shrunk[:, None, None, :], pooled.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot[..., None] > 0, pooled / np.maximum(tot, 1)[..., None], fallback)


def example_users(profiles: ContextProfiles, n: int = 4, min_streams: int | None = None) -> list:
    """``n`` users whose weekday profile varies most over the hour blocks (ties: by id).

    Variation = streams-weighted mean over weekday blocks of the total-variation distance between
    the block profile and the user's overall profile; only users with at least ``min_streams``
    counted streams (default: the median) qualify.
    """
    blocks = block_profiles(profiles)[:, :, 0, :]  # weekday
    weight = profiles.cell_counts[:, :, 0].sum(axis=(-1, -2))  # (U, B)
    tv = 0.5 * np.abs(blocks - profiles.user_shrunk[:, None, :]).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = (tv * weight).sum(axis=1) / weight.sum(axis=1)
    total = profiles.user_counts.sum(axis=1)
    floor = float(np.median(total)) if min_streams is None else float(min_streams)
    frame = pd.DataFrame(
        {"participant_id": np.asarray(profiles.users, dtype=object), "spread": spread}
    )
    frame = frame[(total >= floor) & np.isfinite(spread)]
    frame = frame.sort_values(["spread", "participant_id"], ascending=[False, True])
    return list(frame["participant_id"].head(n))


def habitual_user(descriptors: pd.DataFrame, min_mornings: int = 10) -> str | None:
    """The participant with the highest habit score among those with at least ``min_mornings``
    weekday mornings with a podcast (ties: more mornings, then id); None if nobody qualifies."""
    d = descriptors[(descriptors["n_podcast_mornings"] >= min_mornings)]
    d = d[d["habit_score"].notna()]
    if d.empty:
        return None
    d = d.sort_values(
        ["habit_score", "n_podcast_mornings", "participant_id"], ascending=[False, False, True]
    )
    return str(d["participant_id"].iloc[0])


def descriptors_table(
    streams: pd.DataFrame,
    t: pd.Timestamp,
    params: PreferenceParams,
    taste: tuple[np.ndarray, np.ndarray] | None,
) -> pd.DataFrame:
    """:func:`prefcal.preferences.user_descriptors` before ``t`` (``descriptors.parquet``)."""
    return (
        user_descriptors(
            streams,
            taste=taste,
            item_vectors=taste,
            before=t,
            **params.descriptor_kwargs(),
        )
        .sort_values("participant_id")
        .reset_index(drop=True)
    )


def taste_entropy_order(features: pd.DataFrame, prefix: str, window: str) -> pd.DataFrame:
    """Users' taste shares in ``window`` (columns ``{prefix}{j}_{window}``) sorted by their
    entropy in bits (ties by id); users without a known-taste stream are left out."""
    cols = sorted(
        (c for c in features.columns if c.startswith(prefix) and c.endswith(f"_{window}")),
        key=lambda c: int(c[len(prefix) : -len(window) - 1]),
    )
    cols = [c for c in cols if c[len(prefix) : -len(window) - 1].isdigit()]
    shares = features.set_index("participant_id")[cols]
    shares = shares[np.isfinite(shares.to_numpy()).all(axis=1)]
    ent = entropy_bits(shares.to_numpy())
    order = pd.DataFrame({"participant_id": shares.index, "entropy": ent}).sort_values(
        ["entropy", "participant_id"]
    )
    return shares.loc[order["participant_id"]].assign(entropy=order["entropy"].to_numpy())


def ensure_context0_data(config: Mapping[str, Any], work_dir: str | Path, catalogue: Path) -> Path:
    """For a notebook run by hand: simulate shard 000 of the study with ``context_strength = 0``
    into ``work_dir/{raw,truth/users,data}/shard_000`` (the commands of the workflow's
    ``simulate_context0`` and ``ingest_context0`` rules) unless its streams exist; returns
    ``work_dir``."""
    work = Path(work_dir)
    data = work / "data" / "shard_000"
    if (data / "streams.parquet").is_file():
        return work
    sim = {**config["simulation"], "context_strength": 0.0}
    cfg = json.dumps({"seed": config["seed"], "simulation": sim}, sort_keys=True)
    raw = work / "raw" / "shard_000"
    cli = [sys.executable, "-m", "prefcal.cli"]
    commands = [
        [*cli, "simulate", "users", "--config-json", cfg, "--catalogue", str(catalogue)]
        + ["--shard", "000", "--n-shards", str(config["shards"]), "--out", str(raw)]
        + ["--truth", str(work / "truth" / "users" / "shard_000")],
        [*cli, "ingest", "--each", str(raw), "--out", str(data), "--id-seed", str(config["seed"])],
    ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"command failed ({result.returncode}): {' '.join(command[2:5])} ...\n"
                + result.stderr[-2000:]
            )
    return work


def _row(table: pd.DataFrame, population: str, estimator: str, window: str) -> pd.Series:
    sel = table[
        (table["population"] == population)
        & (table["estimator"] == estimator)
        & (table["window"] == window)
    ]
    if len(sel) != 1:
        raise ValueError(f"profile-error table lacks {population} / {estimator} / {window}")
    return sel.iloc[0]


def stage_macros(
    *,
    params: PreferenceParams,
    t_eval: pd.Timestamp,
    descriptors: pd.DataFrame,
    profiles: ContextProfiles,
    errors: pd.DataFrame | None = None,
    populations: Mapping[str, str] | None = None,
    context0_profiles: ContextProfiles | None = None,
    habit_user_score: float | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """The numbers of stage 03 that the paper quotes (names start with ``Pref``).

    ``populations`` maps a macro prefix (``""`` for the main population, ``"Zero"`` for the
    context-strength-0 population) to the ``population`` label in ``errors``.
    """
    ws = [int(w) if float(w).is_integer() else w for w in params.windows]
    ref = _label(max(params.windows))
    m: dict[str, Any] = {
        "PrefNUsers": format_int(len(descriptors)),
        "PrefEvalDate": Latex(t_eval.strftime("%Y-%m-%d")),
        "PrefWindows": Latex(", ".join(str(w) for w in ws[:-1]) + f" and {ws[-1]}"),
        "PrefRefWindow": Latex(f"{max(params.windows):g}"),
        "PrefHalfLives": Latex(" and ".join(f"{h:g}" for h in params.half_lives)),
        "PrefNHourBlocks": format_int(len(params.hour_blocks)),
        "PrefShrinkage": latex_escape(params.shrinkage.replace("_", " ")),
        "PrefAlphaUser": format_float(profiles.alpha_user, 1),
        "PrefAlphaContext": format_float(profiles.alpha_context, 1),
        "PrefNObservedCells": format_int(int((profiles.cell_counts.sum(axis=-1) > 0).sum())),
        "PrefMedianCellStreams": format_int(
            int(np.median(profiles.cell_counts.sum(axis=-1)[profiles.cell_counts.sum(-1) > 0]))
        ),
        "PrefBootstrap": format_int(params.n_bootstrap),
        "PrefCILevel": format_percent(level, 0),
    }
    d = descriptors
    for col, name, digits in (
        ("entropy_content", "PrefMedianEntropyContent", 2),
        ("entropy_taste", "PrefMedianEntropyTaste", 2),
        ("gs_score", "PrefMedianGS", 2),
    ):
        if d[col].notna().any():
            m[name] = format_float(float(d[col].median()), digits)
    for col, name in (
        ("repeat_share", "PrefMedianRepeatShare"),
        ("user_initiated_share", "PrefMedianUserInitiated"),
    ):
        if d[col].notna().any():
            m[name] = format_percent(float(d[col].median()), 1)
    if habit_user_score is not None:
        m["PrefHabitUserScore"] = format_percent(float(habit_user_score), 0)
    if errors is not None and populations:
        for prefix, pop in populations.items():
            st = _row(errors, pop, "static", ref)
            cx = _row(errors, pop, "context, shrunk", ref)
            raw = _row(errors, pop, "context, raw", ref)
            popu = _row(errors, pop, "population", ref)
            m[f"Pref{prefix}NUsersError"] = format_int(int(st["n_users"]))
            m[f"Pref{prefix}NCellsError"] = format_int(int(st["n_cells"]))
            m[f"Pref{prefix}ErrStatic"] = format_float(float(st["error"]), 3)
            m[f"Pref{prefix}ErrContext"] = format_float(float(cx["error"]), 3)
            m[f"Pref{prefix}ErrContextRaw"] = format_float(float(raw["error"]), 3)
            m[f"Pref{prefix}ErrPopulation"] = format_float(float(popu["error"]), 3)
            m[f"Pref{prefix}Diff"] = format_float(float(cx["diff_vs_static"]), 3, sign=True)
            m[f"Pref{prefix}DiffLow"] = format_float(float(cx["ci_low"]), 3, sign=True)
            m[f"Pref{prefix}DiffHigh"] = format_float(float(cx["ci_high"]), 3, sign=True)
            m[f"Pref{prefix}DiffPercent"] = format_percent(
                float(cx["diff_vs_static"]) / float(st["error"]), 1, sign=True
            )
            best = errors[errors["population"] == pop].sort_values(["error", "estimator"]).iloc[0]
            m[f"Pref{prefix}BestEstimator"] = latex_escape(
                f"{best['estimator']} ({best['window']})"
            )
    if context0_profiles is not None:
        m["PrefZeroAlphaContext"] = format_float(context0_profiles.alpha_context, 1)
    return m
