"""The recommendation-snapshot table the RQ analysis reads (the contract with ``prefcal.home``).

One table per type *dimension* (``content``: music/podcast/audiobook; ``taste``: playlist clusters),
one row per recommendation snapshot (one Home request of one participant), Parquet or a DataFrame:

====================  ===============  ===========================================================
column                type             meaning
====================  ===============  ===========================================================
participant_id        string           study id of the participant (``P`` + 10 hex digits)
snapshot_id           string           unique within the participant
time                  timestamp (UTC)  when the recommendation was shown
``n__<type>``         float >= 0       number of recommended items of ``<type>`` (one column per
                                       type, in the dimension's type order; soft taste
                                       memberships may make these fractional). A row's sum (the
                                       slate size K) must be > 0.
``<target>__<type>``  float in [0, 1]  the target distribution of hypothesis ``<target>`` for this
                                       user at this time, one column per type, each row summing
                                       to 1 (tolerance 1e-6). A row that is all null means
                                       "undefined" (e.g. no stream in the last 7 days). Targets
                                       (all five required): ``hist_90``, ``hist_7``, ``context``,
                                       ``global_mix``, ``popularity``.
item_overlap          float in [0, 1]  optional (H6): share of the recommended items that the
                                       user streamed before (item level)
cluster_overlap       float in [0, 1]  optional (H6): share of the recommended items whose taste
                                       cluster the user streamed before
entropy               float >= 0       optional (H4): diversity of the user's history at
                                       ``time`` (bits); when absent, the entropy of ``hist_90``
gs_score              float            optional (H4): generalist-specialist score (Anderson et
                                       al. 2020) of the user's history at ``time``
====================  ===============  ===========================================================

``<type>`` is the type's label as written in the dimension (``music``; taste clusters as ``c0``,
``c1``, ...); ``__`` (two underscores) separates prefix and type. Every target must carry exactly
the types of the ``n__`` columns. Targets use only data from before ``time`` (STUDY.md 6.1).

:func:`snapshot_data` validates a table and turns it into :class:`SnapshotData` (numpy arrays,
rows sorted by participant_id, time, snapshot_id); :meth:`SnapshotData.to_frame` writes it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "EXTRA_COLUMNS",
    "TARGETS",
    "SnapshotData",
    "SnapshotTableError",
    "snapshot_data",
    "user_mean",
]

TARGETS = ("hist_90", "hist_7", "context", "global_mix", "popularity")
EXTRA_COLUMNS = ("item_overlap", "cluster_overlap", "entropy", "gs_score")
SEP = "__"
COUNT_PREFIX = "n"
SUM_TOLERANCE = 1e-6


class SnapshotTableError(ValueError):
    """A snapshot table that breaks the contract; the message names the table, row and column."""


@dataclass
class SnapshotData:
    """A validated snapshot table as arrays (``S`` snapshots, ``U`` users, ``G`` types).

    Attributes: ``participant_ids`` (U,) sorted study ids; ``user`` (S,) index into them;
    ``snapshot_id`` (S,); ``time`` (S,) datetime64[ms] UTC-naive; ``types`` (G labels);
    ``counts`` (S, G) recommended items per type; ``targets`` name -> (S, G) distributions with
    all-NaN rows where undefined; ``extras`` name -> (S,) optional per-snapshot covariates.
    """

    participant_ids: np.ndarray
    user: np.ndarray
    snapshot_id: np.ndarray
    time: np.ndarray
    types: tuple[str, ...]
    counts: np.ndarray
    targets: dict[str, np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return int(self.participant_ids.size)

    @property
    def n_snapshots(self) -> int:
        return int(self.user.size)

    @property
    def n_types(self) -> int:
        return len(self.types)

    def q(self) -> np.ndarray:
        """(S, G) observed type distribution of each snapshot, ``q_s = n_s / sum(n_s)``."""
        return self.counts / self.counts.sum(axis=1, keepdims=True)

    def to_frame(self) -> pd.DataFrame:
        """The contract table (columns in contract order)."""
        cols: dict[str, object] = {
            "participant_id": self.participant_ids[self.user],
            "snapshot_id": self.snapshot_id,
            "time": pd.to_datetime(self.time).tz_localize("UTC").astype("datetime64[ms, UTC]"),
        }
        for g, t in enumerate(self.types):
            cols[f"{COUNT_PREFIX}{SEP}{t}"] = self.counts[:, g]
        for name in TARGETS:
            for g, t in enumerate(self.types):
                cols[f"{name}{SEP}{t}"] = self.targets[name][:, g]
        for name in EXTRA_COLUMNS:
            if name in self.extras:
                cols[name] = self.extras[name]
        return pd.DataFrame(cols)

    def subset_users(self, keep: np.ndarray) -> SnapshotData:
        """The snapshots of the users whose index is in ``keep`` (re-indexed 0..len(keep)-1)."""
        keep = np.unique(np.asarray(keep, dtype=np.intp))
        remap = np.full(self.n_users, -1, dtype=np.intp)
        remap[keep] = np.arange(keep.size)
        rows = remap[self.user] >= 0
        return SnapshotData(
            participant_ids=self.participant_ids[keep],
            user=remap[self.user[rows]],
            snapshot_id=self.snapshot_id[rows],
            time=self.time[rows],
            types=self.types,
            counts=self.counts[rows],
            targets={k: v[rows] for k, v in self.targets.items()},
            extras={k: v[rows] for k, v in self.extras.items()},
        )


def _fail(name: str, msg: str) -> SnapshotTableError:
    return SnapshotTableError(f"snapshot table {name}: {msg}")


def _bad_row(name: str, frame: pd.DataFrame, mask: np.ndarray, column: str, what: str) -> None:
    if np.any(mask):
        i = int(np.flatnonzero(mask)[0])
        sid = frame["snapshot_id"].iloc[i]
        raise _fail(name, f"row {i} (snapshot_id {sid!r}), column {column}: {what}")


def snapshot_data(frame: pd.DataFrame, name: str = "snapshots") -> SnapshotData:
    """Validate a snapshot table against the contract and return it as :class:`SnapshotData`.

    ``name`` (e.g. the file path) is used in error messages, which name the row and the column.
    Target rows are renormalised to sum exactly one after the tolerance check.
    """
    if not isinstance(frame, pd.DataFrame):
        raise _fail(name, f"expected a pandas DataFrame, got {type(frame).__name__}")
    for col in ("participant_id", "snapshot_id", "time"):
        if col not in frame.columns:
            raise _fail(name, f"missing column {col!r}")
    if len(frame) == 0:
        raise _fail(name, "has no rows")
    count_cols = [c for c in frame.columns if c.startswith(COUNT_PREFIX + SEP)]
    if not count_cols:
        raise _fail(name, f"no recommended-count columns (expected '{COUNT_PREFIX}{SEP}<type>')")
    types = tuple(c[len(COUNT_PREFIX) + len(SEP) :] for c in count_cols)
    for target in TARGETS:
        missing = [f"{target}{SEP}{t}" for t in types if f"{target}{SEP}{t}" not in frame.columns]
        if missing:
            raise _fail(name, f"missing target column(s) {missing}")
        extra = sorted(
            c
            for c in frame.columns
            if c.startswith(target + SEP) and c[len(target) + 2 :] not in types
        )
        if extra:
            raise _fail(name, f"target column(s) {extra} name types without an n__ column")
    for col in ("participant_id", "snapshot_id"):
        _bad_row(name, frame, frame[col].isna().to_numpy(), col, "is null")
    dup = frame.duplicated(["participant_id", "snapshot_id"]).to_numpy()
    _bad_row(name, frame, dup, "snapshot_id", "duplicate (participant_id, snapshot_id)")
    try:
        time = pd.to_datetime(frame["time"], utc=True)
    except (ValueError, TypeError) as err:
        raise _fail(name, f"column time is not a timestamp ({err})") from None
    _bad_row(name, frame, time.isna().to_numpy(), "time", "is null")

    counts = frame[count_cols].to_numpy(dtype=np.float64, na_value=np.nan)
    for g, col in enumerate(count_cols):
        _bad_row(name, frame, ~np.isfinite(counts[:, g]), col, "must be a finite number")
        _bad_row(name, frame, counts[:, g] < 0, col, "must be >= 0")
    _bad_row(name, frame, counts.sum(axis=1) <= 0, count_cols[0], "the slate is empty (sum 0)")

    targets: dict[str, np.ndarray] = {}
    for target in TARGETS:
        cols = [f"{target}{SEP}{t}" for t in types]
        arr = frame[cols].to_numpy(dtype=np.float64, na_value=np.nan)
        nan = np.isnan(arr)
        partial = nan.any(axis=1) & ~nan.all(axis=1)
        _bad_row(name, frame, partial, cols[0], f"{target} is null for some types but not all")
        valid = ~nan.any(axis=1)
        for g, col in enumerate(cols):
            bad = valid & ~((arr[:, g] >= 0) & (arr[:, g] <= 1))
            _bad_row(name, frame, bad, col, "must lie in [0, 1]")
        total = np.where(valid, arr.sum(axis=1), 1.0)
        off = np.abs(total - 1.0) > SUM_TOLERANCE
        if off.any():
            bad_sum = total[np.flatnonzero(off)[0]]
            _bad_row(
                name, frame, off, cols[0], f"{target} over the types sums to {bad_sum:.6g} != 1"
            )
        targets[target] = np.where(valid[:, None], arr / total[:, None], np.nan)

    extras: dict[str, np.ndarray] = {}
    for col in EXTRA_COLUMNS:
        if col in frame.columns:
            vals = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
            if col in ("item_overlap", "cluster_overlap"):
                _bad_row(name, frame, (vals < 0) | (vals > 1), col, "must lie in [0, 1] (or null)")
            extras[col] = vals

    pid = frame["participant_id"].astype(str).to_numpy()
    sid = frame["snapshot_id"].astype(str).to_numpy()
    t64 = time.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ms]")
    order = np.lexsort((sid, t64, pid))
    participants, user = np.unique(pid[order], return_inverse=True)
    return SnapshotData(
        participant_ids=participants,
        user=user.astype(np.intp),
        snapshot_id=sid[order],
        time=t64[order],
        types=types,
        counts=counts[order],
        targets={k: v[order] for k, v in targets.items()},
        extras={k: v[order] for k, v in extras.items()},
    )


def user_mean(values: np.ndarray, user: np.ndarray, n_users: int) -> np.ndarray:
    """Per-user mean of ``values`` over the user's snapshots, ignoring NaN (NaN if none is finite).

    ``values`` is (S,) or (S, G); ``user`` (S,) holds user indices 0..n_users-1. For (S, G) input a
    row counts only when all its entries are finite (a target row is defined or not as a whole).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        ok = np.isfinite(values)
        s = np.bincount(user[ok], weights=values[ok], minlength=n_users)
        c = np.bincount(user[ok], minlength=n_users).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / np.where(c > 0, c, 1.0), np.nan)
    ok = np.isfinite(values).all(axis=1)
    c = np.bincount(user[ok], minlength=n_users).astype(np.float64)
    out = np.empty((n_users, values.shape[1]))
    for g in range(values.shape[1]):
        out[:, g] = np.bincount(user[ok], weights=values[ok, g], minlength=n_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c[:, None] > 0, out / np.where(c > 0, c, 1.0)[:, None], np.nan)


def as_snapshot_data(table: SnapshotData | pd.DataFrame, name: str = "snapshots") -> SnapshotData:
    """``table`` itself when already :class:`SnapshotData`, else :func:`snapshot_data` of it."""
    if isinstance(table, SnapshotData):
        return table
    return snapshot_data(table, name)


def tables_from_mapping(
    tables: Mapping[str, SnapshotData | pd.DataFrame],
) -> dict[str, SnapshotData]:
    """Validate every ``dimension -> table`` entry (the dimension names the table in errors)."""
    return {dim: as_snapshot_data(t, name=dim) for dim, t in tables.items()}
