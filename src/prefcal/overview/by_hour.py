"""The Figure 1 analogue: podcast share of plays by hour of day and cohort, with bootstrap bands
over users, and the morning-versus-evening contrast the paper quotes.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from prefcal.overview.cohorts import COHORTS

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_PERIODS",
    "bootstrap_ratio",
    "period_contrast",
    "plot_podcast_share_by_hour",
    "podcast_share_by_hour",
]

DEFAULT_PERIODS: dict[str, tuple[int, int]] = {"morning": (6, 10), "evening": (18, 22)}


def _cohort_rng(seed: int, purpose: str, cohort_index: int) -> np.random.Generator:
    tag = zlib.crc32(purpose.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(tag, cohort_index)))


def bootstrap_ratio(
    num: np.ndarray,
    den: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    max_cells: int = 4_000_000,
) -> np.ndarray:
    """Bootstrap over users of a ratio of sums: an ``n_boot`` x k array.

    ``num`` and ``den`` are n users x k columns (for example podcast plays and plays per hour).
    Resample b draws n users with replacement; with ``w_b[u]`` the number of times user u is
    drawn, row b is ``sum_u w_b[u] num[u, j] / sum_u w_b[u] den[u, j]`` (NaN where the
    denominator is 0). The draws are ``rng.integers(0, n, size=(n_boot, n))`` taken in chunks of
    at most ``max_cells`` weights, which does not change the result.
    """
    n = num.shape[0]
    out = np.empty((n_boot, num.shape[1]))
    chunk = max(1, max_cells // max(n, 1))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = rng.integers(0, n, size=(b, n))
        flat = (draws + (np.arange(b) * n)[:, None]).ravel()
        weights = np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)
        s_num = weights @ num
        s_den = weights @ den
        out[start : start + b] = np.divide(
            s_num, s_den, out=np.full_like(s_num, np.nan), where=s_den > 0
        )
    return out


def _user_hour_matrices(user_hour: pd.DataFrame, users: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """(podcast plays, plays) as users x 24 matrices, rows in the order of ``users``."""
    sub = user_hour[user_hour["participant_id"].isin(users)]
    row = pd.Index(users).get_indexer(sub["participant_id"])
    hours = sub["hour"].to_numpy().astype(np.int64)
    plays = np.zeros((len(users), 24))
    podcast = np.zeros((len(users), 24))
    np.add.at(plays, (row, hours), sub["n_plays"].to_numpy())
    np.add.at(podcast, (row, hours), sub["n_podcast"].to_numpy())
    return podcast, plays


def _nan_percentiles(boot: np.ndarray, lo_q: float, hi_q: float) -> np.ndarray:
    """Column-wise percentiles ignoring NaN (resamples without a play at that hour); a column
    that is all NaN (no play at all) gives NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(boot, [lo_q, hi_q], axis=0)


def _check_boot(n_boot: int, ci: float) -> tuple[float, float]:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    return 100 * (1 - ci) / 2, 100 * (1 + ci) / 2


def podcast_share_by_hour(
    user_hour: pd.DataFrame,
    cohorts: pd.Series,
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The Figure 1 analogue: ``S_C(h)`` per cohort and hour with its bootstrap band.

    Returns one row per (cohort, hour 0..23): ``share`` (NaN where the cohort has no play at that
    hour), ``low``, ``high`` (percentile interval at level ``ci`` over ``n_boot`` resamples of the
    cohort's users), ``n_plays``, ``n_users``.
    """
    lo_q, hi_q = _check_boot(n_boot, ci)
    frames = []
    for index, name in enumerate(COHORTS):
        users = pd.Index(sorted(cohorts.index[cohorts == name]))
        podcast, plays = _user_hour_matrices(user_hour, users)
        total_p, total = podcast.sum(axis=0), plays.sum(axis=0)
        share = np.divide(total_p, total, out=np.full(24, np.nan), where=total > 0)
        low = high = np.full(24, np.nan)
        if len(users):
            boot = bootstrap_ratio(podcast, plays, n_boot, _cohort_rng(seed, "by_hour", index))
            low, high = _nan_percentiles(boot, lo_q, hi_q)
        frames.append(
            pd.DataFrame(
                {
                    "cohort": name,
                    "hour": np.arange(24),
                    "share": share,
                    "low": low,
                    "high": high,
                    "n_plays": total.astype(np.int64),
                    "n_users": len(users),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["cohort"] = pd.Categorical(out["cohort"], categories=list(COHORTS), ordered=True)
    return out


def _period_hours(start: int, end: int) -> list[int]:
    if not (0 <= start <= 23 and 0 <= end <= 24) or start == end:
        raise ValueError(f"period ({start}, {end}) must be two different hours in 0..24")
    return list(range(start, end)) if start < end else [*range(start, 24), *range(0, end)]


def period_contrast(
    user_hour: pd.DataFrame,
    cohorts: pd.Series,
    *,
    periods: Mapping[str, tuple[int, int]] = DEFAULT_PERIODS,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Pooled podcast share of each cohort in two periods of the day, and their difference.

    ``periods`` maps two names to hour ranges ``[start, end)`` (wrapping past midnight when
    start > end), by default morning 06-10 and evening 18-22. Rows per cohort: one per period
    and ``"<first> - <second>"`` (difference of shares); columns ``estimate``, ``low``, ``high``
    (percentile bootstrap over users, the same resamples for both periods, so the difference's
    interval is paired), ``n_users``.
    """
    if len(periods) != 2:
        raise ValueError(f"periods must name exactly two periods, got {list(periods)}")
    lo_q, hi_q = _check_boot(n_boot, ci)
    names = list(periods)
    hour_sets = [_period_hours(*periods[name]) for name in names]
    rows = []
    for index, cohort in enumerate(COHORTS):
        users = pd.Index(sorted(cohorts.index[cohorts == cohort]))
        podcast, plays = _user_hour_matrices(user_hour, users)
        num = np.column_stack([podcast[:, h].sum(axis=1) for h in hour_sets])
        den = np.column_stack([plays[:, h].sum(axis=1) for h in hour_sets])
        tot_n, tot_d = num.sum(axis=0), den.sum(axis=0)
        est = np.divide(tot_n, tot_d, out=np.full(2, np.nan), where=tot_d > 0)
        boot = bootstrap_ratio(num, den, n_boot, _cohort_rng(seed, "period_contrast", index))
        boot = np.column_stack([boot, boot[:, 0] - boot[:, 1]])
        low, high = _nan_percentiles(boot, lo_q, hi_q)
        estimates = [est[0], est[1], est[0] - est[1]]
        labels = [names[0], names[1], f"{names[0]} - {names[1]}"]
        for label, e, lo, hi in zip(labels, estimates, low, high, strict=True):
            rows.append((cohort, label, e, lo, hi, len(users)))
    return pd.DataFrame(rows, columns=["cohort", "quantity", "estimate", "low", "high", "n_users"])


def plot_podcast_share_by_hour(curves: pd.DataFrame, *, tz: str = "UTC, as exported") -> Figure:
    """Lines of ``S_C(h)`` per cohort with shaded bootstrap bands; returns the Figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import PercentFormatter

    from prefcal.paper.figures import FIGURE_WIDTH, PAPER_STYLE

    legend_size = PAPER_STYLE["rc"]["legend.fontsize"]

    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.0))
    palette = dict(zip(COHORTS, sns.color_palette(n_colors=len(COHORTS)), strict=True))
    data = curves.assign(cohort=curves["cohort"].astype(str))
    sns.lineplot(
        data=data,
        x="hour",
        y="share",
        hue="cohort",
        hue_order=list(COHORTS),
        palette=palette,
        marker="o",
        markersize=3,
        errorbar=None,
        ax=ax,
    )
    for name in COHORTS:
        part = data[data["cohort"] == name]
        ax.fill_between(
            part["hour"], part["low"], part["high"], color=palette[name], alpha=0.2, linewidth=0
        )
    ax.set_xlim(-0.5, 23.5)
    ax.set_xticks(range(0, 24, 3))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(f"Hour of day ({tz})")
    ax.set_ylabel("Podcast share of plays")
    ax.set_ylim(0, 1)
    ax.legend(
        title="Cohort",
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title_fontsize=legend_size,
    )
    fig.tight_layout()
    return fig
