"""Stage 03 of the workflow: listening preferences at the end of the data, and their validation.

The notebook ``notebooks/03_preferences.ipynb`` narrates these steps; this module holds the logic.
Everything is evaluated at one time ``t_eval`` (:func:`evaluation_time`: the UTC midnight after
the end of the last play, on the client's clock), using only streams before it; with
``preferences.evaluation_time: per_participant`` each participant at their own ``t_u``
(:func:`participant_times`, the midnight after their own last play: donations collected over
weeks), and ``t`` below is ``t_u``. Files written for
later stages (the contract):

``results/preferences/user_windows.parquet`` (one row per participant)
    ``participant_id``, ``t`` (= t_eval, or t_u) and the columns of
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from prefcal.paper.macros import Latex, format_float, format_int, format_percent, latex_escape
from prefcal.paper.tables import latex_tabular, write_csv
from prefcal.preferences.context import (
    ALPHA_BOUNDS,
    ContextCounts,
    ContextProfiles,
    context_counts,
    profiles_from_counts,
)
from prefcal.preferences.descriptors import entropy_bits, user_descriptors
from prefcal.preferences.params import PreferenceParams
from prefcal.preferences.profile_error import (
    CELL_KEYS,
    _cell_index,
    _wide,
    js_distance_rows,
)
from prefcal.preferences.streams import MS_PER_DAY
from prefcal.preferences.windows import taste_window_features, window_features
from prefcal.tables import play_time, utc_ms

__all__ = [
    "ERROR_COLUMNS",
    "CONTEXT0_USERS",
    "NO_CONTEXT",
    "context0_stride",
    "STREAM_COLUMNS",
    "block_profiles",
    "descriptors_table",
    "ensure_context0_data",
    "estimate_profiles",
    "profiles_from_features",
    "window_label",
    "EVALUATION_TIME_COLUMNS",
    "evaluation_time",
    "play_end_ms",
    "day_after",
    "example_candidates",
    "example_users",
    "habitual_user",
    "output_paths",
    "profile_error_latex_frame",
    "ProfileErrorSums",
    "ProfileSummary",
    "profile_error_from_sums",
    "profile_error_sums",
    "profile_error_table",
    "rank_examples",
    "stage_macros",
    "static_estimates",
    "taste_entropy_order",
    "user_windows",
    "window_streams",
    "write_profile_error",
]

#: the streams columns stage 03 reads (``offline``/``offline_ts`` give ``t_play``,
#: :func:`prefcal.tables.play_time`, the default ``preferences.context_time_column``)
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
    "offline",
    "offline_ts",
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
    "diff_vs_shrunk",
    "shrunk_ci_low",
    "shrunk_ci_high",
    "n_users",
    "n_cells",
)


#: per-population macros of the validation (``Pref{prefix}{name}``; prefix "" or "Zero")
VALIDATION_MACROS = (
    "NUsersError",
    "NCellsError",
    "ErrStatic",
    "ErrContext",
    "ErrContextRaw",
    "ErrPopulation",
    "Diff",
    "DiffLow",
    "DiffHigh",
    "DiffShrunk",
    "DiffShrunkLow",
    "DiffShrunkHigh",
    "ErrStaticShrunk",
    "DiffPercent",
    "BestEstimator",
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


def play_end_ms(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """``e_i`` of :func:`evaluation_time` for every row of ``table`` (int64 epoch ms; null where
    ``ts_end`` is null and the row is not an offline play with an ``offline_ts``).

    Columns: ``ts_end``; with ``offline`` and ``offline_ts`` also ``ms_played``. Without the two
    offline columns ``e_i = ts_end_i``. ``e_i = min(t_play_i + ms_played_i, ts_end_i)`` with
    ``t_play`` of :func:`prefcal.tables.play_time` (``ts_start = ts_end - ms_played``): an
    offline play's end is capped at its ``ts_end`` (a play cannot end after it was logged), so
    one client with a wrong clock cannot move ``t_eval``.
    """
    if "ts_end" not in table.column_names:
        raise ValueError("streams have no column 'ts_end': no evaluation time")
    ts_end = utc_ms(table["ts_end"], "ts_end").cast(pa.int64())
    if not all(c in table.column_names for c in ("offline", "offline_ts")):
        return ts_end
    if "ms_played" not in table.column_names:
        raise ValueError("streams have offline columns but no 'ms_played': no evaluation time")
    played = pc.fill_null(table["ms_played"].cast(pa.int64()), 0)
    start = pc.subtract(ts_end, played).cast(pa.timestamp("ms", tz="UTC"))
    offline = {c: table[c] for c in ("offline", "offline_ts")}
    t_play = play_time(pa.table({"ts_start": start, **offline})).cast(pa.int64())
    return pc.min_element_wise(pc.add(t_play, played), ts_end)  # null ts_end: no cap


def day_after(ms: int) -> pd.Timestamp:
    """The UTC midnight after the epoch millisecond ``ms``: ``floor_day(ms) + 1 day``."""
    return pd.Timestamp(ms, unit="ms", tz="UTC").floor("D") + pd.Timedelta(days=1)


#: the streams columns :func:`evaluation_time` reads (the last three when present)
EVALUATION_TIME_COLUMNS = ("ts_end", "ms_played", "offline", "offline_ts")


def evaluation_time(streams: pd.DataFrame) -> pd.Timestamp:
    """``t_eval``: the UTC midnight after the end of the last play, on the client's clock.

    ``t_eval = floor_day(max_i e_i) + 1 day`` (UTC), over all streams ``i``, with
    ``e_i = min(t_play_i + ms_played_i, ts_end_i)``, the end of playback on the client's clock
    (capped at the logged time: a client clock set in the future cannot move ``t_eval``), where
    ``t_play_i`` is the offline-corrected play time (:func:`prefcal.tables.play_time`):
    ``offline_ts_i`` for an offline play with a plausible ``offline_ts`` (at most ``ts_start_i``,
    at most 30 days before it), else ``ts_start_i = ts_end_i - ms_played_i`` (so
    ``e_i = ts_end_i`` for online plays, for offline plays without a plausible ``offline_ts``,
    and for every row when the frame has no ``offline``/``offline_ts`` columns).

    Why not the last ``ts_end``: for offline plays Spotify logs ``ts`` (``ts_end``) when the
    client syncs, which can be days after the play. One late sync would move ``t_eval`` past the
    end of the listening, and the short windows ``[t_eval - W days, t_eval)`` would then hold
    days without data (in the default study, with t_eval a week after the last play, the 7-day
    window held 83 plays of 48 of 1,000 users).

    Plays logged at or after ``t_eval`` (``ts_end >= t_eval``) were all played before it (their
    ``e_i < t_eval``), but the windows select on ``preferences.time_column`` (``ts_end`` by
    default), so they fall after ``t`` and are left out of every window and descriptor. They are
    few (late offline syncs): :func:`prefcal.preferences.shards.evaluation_summary` counts them.
    """
    if streams.empty:
        raise ValueError("streams table is empty: no evaluation time")
    cols = [c for c in EVALUATION_TIME_COLUMNS if c in streams.columns]
    table = pa.Table.from_pandas(streams[cols], preserve_index=False)
    last = pc.max(play_end_ms(table)).as_py()
    if last is None:
        raise ValueError("every stream's end time is missing: no evaluation time")
    return day_after(last)


def participant_times(streams: pd.DataFrame) -> pd.Series:
    """``t_u = floor_day(max_{i of u} e_i) + 1 day`` for every participant ``u`` of ``streams``:
    :func:`evaluation_time` of each participant's own streams (``preferences.evaluation_time:
    per_participant``), a Series of UTC timestamps indexed by participant_id (sorted). A participant
    whose every end time is missing gets NaT."""
    cols = [c for c in EVALUATION_TIME_COLUMNS if c in streams.columns]
    end = play_end_ms(pa.Table.from_pandas(streams[cols], preserve_index=False))
    ends = pd.Series(end.to_numpy(zero_copy_only=False), index=streams["participant_id"].to_numpy())
    last = ends.groupby(level=0, sort=True).max()
    day = pd.to_datetime(last, unit="ms", utc=True).dt.floor("D") + pd.Timedelta(days=1)
    return day.rename("t").rename_axis("participant_id")


def stream_cutoffs(streams: pd.DataFrame, t: pd.Timestamp | pd.Series) -> pd.Timestamp | pd.Series:
    """The evaluation time of every stream: ``t`` itself, or, for per-participant times (a Series
    indexed by participant_id), the time of the stream's participant (a Series like the rows)."""
    if not isinstance(t, pd.Series):
        return t
    times = pd.DatetimeIndex(pd.to_datetime(t, utc=True))
    row = pd.Index(t.index).get_indexer(streams["participant_id"].to_numpy(dtype=object))
    missing = row < 0
    if missing.any() or times[row].isna().any():
        bad = missing | np.asarray(times[row].isna())
        who = streams["participant_id"].to_numpy(dtype=object)[bad][0]
        raise ValueError(f"participant {who} has no evaluation time")
    return pd.Series(times[row], index=streams.index, name="t")


def window_streams(
    streams: pd.DataFrame,
    t: pd.Timestamp | pd.Series,
    days: float | None,
    time_column: str = "ts_end",
) -> pd.DataFrame:
    """The streams with ``t - days <= time_column < t`` (all before ``t`` when days is None);
    ``t`` one time, or one per participant (:func:`stream_cutoffs`)."""
    ts = streams[time_column]
    cut = stream_cutoffs(streams, t)
    keep = ts < cut
    if days is not None:
        keep &= ts >= cut - pd.Timedelta(milliseconds=int(round(days * MS_PER_DAY)))
    return streams.loc[np.asarray(keep, dtype=bool)]


def user_windows(
    streams: pd.DataFrame,
    t: pd.Timestamp | pd.Series,
    params: PreferenceParams,
    taste: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Window and decay features of every participant at ``t`` (``user_windows.parquet``; ``t``
    one time, or a Series of times indexed by participant_id)."""
    users = pd.Index(pd.unique(streams["participant_id"]), name="participant_id").sort_values()
    at = pd.to_datetime(t.reindex(users), utc=True).array if isinstance(t, pd.Series) else t
    req = pd.DataFrame({"participant_id": np.asarray(users, dtype=object), "t": at})
    out = [req, window_features(streams, req, **params.window_kwargs())]
    if taste is not None:
        tw = taste_window_features(streams, req, taste[0], taste[1], **params.window_kwargs())
        out.append(tw.rename(columns=lambda c: f"taste_{c}" if c.startswith("weight_") else c))
    return pd.concat(out, axis=1)


def window_label(days: float) -> str:
    """``"90d"`` for a window of 90 days."""
    return f"{days:g}d"


def estimate_profiles(
    streams: pd.DataFrame, t: pd.Timestamp, params: PreferenceParams
) -> tuple[dict[str, pd.DataFrame], dict[str, ContextProfiles]]:
    """Static estimates ``{window label: users x types shares}`` (population fallback, plus the
    ``population`` entry) and context profiles ``{window label: ContextProfiles}`` at ``t``."""
    kw = params.context_kwargs()
    kw.pop("method")
    counts = {
        window_label(w): context_counts(window_streams(streams, t, w, params.time_column), **kw)
        for w in params.windows
    }
    return profiles_from_features(user_windows(streams, t, params), counts, params)


def static_estimates(windows: pd.DataFrame, params: PreferenceParams) -> dict[str, pd.DataFrame]:
    """The static estimates of every user, ``{label: users x types shares}`` for every window
    and half-life (a user without streams there gets the pooled mix of all users, weighted by
    their streams), plus ``population`` (that pooled mix of the longest window, for everybody).
    ``windows``: the window features of every user (``user_windows``, sorted by participant)."""
    types = list(params.types)
    feats = windows.set_index("participant_id")
    static: dict[str, pd.DataFrame] = {}
    labels = [(window_label(w), f"{w:g}d") for w in params.windows]
    labels += [(f"hl{h:g}d", f"hl{h:g}d") for h in params.half_lives]
    for label, suffix in labels:
        shares = feats[[f"{k}_{suffix}" for k in types]].to_numpy(dtype=np.float64, copy=True)
        weight = feats[f"weight_{suffix}"].to_numpy()
        ok = np.isfinite(shares).all(axis=1)
        pooled = (shares[ok] * weight[ok, None]).sum(axis=0)
        pop = pooled / pooled.sum() if pooled.sum() > 0 else np.full(len(types), 1 / len(types))
        shares[~ok] = pop
        static[label] = pd.DataFrame(shares, index=feats.index, columns=types)
        if label == window_label(max(params.windows)):
            static["population"] = pd.DataFrame(
                np.broadcast_to(pop, shares.shape).copy(), index=feats.index, columns=types
            )
    return static


def profiles_from_features(
    windows: pd.DataFrame, counts: Mapping[str, ContextCounts], params: PreferenceParams
) -> tuple[dict[str, pd.DataFrame], dict[str, ContextProfiles]]:
    """:func:`estimate_profiles` from the per-user summaries: the window features of every user
    (``user_windows``, sorted by participant) and the context counts of every window."""
    context = {
        window_label(w): profiles_from_counts(counts[window_label(w)], params.shrinkage)
        for w in params.windows
    }
    return static_estimates(windows, params), context


def _static_cells(
    shares: pd.DataFrame, truth: pd.DataFrame, fallback: pd.Series | None = None
) -> pd.DataFrame:
    """Tidy estimate table on the truth's cells: every cell of a user gets the user's mix (a
    user without a row gets ``fallback``, by default the mean mix of ``shares``' users)."""
    keys = truth[[*CELL_KEYS, "content_type"]]
    long = shares.stack()
    long.index = long.index.set_names(["participant_id", "content_type"])
    idx = pd.MultiIndex.from_arrays([keys["participant_id"], keys["content_type"]])
    est = long.reindex(idx).to_numpy()
    mean_mix = shares.mean(axis=0) if fallback is None else fallback
    fill = mean_mix.reindex(keys["content_type"]).to_numpy()
    return keys.assign(est=np.where(np.isnan(est), fill, est))


def _error_rows(
    static: Mapping[str, pd.DataFrame], context: Mapping[str, Any], ref_label: str
) -> list[tuple[str, str, bool, Any, str]]:
    """``(estimator, window, uses_context, profiles or None, kind)`` of every estimator."""
    rows: list[tuple[str, str, bool, Any, str]] = [("population", ref_label, False, None, "")]
    rows += [("static", lab, False, None, "") for lab in static if lab != "population"]
    rows += [("static, shrunk", lab, False, prof, "prior") for lab, prof in context.items()]
    rows += [("context, raw", lab, True, prof, "raw") for lab, prof in context.items()]
    rows += [("context, shrunk", lab, True, prof, "shrunk") for lab, prof in context.items()]
    return rows


@dataclass
class ProfileErrorSums:
    """Per user, the sufficient statistics of :func:`profile_error_table`: the number of truth
    cells ``n_cells[u]`` and, for every estimator ``e`` (``rows``), the sums over the user's cells
    of the distance ``dist[u, e]``, of ``d_e - d_static`` (``vs_static``) and of
    ``d_e - d_shrunk`` (``vs_shrunk``), with the static and shrunk static estimators of the
    longest window as references. Users are sorted by id; shards are stacked with :meth:`concat`.
    """

    users: np.ndarray
    n_cells: np.ndarray
    rows: list[tuple[str, str, bool]]
    dist: np.ndarray
    vs_static: np.ndarray
    vs_shrunk: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[ProfileErrorSums]) -> ProfileErrorSums:
        """The sums of disjoint user sets, users sorted by id."""
        if not parts:
            raise ValueError("no profile-error sums to concatenate")
        if any(p.rows != parts[0].rows for p in parts[1:]):
            raise ValueError("profile-error sums of different estimators")
        users = np.concatenate([p.users for p in parts])
        if pd.Index(users).has_duplicates:
            raise ValueError("a participant appears in two shards' profile-error sums")
        order = np.argsort(users, kind="stable")

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])[order]

        return cls(
            users[order], cat("n_cells"), parts[0].rows, cat("dist"), cat("vs_static"),
            cat("vs_shrunk"),
        )  # fmt: skip


def profile_error_sums(
    static: Mapping[str, pd.DataFrame],
    context: Mapping[str, ContextProfiles],
    truth: pd.DataFrame,
    *,
    params: PreferenceParams,
    static_fallback: Mapping[str, pd.Series] | None = None,
) -> ProfileErrorSums:
    """The :class:`ProfileErrorSums` of the truth's users. ``static_fallback``: per static
    label, the mix of a user missing from ``static`` (default: the mean of ``static``'s users,
    see :func:`_static_cells`).

    The distances are those of :func:`prefcal.preferences.profile_error._cell_distances` (the
    same numbers, tested), with the truth pivoted and its users matched once for every estimator.
    """
    ref_label = window_label(max(params.windows))
    rows = _error_rows(static, context, ref_label)
    prof_types = list(next(iter(context.values())).types) if context else list(params.types)
    # the static estimates' tables carry the truth's types, which the pivot sorts
    static_types = sorted(set(truth["content_type"]))
    wide = _wide(truth, "share", list(dict.fromkeys([*prof_types, *static_types])), "truth")
    keys = wide.index.to_frame(index=False)
    t_prof_arr, t_static = wide[prof_types].to_numpy(), wide[static_types].to_numpy()
    codes, users = pd.factorize(keys["participant_id"])
    users = pd.Index(np.asarray(users, dtype=object))
    n_u = len(users)
    cell_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    dist: dict[tuple[str, str], np.ndarray] = {}
    for estimator, label, _, prof, kind in rows:
        if prof is None:
            key = "population" if estimator == "population" else label
            shares = static[key]
            fb = shares.mean(axis=0) if static_fallback is None else static_fallback[key]
            mix = shares.reindex(index=users, columns=static_types).to_numpy(dtype=np.float64)
            fill = fb.reindex(static_types).to_numpy(dtype=np.float64)
            mix = np.where(np.isnan(mix), fill[None, :], mix)
            d = js_distance_rows(t_static, mix[codes])
        else:
            if cell_index is None:
                cell_index = _cell_index(keys, prof)
            b, w, dc = cell_index
            urow = prof.users.get_indexer(users)[codes]
            d = js_distance_rows(t_prof_arr, prof.lookup_rows(urow, b, w, dc, kind=kind))
        dist[(estimator, label)] = d
    ref_static = dist[("static", ref_label)]
    ref_shrunk = dist[("static, shrunk", ref_label)]

    def per_user(x: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=x, minlength=n_u)

    cols = [dist[(e, lab)] for e, lab, *_ in rows]
    return ProfileErrorSums(
        users=np.asarray(users, dtype=object),
        n_cells=np.bincount(codes, minlength=n_u).astype(np.float64),
        rows=[(e, lab, uses) for e, lab, uses, *_ in rows],
        dist=np.column_stack([per_user(d) for d in cols]),
        vs_static=np.column_stack([per_user(d - ref_static) for d in cols]),
        vs_shrunk=np.column_stack([per_user(d - ref_shrunk) for d in cols]),
    )


def profile_error_from_sums(
    sums: ProfileErrorSums,
    *,
    n_bootstrap: int,
    seed: int,
    population: str,
    level: float = 0.95,
    chunk: int = 64,
) -> pd.DataFrame:
    """Rows of :data:`ERROR_COLUMNS` from per-user sums (see :func:`profile_error_table`).

    Replicate ``r`` of the bootstrap draws user multiplicities ``w_r ~ Multinomial(U, 1/U)``
    (users sorted by id) and its statistic is ``sum_u w_ru s_u / sum_u w_ru n_u``; the draws are
    generated ``chunk`` replicates at a time (the same draws as one ``(n_bootstrap, U)`` call),
    so memory is ``chunk x U`` whatever ``n_bootstrap``. (The matrix products' rounding depends on
    the block shape: a different ``chunk`` changes the statistics in the last bits.)
    """
    n_u = sums.users.size
    n_rows = len(sums.rows)
    total_cells = float(sums.n_cells.sum())
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 3]))
    both = np.column_stack([sums.vs_static, sums.vs_shrunk])  # (U, 2 x estimators)
    stats = np.empty((n_bootstrap, 2 * n_rows))
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        draws = rng.multinomial(n_u, np.full(n_u, 1.0 / n_u), size=size).astype(np.float64)
        stats[start : start + size] = (draws @ both) / (draws @ sums.n_cells)[:, None]
    stats_static, stats_shrunk = stats[:, :n_rows], stats[:, n_rows:]
    q = [(1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0]
    out = []
    for j, (estimator, label, uses_context) in enumerate(sums.rows):
        lo, hi = np.quantile(stats_static[:, j], q)
        lo2, hi2 = np.quantile(stats_shrunk[:, j], q)
        out.append(
            {
                "population": population,
                "estimator": estimator,
                "window": label,
                "uses_context": uses_context,
                "error": float(sums.dist[:, j].sum() / total_cells),
                "diff_vs_static": float(sums.vs_static[:, j].sum() / total_cells),
                "ci_low": float(lo),
                "ci_high": float(hi),
                "diff_vs_shrunk": float(sums.vs_shrunk[:, j].sum() / total_cells),
                "shrunk_ci_low": float(lo2),
                "shrunk_ci_high": float(hi2),
                "n_users": int(n_u),
                "n_cells": int(total_cells),
            }
        )
    return pd.DataFrame(out, columns=list(ERROR_COLUMNS))


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
    ``diff_vs_static`` = error - error of the static estimator of the longest window and
    ``diff_vs_shrunk`` = error - error of the shrunk static estimator of that window, each with a
    paired percentile bootstrap CI over users as
    :func:`prefcal.preferences.paired_bootstrap_profile_error` computes it (``params.n_bootstrap``
    resamples of users drawn once from a generator seeded by ``seed``, the same for every row; the
    same draws, generated in blocks, so the products may round differently in the last bits).
    It is :func:`profile_error_from_sums` of :func:`profile_error_sums`, the form a study
    combines shard by shard (:mod:`prefcal.preferences.combine`).
    """
    sums = profile_error_sums(static, context, truth, params=params)
    return profile_error_from_sums(
        sums, n_bootstrap=params.n_bootstrap, seed=seed, population=population, level=level
    )


def profile_error_latex_frame(table: pd.DataFrame) -> tuple[pd.DataFrame, list[Latex]]:
    """Display frame of the profile-error table, one row per estimator and window and, for each
    population, the mean JS distance and the difference to the static estimator of the longest
    window with its CI (``--`` on the reference row). Returns the frame and its header."""

    def f(x: float, sign: bool = False) -> str:
        return format_float(float(x), 3, sign=sign) if np.isfinite(x) else "--"

    keys = ["estimator", "window"]
    base = table[keys].drop_duplicates().reset_index(drop=True)
    out = pd.DataFrame(
        {
            "Estimator": [latex_escape(e) for e in base["estimator"]],
            "Window": [latex_escape(w) for w in base["window"]],
        }
    )
    header = [Latex("Estimator"), Latex("Window")]
    for n, pop in enumerate(dict.fromkeys(table["population"])):
        sub = base.merge(table[table["population"] == pop], on=keys, how="left")
        is_ref = (
            (sub["estimator"] == "static")
            & (sub["diff_vs_static"] == 0)
            & (sub["ci_low"] == 0)
            & (sub["ci_high"] == 0)
        ).to_numpy()
        out[f"js{n}"] = [f(x) for x in sub["error"]]
        out[f"diff{n}"] = [
            "--" if r else f(d, sign=True)
            for r, d in zip(is_ref, sub["diff_vs_static"], strict=True)
        ]
        out[f"ci{n}"] = [
            "--" if r else f"[{f(lo, True)}, {f(hi, True)}]"
            for r, lo, hi in zip(is_ref, sub["ci_low"], sub["ci_high"], strict=True)
        ]
        tag = latex_escape(str(pop))
        header += [
            Latex(f"JS ({tag})"),
            Latex(r"$\Delta$"),
            Latex("CI"),
        ]
    return out, header


def write_profile_error(table: pd.DataFrame, csv_path: str | Path, tex_path: str | Path) -> None:
    """The long table as CSV and its wide display (:func:`profile_error_latex_frame`) as LaTeX."""
    write_csv(table, csv_path)
    frame, header = profile_error_latex_frame(table)
    tex = Path(tex_path)
    tex.parent.mkdir(parents=True, exist_ok=True)
    align = "ll" + "rrl" * ((len(header) - 2) // 3)
    tex.write_text(
        latex_tabular(frame, header=header, align=align, escape=False),
        encoding="utf-8",
        newline="\n",
    )


@dataclass(frozen=True)
class ProfileSummary:
    """The numbers of the reference window's profiles that the paper quotes: the two prior
    strengths, the number of observed user x context cells and the median streams of one."""

    alpha_user: float
    alpha_context: float
    n_observed_cells: int
    median_cell_streams: float

    @classmethod
    def of(cls, profiles: ContextProfiles) -> ProfileSummary:
        """From profiles held in memory."""
        tot = profiles.cell_counts.sum(axis=-1)
        return cls(
            alpha_user=profiles.alpha_user,
            alpha_context=profiles.alpha_context,
            n_observed_cells=int((tot > 0).sum()),
            median_cell_streams=float(np.median(tot[tot > 0])),
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


def rank_examples(candidates: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` rows of largest ``spread`` (ties: by participant id)."""
    return candidates.sort_values(["spread", "participant_id"], ascending=[False, True]).head(n)


def example_candidates(profiles: ContextProfiles, floor: float, n: int) -> pd.DataFrame:
    """The ``n`` users of ``profiles`` whose weekday profile varies most over the hour blocks,
    among those with at least ``floor`` counted streams: columns ``participant_id, spread, row``
    (``row``: the user's row in ``profiles``).

    Variation = streams-weighted mean over weekday blocks of the total-variation distance between
    the block profile and the user's overall profile.
    """
    blocks = block_profiles(profiles)[:, :, 0, :]  # weekday
    weight = profiles.cell_counts[:, :, 0].sum(axis=(-1, -2))  # (U, B)
    tv = 0.5 * np.abs(blocks - profiles.user_shrunk[:, None, :]).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = (tv * weight).sum(axis=1) / weight.sum(axis=1)
    total = profiles.user_counts.sum(axis=1)
    frame = pd.DataFrame(
        {
            "participant_id": np.asarray(profiles.users, dtype=object),
            "spread": spread,
            "row": np.arange(len(profiles.users)),
        }
    )
    return rank_examples(frame[(total >= floor) & np.isfinite(spread)], n)


def example_users(profiles: ContextProfiles, n: int = 4, min_streams: int | None = None) -> list:
    """``n`` users whose weekday profile varies most over the hour blocks (ties: by id), among
    those with at least ``min_streams`` counted streams (default: the median):
    :func:`example_candidates`."""
    total = profiles.user_counts.sum(axis=1)
    floor = float(np.median(total)) if min_streams is None else float(min_streams)
    return list(example_candidates(profiles, floor, n)["participant_id"])


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
    t: pd.Timestamp | pd.Series,
    params: PreferenceParams,
    taste: tuple[np.ndarray, np.ndarray] | None,
) -> pd.DataFrame:
    """:func:`prefcal.preferences.user_descriptors` before ``t`` (``descriptors.parquet``; ``t``
    one time, or one per participant)."""
    return (
        user_descriptors(
            streams,
            taste=taste,
            item_vectors=taste,
            before=stream_cutoffs(streams, t),
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


#: simulation settings of the population in which context plays no role (``results/sensitivity/
#: context0``): no context effect on the type preference, and no habitual users (a daily show on
#: weekday mornings on mobile is a context effect too). Keep in step with workflow/rules/
#: preferences.smk.
NO_CONTEXT = {"context_strength": 0.0, "habitual_share": 0.0}
#: size of that population: the users ``u`` with ``u mod s == 0``, ``s = context0_stride(n_users)``
#: (at most this many, whatever the number of shards)
CONTEXT0_USERS = 250


def context0_stride(n_users: int) -> int:
    """``s = ceil(n_users / CONTEXT0_USERS)``: the no-context population is "shard 0 of s" of the
    simulation, so its users do not depend on the study's ``shards``."""
    return max(1, -(-int(n_users) // CONTEXT0_USERS))


def ensure_context0_data(config: Mapping[str, Any], work_dir: str | Path, catalogue: Path) -> Path:
    """For a notebook run by hand: simulate the no-context population (shard 000 of
    :func:`context0_stride` shards) with :data:`NO_CONTEXT` into
    ``work_dir/{raw,truth/users,data}/shard_000`` (the commands of the workflow's
    ``simulate_context0`` and ``ingest_context0`` rules) unless its streams exist; returns
    ``work_dir``."""
    work = Path(work_dir)
    data = work / "data" / "shard_000"
    if (data / "streams.parquet").is_file():
        return work
    sim = {**config["simulation"], **NO_CONTEXT}
    cfg = json.dumps({"seed": config["seed"], "simulation": sim}, sort_keys=True)
    raw = work / "raw" / "shard_000"
    cli = [sys.executable, "-m", "prefcal.cli"]
    commands = [
        [*cli, "simulate", "users", "--config-json", cfg, "--catalogue", str(catalogue)]
        + ["--shard", "000", "--n-shards", str(context0_stride(sim["n_users"])), "--out", str(raw)]
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


def _alpha_text(alpha: float) -> Latex:
    """A prior strength with one decimal, or the upper bound 10^6 named as complete pooling."""
    if alpha >= ALPHA_BOUNDS[1] * (1 - 1e-9):
        return Latex(r"$10^{6}$ (the upper bound: complete pooling)")
    return format_float(alpha, 1)


def _row(table: pd.DataFrame, population: str, estimator: str, window: str) -> pd.Series:
    sel = table[
        (table["population"] == population)
        & (table["estimator"] == estimator)
        & (table["window"] == window)
    ]
    if len(sel) != 1:
        raise ValueError(f"profile-error table lacks {population} / {estimator} / {window}")
    return sel.iloc[0]


def features_time(
    user_windows: pd.DataFrame, t_eval: pd.Timestamp, params: PreferenceParams
) -> pd.Timestamp | pd.Series:
    """The time the features describe: ``t_eval``, or with ``preferences.evaluation_time:
    per_participant`` the participants' own ``t`` (from ``user_windows``, by participant_id)."""
    if params.evaluation_time != "per_participant":
        return t_eval
    return user_windows.set_index("participant_id")["t"]


def no_recent_streams_note(user_windows: pd.DataFrame, params: PreferenceParams) -> str | None:
    """A note naming how many participants have no counting stream in the longest window before
    their evaluation time (``n_{W}d = 0``), None when every one has some."""
    longest = window_label(max(params.windows))
    n_empty = int((user_windows[f"n_{longest}"] == 0).sum())
    if not n_empty:
        return None
    own = params.evaluation_time == "per_participant"
    return (
        f"note: {n_empty:,} of {len(user_windows):,} participants have no counting stream in the "
        f"{longest} before {'their t' if own else 't_eval'} (a history that ends earlier, or only "
        "untyped plays): their window shares are missing and they are left out of the window "
        "summaries"
        + (
            ""
            if own
            else "; preferences.evaluation_time: per_participant evaluates each at "
            "their own last day"
        )  # fmt: skip
    )


def eval_date_text(t: pd.Timestamp | pd.Series) -> str:
    """``2026-05-06``, or for per-participant times ``2021-09-05 to 2024-10-04 (per
    participant)`` (one date when they all agree)."""
    if not isinstance(t, pd.Series):
        return t.strftime("%Y-%m-%d")
    lo, hi = (pd.Timestamp(x).strftime("%Y-%m-%d") for x in (t.min(), t.max()))
    return f"{lo} (per participant)" if lo == hi else f"{lo} to {hi} (per participant)"


def stage_macros(
    *,
    params: PreferenceParams,
    t_eval: pd.Timestamp | pd.Series,
    descriptors: pd.DataFrame,
    profiles: ContextProfiles | ProfileSummary,
    errors: pd.DataFrame | None = None,
    populations: Mapping[str, str] | None = None,
    context0_profiles: ContextProfiles | None = None,
    habit_user_score: float | None = None,
    context_strength: float | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """The numbers of stage 03 that the paper quotes (names start with ``Pref``).

    ``populations`` maps a macro prefix (``""`` for the main population, ``"Zero"`` for the
    context-strength-0 population) to the ``population`` label in ``errors``. ``t_eval``: the
    study's evaluation time, or the participants' own times (``PrefEvalDate`` then gives their
    range).
    """
    ws = [int(w) if float(w).is_integer() else w for w in params.windows]
    ref = window_label(max(params.windows))
    if isinstance(profiles, ContextProfiles):
        profiles = ProfileSummary.of(profiles)
    m: dict[str, Any] = {
        "PrefNUsers": format_int(len(descriptors)),
        "PrefEvalDate": Latex(eval_date_text(t_eval)),
        "PrefWindows": Latex(", ".join(str(w) for w in ws[:-1]) + f" and {ws[-1]}"),
        "PrefRefWindow": Latex(f"{max(params.windows):g}"),
        "PrefHalfLives": Latex(" and ".join(f"{h:g}" for h in params.half_lives)),
        "PrefNHourBlocks": format_int(len(params.hour_blocks)),
        "PrefShrinkage": latex_escape(params.shrinkage.replace("_", " ")),
        "PrefAlphaUser": _alpha_text(profiles.alpha_user),
        "PrefAlphaContext": _alpha_text(profiles.alpha_context),
        "PrefNObservedCells": format_int(profiles.n_observed_cells),
        "PrefMedianCellStreams": format_int(int(profiles.median_cell_streams)),
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
            m[f"Pref{prefix}DiffShrunk"] = format_float(float(cx["diff_vs_shrunk"]), 3, sign=True)
            m[f"Pref{prefix}DiffShrunkLow"] = format_float(float(cx["shrunk_ci_low"]), 3, sign=True)
            m[f"Pref{prefix}DiffShrunkHigh"] = format_float(
                float(cx["shrunk_ci_high"]), 3, sign=True
            )
            sh = _row(errors, pop, "static, shrunk", ref)
            m[f"Pref{prefix}ErrStaticShrunk"] = format_float(float(sh["error"]), 3)
            m[f"Pref{prefix}DiffPercent"] = format_percent(
                float(cx["diff_vs_static"]) / float(st["error"]), 1, sign=True
            )
            best = errors[errors["population"] == pop].sort_values(["error", "estimator"]).iloc[0]
            m[f"Pref{prefix}BestEstimator"] = latex_escape(
                f"{best['estimator']} ({best['window']})"
            )
    if context_strength is not None:
        m["PrefContextStrength"] = Latex(f"{float(context_strength):g}")
    if context0_profiles is not None:
        m["PrefZeroAlphaContext"] = _alpha_text(context0_profiles.alpha_context)
    # no truth (donated data), no habitual user, ...: the text still compiles
    for prefix in ("", "Zero"):
        for name in VALIDATION_MACROS:
            m.setdefault(f"Pref{prefix}{name}", Latex("n/a"))
    for name in (
        "PrefZeroAlphaContext",
        "PrefContextStrength",
        "PrefHabitUserScore",
        "PrefMedianEntropyContent",
        "PrefMedianEntropyTaste",
        "PrefMedianGS",
        "PrefMedianRepeatShare",
        "PrefMedianUserInitiated",
    ):
        m.setdefault(name, Latex("n/a"))
    return m
