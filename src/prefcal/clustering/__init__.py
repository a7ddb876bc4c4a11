"""Playlist clustering and item taste types (STUDY.md section 6.2).

Entry points: :func:`cluster_playlists` (canonical playlists table) or :func:`cluster_counts`
(count matrix from integer codes) with :class:`ClusteringParams` (the config's ``clustering:``
section); :func:`item_taste_types` for the per-item cluster distributions; :func:`read_mpd` for the
Million Playlist Dataset; :func:`agreement_with_truth` against simulated genres.
"""

from prefcal.clustering.agreement import agreement_with_truth, dominant_genre
from prefcal.clustering.features import (
    PlaylistArtistCounts,
    counts_from_codes,
    feature_matrix,
    playlist_artist_counts,
    svd_embedding,
)
from prefcal.clustering.kmeans import KMeansGrid, fit_kmeans_grid
from prefcal.clustering.mpd import iter_mpd, read_mpd, write_mpd_parquet
from prefcal.clustering.nmf import NMFResult, nmf_memberships
from prefcal.clustering.pipeline import (
    ClusteringParams,
    ClusteringResult,
    cluster_counts,
    cluster_playlists,
)
from prefcal.clustering.selection import select_k
from prefcal.clustering.stability import bootstrap_jaccard, mean_pairwise_ari
from prefcal.clustering.taste import TasteTypes, item_taste_types

__all__ = [
    "ClusteringParams",
    "ClusteringResult",
    "KMeansGrid",
    "NMFResult",
    "PlaylistArtistCounts",
    "TasteTypes",
    "agreement_with_truth",
    "bootstrap_jaccard",
    "cluster_counts",
    "cluster_playlists",
    "counts_from_codes",
    "dominant_genre",
    "feature_matrix",
    "fit_kmeans_grid",
    "item_taste_types",
    "iter_mpd",
    "mean_pairwise_ari",
    "nmf_memberships",
    "playlist_artist_counts",
    "read_mpd",
    "select_k",
    "svd_embedding",
    "write_mpd_parquet",
]
