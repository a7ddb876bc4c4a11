r"""Item and taste-cluster overlap of recommended tracks with the user's history (H6).

Inputs: the impressions of the logged Home requests (``request_id``, ``participant_id``,
``item_type``, ``item_uri``; :mod:`prefcal.home.logging`), the canonical ``streams`` and the item
taste types ``results/clusters/item_taste.parquet`` (``item_uri``, ``p_0 .. p_{k-1}``: the cluster
distribution of the playlists holding the item, stage 02). Only *music* items enter: a recommended
track and a streamed track share a ``spotify:track`` URI, while a recommended podcast show or
audiobook is a container whose streams carry episode / chapter URIs.

History. The user's *history* is their music plays (``ms_played >= min_ms_played``) in the
``window_days`` days before the first snapshot of the study, ``[t_0 - W, t_0)`` (``t_0`` = the
earliest request time, floored to the day): data strictly before every snapshot, one history per
user so that it can be swapped between users (the reference below). ``B_v`` = the set of tracks
``v`` played; ``H_v`` = the taste distribution of v's plays, ``H_v = sum_plays p(item) / #plays``
over the plays whose item has a known taste type.

Recommendations. ``n_u(i)`` = number of times track ``i`` was recommended to ``u`` (all u's
snapshots); ``R_u`` = the taste distribution of u's recommended tracks,
``R_u = sum_i n_u(i) p(i) / sum_i n_u(i)`` over tracks with a known taste type.

Overlaps (``U x U`` matrices, row = whose recommendations, column = whose history):

.. math:: T[u, v] = \frac{\sum_i n_u(i)\, 1[i \in B_v]}{\sum_i n_u(i)}, \qquad
          C[u, v] = \sum_c \min(R_{u,c}, H_{v,c}),

the *track overlap* (share of u's recommended tracks that v streamed) and the *cluster overlap*
(histogram intersection of the taste distributions, 1 = the same mix of clusters). The own values
are the diagonal; the *reference* of user u is the mean over the other users,
``(sum_v M[u, v] - M[u, u]) / (U - 1)``: what u would get from a preference-free recommender that
serves u the slates it made for someone else (and, equivalently, the expected overlap under the
null of H1's permutation test). Users without a recommended track with a known taste type, or
without a history play with one, are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import sparse

from prefcal.rq.memory import release_freed_memory
from prefcal.rq.subsample import user_subsample

__all__ = ["OverlapMatrices", "h6_users", "overlap_matrices", "read_overlap_matrices"]

MS_DAY = 86_400_000
ROW_CHUNK = 256
#: the random stream of the H6 user subsample (:func:`h6_users`)
H6_SAMPLE_STREAM = 61
#: rows per batch when the H6 users' rows are read from a shard's impressions and streams
READ_BATCH = 262_144


@dataclass(frozen=True)
class OverlapMatrices:
    """``track`` and ``cluster`` overlap matrices ``(U, U)`` (module docstring) over
    ``participant_ids``; ``n_recommended`` (U,) recommended tracks per user; ``n_plays`` (U,)
    history plays; ``n_snapshots`` requests of these users with a recommended track; the history
    window ``[start, end)``."""

    participant_ids: np.ndarray
    track: np.ndarray
    cluster: np.ndarray
    n_recommended: np.ndarray
    n_plays: np.ndarray
    n_snapshots: int
    start: np.datetime64
    end: np.datetime64

    @property
    def n_users(self) -> int:
        return int(self.participant_ids.size)


def _taste_lookup(item_taste: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    if "item_uri" not in item_taste.columns:
        raise ValueError("item_taste: missing column 'item_uri'")
    pcols = sorted(
        (c for c in item_taste.columns if c.startswith("p_") and c[2:].isdigit()),
        key=lambda c: int(c[2:]),
    )
    if not pcols:
        raise ValueError("item_taste: no taste columns p_0 .. p_{k-1}")
    dist = item_taste[pcols].to_numpy(dtype=np.float64, na_value=0.0)
    known = dist.sum(axis=1) > 0
    uris = item_taste["item_uri"].astype(object).to_numpy()
    return pd.Index(uris[known]), dist[known]


def _rows_normalised(x: np.ndarray) -> np.ndarray:
    s = x.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, x / np.where(s > 0, s, 1.0), np.nan)


def overlap_matrices(
    impressions: pd.DataFrame,
    request_time: pd.DataFrame,
    streams: pd.DataFrame,
    item_taste: pd.DataFrame,
    window_days: int = 90,
    min_ms_played: int = 30_000,
) -> OverlapMatrices:
    """The overlap matrices of the module docstring.

    ``impressions``: ``request_id, participant_id, item_type, item_uri``; ``request_time``:
    ``ts`` of every request (the earliest one fixes ``t_0``); ``streams``: ``participant_id,
    ts_end, ms_played, content_type, item_uri``; ``item_taste``: ``item_uri, p_0 ..``.
    """
    for name, frame, cols in (
        ("impressions", impressions, ("request_id", "participant_id", "item_type", "item_uri")),
        ("request_time", request_time, ("ts",)),
        ("streams", streams, ("participant_id", "ts_end", "ms_played", "content_type", "item_uri")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name}: missing column(s) {missing}")
    music = impressions[impressions["item_type"] == "music"]
    if len(music) and music["item_uri"].isna().all():
        raise ValueError(
            "impressions: item_uri is null for every music item (Home logs written without the "
            "catalogue's URIs; rerun `prefcal home log`)"
        )
    t_first = pd.to_datetime(request_time["ts"], utc=True).min()
    end = t_first.floor("D").tz_localize(None).to_datetime64().astype("datetime64[ms]")
    start = end - np.timedelta64(int(window_days), "D").astype("timedelta64[ms]")
    end_ms, start_ms = int(end.astype(np.int64)), int(start.astype(np.int64))

    ts = pd.to_datetime(streams["ts_end"], utc=True).dt.tz_localize(None)
    ts_ms = ts.to_numpy().astype("datetime64[ms]").astype(np.int64)
    keep = (
        (streams["content_type"].to_numpy() == "music")
        & (streams["ms_played"].to_numpy() >= min_ms_played)
        & (ts_ms >= start_ms)
        & (ts_ms < end_ms)
        & streams["item_uri"].notna().to_numpy()
    )
    plays = streams.loc[keep, ["participant_id", "item_uri"]]

    users = np.unique(music["participant_id"].astype(str).to_numpy())
    rec = music[music["item_uri"].notna()]
    rec_user = pd.Index(users).get_indexer(rec["participant_id"].astype(str))
    play_user = pd.Index(users).get_indexer(plays["participant_id"].astype(str))
    on = play_user >= 0
    plays, play_user = plays[on], play_user[on]
    uris = np.concatenate(
        [rec["item_uri"].astype(object).to_numpy(), plays["item_uri"].astype(object).to_numpy()]
    )
    # the sorted distinct URIs and each row's index among them (np.unique's answer, without a
    # fixed-width string copy of every row: hashing, then sorting only the distinct URIs)
    items = np.array(sorted(str(u) for u in pd.unique(uris)), dtype=str)
    codes = pd.Index(items.astype(object)).get_indexer(uris.astype(str).astype(object))
    rec_item, play_item = codes[: len(rec)], codes[len(rec) :]
    n_u, n_i = users.size, items.size
    r_mat = sparse.csr_matrix(
        (np.ones(len(rec)), (rec_user, rec_item)), shape=(n_u, n_i), dtype=np.float64
    )
    b_mat = sparse.csr_matrix(
        (np.ones(len(play_user)), (play_user, play_item)), shape=(n_u, n_i), dtype=np.float64
    )
    n_rec = np.asarray(r_mat.sum(axis=1)).ravel()
    n_plays = np.asarray(b_mat.sum(axis=1)).ravel()
    b_set = b_mat.copy()
    b_set.data[:] = 1.0  # duplicates were summed: a set of played tracks
    hits = np.asarray((r_mat @ b_set.T).todense())
    with np.errstate(invalid="ignore", divide="ignore"):
        track = hits / np.where(n_rec > 0, n_rec, np.nan)[:, None]

    taste_index, taste = _taste_lookup(item_taste)
    item_taste_row = taste_index.get_indexer(pd.Index(items.astype(object)))
    dist = np.zeros((n_i, taste.shape[1]))
    dist[item_taste_row >= 0] = taste[item_taste_row[item_taste_row >= 0]]
    r_dist = _rows_normalised(np.asarray(r_mat @ dist))
    h_dist = _rows_normalised(np.asarray(b_mat @ dist))
    cluster = np.empty((n_u, n_u))
    for lo in range(0, n_u, ROW_CHUNK):  # bounds the (rows, U, k) intermediate
        hi = min(lo + ROW_CHUNK, n_u)
        cluster[lo:hi] = np.minimum(r_dist[lo:hi, None, :], h_dist[None, :, :]).sum(axis=2)
    ok = np.isfinite(r_dist).all(axis=1) & np.isfinite(h_dist).all(axis=1)
    keep_u = np.flatnonzero(ok)
    n_snap = int(rec.loc[ok[rec_user], "request_id"].nunique())
    return OverlapMatrices(
        participant_ids=users[keep_u],
        track=track[np.ix_(keep_u, keep_u)],
        cluster=cluster[np.ix_(keep_u, keep_u)],
        n_recommended=n_rec[keep_u],
        n_plays=n_plays[keep_u],
        n_snapshots=n_snap,
        start=start,
        end=end,
    )


def h6_users(participants: Sequence[str], max_users: int | None, seed: int) -> np.ndarray:
    """The users of H6: all (sorted) when there are at most ``max_users``, else a seeded sample
    of ``max_users`` of them (``default_rng(SeedSequence([seed, H6_SAMPLE_STREAM]))``), sorted.

    The overlap matrices are ``U x U``, so a big study estimates H6 on such a subsample
    (:func:`prefcal.rq.subsample.user_subsample`)."""
    return user_subsample(participants, max_users, seed, H6_SAMPLE_STREAM)


def _read_rows_of(
    path: str | Path,
    columns: list[str],
    participants: list[str],
    music_only: bool = False,
    batch_size: int = READ_BATCH,
) -> pd.DataFrame:
    """The rows of ``participants`` (and, with ``music_only``, ``content_type == "music"``) of a
    Parquet file, in file order, read in batches of ``batch_size`` rows: memory holds one batch
    and the kept rows, never the whole file."""
    wanted = pa.array(participants, type=pa.string())
    parts = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns):
        mask = pc.is_in(batch.column("participant_id").cast(pa.string()), value_set=wanted)
        if music_only:
            mask = pc.and_(mask, pc.equal(batch.column("content_type"), "music"))
        parts.append(batch.filter(pc.fill_null(mask, False)))
    schema = pq.read_schema(path)
    table = pa.Table.from_batches(parts, schema=pa.schema([schema.field(c) for c in columns]))
    return table.to_pandas()


def read_overlap_matrices(
    home_dir: str | Path,
    data_dir: str | Path,
    item_taste_path: str | Path,
    shards: Sequence[str],
    window_days: int = 90,
    min_ms_played: int = 30_000,
    max_users: int | None = None,
    seed: int = 0,
) -> OverlapMatrices:
    """:func:`overlap_matrices` of every shard's impressions, request times and streams, for the
    users of :func:`h6_users` (only their rows are read). Its memory is bounded by ``max_users``;
    on return the memory it freed is handed back to the system
    (:func:`prefcal.rq.memory.release_freed_memory`), so that running it before the snapshot
    arrays are loaded keeps the job's peak at the larger of the two, not their sum."""
    home_dir, data_dir = Path(home_dir), Path(data_dir)
    imp_paths = [home_dir / f"shard_{s}" / "impressions.parquet" for s in shards]
    for path in imp_paths:
        if "item_uri" not in pq.read_schema(path).names:
            raise ValueError(f"{path}: no item_uri column (Home logs older than H6; rerun them)")
    music_users = np.concatenate(
        [
            pd.read_parquet(p, columns=["participant_id"], filters=[("item_type", "==", "music")])[
                "participant_id"
            ]
            .astype(str)
            .unique()
            for p in imp_paths
        ]
    )
    keep = h6_users(music_users, max_users, seed).tolist()
    imp, req, streams = [], [], []
    for s, path in zip(shards, imp_paths, strict=True):
        imp.append(
            _read_rows_of(path, ["request_id", "participant_id", "item_type", "item_uri"], keep)
        )
        req.append(
            pd.read_parquet(home_dir / f"shard_{s}" / "log_requests.parquet", columns=["ts"])
        )
        streams.append(
            _read_rows_of(
                data_dir / f"shard_{s}" / "streams.parquet",
                ["participant_id", "ts_end", "ms_played", "content_type", "item_uri"],
                keep,
                music_only=True,
            )
        )
    item_taste = pd.read_parquet(item_taste_path)
    out = overlap_matrices(
        pd.concat(imp, ignore_index=True),
        pd.concat(req, ignore_index=True),
        pd.concat(streams, ignore_index=True),
        item_taste,
        window_days,
        min_ms_played,
    )
    del imp, req, streams, item_taste
    release_freed_memory()  # the streams read here are freed: hand their memory back
    return out
