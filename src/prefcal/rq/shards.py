"""Stage 05 shard by shard: compact per-shard summaries, merged without any shard's raw rows.

The snapshot table of :mod:`prefcal.rq.snapshots` needs, per shard, the shard's logged requests,
impressions and streams (counts, 90 / 7-day history, context profile), and, for the population
targets, every shard's plays (popularity) and profile-period type counts (global mix). Reading all
of them in one job makes its memory grow with the study. Here:

* :func:`write_shard_summary` (the per-shard rule, ``prefcal rq snapshots``) writes under
  ``results/rq/shard_NNN/``

  - ``snapshots.parquet``: :func:`prefcal.rq.snapshots.snapshot_base` of the shard, one row per
    logged request (the contract columns up to ``context__<type>`` and ``t_ms``, the request time
    in epoch ms);
  - ``plays.parquet``: the shard's counting plays (``ms_played >= min_ms_played``, a content type
    of the dimension) as ``ts_ms`` (int64 epoch ms of ``ts_end``) and ``type`` (int8 code), sorted
    by ``(type, ts_ms)``: two small columns instead of the streams table;
  - ``type_totals.parquet``: one row, ``n_<type>`` = the sum over the shard's participants of
    their profile-period counts (``participants.parquet``).

* :func:`read_rq_data` (the notebook) gives the same table already validated as
  :class:`prefcal.rq.contract.SnapshotData`, ``snapshot_data(read_rq_snapshots(...))`` to the
  bit, without ever holding the whole table as a DataFrame or a Python string per row: a first
  pass reads only the shards' participant ids, request times and plays (the popularity counts
  need every shard), a second validates one shard at a time
  (:func:`prefcal.rq.contract.snapshot_data`) and writes its rows into preallocated arrays
  (participants are disjoint across shards). Its peak: the arrays of the result (``S`` rows x
  (3 counts + 15 targets) float64, user, time, fixed-width snapshot id) plus one shard's rows.
* :func:`read_rq_snapshots` concatenates the shards' ``snapshots.parquet`` in shard
  order and adds the population targets: the global mix ``sum_shards n_g / sum_shards,g n_g`` and
  the popularity shares from the counts
  ``c_g(t) = sum_shards #{plays of type g with t - P days <= ts_ms < t}``, accumulated one shard's
  plays at a time (:class:`PopulationCounts`). The counts are integers, so the sum over shards is
  exact and the table is the same, to the byte, as
  :func:`prefcal.rq.snapshots.read_shard_snapshots` for any number of shards.

Peak memory of the merge: the snapshot rows plus one shard's plays; no streams or impressions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from prefcal.rq.contract import TARGETS, SnapshotData, snapshot_data
from prefcal.rq.memory import release_freed_memory
from prefcal.rq.snapshots import (
    MS_DAY,
    STREAM_COLUMNS,
    T_MS,
    _type_codes,
    add_population_targets,
    snapshot_base,
)
from prefcal.simulate.model import CONTENT_TYPES

__all__ = [
    "SHARD_FILES",
    "PopulationCounts",
    "read_rq_data",
    "read_rq_snapshots",
    "shard_plays",
    "write_shard_summary",
]

#: the files :func:`write_shard_summary` writes into a shard's directory
SHARD_FILES = ("snapshots.parquet", "plays.parquet", "type_totals.parquet")


def shard_plays(
    streams: pd.DataFrame, min_ms_played: int = 30_000, types: Sequence[str] = CONTENT_TYPES
) -> pd.DataFrame:
    """The counting plays of a streams table: ``ts_ms`` (int64 epoch ms of ``ts_end``) and
    ``type`` (int8 index into ``types``), rows with ``ms_played >= min_ms_played`` and a type in
    ``types``, sorted by ``(type, ts_ms)``."""
    for col in ("ts_end", "ms_played", "content_type"):
        if col not in streams.columns:
            raise ValueError(f"streams: missing column {col!r}")
    ms = streams["ms_played"].to_numpy()
    code = _type_codes(streams["content_type"], types)
    end = pa.array(streams["ts_end"]).cast(pa.int64()).to_numpy(zero_copy_only=False)
    keep = (ms >= min_ms_played) & (code >= 0)
    ts, code = end[keep].astype(np.int64), code[keep].astype(np.int8)
    order = np.lexsort((ts, code))
    return pd.DataFrame({"ts_ms": ts[order], "type": code[order]})


class PopulationCounts:
    """Pooled play counts per type in ``[t - days, t)`` at fixed query times ``t_ms (n,)``,
    accumulated over shards (:meth:`add`); :meth:`shares` equals
    :meth:`prefcal.rq.snapshots.PopulationStreams.shares` on all shards' plays at once."""

    def __init__(self, t_ms: np.ndarray, days: int, n_types: int = len(CONTENT_TYPES)) -> None:
        self.t = np.asarray(t_ms, dtype=np.int64)
        self.lo = self.t - int(days) * MS_DAY
        self.counts = np.zeros((self.t.size, int(n_types)), dtype=np.int64)

    def add(self, plays: pd.DataFrame) -> None:
        """Add one shard's plays (:func:`shard_plays`: ``ts_ms``, ``type``)."""
        ts = plays["ts_ms"].to_numpy(dtype=np.int64)
        code = plays["type"].to_numpy(dtype=np.int64)
        for g in range(self.counts.shape[1]):
            tg = np.sort(ts[code == g])
            hi = np.searchsorted(tg, self.t, "left")
            self.counts[:, g] += hi - np.searchsorted(tg, self.lo, "left")

    def shares(self) -> np.ndarray:
        """(n, G) pooled type shares (NaN where the window holds no play)."""
        counts = self.counts.astype(np.float64)
        total = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, counts / np.where(total > 0, total, 1.0), np.nan)


def write_shard_summary(
    home_shard_dir: str | Path,
    streams_path: str | Path,
    out_dir: str | Path,
    min_ms_played: int = 30_000,
) -> dict[str, int]:
    """Write the three files of the module docstring for one shard; returns their row counts.

    ``home_shard_dir`` holds ``log_requests``, ``impressions`` and ``participants.parquet`` of
    ``prefcal home log``; ``streams_path`` is the shard's canonical ``streams.parquet``.
    """
    home, out = Path(home_shard_dir), Path(out_dir)
    for path in (
        home / "log_requests.parquet",
        home / "impressions.parquet",
        home / "participants.parquet",
        Path(streams_path),
    ):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing (run `prefcal home log` / ingest first)")
    hr_cols = [f"x_hr_{t}" for t in CONTENT_TYPES]
    req = pd.read_parquet(
        home / "log_requests.parquet", columns=["request_id", "participant_id", "ts", *hr_cols]
    )
    imp = pd.read_parquet(home / "impressions.parquet", columns=["request_id", "item_type"])
    streams = pd.read_parquet(streams_path, columns=STREAM_COLUMNS)
    base = snapshot_base(req, imp, streams, min_ms_played)
    plays = shard_plays(streams, min_ms_played)
    del req, imp, streams
    parts = pd.read_parquet(home / "participants.parquet")
    cols = [f"n_{t}" for t in CONTENT_TYPES]
    missing = [c for c in cols if c not in parts.columns]
    if missing:
        raise ValueError(f"{home / 'participants.parquet'}: missing column(s) {missing}")
    totals = pd.DataFrame([parts[cols].to_numpy(dtype=np.int64).sum(axis=0)], columns=cols)
    out.mkdir(parents=True, exist_ok=True)
    base.to_parquet(out / "snapshots.parquet", index=False)
    plays.to_parquet(out / "plays.parquet", index=False)
    totals.to_parquet(out / "type_totals.parquet", index=False)
    return {"snapshots": len(base), "plays": len(plays), "participants": len(parts)}


def _summary_dirs(rq_dir: str | Path, shards: Sequence[str]) -> list[Path]:
    dirs = [Path(rq_dir) / f"shard_{s}" for s in shards]
    for d in dirs:
        for name in SHARD_FILES:
            if not (d / name).exists():
                raise FileNotFoundError(f"{d / name} is missing (run `prefcal rq snapshots`)")
    if not dirs:
        raise ValueError("reading the rq summaries needs at least one shard")
    return dirs


def _fixed_mix(dirs: Sequence[Path], types: Sequence[str]) -> np.ndarray:
    """The global mix ``sum_shards n_g / sum_shards,g n_g`` of the shards' ``type_totals``."""
    cols = [f"n_{t}" for t in types]
    total = sum(
        pd.read_parquet(d / "type_totals.parquet", columns=cols).to_numpy(np.int64)[0] for d in dirs
    )
    total = np.asarray(total, dtype=np.float64)
    if total.sum() <= 0:
        raise ValueError("participants table: no stream of any type in the profile period")
    return total / total.sum()


def _shard_users(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One shard's sorted participant ids, their request counts, the request times ``t_ms``
    (file order) and the longest snapshot id."""
    cols = pd.read_parquet(path, columns=["participant_id", "snapshot_id", T_MS])
    ids, n = np.unique(cols["participant_id"].astype(str).to_numpy(), return_counts=True)
    width = int(cols["snapshot_id"].astype(str).str.len().max()) if len(cols) else 1
    return ids, n, cols[T_MS].to_numpy(dtype=np.int64), width


def read_rq_data(
    rq_dir: str | Path,
    shards: Sequence[str],
    popularity_days: int = 28,
    types: Sequence[str] = CONTENT_TYPES,
    verbose: bool = False,
) -> SnapshotData:
    """``snapshot_data(read_rq_snapshots(rq_dir, shards, popularity_days, types))``, the same
    numbers to the bit, made shard by shard (module docstring); ``snapshot_id`` is a fixed-width
    unicode array (the same strings without a Python object per row).

    Pass 1 reads each shard's participant ids and request times: the population targets
    (:class:`PopulationCounts` over the concatenated times, as in :func:`read_rq_snapshots`) and
    the layout of the result (participants sorted over all shards, each one's rows a contiguous
    block). Pass 2 validates one shard at a time (:func:`prefcal.rq.contract.snapshot_data`:
    rows sorted by participant, time, snapshot id; targets renormalised row by row) and writes its
    rows into their blocks of the preallocated arrays. Participants must be disjoint across shards
    (a shard is a set of users); shards without requests are skipped. Peak: the result plus the
    population counts plus one shard.
    """
    t0 = time.perf_counter()
    dirs = _summary_dirs(rq_dir, shards)
    fixed = _fixed_mix(dirs, types)
    ids, n_rows, t_ms, width = zip(
        *(_shard_users(d / "snapshots.parquet") for d in dirs), strict=True
    )
    bounds = np.cumsum([0] + [t.size for t in t_ms])
    pop = PopulationCounts(np.concatenate(t_ms), popularity_days, len(types))
    del t_ms
    for d in dirs:  # one shard's plays in memory at a time
        pop.add(pd.read_parquet(d / "plays.parquet"))
    shares = pop.shares()
    del pop
    if bounds[-1] == 0:
        raise ValueError(f"{rq_dir}: no shard has a logged request")

    all_ids = np.concatenate(ids)
    order = np.argsort(all_ids, kind="stable")
    sorted_ids = all_ids[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if dup.size:
        raise ValueError(f"{rq_dir}: participant {sorted_ids[dup[0]]!r} is in two shards")
    rank = np.empty(all_ids.size, dtype=np.intp)  # shard-order user -> sorted user
    rank[order] = np.arange(all_ids.size)
    start = np.zeros(all_ids.size + 1, dtype=np.intp)  # first row of each sorted user
    start[1:] = np.cumsum(np.concatenate(n_rows)[order])
    first_user = np.cumsum([0] + [i.size for i in ids])

    n, g = int(bounds[-1]), len(types)
    out = SnapshotData(
        participant_ids=sorted_ids,
        user=np.repeat(np.arange(sorted_ids.size, dtype=np.intp), np.diff(start)),
        snapshot_id=np.empty(n, dtype=f"<U{max(width)}"),
        time=np.empty(n, dtype="datetime64[ms]"),
        types=tuple(types),
        counts=np.empty((n, g)),
        targets={name: np.empty((n, g)) for name in TARGETS},
    )
    for k, d in enumerate(dirs):
        lo, hi = bounds[k], bounds[k + 1]
        if hi == lo:
            continue
        path = d / "snapshots.parquet"
        base = pd.read_parquet(path)
        base.pop(T_MS)
        part = snapshot_data(add_population_targets(base, fixed, shares[lo:hi], types), str(path))
        del base
        if part.types != out.types or not np.array_equal(part.participant_ids, ids[k]):
            raise ValueError(f"{path}: types {part.types} or participants changed while reading")
        if part.extras:
            raise ValueError(f"{path}: unexpected extra columns {sorted(part.extras)}")
        glob = rank[first_user[k] + part.user]  # sorted user of each row
        within = np.arange(part.n_snapshots) - np.searchsorted(part.user, part.user)
        dest = start[glob] + within
        out.snapshot_id[dest] = part.snapshot_id
        out.time[dest] = part.time
        out.counts[dest] = part.counts
        for name in TARGETS:
            out.targets[name][dest] = part.targets[name]
        del part
    release_freed_memory()  # the shards' frames are freed: keep only the arrays resident
    if verbose:
        print(f"read_rq_data: {out.n_snapshots} rows in {time.perf_counter() - t0:.1f} s")
    return out


def read_rq_snapshots(
    rq_dir: str | Path,
    shards: Sequence[str],
    popularity_days: int = 28,
    types: Sequence[str] = CONTENT_TYPES,
    verbose: bool = False,
) -> pd.DataFrame:
    """The snapshot table of every shard from the summaries under ``rq_dir/shard_NNN/`` (module
    docstring): the same table as :func:`prefcal.rq.snapshots.read_shard_snapshots`."""
    t0 = time.perf_counter()
    dirs = _summary_dirs(rq_dir, shards)
    fixed = _fixed_mix(dirs, types)
    base = pd.concat([pd.read_parquet(d / "snapshots.parquet") for d in dirs], ignore_index=True)
    t_ms = base.pop(T_MS).to_numpy(dtype=np.int64)
    pop = PopulationCounts(t_ms, popularity_days, len(types))
    for d in dirs:  # one shard's plays in memory at a time
        pop.add(pd.read_parquet(d / "plays.parquet"))
    out = add_population_targets(base, fixed, pop.shares(), types)
    if verbose:
        print(f"read_rq_snapshots: {len(out)} rows in {time.perf_counter() - t0:.1f} s")
    return out
