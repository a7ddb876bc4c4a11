"""Figures of stage 03: preference heatmap, hourly profiles, a habit, and the profile error."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from prefcal.paper.figures import FIGURE_WIDTH
from prefcal.preferences.context import ContextProfiles, hour_block_index
from prefcal.tables import stream_time

__all__ = [
    "plot_habit_pattern",
    "plot_hourly_profiles",
    "plot_preference_heatmap",
    "plot_profile_error",
]

TYPE_COLOURS = {"music": "C0", "podcast": "C1", "audiobook": "C2", "video": "C4", "unknown": "C7"}


def plot_preference_heatmap(
    taste: pd.DataFrame,
    content: pd.DataFrame,
    *,
    window: str,
    types: Sequence[str],
    note: str | None = None,
) -> Figure:
    """Users (rows, ordered by the entropy of their taste mix, most specialised on top) x taste
    clusters (left) and content types (right); colour = share of the user's streams in ``window``.

    ``taste``: :func:`prefcal.preferences.stage.taste_entropy_order` output (index participant,
    one column per cluster, plus ``entropy``); ``content``: shares per type indexed by participant.
    Clusters are ordered by their population share. ``note`` is written on the axes when there
    is no user (default: that no user has a known taste mix in ``window``).
    """
    shares = taste.drop(columns="entropy")
    order = np.argsort(-shares.mean(axis=0).to_numpy(), kind="stable")
    shares = shares.iloc[:, order]
    ct = content.reindex(shares.index)[list(types)]
    fig, (ax1, ax2) = plt.subplots(
        1,
        2,
        figsize=(FIGURE_WIDTH, 3.6),
        gridspec_kw={"width_ratios": [max(shares.shape[1], 1), max(len(types), 1) + 0.6]},
    )

    def cells(frame: pd.DataFrame) -> np.ndarray:  # no user: one blank row, not an empty image
        return frame.to_numpy() if len(frame) else np.full((1, max(frame.shape[1], 1)), np.nan)

    im = ax1.imshow(cells(shares), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax1.set_xticks(range(shares.shape[1]))
    ax1.set_xticklabels([str(int(i)) for i in order], fontsize=8)
    ax1.set_xlabel(f"taste cluster (by population share), {window}")
    ax1.set_ylabel(f"users ({len(shares)}), by taste entropy (low on top)")
    ax1.set_yticks([])
    ax2.imshow(cells(ct), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax2.set_xticks(range(len(types)))
    ax2.set_xticklabels(list(types), rotation=45, ha="right")
    ax2.set_yticks([])
    ax2.set_xlabel("content type")
    if shares.empty:  # e.g. donated data whose streamed items are in nobody's playlist
        note = note or f"no user with streams of a known\ntaste type in the {window}"
        ax1.text(0.5, 0.5, note,
                 transform=ax1.transAxes, ha="center", va="center", fontsize=8)  # fmt: skip
    for ax in (ax1, ax2):
        ax.grid(False)
    fig.colorbar(im, ax=[ax1, ax2], fraction=0.04, pad=0.02, label="share of streams")
    return fig


def plot_hourly_profiles(
    profiles: ContextProfiles,
    blocks: np.ndarray,
    users: Sequence[str],
    *,
    truth: pd.DataFrame | None = None,
    note: str = "no user to show",
) -> Figure:
    """Weekday content-type profile by hour for a few users: the estimated (shrunk) profile of
    each hour block with devices pooled (steps, ``blocks`` from
    :func:`prefcal.preferences.stage.block_profiles`), and the true hourly mix (dashed) when
    ``truth`` (:func:`prefcal.preferences.truth.true_hourly_mix`) is given; ``note`` is written
    on empty axes when ``users`` is empty."""
    n = max(len(users), 1)
    fig, axes = plt.subplots(1, n, figsize=(FIGURE_WIDTH, 2.3), sharey=True, squeeze=False)
    hour_block = hour_block_index(np.arange(24), profiles.hour_blocks)
    idx = profiles.users.get_indexer(pd.Index(list(users), dtype=object))
    hours = np.arange(25)
    for i, (ax, u) in enumerate(zip(axes[0], idx, strict=False)):
        for j, k in enumerate(profiles.types):
            y = blocks[u, hour_block, 0, j]
            ax.step(hours, np.r_[y, y[-1]], where="post", color=TYPE_COLOURS.get(k, "C7"), label=k)
            if truth is not None:
                t = truth[
                    (truth["participant_id"] == profiles.users[u]) & (truth["content_type"] == k)
                ].sort_values("hour")
                ax.plot(t["hour"] + 0.5, t["share"], ls="--", lw=0.9, color=TYPE_COLOURS.get(k))
        ax.set_title(f"user {chr(ord('A') + i)}")
        ax.set_xlim(0, 24)
        ax.set_xticks([0, 6, 12, 18, 24])
        ax.set_xlabel(f"hour ({profiles.timezone})")
    if not len(users):
        axes[0, 0].text(0.5, 0.5, note, transform=axes[0, 0].transAxes, ha="center", va="center")
    axes[0, 0].set_ylabel("share of streams")
    axes[0, 0].set_ylim(0, 1)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if truth is not None:
        handles.append(plt.Line2D([], [], color="0.3", ls="--", lw=0.9))
        labels.append("true mix")
    if labels:
        fig.legend(
            handles, labels, loc="upper center", ncol=len(labels), bbox_to_anchor=(0.5, 1.08)
        )
    fig.tight_layout()
    return fig


def plot_habit_pattern(
    streams: pd.DataFrame,
    participant_id: str,
    *,
    habit_show: str | None,
    habit_hours: Sequence[int],
    min_ms_played: int,
    time_column: str = "t_play",
    note: str = "no habitual user",
    timezone: str = "UTC",
) -> Figure:
    """One user's streams (>= ``min_ms_played``) by day (x) and hour of day (y), coloured by
    content type, the user's most frequent weekday-morning show highlighted; weekends shaded and
    the weekday-morning window of the habit score marked (days and hours in ``timezone``, as the
    habit score reads them); ``note`` on empty axes when the user has no stream."""
    sel = (streams["participant_id"] == participant_id) & (streams["ms_played"] >= min_ms_played)
    s = streams[sel]
    ts = pd.to_datetime(stream_time(streams, time_column)[sel], utc=True).dt.tz_convert(timezone)
    day = ts.dt.floor("D")
    hour = ts.dt.hour + ts.dt.minute / 60.0
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 2.6))
    if len(s):
        first, last = day.min(), day.max()
        for d in pd.date_range(first, last, freq="D"):
            if d.day_of_week >= 5:
                ax.axvspan(d, d + pd.Timedelta(days=1), color="0.92", lw=0)
    is_habit = (
        (s["content_type"] == "podcast") & (s["creator_name"] == habit_show)
        if habit_show is not None
        else pd.Series(False, index=s.index)
    ).to_numpy()
    ctype = s["content_type"].to_numpy()
    for k, colour in TYPE_COLOURS.items():
        sel = (ctype == k) & ~is_habit
        if sel.any():
            ax.scatter(ts[sel], hour[sel], s=3, color=colour, alpha=0.6, lw=0, label=k)
    if is_habit.any():
        ax.scatter(
            ts[is_habit], hour[is_habit], s=14, marker="D", color="C3", lw=0, label="habit show"
        )
    if not len(s):
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center")
    ax.axhspan(habit_hours[0], habit_hours[1] + 1, color="C3", alpha=0.06, lw=0)
    ax.set_ylim(0, 24)
    ax.set_yticks([0, 6, 12, 18, 24])
    ax.set_ylabel(f"hour ({timezone})")
    ax.set_xlabel("day (weekends shaded)")
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="C3", alpha=0.15))
    labels.append("weekday mornings")
    ax.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, 1.02))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_profile_error(table: pd.DataFrame) -> Figure:
    """Left: mean Jensen-Shannon distance of every estimator (rows) to the true context profiles,
    one marker per population. Right: difference to the static estimator of the longest window
    with its bootstrap CI (negative = better than static)."""
    t = table.copy()
    t["row"] = t["estimator"] + " · " + t["window"]
    rows = list(dict.fromkeys(t["row"]))
    pops = list(dict.fromkeys(t["population"]))
    y = {r: i for i, r in enumerate(rows)}
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(FIGURE_WIDTH, 0.22 * len(rows) + 1.2), sharey=True
    )
    offsets = np.linspace(-0.18, 0.18, len(pops)) if len(pops) > 1 else [0.0]
    markers = ["o", "s", "^", "D"]
    for i, (pop, off) in enumerate(zip(pops, offsets, strict=True)):
        sub = t[t["population"] == pop]
        yy = np.array([y[r] for r in sub["row"]]) + off
        ax1.scatter(sub["error"], yy, marker=markers[i % 4], color=f"C{i}", s=14, label=pop)
        err = np.vstack(
            [sub["diff_vs_static"] - sub["ci_low"], sub["ci_high"] - sub["diff_vs_static"]]
        )
        ax2.errorbar(
            sub["diff_vs_static"],
            yy,
            xerr=np.clip(err, 0, None),
            fmt=markers[i % 4],
            color=f"C{i}",
            ms=3.5,
            lw=0.9,
            capsize=1.5,
        )
    ax1.set_yticks(range(len(rows)))
    ax1.set_yticklabels(rows, fontsize=7)
    ax1.invert_yaxis()
    ax1.set_xlabel("mean JS distance to the truth")
    ax1.legend(loc="lower right", fontsize=7)
    ax2.axvline(0, color="0.3", lw=0.8)
    ax2.set_xlabel("difference to static (longest window)")
    fig.tight_layout()
    return fig
