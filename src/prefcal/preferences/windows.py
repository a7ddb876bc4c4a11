"""Windowed and exponentially decayed type distributions at request times (STUDY.md 6.1).

For a request ``(u, t)`` and the streams ``i`` of user ``u`` that count (:mod:`.streams`), with
weight ``w_i`` (1 or ms_played), time ``t_i`` (``time_column``, by default ``ts_end``: a play is
known once it has ended) and a per-stream vector ``v_i`` over G types (one-hot content type, or the
item's taste-cluster distribution):

* window ``W`` days: ``s_W(u, t) = sum_{t - W <= t_i < t} w_i v_i`` (the window is
  ``[t - W days, t)``: a stream at exactly ``t - W`` is in, one at exactly ``t`` is out), the share
  of type g is ``s_W[g] / sum_g s_W[g]``, and ``n_W`` counts the streams in the window;
* exponential decay with half-life ``h`` days:
  ``d_h(u, t) = sum_{t_i < t} w_i v_i 2^(-(t - t_i) / h) = sum w_i v_i exp(-ln2 (t - t_i) / h)``,
  shares ``d_h[g] / sum_g d_h[g]`` and ``weight_hl{h}d = sum_g d_h[g]``.

When the window (or the whole past) holds no weight the shares take the ``fallback``: ``"nan"``,
``"uniform"`` (1/G each) or a given vector (e.g. the population mix). Requests before a user's
first stream, and users without streams, get counts 0 and the fallback shares.

Vectorised algorithm: streams are sorted by (user, time) once; per-user cumulative sums of
``w_i v_i`` (pandas group-wise cumsum, no cross-user cancellation) and ``np.searchsorted`` on the
combined key ``user * span + time`` give every window sum as a difference of two prefix sums. The
decayed sum uses the recursion ``S_j = S_{j-1} 2^(-(t_j - t_{j-1})/h) + w_j v_j`` evaluated in
closed form: within epochs of 256 half-lives, ``S_j = 2^(-y_j) (C_j + carry_e)`` with ``y_j`` the
time since the epoch start in half-lives, ``C_j`` the cumulative sum of ``w_i v_i 2^(y_i)`` in the
epoch and ``carry_e`` the decayed total of earlier epochs (so no exponent exceeds 2^256); a request
at ``t`` after the user's last earlier stream ``j`` gets ``S_j 2^(-(t - t_j)/h)``.
:func:`window_features_naive` filters the stream table once per request: the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prefcal.preferences.streams import (
    DEFAULT_TYPES,
    MS_PER_DAY,
    qualifying_mask,
    require_columns,
    stream_weights,
    to_epoch_ms,
    type_codes,
)

EPOCH_HALF_LIVES = 256.0
Fallback = str | Sequence[float] | np.ndarray


def _label(days: float) -> str:
    return f"{days:g}"


def _as_tuple(x: float | Sequence[float] | None) -> tuple[float, ...]:
    if x is None:
        return ()
    if np.isscalar(x):
        return (float(x),)
    return tuple(float(v) for v in x)


@dataclass
class _Prepared:
    """Counting streams sorted by (user, time) with their G-vectors; requests sorted the same way.

    ``key = user * span + (time - base)`` orders streams and requests alike; ``req_order`` sorts
    the requests by their key (searching sorted queries is cache-friendly) and results are
    scattered back to the input order at the end.
    """

    user: np.ndarray  # int64 user code per stream, sorted
    time: np.ndarray  # int64 ms, sorted within user
    key: np.ndarray  # int64 combined key, sorted
    values: np.ndarray  # (n, G) float64, w_i v_i
    counts: np.ndarray  # (n,) float64, 1 per stream that counts towards n_W
    req_user: np.ndarray  # int64 code per request (sorted order), -1 = no streams
    req_time: np.ndarray  # int64 ms (sorted order)
    req_order: np.ndarray  # position in the input of the i-th sorted request
    base: int
    span: int


def _prepare(
    streams: pd.DataFrame,
    requests: pd.DataFrame,
    values: np.ndarray,
    keep: np.ndarray,
    time_column: str,
    max_window_ms: int,
) -> _Prepared:
    require_columns(streams, ["participant_id", time_column], "streams")
    require_columns(requests, ["participant_id", "t"], "requests")
    all_codes, users = pd.factorize(streams["participant_id"])
    codes = all_codes[keep].astype(np.int64)
    time = to_epoch_ms(streams[time_column], f"streams.{time_column}")[keep]
    req_user = pd.Index(users).get_indexer(requests["participant_id"]).astype(np.int64)
    req_time = to_epoch_ms(requests["t"], "requests.t")
    lows = [time.min()] if time.size else []
    highs = [time.max()] if time.size else []
    if req_time.size:
        lows.append(req_time.min() - max_window_ms)
        highs.append(req_time.max())
    base = int(min(lows, default=0))
    span = int(max(highs, default=0)) - base + 1
    if (len(users) + 1) * float(span) >= 2.0**62:
        raise ValueError("time span x number of users too large for the int64 search key")
    key = codes * span + (time - base)
    if key.size > 1 and not np.all(key[1:] >= key[:-1]):
        order = np.argsort(key, kind="stable")
        key, codes, time = key[order], codes[order], time[order]
        vals = values[keep][order]
    else:  # already in (user, time) order
        vals = values[keep]
    # unknown users sort last (they have no streams; their results are the fallback)
    rkey = np.where(req_user >= 0, req_user * span + (req_time - base), np.iinfo(np.int64).max)
    req_order = np.argsort(rkey, kind="stable")
    return _Prepared(
        user=codes,
        time=time,
        key=key,
        values=np.ascontiguousarray(vals, dtype=np.float64),
        counts=np.ones(codes.size),
        req_user=req_user[req_order],
        req_time=req_time[req_order],
        req_order=req_order,
        base=base,
        span=span,
    )


def _groupwise_cumsum(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cumulative sum of the rows of ``x`` restarting at every new value of sorted ``groups``."""
    if x.shape[0] == 0:
        return x.copy()
    return pd.DataFrame(x).groupby(groups, sort=False).cumsum().to_numpy(dtype=np.float64)


def _unsort(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    out[order] = x
    return out


def _window_core(
    prep: _Prepared, windows_ms: Sequence[int], half_lives_ms: Sequence[float]
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[float, np.ndarray]]:
    """Window sums ``{W: (values (R, G), counts (R,))}`` and decayed sums ``{h: (R, G)}``."""
    n_req = prep.req_user.size
    g = prep.values.shape[1]
    if n_req == 0:
        empty = np.zeros((0, g))
        return {w: (empty, np.zeros(0)) for w in windows_ms}, {h: empty for h in half_lives_ms}
    known = prep.req_user >= 0
    ru = np.where(known, prep.req_user, 0)
    user_start = np.searchsorted(prep.user, ru, side="left")
    rel = prep.req_time - prep.base
    hi = np.searchsorted(prep.key, ru * prep.span + rel, side="left")
    hi = np.where(known, hi, user_start)

    cum = _groupwise_cumsum(np.column_stack([prep.values, prep.counts]), prep.user)

    def prefix(end: np.ndarray) -> np.ndarray:
        """Sum over the user's rows [user_start, end): cum[end - 1] or 0."""
        out = np.zeros((n_req, g + 1))
        has = end > user_start
        out[has] = cum[end[has] - 1]
        return out

    upper = prefix(hi)
    win: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for w in windows_ms:
        lo = np.searchsorted(prep.key, ru * prep.span + (rel - w), side="left")
        lo = np.where(known, lo, user_start)
        diff = upper - prefix(lo)
        np.maximum(diff, 0.0, out=diff)  # remove -0.0 / rounding below zero
        diff = _unsort(diff, prep.req_order)
        win[w] = (diff[:, :g], np.rint(diff[:, g]))

    dec: dict[float, np.ndarray] = {}
    if half_lives_ms:
        has = (hi > user_start) & known
        j = hi[has] - 1
        for h in half_lives_ms:
            s = _decayed_at_streams(prep, h)
            out = np.zeros((n_req, g))
            out[has] = s[j] * np.exp2(-(prep.req_time[has] - prep.time[j]) / h)[:, None]
            dec[h] = _unsort(out, prep.req_order)
    return win, dec


def _decayed_at_streams(prep: _Prepared, h_ms: float) -> np.ndarray:
    """``S_j = sum_{i <= j, same user} w_i v_i 2^(-(t_j - t_i)/h)`` for every sorted stream j."""
    n = prep.time.size
    if n == 0:
        return np.zeros((0, prep.values.shape[1]))
    first = np.ones(n, dtype=bool)
    first[1:] = prep.user[1:] != prep.user[:-1]
    start_idx = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    x = (prep.time - prep.time[start_idx]) / h_ms  # half-lives since the user's first stream
    epoch = np.floor(x / EPOCH_HALF_LIVES)
    y = x - epoch * EPOCH_HALF_LIVES
    new_group = first.copy()
    new_group[1:] |= epoch[1:] != epoch[:-1]
    gid = np.cumsum(new_group) - 1
    c = _groupwise_cumsum(prep.values * np.exp2(y)[:, None], gid)
    group_first = np.flatnonzero(new_group)
    group_last = np.r_[group_first[1:] - 1, n - 1]
    total = c[group_last]
    g_epoch = epoch[group_first]
    g_user_first = first[group_first]
    # rank of each group within its user; carry over earlier epochs, one pass per rank
    g_start = np.maximum.accumulate(np.where(g_user_first, np.arange(group_first.size), 0))
    rank = np.arange(group_first.size) - g_start
    carry = np.zeros_like(total)
    for r in range(1, int(rank.max(initial=0)) + 1):
        idx = np.flatnonzero(rank == r)
        factor = np.exp2(-EPOCH_HALF_LIVES * (g_epoch[idx] - g_epoch[idx - 1]))
        carry[idx] = (carry[idx - 1] + total[idx - 1]) * factor[:, None]
    return np.exp2(-y)[:, None] * (c + carry[gid])


def _shares(sums: np.ndarray, fallback: Fallback) -> np.ndarray:
    g = sums.shape[1]
    tot = sums.sum(axis=1)
    out = np.empty_like(sums)
    ok = tot > 0
    out[ok] = sums[ok] / tot[ok, None]
    if isinstance(fallback, str):
        if fallback == "nan":
            out[~ok] = np.nan
        elif fallback == "uniform":
            out[~ok] = 1.0 / g
        else:
            raise ValueError(
                f"preferences.fallback must be 'nan', 'uniform' or a vector, got {fallback!r}"
            )
    else:
        vec = np.asarray(fallback, dtype=np.float64)
        if vec.shape != (g,):
            raise ValueError(f"fallback vector must have {g} entries")
        out[~ok] = vec
    return out


def _assemble(
    requests: pd.DataFrame,
    names: Sequence[str],
    win: dict[int, tuple[np.ndarray, np.ndarray]],
    dec: dict[float, np.ndarray],
    windows: Sequence[float],
    half_lives: Sequence[float],
    fallback: Fallback,
    count_name: str = "n",
) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    for wd in windows:
        sums, counts = win[int(round(wd * MS_PER_DAY))]
        lab = _label(wd)
        cols[f"{count_name}_{lab}d"] = counts.astype(np.int64)
        cols[f"weight_{lab}d"] = sums.sum(axis=1)
        shares = _shares(sums, fallback)
        for j, name in enumerate(names):
            cols[f"{name}_{lab}d"] = shares[:, j]
    for hd in half_lives:
        sums = dec[hd * MS_PER_DAY]
        lab = _label(hd)
        cols[f"weight_hl{lab}d"] = sums.sum(axis=1)
        shares = _shares(sums, fallback)
        for j, name in enumerate(names):
            cols[f"{name}_hl{lab}d"] = shares[:, j]
    return pd.DataFrame(cols, index=requests.index)


def _check_windows(windows: Sequence[float], half_lives: Sequence[float]) -> None:
    if any(w <= 0 for w in windows):
        raise ValueError(
            f"preferences.windows must be positive numbers of days, got {list(windows)}"
        )
    if any(h <= 0 for h in half_lives):
        raise ValueError(f"preferences.half_lives must be positive days, got {list(half_lives)}")


def window_features(
    streams: pd.DataFrame,
    requests: pd.DataFrame,
    windows: Sequence[float] = (7, 28, 90),
    half_life: float | Sequence[float] | None = (7, 30),
    types: Sequence[str] = DEFAULT_TYPES,
    weight: str = "count",
    exclude_skips: bool = False,
    min_ms_played: int = 30_000,
    *,
    time_column: str = "ts_end",
    fallback: Fallback = "nan",
) -> pd.DataFrame:
    """Content-type distributions of each request's past (module doc), one row per request.

    ``requests`` has ``participant_id`` and ``t`` (timestamps; naive = UTC); the result has the same
    index and, for every window W (days) and half-life h (days), the columns ``n_{W}d`` (streams in
    the window), ``weight_{W}d``, ``{type}_{W}d`` (shares), ``weight_hl{h}d`` and ``{type}_hl{h}d``.
    """
    windows = _as_tuple(windows)
    half_lives = _as_tuple(half_life)
    _check_windows(windows, half_lives)
    keep = qualifying_mask(
        streams, types=types, min_ms_played=min_ms_played, exclude_skips=exclude_skips
    )
    code = type_codes(streams["content_type"], types)
    w = stream_weights(streams, weight)
    values = np.zeros((len(streams), len(types)))
    values[np.flatnonzero(keep), code[keep]] = w[keep]
    windows_ms = [int(round(x * MS_PER_DAY)) for x in windows]
    prep = _prepare(streams, requests, values, keep, time_column, max(windows_ms, default=0))
    win, dec = _window_core(prep, windows_ms, [h * MS_PER_DAY for h in half_lives])
    return _assemble(requests, list(types), win, dec, windows, half_lives, fallback)


def taste_window_features(
    streams: pd.DataFrame,
    requests: pd.DataFrame,
    item_uri: np.ndarray,
    item_dist: np.ndarray,
    windows: Sequence[float] = (7, 28, 90),
    half_life: float | Sequence[float] | None = (7, 30),
    types: Sequence[str] = DEFAULT_TYPES,
    weight: str = "count",
    exclude_skips: bool = False,
    min_ms_played: int = 30_000,
    *,
    time_column: str = "ts_end",
    fallback: Fallback = "nan",
    prefix: str = "c",
) -> pd.DataFrame:
    """Taste-type (cluster) distributions of each request's past, like :func:`window_features`.

    ``item_uri`` / ``item_dist`` (items x K, rows summing to 1, zero rows = unknown) give each
    item's taste distribution (e.g. :class:`prefcal.clustering.TasteTypes` ``item_uri``/``dist``).
    A stream contributes ``w_i * dist[item_i]``; streams whose item has no known taste are left out
    and ``n_known_{W}d`` counts those that contribute. Columns ``{prefix}{j}_{W}d`` are the shares.
    """
    windows = _as_tuple(windows)
    half_lives = _as_tuple(half_life)
    _check_windows(windows, half_lives)
    require_columns(streams, ["item_uri"], "streams")
    dist = np.asarray(item_dist, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] != len(item_uri):
        raise ValueError("item_dist must have one row per entry of item_uri")
    idx = pd.Index(np.asarray(item_uri, dtype=object)).get_indexer(
        streams["item_uri"].astype(object)
    )
    keep = qualifying_mask(
        streams, types=types, min_ms_played=min_ms_played, exclude_skips=exclude_skips
    )
    known = idx >= 0
    known[known] = dist[idx[known]].sum(axis=1) > 0
    keep &= known
    w = stream_weights(streams, weight)
    values = np.zeros((len(streams), dist.shape[1]))
    values[keep] = dist[idx[keep]] * w[keep, None]
    windows_ms = [int(round(x * MS_PER_DAY)) for x in windows]
    prep = _prepare(streams, requests, values, keep, time_column, max(windows_ms, default=0))
    win, dec = _window_core(prep, windows_ms, [h * MS_PER_DAY for h in half_lives])
    names = [f"{prefix}{j}" for j in range(dist.shape[1])]
    return _assemble(requests, names, win, dec, windows, half_lives, fallback, count_name="n_known")


def _naive(
    user: np.ndarray,
    time: np.ndarray,
    values: np.ndarray,
    keep: np.ndarray,
    requests: pd.DataFrame,
    windows: Sequence[float],
    half_lives: Sequence[float],
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[float, np.ndarray]]:
    req_user = requests["participant_id"].to_numpy(dtype=object)
    req_time = to_epoch_ms(requests["t"], "requests.t")
    g = values.shape[1]
    win = {
        int(round(w * MS_PER_DAY)): (np.zeros((len(requests), g)), np.zeros(len(requests)))
        for w in windows
    }
    dec = {h * MS_PER_DAY: np.zeros((len(requests), g)) for h in half_lives}
    for r in range(len(requests)):
        t = req_time[r]
        past = keep & (user == req_user[r]) & (time < t)
        for w_ms, (sums, counts) in win.items():
            sel = past & (time >= t - w_ms)
            sums[r] = values[sel].sum(axis=0)
            counts[r] = sel.sum()
        for h_ms, sums in dec.items():
            factor = np.exp(-np.log(2.0) * (t - time[past]) / h_ms)
            sums[r] = (values[past] * factor[:, None]).sum(axis=0)
    return win, dec


def window_features_naive(
    streams: pd.DataFrame,
    requests: pd.DataFrame,
    windows: Sequence[float] = (7, 28, 90),
    half_life: float | Sequence[float] | None = (7, 30),
    types: Sequence[str] = DEFAULT_TYPES,
    weight: str = "count",
    exclude_skips: bool = False,
    min_ms_played: int = 30_000,
    *,
    time_column: str = "ts_end",
    fallback: Fallback = "nan",
) -> pd.DataFrame:
    """Reference for :func:`window_features`: filters the whole stream table once per request."""
    windows = _as_tuple(windows)
    half_lives = _as_tuple(half_life)
    _check_windows(windows, half_lives)
    keep = qualifying_mask(
        streams, types=types, min_ms_played=min_ms_played, exclude_skips=exclude_skips
    )
    code = type_codes(streams["content_type"], types)
    w = stream_weights(streams, weight)
    values = np.zeros((len(streams), len(types)))
    values[np.flatnonzero(keep), code[keep]] = w[keep]
    user = streams["participant_id"].to_numpy(dtype=object)
    time = to_epoch_ms(streams[time_column], f"streams.{time_column}")
    win, dec = _naive(user, time, values, keep, requests, windows, half_lives)
    return _assemble(requests, list(types), win, dec, windows, half_lives, fallback)


def taste_window_features_naive(
    streams: pd.DataFrame,
    requests: pd.DataFrame,
    item_uri: np.ndarray,
    item_dist: np.ndarray,
    windows: Sequence[float] = (7, 28, 90),
    half_life: float | Sequence[float] | None = (7, 30),
    types: Sequence[str] = DEFAULT_TYPES,
    weight: str = "count",
    exclude_skips: bool = False,
    min_ms_played: int = 30_000,
    *,
    time_column: str = "ts_end",
    fallback: Fallback = "nan",
    prefix: str = "c",
) -> pd.DataFrame:
    """Reference for :func:`taste_window_features` (per-request filter)."""
    windows = _as_tuple(windows)
    half_lives = _as_tuple(half_life)
    dist = np.asarray(item_dist, dtype=np.float64)
    lookup = dict(zip(list(item_uri), range(len(item_uri)), strict=True))
    keep = qualifying_mask(
        streams, types=types, min_ms_played=min_ms_played, exclude_skips=exclude_skips
    )
    w = stream_weights(streams, weight)
    values = np.zeros((len(streams), dist.shape[1]))
    for i, uri in enumerate(streams["item_uri"].to_numpy(dtype=object)):
        j = lookup.get(uri, -1)
        if keep[i] and j >= 0 and dist[j].sum() > 0:
            values[i] = dist[j] * w[i]
        else:
            keep[i] = False
    user = streams["participant_id"].to_numpy(dtype=object)
    time = to_epoch_ms(streams[time_column], f"streams.{time_column}")
    win, dec = _naive(user, time, values, keep, requests, windows, half_lives)
    names = [f"{prefix}{j}" for j in range(dist.shape[1])]
    return _assemble(requests, names, win, dec, windows, half_lives, fallback, count_name="n_known")
