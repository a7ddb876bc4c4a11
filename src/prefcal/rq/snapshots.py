"""The content-type snapshot table of the RQ analysis, built from the logged Home requests.

Every logged Home request (``prefcal.home.logging``: ``log_requests`` + ``impressions``) of a
participant is one recommendation snapshot ``s`` at time ``t_s`` (the request's ``ts``). The table
follows the contract of :mod:`prefcal.rq.contract` for the content dimension (types ``music``,
``podcast``, ``audiobook``):

* ``n__<type>`` = number of slots of the logged slate whose ``item_type`` is ``<type>``.
* ``hist_90__<type>`` / ``hist_7__<type>`` = the participant's share of plays (streams with
  ``ms_played >= min_ms_played``) of ``<type>`` among the three types, with ``ts_end`` in
  ``[t_s - W days, t_s)``, ``W = 90 / 7`` (:func:`prefcal.home.features.window_shares`, no fallback:
  an empty window is an all-null row, "undefined").
* ``context__<type>`` = the participant's context profile at the request's hour and
  weekday/weekend (log column ``x_hr_<type>``: hour x weekend type mix of the profile period
  before the Home-log period, smoothed over hours and shrunk to the participant's overall mix,
  :func:`prefcal.home.features.context_profiles`), renormalised to sum one.
* ``global_mix__<type>`` = one fixed mix for everybody: the pooled type counts of all participants
  in the profile period (``participants.parquet`` ``n_<type>``, summed over every shard),
  ``sum_u n_u,g / sum_u sum_g n_u,g`` (the MB policy's global mix).
* ``popularity__<type>`` = the population's stream mix: the pooled plays of all participants of
  every shard with ``ts_end`` in ``[t_s - P days, t_s)``, ``P = popularity_days``; all-null when
  that window holds no play.

All targets use data strictly before ``t_s`` (the profile period ends where the log period
starts). :func:`snapshot_table` builds one shard's table; :func:`population_streams` and
:func:`global_mix` compute the population quantities once for all shards.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from prefcal.home.features import window_shares
from prefcal.simulate.model import CONTENT_TYPES

__all__ = [
    "PopulationStreams",
    "global_mix",
    "population_streams",
    "add_population_targets",
    "read_shard_snapshots",
    "snapshot_base",
    "snapshot_table",
]

MS_DAY = 86_400_000
# the columns of streams.parquet that the windows read
STREAM_COLUMNS = ["participant_id", "ts_end", "ms_played", "content_type"]


class PopulationStreams:
    """Sorted play end times (ms) per content type of the whole population (all shards)."""

    def __init__(self, ts_ms: np.ndarray, type_code: np.ndarray, n_types: int) -> None:
        ts_ms = np.asarray(ts_ms, dtype=np.int64)
        type_code = np.asarray(type_code, dtype=np.int64)
        self.by_type = [np.sort(ts_ms[type_code == g]) for g in range(n_types)]

    def shares(self, t_ms: np.ndarray, days: int) -> np.ndarray:
        """(n, G) pooled type shares of the plays with ``t - days <= ts_end < t`` (NaN if none)."""
        t = np.asarray(t_ms, dtype=np.int64)
        lo = t - int(days) * MS_DAY
        counts = np.column_stack(
            [
                np.searchsorted(ts, t, "left") - np.searchsorted(ts, lo, "left")
                for ts in self.by_type
            ]
        ).astype(np.float64)
        total = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, counts / np.where(total > 0, total, 1.0), np.nan)


def _type_codes(values: pd.Series | np.ndarray, types: Sequence[str]) -> np.ndarray:
    """Index of each value in ``types``, -1 for any other value (video, unknown, null)."""
    return np.asarray(pd.Index(list(types)).get_indexer(np.asarray(values, dtype=object)))


def population_streams(
    stream_paths: Sequence[str | Path],
    min_ms_played: int = 30_000,
    types: Sequence[str] = CONTENT_TYPES,
) -> PopulationStreams:
    """The plays of every shard's ``streams.parquet`` (only three columns are read)."""
    ts, code = [], []
    for path in stream_paths:
        t = pq.read_table(path, columns=["ts_end", "ms_played", "content_type"])
        ms = t.column("ms_played").to_numpy(zero_copy_only=False)
        c = _type_codes(t.column("content_type").to_numpy(zero_copy_only=False), types)
        end = t.column("ts_end").cast("int64").to_numpy(zero_copy_only=False)
        keep = (ms >= min_ms_played) & (c >= 0)
        ts.append(end[keep])
        code.append(c[keep])
    if not ts:
        raise ValueError("population_streams needs at least one streams.parquet")
    return PopulationStreams(np.concatenate(ts), np.concatenate(code), len(types))


def global_mix(
    participants: pd.DataFrame | Sequence[str | Path], types: Sequence[str] = CONTENT_TYPES
) -> np.ndarray:
    """(G,) the pooled profile-period type mix ``sum_u n_u,g / sum_u,g n_u,g`` of all participants.

    ``participants`` is a ``participants.parquet`` frame or a list of their paths (every shard).
    """
    if not isinstance(participants, pd.DataFrame):
        participants = pd.concat([pd.read_parquet(p) for p in participants], ignore_index=True)
    cols = [f"n_{t}" for t in types]
    missing = [c for c in cols if c not in participants.columns]
    if missing:
        raise ValueError(f"participants table: missing column(s) {missing}")
    total = participants[cols].to_numpy(dtype=np.float64).sum(axis=0)
    if total.sum() <= 0:
        raise ValueError("participants table: no stream of any type in the profile period")
    return total / total.sum()


def snapshot_table(
    requests: pd.DataFrame,
    impressions: pd.DataFrame,
    streams: pd.DataFrame,
    population: PopulationStreams,
    fixed_mix: np.ndarray,
    popularity_days: int = 28,
    min_ms_played: int = 30_000,
    types: Sequence[str] = CONTENT_TYPES,
) -> pd.DataFrame:
    """The contract table (module docstring) of one shard's logged requests.

    ``requests`` needs ``request_id, participant_id, ts`` and ``x_hr_<type>``; ``impressions``
    ``request_id, item_type``; ``streams`` is the shard's canonical streams table.
    = :func:`add_population_targets` of :func:`snapshot_base`.
    """
    base = snapshot_base(requests, impressions, streams, min_ms_played, types)
    t_ms = base.pop(T_MS).to_numpy(dtype=np.int64)
    return add_population_targets(base, fixed_mix, population.shares(t_ms, popularity_days), types)


#: the request time in epoch ms that :func:`snapshot_base` adds (the popularity windows need it)
T_MS = "t_ms"


def snapshot_base(
    requests: pd.DataFrame,
    impressions: pd.DataFrame,
    streams: pd.DataFrame,
    min_ms_played: int = 30_000,
    types: Sequence[str] = CONTENT_TYPES,
) -> pd.DataFrame:
    """The part of one shard's snapshot table that needs only the shard's own rows: the contract
    columns up to ``context__<type>`` (module docstring) and :data:`T_MS`, the request time in
    epoch ms. The population targets are added by :func:`add_population_targets`."""
    for col in ("request_id", "participant_id", "ts", *(f"x_hr_{t}" for t in types)):
        if col not in requests.columns:
            raise ValueError(f"log_requests: missing column {col!r}")
    for col in ("request_id", "item_type"):
        if col not in impressions.columns:
            raise ValueError(f"impressions: missing column {col!r}")
    n_types = len(types)
    rid = requests["request_id"].astype(str).to_numpy()
    row = pd.Index(rid).get_indexer(impressions["request_id"].astype(str).to_numpy())
    if (row < 0).any():
        bad = impressions["request_id"].iloc[int(np.flatnonzero(row < 0)[0])]
        raise ValueError(f"impressions: request_id {bad!r} is not in log_requests")
    code = _type_codes(impressions["item_type"], types)
    if (code < 0).any():
        bad = impressions["item_type"].iloc[int(np.flatnonzero(code < 0)[0])]
        raise ValueError(f"impressions: item_type {bad!r} is not one of {list(types)}")
    counts = np.bincount(row * n_types + code, minlength=len(rid) * n_types).reshape(-1, n_types)

    ts = pd.to_datetime(requests["ts"], utc=True)
    t_ms = ts.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
    pids = requests["participant_id"].astype(str).to_numpy()
    shares, _ = window_shares(streams, pids, t_ms, (7, 90), min_ms_played)
    ctx = requests[[f"x_hr_{t}" for t in types]].to_numpy(dtype=np.float64)
    ctx = ctx / ctx.sum(axis=1, keepdims=True)
    targets = {"hist_90": shares[:, 1], "hist_7": shares[:, 0], "context": ctx}
    cols: dict[str, object] = {
        "participant_id": pids,
        "snapshot_id": rid,
        "time": ts.astype("datetime64[ms, UTC]").reset_index(drop=True),
    }
    for g, t in enumerate(types):
        cols[f"n__{t}"] = counts[:, g].astype(np.float64)
    for name, arr in targets.items():
        for g, t in enumerate(types):
            cols[f"{name}__{t}"] = arr[:, g]
    cols[T_MS] = t_ms
    return pd.DataFrame(cols)


def add_population_targets(
    base: pd.DataFrame,
    fixed_mix: np.ndarray,
    popularity: np.ndarray,
    types: Sequence[str] = CONTENT_TYPES,
) -> pd.DataFrame:
    """``base`` (:func:`snapshot_base` without :data:`T_MS`) with the columns
    ``global_mix__<type>`` (the fixed mix, every row) and ``popularity__<type>`` (``popularity``,
    ``(n, G)`` shares per row) appended, in the contract's order."""
    popularity = np.asarray(popularity, dtype=np.float64)
    if popularity.shape != (len(base), len(types)):
        raise ValueError(
            f"popularity must be (n, G) = ({len(base)}, {len(types)}), got {popularity.shape}"
        )
    fixed = np.broadcast_to(np.asarray(fixed_mix, dtype=np.float64), popularity.shape)
    cols = {}
    for name, arr in (("global_mix", fixed), ("popularity", popularity)):
        for g, t in enumerate(types):
            cols[f"{name}__{t}"] = arr[:, g]
    return pd.concat([base.reset_index(drop=True), pd.DataFrame(cols)], axis=1)


def read_shard_snapshots(
    home_dir: str | Path,
    data_dir: str | Path,
    shards: Sequence[str],
    popularity_days: int = 28,
    min_ms_played: int = 30_000,
) -> pd.DataFrame:
    """The snapshot table of every shard: ``home_dir/shard_NNN/{log_requests,impressions,
    participants}.parquet`` and ``data_dir/shard_NNN/streams.parquet``, concatenated."""
    home_dir, data_dir = Path(home_dir), Path(data_dir)
    stream_paths = [data_dir / f"shard_{s}" / "streams.parquet" for s in shards]
    population = population_streams(stream_paths, min_ms_played)
    fixed = global_mix([home_dir / f"shard_{s}" / "participants.parquet" for s in shards])
    hr_cols = [f"x_hr_{t}" for t in CONTENT_TYPES]
    frames = []
    for s, spath in zip(shards, stream_paths, strict=True):
        req = pd.read_parquet(
            home_dir / f"shard_{s}" / "log_requests.parquet",
            columns=["request_id", "participant_id", "ts", *hr_cols],
        )
        imp = pd.read_parquet(
            home_dir / f"shard_{s}" / "impressions.parquet", columns=["request_id", "item_type"]
        )
        streams = pd.read_parquet(spath, columns=STREAM_COLUMNS)
        frames.append(
            snapshot_table(req, imp, streams, population, fixed, popularity_days, min_ms_played)
        )
    return pd.concat(frames, ignore_index=True)
