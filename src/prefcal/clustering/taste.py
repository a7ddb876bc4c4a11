"""Item taste types: the cluster distribution of the playlists that contain an item (STUDY.md 6.2).

With ``M`` the playlists x clusters membership matrix (one-hot rows for hard k-means labels, NMF
soft memberships otherwise; unassigned playlists have zero rows) and ``B[i, p] = 1`` when item ``i``
is in playlist ``p`` (an item listed twice in a playlist counts once):

    taste(i) = (B M)[i] / sum_j (B M)[i, j]                           (source = "playlist")

An item in no (assigned) playlist takes its artist's distribution, computed the same way from
``A[a, p] = 1`` when playlist ``p`` holds a track by artist ``a`` (source = "artist"); an item whose
artist is in no playlist either is "unknown": its row is all zeros and it is counted in
:attr:`TasteTypes.n_unknown`. Everything is sparse matrix algebra over integer codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

SOURCES = ("playlist", "artist", "unknown")


@dataclass
class TasteTypes:
    """Per item: cluster distribution ``dist`` (rows sum to 1, zeros if unknown) and its source."""

    item_uri: np.ndarray
    creator_name: np.ndarray
    dist: np.ndarray
    source: np.ndarray
    n_playlists: np.ndarray

    @property
    def k(self) -> int:
        """Number of clusters (columns of ``dist``)."""
        return int(self.dist.shape[1])

    @property
    def n_unknown(self) -> int:
        """Items with neither a playlist nor an artist distribution."""
        return int(np.sum(self.source == "unknown"))

    def counts(self) -> dict[str, int]:
        """Number of items per source."""
        return {s: int(np.sum(self.source == s)) for s in SOURCES}

    def lookup(self, item_uri: np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``dist`` for an array of URIs and a mask of known ones (others are zero rows)."""
        idx = pd.Index(self.item_uri).get_indexer(pd.Index(np.asarray(item_uri, dtype=object)))
        known = idx >= 0
        known[known] = self.source[idx[known]] != "unknown"
        out = np.zeros((len(idx), self.k))
        out[known] = self.dist[idx[known]]
        return out, known

    def to_frame(self) -> pd.DataFrame:
        """Wide table: item_uri, creator_name, source, n_playlists, top_cluster, p_0..p_{k-1}."""
        top = np.where(self.source == "unknown", -1, self.dist.argmax(axis=1))
        frame = pd.DataFrame(
            {
                "item_uri": self.item_uri,
                "creator_name": self.creator_name,
                "source": self.source,
                "n_playlists": self.n_playlists,
                "top_cluster": top,
            }
        )
        probs = pd.DataFrame(self.dist, columns=[f"p_{j}" for j in range(self.k)])
        return pd.concat([frame, probs], axis=1)


def membership_matrix(memberships: np.ndarray, k: int | None = None) -> sp.csr_matrix:
    """One-hot ``M`` from 1-D labels (``-1`` = unassigned) or a sparse copy of a 2-D soft matrix."""
    m = np.asarray(memberships)
    if m.ndim == 2:
        return sp.csr_matrix(m.astype(np.float64))
    if m.ndim != 1:
        raise ValueError("memberships must be 1-D labels or a 2-D membership matrix")
    k = int(m.max()) + 1 if k is None else k
    rows = np.flatnonzero(m >= 0)
    return sp.csr_matrix((np.ones(rows.size), (rows, m[rows])), shape=(m.size, max(k, 1)))


def _binary_incidence(
    row_codes: np.ndarray, col_codes: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    key = np.unique(row_codes.astype(np.int64) * shape[1] + col_codes)
    return sp.csr_matrix((np.ones(key.size), (key // shape[1], key % shape[1])), shape=shape)


def _normalise_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    total = x.sum(axis=1)
    ok = total > 0
    out = np.zeros_like(x)
    out[ok] = x[ok] / total[ok, None]
    return out, ok


def item_taste_types(
    playlists: pd.DataFrame,
    playlist_ids: np.ndarray,
    memberships: np.ndarray,
    *,
    items: pd.DataFrame | None = None,
    k: int | None = None,
) -> TasteTypes:
    """Taste distribution of every item in ``playlists`` (and in ``items``, if given).

    ``playlist_ids`` and ``memberships`` are aligned (one entry / row per clustered playlist);
    playlists of the table that are not in ``playlist_ids`` count as unassigned. ``items`` is an
    optional table with ``item_uri`` and ``creator_name`` (e.g. the distinct items of ``streams``)
    whose items in no playlist get their artist's distribution.
    """
    for col in ("playlist_id", "item_uri", "creator_name"):
        if col not in playlists.columns:
            raise ValueError(f"playlists table lacks column {col!r}")
    m = membership_matrix(memberships, k)
    if m.shape[0] != len(playlist_ids):
        raise ValueError("memberships must have one row per entry of playlist_ids")
    pl = playlists[playlists["item_uri"].notna()]
    p_code = pd.Index(np.asarray(playlist_ids, dtype=object)).get_indexer(
        pl["playlist_id"].astype(object)
    )
    on = p_code >= 0  # rows of playlists that were clustered; the others only name items

    extra = pd.DataFrame(columns=["item_uri", "creator_name"])
    if items is not None:
        for col in ("item_uri", "creator_name"):
            if col not in items.columns:
                raise ValueError(f"items table lacks column {col!r}")
        extra = items.loc[items["item_uri"].notna(), ["item_uri", "creator_name"]]
    # item universe: playlist items first, then the extra ones; the first artist seen is the item's
    both = pd.concat([pl[["item_uri", "creator_name"]], extra], ignore_index=True)
    i_code_all, uris = pd.factorize(both["item_uri"].astype(object))
    n_items = len(uris)
    first = pd.Series(np.arange(len(both))).groupby(i_code_all).first().to_numpy()
    item_artist = both["creator_name"].to_numpy(dtype=object)[first]

    i_code = i_code_all[: len(pl)]
    b = _binary_incidence(i_code[on], p_code[on], (n_items, m.shape[0]))
    per_item = np.asarray((b @ m).todense())
    n_pl = np.asarray(b.sum(axis=1)).ravel().astype(np.int64)
    dist, known = _normalise_rows(per_item)

    # artist fallback
    a_ok = pl["creator_name"].notna().to_numpy() & on
    a_code, artists = pd.factorize(pl.loc[a_ok, "creator_name"].astype(object))
    a_mat = _binary_incidence(a_code, p_code[a_ok], (len(artists), m.shape[0]))
    art_dist, art_known = _normalise_rows(np.asarray((a_mat @ m).todense()))
    item_a = pd.Index(artists).get_indexer(pd.Index(item_artist))
    use_artist = ~known & (item_a >= 0)
    use_artist[use_artist] = art_known[item_a[use_artist]]
    dist[use_artist] = art_dist[item_a[use_artist]]

    source = np.full(n_items, "unknown", dtype=object)
    source[known] = "playlist"
    source[use_artist] = "artist"
    return TasteTypes(
        item_uri=np.asarray(uris, dtype=object),
        creator_name=item_artist,
        dist=dist,
        source=source,
        n_playlists=n_pl,
    )
