"""Stage 02 shard by shard equals stage 02 on the whole playlists table (issue 7).

A small study with latent genres, split into participant-disjoint shards in several ways: the
count matrix, the clustering, the playlist table, the taste types and the cluster cards from the
per-shard summaries must equal the all-at-once results exactly; above
``clustering.max_playlists`` the sampled fit must not depend on the sharding either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import normalize

from prefcal.clustering import stage
from prefcal.clustering.features import feature_matrix, filter_columns, playlist_artist_counts
from prefcal.clustering.shards import (
    READ_COLUMNS,
    FittedModel,
    combine_playlists,
    count_matrix,
    read_shard_playlists,
    sample_mask,
    shard_playlists,
    write_shard_playlists,
)

CONFIG = {
    "seed": 11,
    "clustering": {
        "n_components": 8,
        "k_grid": [3, 4, 5],
        "n_seeds": 2,
        "batch_size": 256,
        "silhouette_sample": 200,
        "stability_sample": 200,
        "n_bootstrap": 3,
        "nmf_max_iter": 100,
    },
}


def study(n_users: int = 40, seed: int = 4) -> pd.DataFrame:
    """Canonical-looking playlists of ``n_users`` participants (rows NOT sorted by participant):
    4 genres x 12 artists, 2-5 playlists a user, 90 % of tracks from the playlist's genre, some
    episodes, local files (no URI) and rows without an artist."""
    rng = np.random.default_rng(seed)
    rows = []
    users = [f"P{x:010x}" for x in rng.permutation(10**6)[:n_users]]
    for u in users:
        for j in range(int(rng.integers(2, 6))):
            g = int(rng.integers(0, 4))
            n = int(rng.integers(6, 16))
            genre = np.where(rng.random(n) < 0.9, g, rng.integers(0, 4, n))
            art = genre * 12 + rng.integers(0, 12, n)
            for a in art:
                kind = rng.choice(["track", "episode", "local"], p=[0.94, 0.03, 0.03])
                uri = None if kind == "local" else f"spotify:{kind}:{a}-{rng.integers(0, 6)}"
                creator = None if rng.random() < 0.02 else f"artist{a:03d}"
                rows.append((u, f"{u}-{j}", kind, uri, creator))
    return pd.DataFrame(rows, columns=list(READ_COLUMNS))


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical order of :func:`prefcal.clustering.stage.read_shards`."""
    return frame.sort_values("participant_id", kind="stable", ignore_index=True)


def summarise(frame: pd.DataFrame, n_shards: int, tmp_path, name: str) -> list:
    """Split the participants into ``n_shards`` shards (round robin over a shuffled list) and
    write each shard's summaries; returns the folders."""
    users = np.random.default_rng(n_shards).permutation(frame["participant_id"].unique())
    shard_of = {u: i % n_shards for i, u in enumerate(users)}
    s = frame["participant_id"].map(shard_of).to_numpy()
    dirs = []
    for i in range(n_shards):
        d = tmp_path / name / f"shard_{i:03d}"
        part = canonical(frame[s == i].reset_index(drop=True))
        write_shard_playlists(shard_playlists(part), d)
        dirs.append(d)
    return dirs


@pytest.fixture(scope="module")
def whole() -> pd.DataFrame:
    return canonical(study())


@pytest.fixture(scope="module")
def reference(whole):
    res = stage.run_clustering(whole, CONFIG)
    items = pd.DataFrame(
        {
            "item_uri": ["spotify:track:5-0", "spotify:track:999-0", "spotify:track:7-99"],
            "creator_name": ["artist005", "nobody", "artist007"],
        }
    )
    return res, items


@pytest.mark.parametrize("n_shards", [1, 3])
def test_count_matrix_equals_the_whole_tables(whole, tmp_path, n_shards):
    dirs = summarise(whole, n_shards, tmp_path, "c")
    combined = combine_playlists(dirs)
    pac = playlist_artist_counts(whole)
    counts, artists = count_matrix(combined)
    assert np.array_equal(combined.table["playlist_id"].to_numpy(), pac.playlist_ids)
    assert np.array_equal(artists, pac.artists)
    assert (counts != pac.counts).nnz == 0
    assert np.array_equal(counts.indptr, pac.counts.indptr)
    assert np.array_equal(counts.indices, pac.counts.indices)
    assert counts.dtype == pac.counts.dtype
    tracks = whole[(whole["item_kind"] == "track") & whole["creator_name"].notna()]
    n_tracks = tracks.groupby("playlist_id").size()
    expect = n_tracks.reindex(combined.table["playlist_id"]).fillna(0).to_numpy()
    assert np.array_equal(combined.table["n_tracks"].to_numpy(), expect)


@pytest.mark.parametrize("n_shards", [1, 2, 5])
def test_stage_from_shards_equals_stage_on_all_rows(whole, reference, tmp_path, n_shards):
    res, items = reference
    dirs = summarise(whole, n_shards, tmp_path, "s")
    res_s, combined = stage.run_clustering_shards(dirs, CONFIG)
    assert res_s.assigned is None and res_s.k == res.k
    pd.testing.assert_frame_equal(res_s.selection, res.selection)
    pd.testing.assert_frame_equal(
        stage.playlist_clusters_from_shards(res_s, combined),
        stage.playlist_clusters(res, whole),
        check_exact=True,
    )
    a = stage.taste_types(res, whole, items).to_frame()
    b = stage.taste_types_from_shards(res_s, combined, items).to_frame()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert set(b["source"]) == {"playlist", "artist", "unknown"}
    heard = pd.Series({"artist001": 9, "artist013": 2, "artist030": 5})
    pd.testing.assert_frame_equal(
        stage.cluster_cards(res, whole, heard, k_anonymity=5),
        stage.cluster_cards_from_shards(res_s, combined, heard, k_anonymity=5),
        check_exact=True,
    )


def test_item_summaries_known_answer(tmp_path):
    frame = pd.DataFrame(
        {
            "participant_id": ["A", "A", "A", "A", "B"],
            "playlist_id": ["A-0", "A-0", "A-1", "A-1", "B-0"],
            "item_kind": ["track", "track", "track", "episode", "track"],
            "item_uri": ["t1", "t1", "t2", "e1", "t1"],
            "creator_name": ["x", "x", None, "show", "y"],
        }
    )
    sh = shard_playlists(frame)
    write_shard_playlists(sh, tmp_path / "s")
    back = read_shard_playlists(tmp_path / "s")
    assert back.playlists["n_tracks"].tolist() == [2, 0, 1]
    assert back.items["item_uri"].tolist() == ["t1", "t2", "e1"]
    assert back.items["position"].tolist() == [0, 2, 3]
    assert back.artists["artist"].tolist() == ["show", "x", "y"]
    # (playlist, artist, count): A-0 has x twice, B-0 has y once
    assert back.artist_counts.to_numpy().tolist() == [[0, 1, 2], [2, 2, 1]]
    assert back.item_playlists.to_numpy().tolist() == [[0, 0], [0, 2], [1, 1], [2, 1]]


def test_sample_mask_is_a_rule_on_ids():
    ids = np.array([f"P{i:05d}-{j}" for i in range(300) for j in range(3)], dtype=object)
    assert sample_mask(ids, None, 1).all() and sample_mask(ids, 900, 1).all()
    m = sample_mask(ids, 200, 1)
    assert m.sum() == 200
    perm = np.random.default_rng(0).permutation(ids.size)
    assert np.array_equal(sample_mask(ids[perm], 200, 1), m[perm])  # order does not matter
    assert not np.array_equal(sample_mask(ids, 200, 2), m)  # the seed does


def test_sampled_fit_is_shard_invariant_and_assigns_every_playlist(whole, tmp_path):
    cfg = {**CONFIG, "clustering": {**CONFIG["clustering"], "max_playlists": 100}}
    tables = []
    for n in (1, 4):
        dirs = summarise(whole, n, tmp_path, f"m{n}")
        res, combined = stage.run_clustering_shards(dirs, cfg)
        assert res.assigned is not None and res.valid.size == 100
        pc = stage.playlist_clusters_from_shards(res, combined)
        assert len(pc) == combined.n > 100
        tables.append(pc)
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
    assert (tables[0]["cluster"] >= 0).mean() > 0.95
    mem = tables[0].filter(like="nmf_p_").to_numpy()
    ok = tables[0]["nmf_cluster"].to_numpy() >= 0
    assert np.allclose(mem[ok].sum(axis=1), 1.0)


def test_fitted_model_features_equal_tfidf_of_the_fit(whole, tmp_path):
    """On the fitted playlists, the model's TF-IDF equals the pipeline's; labels of the sample
    by prediction agree with the fitted ones."""
    dirs = summarise(whole, 2, tmp_path, "f")
    combined = combine_playlists(dirs)
    counts, artists = count_matrix(combined)
    params = stage.ClusteringParams.from_config(CONFIG)
    res = stage.cluster_counts(counts, params, seed=11)
    kept_counts, kept = filter_columns(counts, params.min_playlists_per_artist)
    model = FittedModel(
        columns=artists[kept],
        idf=stage._idf(kept_counts, True),
        sublinear_tf=True,
        svd=res.svd,
        kmeans=res.grid.models[res.k],
        nmf=None,
    )
    x = feature_matrix(kept_counts, sublinear_tf=True)
    assert np.allclose(model.features(kept_counts).toarray(), x.toarray(), atol=1e-6)
    emb = normalize(res.svd.transform(x[res.valid]))
    assert np.allclose(np.abs(emb), np.abs(res.embedding), atol=1e-4)
    labels = model.assign(kept_counts)["cluster"].to_numpy()
    assert (labels == res.labels).mean() > 0.97
