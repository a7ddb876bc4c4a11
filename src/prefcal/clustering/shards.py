"""Stage 02 shard by shard: compact per-shard playlist summaries, combined for the whole study.

The clustering reads a playlists x artists count matrix and the taste types and cluster cards read
sums over playlists, so nothing of stage 02 needs the long ``playlists`` table (one row per
playlist item, ~300 bytes a row in pandas) of the whole study. One job per shard
(``prefcal clustering summarise``) reduces a shard's canonical ``playlists.parquet`` to
:class:`ShardPlaylists` (integer codes, written as Parquet under ``results/clusters/shard_NNN/``):

``playlists``
    one row per playlist in the shard's canonical order (first appearance after the stable sort
    by ``participant_id`` of :func:`prefcal.clustering.stage.read_shards`): ``playlist_id``,
    ``participant_id``, ``n_tracks`` (track rows with an artist);
``artists``
    the shard's artist names (``creator_name`` of any row), sorted;
``artist_counts``
    ``playlist``, ``artist`` (codes into the two tables above), ``count``: ``C[p, a]`` of
    :func:`prefcal.clustering.features.playlist_artist_counts` (track rows with an artist);
``items``
    one row per distinct ``item_uri`` in the shard's order of first appearance: ``item_uri``,
    ``creator_name``, ``participant_id`` and ``position`` (row number in the shard's canonical
    table) of the first row holding it;
``item_playlists`` / ``artist_playlists``
    the distinct (item, playlist) and (artist, playlist) pairs of the rows with an ``item_uri``
    (the incidence matrices ``B`` and ``A`` of :mod:`prefcal.clustering.taste`).

:func:`combine_playlists` orders the shards' playlists canonically (participants are disjoint
across shards, so the stable sort by ``participant_id`` of the concatenation is the order of the
whole study), :func:`count_matrix` builds the same count matrix as
:func:`~prefcal.clustering.features.playlist_artist_counts` on the whole table, and
:func:`taste_from_shards` / :func:`card_counts_from_shards` sum per-shard integer counts, so the
results equal the all-at-once ones bit for bit (tests check it) whatever the number of shards.

Above ``clustering.max_playlists`` playlists the model is fitted on a seeded sample of playlists
(:func:`sample_mask`: the ``max_playlists`` smallest keyed hashes of ``playlist_id``, a rule on
the ids alone) and every playlist is then assigned shard by shard with the fitted model
(:class:`FittedModel`), so the clustering job's memory depends on ``max_playlists``, not on the
study size. Below it (the default and smoke studies) every playlist is fitted as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from prefcal.clustering.features import nonempty_rows
from prefcal.clustering.nmf import soft_memberships
from prefcal.clustering.taste import TasteTypes

__all__ = [
    "READ_COLUMNS",
    "SHARD_TABLES",
    "CombinedPlaylists",
    "FittedModel",
    "ShardPlaylists",
    "card_counts_from_shards",
    "combine_playlists",
    "count_matrix",
    "iter_shard_counts",
    "read_shard_playlists",
    "sample_mask",
    "shard_playlists",
    "taste_from_shards",
    "write_all_shard_playlists",
    "write_shard_playlists",
]

#: columns of the canonical playlists table that stage 02 reads
READ_COLUMNS = ("participant_id", "playlist_id", "item_kind", "item_uri", "creator_name")
SHARD_TABLES = (
    "playlists",
    "artists",
    "artist_counts",
    "items",
    "item_playlists",
    "artist_playlists",
)


@dataclass
class ShardPlaylists:
    """The compact summaries of one shard's playlists (module doc)."""

    playlists: pd.DataFrame
    artists: pd.DataFrame
    artist_counts: pd.DataFrame
    items: pd.DataFrame
    item_playlists: pd.DataFrame
    artist_playlists: pd.DataFrame


def _pairs(a: np.ndarray, b: np.ndarray, n_b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(a, b)`` pairs sorted by ``a`` then ``b``, with their multiplicities."""
    key, cnt = np.unique(a.astype(np.int64) * max(n_b, 1) + b.astype(np.int64), return_counts=True)
    return (key // max(n_b, 1)).astype(np.int32), (key % max(n_b, 1)).astype(np.int32), cnt


def shard_playlists(playlists: pd.DataFrame) -> ShardPlaylists:
    """The summaries of one shard's canonical ``playlists`` table (rows in canonical order).

    ``playlists`` needs the columns :data:`READ_COLUMNS`; read it with
    :func:`prefcal.clustering.stage.read_shards` so that its rows are in the canonical order.
    """
    missing = [c for c in READ_COLUMNS if c not in playlists.columns]
    if missing:
        raise ValueError(f"playlists table lacks column(s) {missing}")
    pl_codes, pl_ids = pd.factorize(playlists["playlist_id"], sort=False)
    n_pl = len(pl_ids)
    first_row = pd.Series(np.arange(len(playlists))).groupby(pl_codes).first().to_numpy()
    creator = playlists["creator_name"]
    has_artist = creator.notna().to_numpy()
    is_track = (playlists["item_kind"] == "track").to_numpy()
    has_item = playlists["item_uri"].notna().to_numpy()
    art_codes, artists = pd.factorize(creator[has_artist], sort=True)
    art_all = np.full(len(playlists), -1, dtype=np.int64)
    art_all[has_artist] = art_codes

    tracks = is_track & has_artist
    p_c, a_c, cnt = _pairs(pl_codes[tracks], art_all[tracks], len(artists))
    n_tracks = np.bincount(pl_codes[tracks], minlength=n_pl).astype(np.int64)
    table = pd.DataFrame(
        {
            "playlist_id": np.asarray(pl_ids, dtype=object),
            "participant_id": playlists["participant_id"].to_numpy(dtype=object)[first_row],
            "n_tracks": n_tracks,
        }
    )

    rows = np.flatnonzero(has_item)
    i_codes, uris = pd.factorize(playlists["item_uri"].to_numpy(dtype=object)[rows], sort=False)
    first = rows[pd.Series(np.arange(rows.size)).groupby(i_codes).first().to_numpy()]
    items = pd.DataFrame(
        {
            "item_uri": np.asarray(uris, dtype=object),
            "creator_name": creator.to_numpy(dtype=object)[first],
            "participant_id": playlists["participant_id"].to_numpy(dtype=object)[first],
            "position": first.astype(np.int64),
        }
    )
    ip_i, ip_p, _ = _pairs(i_codes, pl_codes[rows], n_pl)
    with_artist = has_item & has_artist
    ap_a, ap_p, _ = _pairs(art_all[with_artist], pl_codes[with_artist], n_pl)
    return ShardPlaylists(
        playlists=table,
        artists=pd.DataFrame({"artist": np.asarray(artists, dtype=object)}),
        artist_counts=pd.DataFrame({"playlist": p_c, "artist": a_c, "count": cnt.astype(np.int32)}),
        items=items,
        item_playlists=pd.DataFrame({"item": ip_i, "playlist": ip_p}),
        artist_playlists=pd.DataFrame({"artist": ap_a, "playlist": ap_p}),
    )


def shard_paths(shard_dir: str | Path) -> dict[str, Path]:
    """The files of one shard's summaries under ``shard_dir``."""
    return {name: Path(shard_dir) / f"{name}.parquet" for name in SHARD_TABLES}


def write_shard_playlists(summary: ShardPlaylists, shard_dir: str | Path) -> dict[str, Path]:
    """Write one shard's summaries (Parquet) under ``shard_dir``; returns the paths."""
    paths = shard_paths(shard_dir)
    Path(shard_dir).mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        frame = getattr(summary, name)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return paths


def read_shard_playlists(
    shard_dir: str | Path, tables: Sequence[str] = SHARD_TABLES
) -> ShardPlaylists:
    """Read (some of) one shard's summaries; tables not asked for are empty frames."""
    paths = shard_paths(shard_dir)
    missing = [str(paths[t]) for t in tables if not paths[t].is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing playlist summary file(s): {', '.join(missing)} "
            "(run `prefcal clustering summarise` for the shard)"
        )
    frames = {t: pd.read_parquet(paths[t]) if t in tables else pd.DataFrame() for t in SHARD_TABLES}
    for t in ("playlists", "artists", "items"):
        for col in frames[t].columns:
            if frames[t][col].dtype != np.int64:
                frames[t][col] = frames[t][col].astype(object)
    return ShardPlaylists(**frames)


@dataclass
class CombinedPlaylists:
    """All shards' playlists in the canonical order of the whole study.

    ``table``: ``playlist_id``, ``participant_id``, ``n_tracks``; ``index[s][j]`` is the row of
    ``table`` of playlist ``j`` of shard ``s``.
    """

    table: pd.DataFrame
    index: list[np.ndarray]
    shard_dirs: list[Path]

    @property
    def n(self) -> int:
        """Number of playlists."""
        return len(self.table)


def combine_playlists(shard_dirs: Sequence[str | Path]) -> CombinedPlaylists:
    """The shards' playlist tables, concatenated and stably sorted by ``participant_id``."""
    if not shard_dirs:
        raise ValueError("no shard summary folders given")
    frames = [read_shard_playlists(d, ("playlists",)).playlists for d in shard_dirs]
    sizes = np.array([len(f) for f in frames], dtype=np.int64)
    frame = pd.concat(frames, ignore_index=True)
    order = np.argsort(frame["participant_id"].to_numpy(dtype=object), kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    index = [rank[starts[s] : starts[s + 1]] for s in range(len(frames))]
    table = frame.take(order).reset_index(drop=True)
    return CombinedPlaylists(table, index, [Path(d) for d in shard_dirs])


def sample_mask(playlist_ids: np.ndarray, max_playlists: int | None, seed: int) -> np.ndarray:
    """Playlists the model is fitted on: all when ``max_playlists`` is None or not exceeded,
    otherwise the ``max_playlists`` with the smallest keyed hash ``h(seed, playlist_id)``
    (:func:`pandas.util.hash_array` with a key derived from ``seed``; ties by id): a seeded
    uniform sample that depends on the ids only, not on the sharding or the row order."""
    ids = np.asarray(playlist_ids, dtype=object)
    if max_playlists is None or ids.size <= max_playlists:
        return np.ones(ids.size, dtype=bool)
    if max_playlists < 1:
        raise ValueError(f"clustering.max_playlists must be >= 1 or null, got {max_playlists}")
    key = f"{int(seed) % 10**16:016d}"
    h = pd.util.hash_array(ids, hash_key=key, categorize=False)
    order = np.lexsort((ids.astype(str), h))
    out = np.zeros(ids.size, dtype=bool)
    out[order[:max_playlists]] = True
    return out


def count_matrix(
    combined: CombinedPlaylists, rows: np.ndarray | None = None, artists: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """The playlists x artists counts ``C`` of the playlists ``rows`` (indices into
    ``combined.table``, increasing; all if None) and the column names.

    Columns are ``artists`` when given (counts of other artists are left out), otherwise the
    sorted artists with at least one count among those playlists, as in
    :func:`~prefcal.clustering.features.playlist_artist_counts`. Read one shard at a time.
    """
    sel = np.arange(combined.n) if rows is None else np.asarray(rows, dtype=np.int64)
    pos = np.full(combined.n, -1, dtype=np.int64)
    pos[sel] = np.arange(sel.size)
    parts = []
    for s, d in enumerate(combined.shard_dirs):
        sh = read_shard_playlists(d, ("artists", "artist_counts"))
        row = pos[combined.index[s][sh.artist_counts["playlist"].to_numpy()]]
        keep = row >= 0
        names = sh.artists["artist"].to_numpy(dtype=object)
        parts.append(
            (
                row[keep],
                names[sh.artist_counts["artist"].to_numpy()[keep]],
                sh.artist_counts["count"].to_numpy()[keep],
            )
        )
    row = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    name = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, object)
    cnt = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int32)
    if artists is None:
        col, vocab = pd.factorize(pd.Series(name, dtype=object), sort=True)
        vocab = np.asarray(vocab, dtype=object)
    else:
        vocab = np.asarray(artists, dtype=object)
        col = pd.Index(vocab).get_indexer(pd.Index(name))
        ok = col >= 0
        row, col, cnt = row[ok], col[ok], cnt[ok]
    return _csr(row, col, cnt, (sel.size, len(vocab))), vocab


def _csr(row: np.ndarray, col: np.ndarray, cnt: np.ndarray, shape: tuple[int, int]):
    """CSR with sorted indices from distinct (row, col) pairs and their float32 counts."""
    n_rows, n_cols = shape
    idx_dtype = np.int64 if max(n_rows, n_cols, row.size) >= 2**31 - 1 else np.int32
    order = np.lexsort((col, row))
    rows = row[order].astype(idx_dtype)
    indptr = np.zeros(n_rows + 1, dtype=idx_dtype)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    out = sp.csr_matrix(
        (cnt[order].astype(np.float32), col[order].astype(idx_dtype), indptr), shape=shape
    )
    out.has_sorted_indices = True
    return out


@dataclass
class FittedModel:
    """A clustering fitted on a sample, applied to any playlists' counts (module doc).

    ``columns``: the fitted artists (after ``min_playlists_per_artist``); ``idf``: their smooth
    idf ``ln((1 + n) / (1 + df)) + 1`` on the sample; ``svd``, ``kmeans`` (seed 0 at the chosen
    k) and ``nmf`` (or None) the fitted estimators.
    """

    columns: np.ndarray
    idf: np.ndarray
    sublinear_tf: bool
    svd: object
    kmeans: object
    nmf: object | None

    def features(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """TF-IDF rows (L2-normalised) of counts over :attr:`columns` with the fitted idf."""
        x = counts.astype(np.float64 if counts.dtype == np.float64 else np.float32, copy=True)
        if self.sublinear_tf:
            np.log(x.data, out=x.data)
            x.data += 1
        x = x @ sp.diags(self.idf.astype(x.dtype))
        return normalize(sp.csr_matrix(x), norm="l2", copy=False)

    def assign(self, counts: sp.csr_matrix) -> pd.DataFrame:
        """``cluster`` (-1 without features), and with NMF ``nmf_cluster`` and ``nmf_p_*``."""
        x = self.features(counts)
        valid = nonempty_rows(x)
        labels = np.full(x.shape[0], -1, dtype=np.int32)
        if valid.any():
            emb = normalize(self.svd.transform(x[valid]), norm="l2")
            labels[valid] = self.kmeans.predict(np.ascontiguousarray(emb, dtype=np.float32))
        out = pd.DataFrame({"cluster": labels})
        if self.nmf is not None:
            r = self.nmf.components_.shape[0]
            mem = np.zeros((x.shape[0], r))
            assigned = np.zeros(x.shape[0], dtype=bool)
            if valid.any():
                m, a = soft_memberships(self.nmf.transform(x[valid]), self.nmf.components_)
                mem[valid], assigned[valid] = m, a
            out["nmf_cluster"] = np.where(assigned, mem.argmax(axis=1), -1)
            for j in range(r):
                out[f"nmf_p_{j}"] = mem[:, j]
        return out


def iter_shard_counts(
    combined: CombinedPlaylists, artists: np.ndarray
) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
    """Per shard: the rows of ``combined.table`` of its playlists and their counts over
    ``artists``."""
    for s, d in enumerate(combined.shard_dirs):
        sh = read_shard_playlists(d, ("artists", "artist_counts"))
        names = sh.artists["artist"].to_numpy(dtype=object)
        col = pd.Index(np.asarray(artists, dtype=object)).get_indexer(
            pd.Index(names[sh.artist_counts["artist"].to_numpy()])
        )
        ok = col >= 0
        n = combined.index[s].size
        counts = _csr(
            sh.artist_counts["playlist"].to_numpy()[ok].astype(np.int64),
            col[ok],
            sh.artist_counts["count"].to_numpy()[ok],
            (n, len(artists)),
        )
        yield combined.index[s], counts


def _label_counts(a: np.ndarray, labels: np.ndarray, n_a: int, k: int) -> np.ndarray:
    """``out[i, c]`` = number of pairs ``(i, p)`` with ``labels[p] = c`` (int64)."""
    ok = labels >= 0
    flat = np.bincount(a[ok].astype(np.int64) * k + labels[ok], minlength=n_a * k)
    return flat.reshape(n_a, k).astype(np.int64)


def _merge_sum(acc: pd.DataFrame | None, part: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows of both frames by ``key``; numeric ``c*``/``n_playlists`` columns summed and the
    first-appearance columns (``creator_name``, ``participant_id``, ``position``) taken from the
    earliest ``(participant_id, position)``."""
    if acc is None:
        return part
    both = pd.concat([acc, part], ignore_index=True)
    sums = [c for c in both.columns if c.startswith("c_") or c == "n_playlists"]
    summed = both.groupby(key, sort=False)[sums].sum()
    if "position" in both.columns:
        both = both.sort_values(["participant_id", "position"], kind="stable")
        first = both.drop_duplicates(key)[[key, "creator_name", "participant_id", "position"]]
        out = first.set_index(key).join(summed).reset_index()
    else:
        out = summed.reset_index()
    return out


def taste_from_shards(
    combined: CombinedPlaylists,
    labels: np.ndarray,
    k: int,
    items: pd.DataFrame | None = None,
) -> TasteTypes:
    """:func:`prefcal.clustering.taste.item_taste_types` with the hard ``labels`` (one per row of
    ``combined.table``; -1 = unassigned) of the whole study, from the shards' summaries one shard
    at a time: per item and per artist, the number of its playlists in each cluster, summed over
    shards; items ordered by first appearance in the canonical table, then the ``items`` (e.g.
    streamed items) in no playlist in their order."""
    labels = np.asarray(labels, dtype=np.int64)
    cols = [f"c_{j}" for j in range(k)]
    acc_items: pd.DataFrame | None = None
    acc_art: pd.DataFrame | None = None
    for s, d in enumerate(combined.shard_dirs):
        sh = read_shard_playlists(d, ("artists", "items", "item_playlists", "artist_playlists"))
        lab = labels[combined.index[s]]
        ip = sh.item_playlists
        n_it = len(sh.items)
        ic = _label_counts(ip["item"].to_numpy(), lab[ip["playlist"].to_numpy()], n_it, k)
        part = sh.items.copy()
        part["n_playlists"] = np.bincount(ip["item"].to_numpy(), minlength=n_it).astype(np.int64)
        part[cols] = ic
        acc_items = _merge_sum(acc_items, part, "item_uri")
        ap = sh.artist_playlists
        ac = _label_counts(
            ap["artist"].to_numpy(), lab[ap["playlist"].to_numpy()], len(sh.artists), k
        )
        used = np.bincount(ap["artist"].to_numpy(), minlength=len(sh.artists)) > 0
        apart = pd.DataFrame(ac[used], columns=cols)
        apart.insert(0, "artist", sh.artists["artist"].to_numpy(dtype=object)[used])
        acc_art = _merge_sum(acc_art, apart, "artist")
    assert acc_items is not None and acc_art is not None
    pl_items = acc_items.sort_values(["participant_id", "position"], kind="stable")
    uris = pl_items["item_uri"].to_numpy(dtype=object)
    creators = pl_items["creator_name"].to_numpy(dtype=object)
    per_item = pl_items[cols].to_numpy(dtype=np.float64)
    n_pl = pl_items["n_playlists"].to_numpy(dtype=np.int64)
    if items is not None:
        for col in ("item_uri", "creator_name"):
            if col not in items.columns:
                raise ValueError(f"items table lacks column {col!r}")
        extra = items.loc[items["item_uri"].notna(), ["item_uri", "creator_name"]]
        extra = extra[~extra["item_uri"].isin(pd.Index(uris))].drop_duplicates("item_uri")
        uris = np.concatenate([uris, extra["item_uri"].to_numpy(dtype=object)])
        creators = np.concatenate([creators, extra["creator_name"].to_numpy(dtype=object)])
        per_item = np.vstack([per_item, np.zeros((len(extra), k))])
        n_pl = np.concatenate([n_pl, np.zeros(len(extra), dtype=np.int64)])
    total = per_item.sum(axis=1)
    known = total > 0
    dist = np.zeros_like(per_item)
    dist[known] = per_item[known] / total[known, None]
    art = acc_art[cols].to_numpy(dtype=np.float64)
    art_total = art.sum(axis=1)
    art_known = art_total > 0
    art_dist = np.zeros_like(art)
    art_dist[art_known] = art[art_known] / art_total[art_known, None]
    item_a = pd.Index(acc_art["artist"].to_numpy(dtype=object)).get_indexer(pd.Index(creators))
    use_artist = ~known & (item_a >= 0)
    use_artist[use_artist] = art_known[item_a[use_artist]]
    dist[use_artist] = art_dist[item_a[use_artist]]
    source = np.full(len(uris), "unknown", dtype=object)
    source[known] = "playlist"
    source[use_artist] = "artist"
    return TasteTypes(
        item_uri=uris, creator_name=creators, dist=dist, source=source, n_playlists=n_pl
    )


def card_counts_from_shards(
    combined: CombinedPlaylists, labels: np.ndarray
) -> tuple[pd.DataFrame, pd.Series]:
    """Per cluster and artist the number of track rows in the cluster's playlists (``cluster``,
    ``artist``, ``n``; clusters >= 0) and per cluster the number of distinct owners of its
    playlists, summed over shards (participants are disjoint across shards)."""
    labels = np.asarray(labels, dtype=np.int64)
    parts, owners = [], []
    for s, d in enumerate(combined.shard_dirs):
        sh = read_shard_playlists(d, ("artists", "artist_counts"))
        lab = labels[combined.index[s]]
        ac = sh.artist_counts
        cl = lab[ac["playlist"].to_numpy()]
        ok = cl >= 0
        names = sh.artists["artist"].to_numpy(dtype=object)
        part = pd.DataFrame(
            {
                "cluster": cl[ok],
                "artist": names[ac["artist"].to_numpy()[ok]],
                "n": ac["count"].to_numpy()[ok].astype(np.int64),
            }
        )
        parts.append(part.groupby(["cluster", "artist"], sort=False)["n"].sum().reset_index())
        own = combined.table["participant_id"].to_numpy(dtype=object)[combined.index[s]]
        m = lab >= 0
        owners.append(
            pd.DataFrame({"cluster": lab[m], "owner": own[m]}).groupby("cluster")["owner"].nunique()
        )
    counts = (
        pd.concat(parts, ignore_index=True).groupby(["cluster", "artist"], sort=True)["n"].sum()
    )
    n_owners = pd.concat(owners).groupby(level=0).sum() if owners else pd.Series(dtype="int64")
    return counts.reset_index(), n_owners


def write_all_shard_playlists(
    playlist_paths: Sequence[str | Path], out_dir: str | Path
) -> list[Path]:
    """What the workflow's per-shard jobs do, one shard after the other (a run by hand): the
    summaries of ``playlist_paths[i]`` go to ``out_dir/shard_{i:03d}``; returns those folders."""
    from prefcal.clustering.stage import read_shards

    dirs = []
    for i, path in enumerate(playlist_paths):
        dirs.append(Path(out_dir) / f"shard_{i:03d}")
        frame = read_shards([path], columns=list(READ_COLUMNS))
        write_shard_playlists(shard_playlists(frame), dirs[-1])
    return dirs
