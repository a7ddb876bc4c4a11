"""Stage 02 of the workflow: playlist clusters and item taste types from the canonical shards.

The notebook ``notebooks/02_playlist_clusters.ipynb`` narrates these steps; this module holds the
logic so that tests cover it. Files written for later stages (the contract; ``k`` = chosen number
of clusters):

``results/clusters/playlist_clusters.parquet`` (one row per playlist of the canonical tables)
    ``playlist_id``, ``participant_id``, ``n_tracks`` (track rows with an artist),
    ``cluster`` (MiniBatchKMeans label at the chosen k, seed 0; -1 = no feature left after
    ``clustering.min_playlists_per_artist``), ``nmf_cluster`` (arg-max NMF component, -1 =
    unassigned) and ``nmf_p_0 .. nmf_p_{k-1}`` (NMF soft memberships; rows sum to 1 or 0).
``results/clusters/item_taste.parquet`` (one row per item of the playlists and of the music
streams)
    ``item_uri``, ``creator_name``, ``source`` (``playlist`` | ``artist`` | ``unknown``),
    ``n_playlists``, ``top_cluster`` (-1 = unknown) and ``p_0 .. p_{k-1}``: the item's taste type,
    the distribution over k-means clusters of the playlists containing it (see
    :mod:`prefcal.clustering.taste`).

Tables for the paper: the selection of k (:func:`selection_table`) and the cluster cards
(:func:`cluster_cards`: size, stability, most common artists; an artist is named only when at least
``privacy.k_anonymity`` participants streamed it, :mod:`prefcal.privacy`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from prefcal.clustering.pipeline import (
    ClusteringParams,
    ClusteringResult,
    cluster_counts,
    cluster_playlists,
)
from prefcal.clustering.shards import (
    CombinedPlaylists,
    FittedModel,
    card_counts_from_shards,
    combine_playlists,
    count_matrix,
    iter_shard_counts,
    sample_mask,
    taste_from_shards,
)
from prefcal.clustering.taste import TasteTypes, item_taste_types
from prefcal.paper.macros import Latex, format_float, format_int, format_percent, latex_escape

__all__ = [
    "CARD_COLUMNS",
    "agreement_latex_frame",
    "cards_latex_frame",
    "cards_from_counts",
    "cluster_cards",
    "cluster_cards_from_shards",
    "output_paths",
    "playlist_clusters",
    "playlist_clusters_from_shards",
    "read_shards",
    "run_clustering",
    "run_clustering_shards",
    "selection_latex_frame",
    "selection_table",
    "stage_macros",
    "stream_items",
    "taste_types",
    "taste_types_from_shards",
]

CARD_COLUMNS = (
    "cluster",
    "n_playlists",
    "share_playlists",
    "n_participants",
    "n_tracks",
    "n_artists",
    "stability",
    "top_artists",
    "n_artists_suppressed",
)


#: macros that need the simulator's truth (or NMF); "n/a" when they cannot be computed
VALIDATION_MACROS = (
    "CluARI",
    "CluNMI",
    "CluARIDominant",
    "CluNMIDominant",
    "CluNMFARI",
    "CluNMFNMI",
    "CluItemARI",
    "CluItemNMI",
    "CluMeanPurity",
    "CluMinPurity",
)


def output_paths(out_dir: str | Path) -> dict[str, Path]:
    """Where stage 02 writes under ``out_dir`` (``results`` in the workflow)."""
    out = Path(out_dir)
    return {
        "playlist_clusters": out / "clusters" / "playlist_clusters.parquet",
        "item_taste": out / "clusters" / "item_taste.parquet",
        "selection": out / "tables" / "cluster_selection.csv",
        "selection_tex": out / "tables" / "cluster_selection.tex",
        "cards": out / "tables" / "cluster_cards.csv",
        "cards_tex": out / "tables" / "cluster_cards.tex",
        "agreement": out / "tables" / "cluster_truth_agreement.csv",
        "agreement_tex": out / "tables" / "cluster_truth_agreement.tex",
        "fig": out / "figures" / "cluster_diagnostics.png",
        "fig_pdf": out / "figures" / "cluster_diagnostics.pdf",
        "macros": out / "paper" / "macros" / "02_clusters.tex",
    }


def read_shards(paths: Sequence[str | Path], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Concatenate the shards' Parquet tables, only ``columns`` if given, in the canonical order.

    The canonical order does not depend on how users are split into shards: rows are stably
    sorted by ``participant_id`` (a participant's rows all come from one shard, in that shard's
    order), so 1 shard and 8 shards give the same frame and every later result is the same. The
    order is canonical only when ``participant_id`` is among the columns read.
    """
    if not paths:
        raise ValueError("no shard files given")
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"shard table {p} does not exist")
        frames.append(pq.read_table(p, columns=list(columns) if columns else None).to_pandas())
    frame = pd.concat(frames, ignore_index=True)
    if "participant_id" in frame.columns:
        frame = frame.sort_values("participant_id", kind="stable", ignore_index=True)
    return frame


def run_clustering(playlists: pd.DataFrame, config: Mapping[str, Any]) -> ClusteringResult:
    """Cluster the playlists with the config's ``clustering:`` section and study ``seed``.

    Only the data are used (playlist x artist); the simulator's genres never enter the method.
    """
    params = ClusteringParams.from_config(config)
    return cluster_playlists(playlists, params, seed=int(config["seed"]))


def _idf(counts_kept, sublinear_tf: bool) -> np.ndarray:
    """Smooth idf ``ln((1 + n) / (1 + df)) + 1`` of the kept columns (scikit-learn's)."""
    from sklearn.feature_extraction.text import TfidfTransformer

    return TfidfTransformer(smooth_idf=True, sublinear_tf=sublinear_tf).fit(counts_kept).idf_


def run_clustering_shards(
    shard_dirs: Sequence[str | Path], config: Mapping[str, Any]
) -> tuple[ClusteringResult, CombinedPlaylists]:
    """:func:`run_clustering` from the shards' playlist summaries
    (:mod:`prefcal.clustering.shards`), holding one shard's summaries and the count matrix.

    With at most ``clustering.max_playlists`` playlists (or ``null``) every playlist is fitted
    and the result equals :func:`run_clustering` on the whole table bit for bit. Above it the
    model is fitted on the seeded sample of :func:`prefcal.clustering.shards.sample_mask`, and
    every playlist (the sample's too) is assigned shard by shard with the fitted TF-IDF, SVD,
    seed-0 k-means at the chosen k and NMF (``res.assigned``); the diagnostics of k (silhouette,
    Davies-Bouldin, seed ARI, Jaccard) are those of the sample.
    """
    params = ClusteringParams.from_config(config)
    seed = int(config["seed"])
    combined = combine_playlists(shard_dirs)
    ids = combined.table["playlist_id"].to_numpy(dtype=object)
    mask = sample_mask(ids, params.max_playlists, seed)
    if mask.all():
        counts, artists = count_matrix(combined)
        res = cluster_counts(counts, params, seed=seed)
        res.playlist_ids = ids
        res.column_names = artists[res.kept_columns]
        return res, combined
    counts, artists = count_matrix(combined, np.flatnonzero(mask))
    res = cluster_counts(counts, params, seed=seed)
    columns = artists[res.kept_columns]
    model = FittedModel(
        columns=columns,
        idf=_idf(counts[:, res.kept_columns], params.sublinear_tf),
        sublinear_tf=params.sublinear_tf,
        svd=res.svd,
        kmeans=res.grid.models[res.k],
        nmf=res.nmf.model if res.nmf is not None else None,
    )
    del counts
    parts = []
    for rows, shard_counts in iter_shard_counts(combined, columns):
        part = model.assign(shard_counts)
        part.index = rows
        parts.append(part)
    assigned = pd.concat(parts).sort_index()
    assigned.insert(0, "playlist_id", ids)
    res.assigned = assigned.reset_index(drop=True)
    res.playlist_ids = ids
    res.column_names = columns
    return res, combined


def playlist_clusters_from_shards(
    res: ClusteringResult, combined: CombinedPlaylists
) -> pd.DataFrame:
    """:func:`playlist_clusters` from the combined playlist summaries (same table)."""
    table = res.playlist_table()
    t = combined.table
    if not np.array_equal(table["playlist_id"].to_numpy(dtype=object), t["playlist_id"].to_numpy()):
        raise ValueError("the clustering result's playlists are not those of the summaries")
    out = pd.DataFrame(
        {
            "playlist_id": t["playlist_id"].astype(str),
            "participant_id": t["participant_id"].to_numpy(dtype=object),
            "n_tracks": t["n_tracks"].to_numpy(dtype=np.int64),
        }
    )
    rest = table.drop(columns=["playlist_id"]).reset_index(drop=True)
    return pd.concat([out, rest], axis=1)


def taste_types_from_shards(
    res: ClusteringResult, combined: CombinedPlaylists, items: pd.DataFrame | None = None
) -> TasteTypes:
    """:func:`taste_types` from the shards' summaries, one shard at a time (same result)."""
    return taste_from_shards(combined, res.labels, res.k, items=items)


def playlist_clusters(res: ClusteringResult, playlists: pd.DataFrame) -> pd.DataFrame:
    """The ``playlist_clusters.parquet`` table of the module doc."""
    table = res.playlist_table()
    tracks = playlists[(playlists["item_kind"] == "track") & playlists["creator_name"].notna()]
    n_tracks = tracks.groupby("playlist_id", sort=False).size()
    owner = playlists.drop_duplicates("playlist_id").set_index("playlist_id")["participant_id"]
    ids = table["playlist_id"]
    out = pd.DataFrame(
        {
            "playlist_id": ids.astype(str),
            "participant_id": owner.reindex(ids).to_numpy(dtype=object),
            "n_tracks": n_tracks.reindex(ids).fillna(0).to_numpy(dtype=np.int64),
        }
    )
    rest = table.drop(columns=["playlist_id"]).reset_index(drop=True)
    return pd.concat([out, rest], axis=1)


def stream_items(streams: pd.DataFrame) -> pd.DataFrame:
    """Distinct music items of the streams (``item_uri``, ``creator_name``), sorted by URI.

    An item streamed under several creator names (a renamed artist) gets the smallest non-null
    one, so the result does not depend on the order of the rows (or of the shards).
    """
    music = streams[(streams["content_type"] == "music") & streams["item_uri"].notna()]
    items = music[["item_uri", "creator_name"]].sort_values(
        ["item_uri", "creator_name"], kind="stable", na_position="last"
    )
    return items.drop_duplicates("item_uri").reset_index(drop=True)


def shard_stream_items(paths: Sequence[str | Path]) -> pd.DataFrame:
    """:func:`stream_items` of the union of the shards' ``streams.parquet``, one shard in memory
    at a time (three columns), so that memory depends on the shard size, not the study size."""
    if not paths:
        raise ValueError("no shard files given")
    cols = ["content_type", "item_uri", "creator_name"]
    parts = [stream_items(read_shards([p], columns=cols)) for p in paths]
    return stream_items(pd.concat(parts, ignore_index=True).assign(content_type="music"))


def taste_types(
    res: ClusteringResult, playlists: pd.DataFrame, items: pd.DataFrame | None = None
) -> TasteTypes:
    """Item taste types from the k-means labels at the chosen k (items of ``items`` included)."""
    return item_taste_types(playlists, res.playlist_ids, res.labels, items=items, k=res.k)


def selection_table(res: ClusteringResult) -> pd.DataFrame:
    """The selection of k (one row per k; rule in :mod:`prefcal.clustering.selection`)."""
    return res.selection.copy()


def cluster_cards(
    res: ClusteringResult,
    playlists: pd.DataFrame,
    artist_participants: pd.Series,
    *,
    k_anonymity: int,
    n_top: int = 3,
) -> pd.DataFrame:
    """One card per cluster at the chosen k (columns :data:`CARD_COLUMNS`).

    * ``n_playlists``, ``share_playlists`` (of clustered playlists), ``n_participants`` (owners),
      ``n_tracks`` (track rows with an artist), ``n_artists`` (distinct artists);
    * ``stability``: the cluster's mean bootstrap Jaccard (Hennig 2007);
    * ``top_artists``: the ``n_top`` artists with the most tracks in the cluster's playlists among
      those streamed by at least ``k_anonymity`` participants (``artist_participants``: artist ->
      number of participants, :func:`prefcal.privacy.participants_per_item` on ``creator_name``),
      joined by ``"; "``; ``n_artists_suppressed`` counts the cluster's artists that may not be
      named (streamed by fewer than ``k_anonymity`` participants, or by none).
    """
    labels = pd.Series(res.labels, index=pd.Index(res.playlist_ids, name="playlist_id"))
    tracks = playlists[(playlists["item_kind"] == "track") & playlists["creator_name"].notna()]
    cl = labels.reindex(tracks["playlist_id"]).to_numpy()
    tr = pd.DataFrame({"cluster": cl, "artist": tracks["creator_name"].to_numpy(dtype=object)}).loc[
        cl >= 0
    ]
    owners = playlists.drop_duplicates("playlist_id").set_index("playlist_id")["participant_id"]
    assigned = labels[labels >= 0]
    n_owners = owners.reindex(assigned.index).groupby(assigned.to_numpy()).nunique()
    counts = tr.groupby(["cluster", "artist"], sort=True).size().rename("n").reset_index()
    return cards_from_counts(
        res, counts, n_owners, artist_participants, k_anonymity=k_anonymity, n_top=n_top
    )


def cluster_cards_from_shards(
    res: ClusteringResult,
    combined: CombinedPlaylists,
    artist_participants: pd.Series,
    *,
    k_anonymity: int,
    n_top: int = 3,
) -> pd.DataFrame:
    """:func:`cluster_cards` from the shards' playlist summaries, one shard at a time."""
    counts, n_owners = card_counts_from_shards(combined, res.labels)
    return cards_from_counts(
        res, counts, n_owners, artist_participants, k_anonymity=k_anonymity, n_top=n_top
    )


def cards_from_counts(
    res: ClusteringResult,
    counts: pd.DataFrame,
    n_owners: pd.Series,
    artist_participants: pd.Series,
    *,
    k_anonymity: int,
    n_top: int = 3,
) -> pd.DataFrame:
    """The cards of :func:`cluster_cards` from ``counts`` (``cluster``, ``artist``, ``n``: track
    rows by the artist in the cluster's playlists) and ``n_owners`` (cluster -> participants)."""
    labels = np.asarray(res.labels)
    sizes = np.bincount(labels[labels >= 0], minlength=res.k)
    n_valid = max(int(sizes.sum()), 1)
    common = pd.Series(artist_participants, dtype="int64")
    common = set(common.index[common.to_numpy() >= k_anonymity])
    counts = counts.sort_values(
        ["cluster", "n", "artist"], ascending=[True, False, True], kind="stable"
    )
    stability = res.jaccard.get(res.k, np.full(res.k, np.nan))
    rows = []
    for c in range(res.k):
        arts = counts[counts["cluster"] == c]
        named = arts["artist"].isin(common).to_numpy()
        shown = arts["artist"].to_numpy(dtype=object)[named][:n_top]
        rows.append(
            {
                "cluster": c,
                "n_playlists": int(sizes[c]),
                "share_playlists": sizes[c] / n_valid,
                "n_participants": int(n_owners.get(c, 0)),
                "n_tracks": int(arts["n"].sum()),
                "n_artists": int(len(arts)),
                "stability": float(stability[c]) if c < len(stability) else np.nan,
                "top_artists": "; ".join(str(a) for a in shown),
                "n_artists_suppressed": int((~named).sum()),
            }
        )
    return pd.DataFrame(rows, columns=list(CARD_COLUMNS))


def _short_reason(row: Any, min_seed_ari: float, min_stable_share: float) -> str:
    if row.chosen:
        return "chosen" if row.admissible else "chosen (most stable)"
    if not row.admissible:
        why = []
        if row.seed_ari < min_seed_ari:
            why.append("seed ARI")
        if row.stable_share < min_stable_share:
            why.append("stable share")
        return "too low: " + ", ".join(why)
    return f"mean rank {row.mean_rank:.1f}"


def selection_latex_frame(
    selection: pd.DataFrame, *, min_seed_ari: float, min_stable_share: float
) -> pd.DataFrame:
    """Display frame of the selection table (LaTeX cells; the full reasons stay in the CSV)."""
    t = selection.sort_values("k")

    def f(x: float, d: int = 3) -> str:
        return format_float(float(x), d) if np.isfinite(x) else "--"

    return pd.DataFrame(
        {
            "k": [format_int(int(k)) for k in t["k"]],
            "Silhouette": [f(x) for x in t["silhouette"]],
            "Davies-Bouldin": [f(x) for x in t["davies_bouldin"]],
            "Seed ARI": [f(x) for x in t["seed_ari"]],
            "Mean Jaccard": [f(x) for x in t["mean_jaccard"]],
            "Stable": [f"{int(n)}/{int(k)}" for n, k in zip(t["n_stable"], t["k"], strict=True)],
            "Decision": [
                latex_escape(_short_reason(r, min_seed_ari, min_stable_share))
                for r in t.itertuples(index=False)
            ],
        }
    )


def cards_latex_frame(cards: pd.DataFrame) -> pd.DataFrame:
    """Display frame of the cluster cards (with ``true_genre``/``purity`` when present)."""
    out = pd.DataFrame(
        {
            "Cluster": [format_int(int(c)) for c in cards["cluster"]],
            "Playlists": [format_int(int(n)) for n in cards["n_playlists"]],
            "Share": [format_percent(float(s), 1) for s in cards["share_playlists"]],
            "Jaccard": [
                format_float(float(x), 2) if np.isfinite(x) else "--" for x in cards["stability"]
            ],
        }
    )
    if "true_genre" in cards.columns:
        out["True genre"] = [latex_escape(str(g)) for g in cards["true_genre"]]
        out["Purity"] = [
            format_percent(float(x), 1) if np.isfinite(x) else "--" for x in cards["purity"]
        ]
    out["Most common artists"] = [
        latex_escape(a) if a else "--" for a in cards["top_artists"].fillna("")
    ]
    return out


def agreement_latex_frame(agreement: pd.DataFrame) -> pd.DataFrame:
    """Display frame of the truth-agreement table."""
    return pd.DataFrame(
        {
            "Model": [latex_escape(m) for m in agreement["model"]],
            "Unit": [latex_escape(u) for u in agreement["unit"]],
            "Truth": [latex_escape(t) for t in agreement["truth"]],
            "ARI": [format_float(float(x), 3) for x in agreement["ari"]],
            "NMI": [format_float(float(x), 3) for x in agreement["nmi"]],
            "n": [format_int(int(n)) for n in agreement["n"]],
        }
    )


def stage_macros(
    res: ClusteringResult,
    *,
    n_playlists: int,
    taste: TasteTypes,
    cards: pd.DataFrame,
    params: ClusteringParams,
    k_anonymity: int,
    agreement: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The numbers of stage 02 that the paper quotes (names start with ``Clu``)."""
    sel = res.selection.sort_values("k")
    row = sel.loc[sel["chosen"]].iloc[0]
    m: dict[str, Any] = {
        "CluNPlaylists": format_int(int(n_playlists)),
        "CluNPlaylistsClustered": format_int(int((np.asarray(res.labels) >= 0).sum())),
        "CluNArtists": format_int(int(res.kept_columns.size)),
        "CluMinPlaylistsPerArtist": format_int(params.min_playlists_per_artist),
        "CluNComponents": format_int(int(res.svd.n_components)),
        "CluKGrid": Latex(", ".join(str(int(k)) for k in sel["k"])),
        "CluNSeeds": format_int(params.n_seeds),
        "CluNBootstrap": format_int(params.n_bootstrap),
        "CluJaccardStable": format_float(params.jaccard_stable, 2),
        "CluMinSeedARI": format_float(params.min_seed_ari, 2),
        "CluMinStableShare": format_percent(params.min_stable_share, 0),
        "CluNAdmissible": format_int(int(sel["admissible"].sum())),
        "CluChosenK": format_int(res.k),
        "CluChosenSilhouette": format_float(float(row["silhouette"]), 3),
        "CluChosenDaviesBouldin": format_float(float(row["davies_bouldin"]), 3),
        "CluChosenSeedARI": format_float(float(row["seed_ari"]), 3),
        "CluChosenMeanJaccard": format_float(float(row["mean_jaccard"]), 3),
        "CluChosenMinJaccard": format_float(float(row["min_jaccard"]), 3),
        "CluChosenNStable": format_int(int(row["n_stable"])),
        "CluChoiceRule": latex_escape(
            "the admissible k with the best mean rank"
            if bool(row["admissible"])
            else "the most stable k, as no k met the thresholds"
        ),
        "CluLargestClusterShare": format_percent(float(cards["share_playlists"].max()), 1),
        "CluSmallestClusterShare": format_percent(float(cards["share_playlists"].min()), 1),
        "CluKAnonymity": format_int(int(k_anonymity)),
    }
    counts = taste.counts()
    n_items = int(sum(counts.values()))
    m["CluNItems"] = format_int(n_items)
    m["CluItemsPlaylist"] = format_int(counts["playlist"])
    m["CluItemsArtist"] = format_int(counts["artist"])
    m["CluItemsUnknown"] = format_int(counts["unknown"])
    m["CluItemsUnknownShare"] = format_percent(counts["unknown"] / max(n_items, 1), 1)
    if agreement is not None and len(agreement):
        names = {
            ("k-means", "theme genre"): "CluARI",
            ("k-means", "dominant genre"): "CluARIDominant",
            ("NMF", "theme genre"): "CluNMFARI",
            ("taste type", "track genre"): "CluItemARI",
        }
        for rec in agreement.to_dict("records"):
            key = names.get((rec["model"].split(" (")[0], rec["truth"]))
            if key is None:
                continue
            m[key] = format_float(float(rec["ari"]), 3)
            m[key.replace("ARI", "NMI")] = format_float(float(rec["nmi"]), 3)
    if "purity" in cards.columns and cards["purity"].notna().any():
        m["CluMeanPurity"] = format_percent(float(cards["purity"].mean()), 1)
        m["CluMinPurity"] = format_percent(float(cards["purity"].min()), 1)
    for name in VALIDATION_MACROS:  # no truth (donated data) or no NMF: the text still compiles
        m.setdefault(name, Latex("n/a"))
    return m
