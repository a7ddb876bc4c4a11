"""Playlist x artist features: counts, TF-IDF, TruncatedSVD embedding (STUDY.md section 6.2).

The pipeline is

1. ``C[p, a]`` = number of tracks by artist ``a`` in playlist ``p`` (a sparse count matrix built
   from integer codes, never from per-row Python loops);
2. artists that occur in fewer than ``min_playlists`` playlists are dropped (``min_df``);
3. TF-IDF with scikit-learn's :class:`~sklearn.feature_extraction.text.TfidfTransformer`:
   ``tf = 1 + ln C`` (``sublinear_tf``) or ``C``, ``idf(a) = ln((1 + n) / (1 + df(a))) + 1``,
   rows L2-normalised;
4. optionally genre columns ``G[p, g]`` (tracks of genre ``g``; only where an artist's genre is
   known), TF-IDF'd the same way and appended with weight ``genre_weight`` before a second row L2
   normalisation: ``X = normalize([T_artist, genre_weight * T_genre])``;
5. :class:`~sklearn.decomposition.TruncatedSVD` (randomized, explicit ``random_state``) to
   ``n_components`` dimensions, then rows L2-normalised, so that Euclidean k-means on the embedding
   is spherical k-means (cosine) on the TF-IDF vectors.

Playlists whose rows are empty after step 2 have a zero embedding; :func:`nonempty_rows` marks them
and the clustering pipeline leaves them unassigned (label -1) instead of forcing them into a
cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.preprocessing import normalize

PLAYLIST_COLUMNS = ("playlist_id", "item_kind", "creator_name")


@dataclass(frozen=True)
class PlaylistArtistCounts:
    """``counts[p, a]``: tracks by artist ``artists[a]`` in playlist ``playlist_ids[p]``."""

    counts: sp.csr_matrix
    playlist_ids: np.ndarray
    artists: np.ndarray


def counts_from_codes(
    playlist_codes: np.ndarray,
    artist_codes: np.ndarray,
    n_playlists: int,
    n_artists: int,
    dtype: type = np.float32,
) -> sp.csr_matrix:
    """Sparse count matrix ``C[p, a] = #{i : playlist_codes[i] = p, artist_codes[i] = a}``.

    Codes must be integers in ``[0, n_playlists)`` and ``[0, n_artists)``; duplicates are summed.
    """
    p = np.asarray(playlist_codes)
    a = np.asarray(artist_codes)
    if p.shape != a.shape or p.ndim != 1:
        raise ValueError("playlist_codes and artist_codes must be 1-D arrays of the same length")
    if p.size and (p.min() < 0 or p.max() >= n_playlists):
        raise ValueError(f"playlist_codes must lie in [0, {n_playlists})")
    if a.size and (a.min() < 0 or a.max() >= n_artists):
        raise ValueError(f"artist_codes must lie in [0, {n_artists})")
    idx_dtype = np.int64 if max(n_playlists, n_artists, p.size) >= 2**31 - 1 else np.int32
    # CSR straight from sorted codes: order by playlist, then count the (playlist, artist) pairs.
    key = p.astype(np.int64) * n_artists + a.astype(np.int64)
    uniq, cnt = np.unique(key, return_counts=True)
    rows = (uniq // n_artists).astype(idx_dtype)
    cols = (uniq % n_artists).astype(idx_dtype)
    indptr = np.zeros(n_playlists + 1, dtype=idx_dtype)
    np.cumsum(np.bincount(rows, minlength=n_playlists), out=indptr[1:])
    out = sp.csr_matrix((cnt.astype(dtype), cols, indptr), shape=(n_playlists, n_artists))
    out.has_sorted_indices = True
    return out


def playlist_artist_counts(
    playlists: pd.DataFrame,
    *,
    item_kinds: tuple[str, ...] = ("track",),
    artist_col: str = "creator_name",
) -> PlaylistArtistCounts:
    """Count matrix of a canonical ``playlists`` table (see :mod:`prefcal.tables`).

    Rows whose ``item_kind`` is not in ``item_kinds`` or whose artist is null are ignored (episodes,
    audiobooks and local files have no artist in the music sense). Playlists keep their order of
    first appearance; artists are sorted by name so that the columns do not depend on row order.
    """
    missing = [c for c in ("playlist_id", "item_kind", artist_col) if c not in playlists.columns]
    if missing:
        raise ValueError(f"playlists table lacks column(s) {missing}")
    pl_codes, pl_ids = pd.factorize(playlists["playlist_id"], sort=False)
    keep = (
        playlists["item_kind"].isin(item_kinds).to_numpy()
        & playlists[artist_col].notna().to_numpy()
    )
    art_codes, artists = pd.factorize(playlists.loc[keep, artist_col], sort=True)
    counts = counts_from_codes(pl_codes[keep], art_codes, len(pl_ids), len(artists))
    return PlaylistArtistCounts(
        counts, np.asarray(pl_ids, dtype=object), np.asarray(artists, dtype=object)
    )


def document_frequency(counts: sp.csr_matrix) -> np.ndarray:
    """``df(a)`` = number of playlists with at least one track by artist ``a``."""
    return np.bincount(counts.indices, minlength=counts.shape[1])


def filter_columns(counts: sp.csr_matrix, min_playlists: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Drop columns with ``df < min_playlists``; return the matrix and the kept column indices."""
    keep = np.flatnonzero(document_frequency(counts) >= min_playlists)
    if keep.size == counts.shape[1]:
        return counts, keep
    return counts[:, keep].tocsr(), keep


def tfidf(counts: sp.csr_matrix, *, sublinear_tf: bool = True) -> sp.csr_matrix:
    """TF-IDF rows (L2-normalised) with scikit-learn's smooth idf; dtype is preserved."""
    return TfidfTransformer(
        norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=sublinear_tf
    ).fit_transform(counts)


def genre_counts(counts: sp.csr_matrix, artist_genre: np.ndarray, n_genres: int) -> sp.csr_matrix:
    """``G = C @ M`` with ``M[a, g] = 1`` when artist ``a`` has genre ``g`` (``-1`` = unknown)."""
    g = np.asarray(artist_genre)
    if g.shape != (counts.shape[1],):
        raise ValueError("artist_genre must have one entry per column of counts")
    known = np.flatnonzero(g >= 0)
    m = sp.csr_matrix(
        (np.ones(known.size, dtype=counts.dtype), (known, g[known])),
        shape=(counts.shape[1], n_genres),
    )
    return (counts @ m).tocsr()


def feature_matrix(
    counts: sp.csr_matrix,
    *,
    sublinear_tf: bool = True,
    genres: sp.csr_matrix | None = None,
    genre_weight: float = 0.0,
) -> sp.csr_matrix:
    """``X = normalize([tfidf(C), genre_weight * tfidf(G)])`` or just ``tfidf(C)`` (module doc)."""
    x = tfidf(counts, sublinear_tf=sublinear_tf)
    if genres is not None and genre_weight > 0:
        xg = tfidf(genres.astype(counts.dtype), sublinear_tf=sublinear_tf) * genre_weight
        x = normalize(sp.hstack([x, xg], format="csr"), norm="l2", copy=False)
    return x


def svd_embedding(
    x: sp.csr_matrix, n_components: int, random_state: int, n_iter: int = 5
) -> tuple[np.ndarray, TruncatedSVD]:
    """Randomized TruncatedSVD of ``x`` to ``n_components`` dims, rows L2-normalised.

    ``n_components`` is capped at ``min(n_rows, n_cols) - 1`` (TruncatedSVD's limit); the model's
    ``n_components`` says what was used. The artist vectors consistent with this embedding are
    ``svd.components_.T`` (the projection of a one-artist playlist).
    """
    cap = min(x.shape) - 1
    if cap < 1:
        raise ValueError(f"feature matrix of shape {x.shape} is too small for an SVD")
    svd = TruncatedSVD(
        n_components=min(n_components, cap),
        algorithm="randomized",
        n_iter=n_iter,
        random_state=random_state,
    )
    emb = svd.fit_transform(x)
    return normalize(emb, norm="l2", copy=False), svd


def nonempty_rows(x: sp.csr_matrix) -> np.ndarray:
    """Boolean mask of rows with at least one stored non-zero."""
    return np.diff(x.indptr) > 0
