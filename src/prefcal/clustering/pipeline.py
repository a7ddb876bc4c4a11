"""The playlist clustering of STUDY.md section 6.2, end to end, from config values.

``cluster_playlists`` (canonical table) and ``cluster_counts`` (a playlists x artists count matrix
built from integer codes) run: features (:mod:`.features`) -> MiniBatchKMeans over
``clustering.k_grid`` with ``clustering.n_seeds`` seeds (:mod:`.kmeans`) -> for every k the
silhouette (on a seeded subsample of ``silhouette_sample`` playlists; Euclidean on the L2-normalised
embedding), Davies-Bouldin (all playlists), seed ARI and bootstrap Jaccard (on a seeded subsample of
``stability_sample`` playlists, :mod:`.stability`) -> the choice of k (:mod:`.selection`) -> NMF
soft memberships with the chosen number of components (:mod:`.nmf`; topics fitted on the first
``nmf_sample`` playlists of the same seeded permutation when there are more).

The subsample is the prefix of one seeded permutation of the clustered playlists, the same for
every k, so the scores of different k are computed on the same playlists. The labels reported for k
are those of seed 0. All random draws derive from ``seed`` through ``numpy.random.SeedSequence``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import davies_bouldin_score

from prefcal.clustering.features import (
    feature_matrix,
    filter_columns,
    genre_counts,
    nonempty_rows,
    playlist_artist_counts,
    svd_embedding,
)
from prefcal.clustering.kmeans import (
    KMeansGrid,
    derived_seed,
    fit_kmeans_grid,
    make_kmeans,
    single_threaded,
)
from prefcal.clustering.nmf import NMFResult, nmf_memberships
from prefcal.clustering.quality import silhouette_many
from prefcal.clustering.selection import select_k
from prefcal.clustering.stability import bootstrap_jaccard, cluster_stability, mean_pairwise_ari


@dataclass(frozen=True)
class ClusteringParams:
    """The ``clustering:`` section of the config (see config/config.yaml for the meaning)."""

    n_components: int = 64
    min_playlists_per_artist: int = 2
    sublinear_tf: bool = True
    genre_weight: float = 0.0
    k_grid: tuple[int, ...] = (6, 8, 10, 12, 14, 16, 20)
    n_seeds: int = 3
    batch_size: int = 16384
    n_init: int = 3
    max_iter: int = 100
    svd_n_iter: int = 5
    silhouette_sample: int = 20000
    stability_sample: int = 20000
    n_bootstrap: int = 20
    jaccard_stable: float = 0.75
    min_seed_ari: float = 0.8
    min_stable_share: float = 0.75
    nmf: bool = True
    nmf_max_iter: int = 300
    nmf_sample: int = 200000
    max_playlists: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClusteringParams:
        """From the whole config (uses its ``clustering`` key) or from the section itself."""
        section = config.get("clustering", config)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - names)
        if unknown:
            raise ValueError(f"config key clustering.{unknown[0]} is not a clustering parameter")
        values = dict(section)
        if "k_grid" in values:
            values["k_grid"] = tuple(int(k) for k in values["k_grid"])
        return cls(**values)


@dataclass
class ClusteringResult:
    """Everything the clustering stage produces; rows are the input playlists in input order."""

    features: sp.csr_matrix
    kept_columns: np.ndarray
    embedding: np.ndarray
    valid: np.ndarray
    svd: TruncatedSVD
    grid: KMeansGrid
    jaccard: dict[int, np.ndarray]
    selection: pd.DataFrame
    k: int
    nmf: NMFResult | None
    playlist_ids: np.ndarray | None = None
    column_names: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: when the model was fitted on a sample of playlists (``clustering.max_playlists``): the
    #: :meth:`playlist_table` of every playlist, assigned with the fitted model
    #: (:mod:`prefcal.clustering.shards`); ``labels`` and ``playlist_table`` then come from it
    assigned: pd.DataFrame | None = None

    def labels_for(self, k: int, seed_index: int = 0) -> np.ndarray:
        """Labels of all input (fitted) playlists for ``k`` (-1 for playlists without
        features)."""
        out = np.full(self.valid.size, -1, dtype=np.int32)
        out[self.valid] = self.grid.labels[k][seed_index]
        return out

    @property
    def labels(self) -> np.ndarray:
        """Labels at the chosen k (of every playlist when the model was fitted on a sample)."""
        if self.assigned is not None:
            return self.assigned["cluster"].to_numpy(dtype=np.int32)
        return self.labels_for(self.k)

    def nmf_memberships(self) -> np.ndarray:
        """NMF soft memberships of all input playlists (zero rows where unassigned)."""
        if self.nmf is None:
            raise ValueError("NMF was not fitted (clustering.nmf is false)")
        out = np.zeros((self.valid.size, self.nmf.memberships.shape[1]))
        out[self.valid] = self.nmf.memberships
        return out

    def playlist_table(self) -> pd.DataFrame:
        """``playlist_id, cluster, nmf_cluster, nmf_p_0..``: one row per input playlist."""
        if self.assigned is not None:
            return self.assigned.copy()
        ids = self.playlist_ids if self.playlist_ids is not None else np.arange(self.valid.size)
        out = pd.DataFrame({"playlist_id": ids, "cluster": self.labels})
        if self.nmf is not None:
            mem = self.nmf_memberships()
            assigned = np.zeros(self.valid.size, dtype=bool)
            assigned[self.valid] = self.nmf.assigned
            out["nmf_cluster"] = np.where(assigned, mem.argmax(axis=1), -1)
            for j in range(mem.shape[1]):
                out[f"nmf_p_{j}"] = mem[:, j]
        return out

    def column_vectors(self) -> np.ndarray:
        """SVD vectors of the feature columns (artists, then genres): ``svd.components_.T``."""
        return self.svd.components_.T


def _scores_for_k(
    emb: np.ndarray,
    labels: np.ndarray,
    k: int,
    sil: float,
    stab_idx: np.ndarray,
    params: ClusteringParams,
    seed: int,
) -> tuple[dict[str, float], np.ndarray]:
    lab0 = labels[0]
    db = float(davies_bouldin_score(emb, lab0)) if np.unique(lab0).size > 1 else np.nan

    def fit_predict(x: np.ndarray, w: np.ndarray, state: int) -> np.ndarray:
        model = make_kmeans(
            k, state, batch_size=params.batch_size, n_init=params.n_init, max_iter=params.max_iter
        )
        return model.fit(x, sample_weight=w).labels_

    rng = np.random.default_rng(np.random.SeedSequence([seed, 3, k]))
    with single_threaded():
        jac = bootstrap_jaccard(
            emb[stab_idx], lab0[stab_idx], k, fit_predict, n_bootstrap=params.n_bootstrap, rng=rng
        )
    per_cluster = cluster_stability(jac)
    row = {
        "k": k,
        "silhouette": sil,
        "davies_bouldin": db,
        "seed_ari": mean_pairwise_ari(labels),
        "mean_jaccard": float(np.nanmean(per_cluster)),
        "min_jaccard": float(np.nanmin(per_cluster)),
        "n_stable": int(np.sum(per_cluster >= params.jaccard_stable)),
    }
    return row, per_cluster


def cluster_counts(
    counts: sp.csr_matrix,
    params: ClusteringParams,
    *,
    seed: int,
    column_genre: np.ndarray | None = None,
    n_genres: int | None = None,
) -> ClusteringResult:
    """Run the whole stage on a playlists x artists count matrix (module doc)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    genres = None
    if column_genre is not None and params.genre_weight > 0:
        cg = np.asarray(column_genre)
        genres = genre_counts(counts, cg, int(cg.max()) + 1 if n_genres is None else n_genres)
    counts_kept, kept = filter_columns(counts.tocsr(), params.min_playlists_per_artist)
    x = feature_matrix(
        counts_kept,
        sublinear_tf=params.sublinear_tf,
        genres=genres,
        genre_weight=params.genre_weight,
    )
    valid = nonempty_rows(x)
    n_valid = int(valid.sum())
    if n_valid <= max(params.k_grid):
        raise ValueError(
            f"only {n_valid} playlists have features after clustering.min_playlists_per_artist="
            f"{params.min_playlists_per_artist}; clustering.k_grid needs more than "
            f"{max(params.k_grid)}"
        )
    timings["tfidf"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    xv = x[valid] if n_valid < x.shape[0] else x
    emb, svd = svd_embedding(
        xv, params.n_components, derived_seed(seed, 0), n_iter=params.svd_n_iter
    )
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    timings["svd"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    grid = fit_kmeans_grid(
        emb,
        params.k_grid,
        seed=seed,
        n_seeds=params.n_seeds,
        batch_size=params.batch_size,
        n_init=params.n_init,
        max_iter=params.max_iter,
    )
    timings["kmeans_grid"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    perm = np.random.default_rng(np.random.SeedSequence([seed, 2])).permutation(n_valid)
    sil_idx = np.sort(perm[: min(params.silhouette_sample, n_valid)])
    stab_idx = np.sort(perm[: min(params.stability_sample, n_valid)])
    sils = silhouette_many(emb[sil_idx], [grid.labels[k][0][sil_idx] for k in grid.k_grid])
    rows, jaccard = [], {}
    for k, sil in zip(grid.k_grid, sils, strict=True):
        row, per_cluster = _scores_for_k(emb, grid.labels[k], k, float(sil), stab_idx, params, seed)
        rows.append(row)
        jaccard[k] = per_cluster
    selection = select_k(
        pd.DataFrame(rows),
        min_seed_ari=params.min_seed_ari,
        min_stable_share=params.min_stable_share,
    )
    k = int(selection.loc[selection["chosen"], "k"].iloc[0])
    timings["stability_selection"] = time.perf_counter() - t0

    nmf = None
    if params.nmf:
        t0 = time.perf_counter()
        nmf = nmf_memberships(
            xv,
            k,
            random_state=derived_seed(seed, 4, k),
            max_iter=params.nmf_max_iter,
            batch_size=params.batch_size,
            fit_rows=perm[: params.nmf_sample] if params.nmf_sample < n_valid else None,
        )
        timings["nmf"] = time.perf_counter() - t0
    return ClusteringResult(
        features=x,
        kept_columns=kept,
        embedding=emb,
        valid=valid,
        svd=svd,
        grid=grid,
        jaccard=jaccard,
        selection=selection,
        k=k,
        nmf=nmf,
        timings=timings,
    )


def cluster_playlists(
    playlists: pd.DataFrame,
    params: ClusteringParams,
    *,
    seed: int,
    artist_genre: Mapping[str, int] | pd.Series | None = None,
) -> ClusteringResult:
    """Cluster the playlists of a canonical ``playlists`` table (see :mod:`prefcal.tables`).

    ``artist_genre`` (artist name -> integer genre id), where known, adds genre columns weighted by
    ``clustering.genre_weight``. ``column_names`` of the result are the kept artists (then
    ``genre:<id>`` columns).
    """
    pac = playlist_artist_counts(playlists)
    column_genre = None
    n_genres = None
    if artist_genre is not None:
        mapping = pd.Series(artist_genre, dtype="float64")
        column_genre = mapping.reindex(pd.Index(pac.artists)).fillna(-1).to_numpy().astype(np.int64)
        n_genres = int(mapping.max()) + 1 if len(mapping) else 1
    res = cluster_counts(
        pac.counts, params, seed=seed, column_genre=column_genre, n_genres=n_genres
    )
    res.playlist_ids = pac.playlist_ids
    names = list(pac.artists[res.kept_columns])
    if column_genre is not None and params.genre_weight > 0:
        names += [f"genre:{g}" for g in range(n_genres or 0)]
    res.column_names = np.asarray(names, dtype=object)
    return res
