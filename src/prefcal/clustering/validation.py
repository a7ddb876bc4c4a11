"""Agreement of stage 02's clusters with the simulator's true genres (validation only).

This module reads the truth sidecar (``results/truth/``), which nothing but validation code may
read. Truth per unit:

* a **playlist**'s true genre is its ``theme_genre`` (the genre the simulator built it from) or its
  ``dominant_genre`` (the most common genre of its tracks), from the shards'
  ``truth/users/shard_*/playlists.parquet``; the playlist id is the ingest's
  ``<study_id(folder, seed)>-<playlist_index>`` (:mod:`prefcal.tables`);
* a **track**'s true genre is the catalogue's ``genre_id`` (``truth/catalogue/tracks.parquet``,
  matched by URI).

:func:`agreement_table` reports ARI and NMI (:func:`prefcal.clustering.agreement_with_truth`) of
the k-means labels and of the NMF arg-max against both playlist truths, and of the items' top taste
cluster against the track genres. :func:`cluster_purity` gives each cluster's majority true genre
and its purity ``max_g |C ∩ G_g| / |C|`` (theme genre).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from prefcal.clustering.agreement import agreement_with_truth
from prefcal.clustering.pipeline import ClusteringResult
from prefcal.clustering.taste import TasteTypes
from prefcal.ingest import study_id

__all__ = ["agreement_table", "cluster_purity", "genre_names", "playlist_truth", "track_genres"]

AGREEMENT_COLUMNS = ("model", "unit", "truth", "ari", "nmi", "n", "n_left_out")


def playlist_truth(truth_dirs: Sequence[str | Path], seed: int) -> pd.DataFrame:
    """``theme_genre`` and ``dominant_genre`` indexed by the canonical ``playlist_id``."""
    frames = []
    for d in truth_dirs:
        path = Path(d) / "playlists.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist (run `prefcal simulate users` first)")
        frames.append(
            pq.read_table(
                path, columns=["folder", "playlist_index", "theme_genre", "dominant_genre"]
            ).to_pandas()
        )
    t = pd.concat(frames, ignore_index=True)
    ids = {f: study_id(str(f), int(seed)) for f in t["folder"].unique()}
    pid = t["folder"].map(ids) + "-" + t["playlist_index"].astype(str)
    out = t[["theme_genre", "dominant_genre"]].astype(np.int64)
    out.index = pd.Index(pid.to_numpy(dtype=object), name="playlist_id")
    return out


def track_genres(catalogue_dir: str | Path) -> pd.Series:
    """Catalogue track URI -> true genre id (local files, which have no URI, left out)."""
    tracks = pq.read_table(Path(catalogue_dir) / "tracks.parquet", columns=["uri", "genre_id"])
    t = tracks.to_pandas()
    t = t[t["uri"].notna()]  # local files have no URI
    return pd.Series(t["genre_id"].to_numpy(np.int64), index=pd.Index(t["uri"], name="item_uri"))


def genre_names(catalogue_dir: str | Path) -> pd.Series:
    """Genre id -> genre name of the simulated catalogue."""
    g = pq.read_table(Path(catalogue_dir) / "genres.parquet", columns=["genre_id", "name"])
    t = g.to_pandas()
    return pd.Series(t["name"].to_numpy(dtype=object), index=t["genre_id"].to_numpy(np.int64))


def _truth_for(ids: np.ndarray, truth: pd.Series) -> np.ndarray:
    return truth.reindex(pd.Index(np.asarray(ids, dtype=object))).fillna(-1).to_numpy(np.int64)


def agreement_table(
    res: ClusteringResult,
    truth: pd.DataFrame,
    taste: TasteTypes | None = None,
    tracks: pd.Series | None = None,
) -> pd.DataFrame:
    """ARI/NMI rows (columns :data:`AGREEMENT_COLUMNS`) of the module doc."""
    rows = []
    models = [(f"k-means (k = {res.k})", res.labels)]
    if res.nmf is not None:
        models.append((f"NMF (r = {res.k})", res.playlist_table()["nmf_cluster"].to_numpy()))
    for model, labels in models:
        for col, name in (("theme_genre", "theme genre"), ("dominant_genre", "dominant genre")):
            a = agreement_with_truth(labels, _truth_for(res.playlist_ids, truth[col]))
            rows.append({"model": model, "unit": "playlists", "truth": name, **a})
    if taste is not None and tracks is not None:
        top = np.where(taste.source == "unknown", -1, taste.dist.argmax(axis=1))
        a = agreement_with_truth(top, _truth_for(taste.item_uri, tracks))
        rows.append(
            {"model": f"taste type (k = {res.k})", "unit": "tracks", "truth": "track genre", **a}
        )
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))


def cluster_purity(
    res: ClusteringResult, truth: pd.DataFrame, names: pd.Series | None = None
) -> pd.DataFrame:
    """Per k-means cluster: ``true_genre`` (majority theme genre, by name if ``names``) and
    ``purity`` = share of the cluster's playlists with that genre (ties: lower genre id)."""
    labels = res.labels
    genre = _truth_for(res.playlist_ids, truth["theme_genre"])
    ok = (labels >= 0) & (genre >= 0)
    n_g = int(genre[ok].max()) + 1 if ok.any() else 1
    table = np.zeros((res.k, n_g), dtype=np.int64)
    np.add.at(table, (labels[ok], genre[ok]), 1)
    size = table.sum(axis=1)
    top = table.argmax(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        purity = np.where(size > 0, table.max(axis=1) / np.maximum(size, 1), np.nan)
    label = top.astype(object) if names is None else names.reindex(top).to_numpy(dtype=object)
    return pd.DataFrame({"cluster": np.arange(res.k), "true_genre": label, "purity": purity})
