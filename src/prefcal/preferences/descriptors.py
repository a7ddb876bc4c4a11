"""Per-user descriptors of listening (STUDY.md 6.1), over the streams that count (:mod:`.streams`).

* ``entropy_content``: ``H(p) = -sum_k p_k log2 p_k`` of the user's content-type shares (count
  weights); ``entropy_taste`` the same for the taste-cluster distribution
  ``sum_i taste(item_i) / #known`` over the user's streams whose item has a known taste type
  (``n_taste_known`` of them).
* ``gs_score``: generalist-specialist score (Anderson et al. 2020, "Algorithmic effects on the
  diversity of consumption on Spotify", WWW): with ``w_i`` the number of the user's streams of
  item ``i`` (items with a vector), ``v_i`` the item vector scaled to unit length and the weighted
  centre ``mu_u = sum_i w_i v_i / sum_i w_i``,
  ``GS(u) = sum_i w_i cos(v_i, mu_u) / sum_i w_i`` (equal to ``||mu_u||``): near 1 for a
  specialist, lower for a generalist. Vectors are e.g. the clustering's SVD artist vectors (keyed
  by ``creator_name``) or the item taste-type vectors (keyed by ``item_uri``).
* ``repeat_share``: share of the user's streams (with an item URI) whose item the user had streamed
  before (an earlier stream that counts, in time order).
* ``habit_score``: among the user's weekday mornings (local hours ``habit_hours[0]`` to
  ``habit_hours[1]`` inclusive, Monday-Friday) with at least one podcast stream, the share whose
  podcast streams include the user's most frequent show of such mornings (ties: the
  alphabetically first); ``n_podcast_mornings`` is the denominator, ``habit_show`` the show.
* ``user_initiated_share``: share of streams with a known ``reason_start`` that started with one of
  ``user_initiated_reasons`` (clickrow, playbtn). ``reason_start`` says how playback started, not
  which surface it came from: a proxy for the listener's own choice.

Undefined values (no streams, no podcast morning, ...) are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from prefcal.preferences.context import local_hour_weekend
from prefcal.preferences.streams import (
    DEFAULT_TYPES,
    qualifying_mask,
    require_columns,
    to_epoch_ms,
    type_codes,
)
from prefcal.tables import stream_time


def entropy_bits(counts: np.ndarray) -> np.ndarray:
    """Row-wise Shannon entropy in bits of non-negative ``counts`` (NaN for all-zero rows)."""
    c = np.asarray(counts, dtype=np.float64)
    tot = c.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = c / tot
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=-1)
    return np.where(tot[..., 0] > 0, h, np.nan)


def _keyed(obj: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(obj, "dist") and hasattr(obj, "item_uri"):
        return np.asarray(obj.item_uri, dtype=object), np.asarray(obj.dist, dtype=np.float64)
    keys, vec = obj
    return np.asarray(keys, dtype=object), np.asarray(vec, dtype=np.float64)


def generalist_specialist(
    user_codes: np.ndarray, n_users: int, vector_idx: np.ndarray, vectors: np.ndarray
) -> np.ndarray:
    """GS score per user from one entry per stream (``vector_idx``: row of ``vectors`` or -1)."""
    norms = np.linalg.norm(vectors, axis=1)
    ok = (vector_idx >= 0) & (norms[np.maximum(vector_idx, 0)] > 0)
    u, i = user_codes[ok], vector_idx[ok]
    if u.size == 0:
        return np.full(n_users, np.nan)
    pair = pd.MultiIndex.from_arrays([u, i])
    pcode, pairs = pd.factorize(pair)
    w = np.bincount(pcode).astype(np.float64)
    pu = pairs.get_level_values(0).to_numpy()
    pi = pairs.get_level_values(1).to_numpy()
    unit = vectors[pi] / norms[pi, None]
    wmat = sp.csr_matrix((w, (pu, np.arange(pu.size))), shape=(n_users, pu.size))
    wsum = np.asarray(wmat.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.asarray(wmat @ unit) / wsum[:, None]
        mu_norm = np.linalg.norm(mu, axis=1)
        cos = np.einsum("ij,ij->i", unit, mu[pu]) / mu_norm[pu]
        gs = np.bincount(pu, weights=w * cos, minlength=n_users) / wsum
    return np.where((wsum > 0) & (mu_norm > 0), gs, np.nan)


def user_descriptors(
    streams: pd.DataFrame,
    *,
    types: Sequence[str] = DEFAULT_TYPES,
    min_ms_played: int = 30_000,
    exclude_skips: bool = False,
    taste: Any = None,
    item_vectors: Any = None,
    vector_key: str = "item_uri",
    timezone: str = "UTC",
    time_column: str = "t_play",
    habit_hours: Sequence[int] = (5, 10),
    user_initiated_reasons: Sequence[str] = ("clickrow", "playbtn"),
    before: pd.Timestamp | pd.Series | None = None,
    before_column: str | None = None,
) -> pd.DataFrame:
    """One row per participant of ``streams`` with the descriptors of the module doc.

    ``taste``: a :class:`prefcal.clustering.TasteTypes` or ``(item_uri, dist)``; ``item_vectors``:
    ``(keys, vectors)`` matched to the streams' ``vector_key`` column (or a TasteTypes). Hours,
    weekdays and the time order come from ``time_column``; only streams with ``before_column``
    (default: ``time_column``) before ``before`` are used when it is given (one time, or a
    Series of times aligned with the rows of ``streams``).
    """
    require_columns(streams, ["participant_id", "item_uri", "creator_name"], "streams")
    when = stream_time(streams, time_column)
    if len(habit_hours) != 2 or not 0 <= habit_hours[0] <= habit_hours[1] <= 23:
        raise ValueError(
            f"preferences.habit_hours must be [first, last] hours, got {list(habit_hours)}"
        )
    keep = qualifying_mask(
        streams, types=types, min_ms_played=min_ms_played, exclude_skips=exclude_skips
    )
    t_ms = to_epoch_ms(when, f"streams.{time_column}")
    if before is not None:
        col = before_column or time_column
        sel_ms = t_ms if col == time_column else to_epoch_ms(stream_time(streams, col), col)
        if isinstance(before, pd.Series):  # one time per row
            limit = to_epoch_ms(before, "before")
        else:
            limit = to_epoch_ms(pd.Series([pd.Timestamp(before)]), "before")[0]
        keep &= sel_ms < limit
    all_codes, users = pd.factorize(streams["participant_id"])
    n_users = len(users)
    sub = streams.loc[keep]
    u = all_codes[keep]
    t = t_ms[keep]
    order = np.lexsort((t, u))
    sub, u, t = sub.iloc[order], u[order], t[order]
    when = when[keep].iloc[order]  # aligned with sub
    out = pd.DataFrame({"participant_id": np.asarray(users, dtype=object)})
    out["n_streams"] = np.bincount(u, minlength=n_users)

    # content-type entropy
    k = type_codes(sub["content_type"], types)
    g = len(types)
    ct = np.bincount(u * g + k, minlength=n_users * g).reshape(n_users, g).astype(np.float64)
    out["entropy_content"] = entropy_bits(ct)

    # taste entropy
    uri = sub["item_uri"].astype(object)
    if taste is not None:
        t_keys, t_dist = _keyed(taste)
        idx = pd.Index(t_keys).get_indexer(uri)
        known = idx >= 0
        known[known] = t_dist[idx[known]].sum(axis=1) > 0
        tm = sp.csr_matrix(
            (np.ones(known.sum()), (u[known], np.arange(known.sum()))), shape=(n_users, known.sum())
        )
        out["entropy_taste"] = entropy_bits(np.asarray(tm @ t_dist[idx[known]]))
        out["n_taste_known"] = np.bincount(u[known], minlength=n_users)
    else:
        out["entropy_taste"] = np.nan
        out["n_taste_known"] = 0

    # generalist-specialist
    if item_vectors is not None:
        require_columns(streams, [vector_key], "streams")
        v_keys, vecs = _keyed(item_vectors)
        vidx = pd.Index(v_keys).get_indexer(sub[vector_key].astype(object))
        out["gs_score"] = generalist_specialist(u, n_users, vidx, vecs)
    else:
        out["gs_score"] = np.nan

    # repeat share (in time order)
    has_uri = uri.notna().to_numpy()
    seen = (
        pd.DataFrame({"u": u[has_uri], "i": uri[has_uri].to_numpy()})
        .duplicated(keep="first")
        .to_numpy()
    )
    den = np.bincount(u[has_uri], minlength=n_users).astype(np.float64)
    num = np.bincount(u[has_uri], weights=seen.astype(np.float64), minlength=n_users)
    out["repeat_share"] = np.where(den > 0, num / np.maximum(den, 1), np.nan)

    # habit score
    hour, weekend = local_hour_weekend(when, timezone)
    morning = (
        (sub["content_type"].to_numpy() == "podcast")
        & ~weekend
        & (hour >= habit_hours[0])
        & (hour <= habit_hours[1])
        & sub["creator_name"].notna().to_numpy()
    )
    out["habit_score"] = np.nan
    out["n_podcast_mornings"] = 0
    out["habit_show"] = None
    if morning.any():
        local_day = pd.Series(pd.to_datetime(t[morning], unit="ms", utc=True))
        if timezone.upper() != "UTC":
            local_day = local_day.dt.tz_convert(timezone)
        m = pd.DataFrame(
            {
                "u": u[morning],
                "day": local_day.dt.strftime("%Y-%m-%d").to_numpy(),
                "show": sub["creator_name"].to_numpy(dtype=object)[morning],
            }
        )
        freq = m.groupby(["u", "show"], sort=True).size().rename("n").reset_index()
        freq = freq.sort_values(["u", "n", "show"], ascending=[True, False, True])
        top = freq.drop_duplicates("u").set_index("u")["show"]
        m["is_top"] = m["show"].to_numpy() == top.reindex(m["u"]).to_numpy()
        days = m.groupby(["u", "day"])["is_top"].any().reset_index()
        per_user = days.groupby("u")["is_top"].agg(["sum", "size"])
        idx = per_user.index.to_numpy()
        out.loc[idx, "habit_score"] = (per_user["sum"] / per_user["size"]).to_numpy()
        out.loc[idx, "n_podcast_mornings"] = per_user["size"].to_numpy()
        out.loc[top.index.to_numpy(), "habit_show"] = top.to_numpy()

    # user-initiated share (a proxy)
    if "reason_start" in sub.columns:
        rs = sub["reason_start"]
        known_rs = rs.notna().to_numpy() & (rs.astype(object).fillna("") != "").to_numpy()
        init = rs.isin(list(user_initiated_reasons)).to_numpy() & known_rs
        den = np.bincount(u[known_rs], minlength=n_users).astype(np.float64)
        num = np.bincount(u[init], minlength=n_users).astype(np.float64)
        out["user_initiated_share"] = np.where(den > 0, num / np.maximum(den, 1), np.nan)
    else:
        out["user_initiated_share"] = np.nan
    return out
