"""Playlist clustering: features, stability, the choice of k, NMF, agreement (STUDY.md 6.2)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import silhouette_score

from prefcal.clustering import (
    ClusteringParams,
    agreement_with_truth,
    cluster_playlists,
    counts_from_codes,
    dominant_genre,
    feature_matrix,
    mean_pairwise_ari,
    playlist_artist_counts,
    select_k,
)
from prefcal.clustering.nmf import nmf_memberships, soft_memberships
from prefcal.clustering.quality import silhouette_many
from prefcal.clustering.stability import best_jaccard, bootstrap_jaccard, cluster_stability
from prefcal.config import load_config


def synthetic_playlists(
    n_playlists: int = 400, n_genres: int = 4, artists_per_genre: int = 40, seed: int = 3
) -> tuple[pd.DataFrame, np.ndarray, dict[str, int]]:
    """Canonical playlists table with latent genres: 90 % of a playlist's tracks from its genre."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, n_genres, n_playlists)
    lengths = rng.integers(15, 40, n_playlists)
    pl = np.repeat(np.arange(n_playlists), lengths)
    own = rng.random(pl.size) < 0.9
    g = np.where(own, genre[pl], rng.integers(0, n_genres, pl.size))
    zipf = 1.0 / np.arange(1, artists_per_genre + 1)
    a = g * artists_per_genre + rng.choice(artists_per_genre, size=pl.size, p=zipf / zipf.sum())
    pos = np.concatenate([np.arange(n) for n in lengths])
    frame = pd.DataFrame(
        {
            "participant_id": "P0000000001",
            "playlist_id": [f"P0000000001-{i}" for i in pl],
            "playlist_name": "x",
            "position": pos.astype(np.int32),
            "item_kind": "track",
            "item_uri": [
                f"spotify:track:{x}-{y}"
                for x, y in zip(a, rng.integers(0, 5, pl.size), strict=True)
            ],
            "item_name": "t",
            "creator_name": [f"artist{x:04d}" for x in a],
            "album_name": None,
            "added_date": None,
        }
    )
    artist_genre = {
        f"artist{x:04d}": x // artists_per_genre for x in range(n_genres * artists_per_genre)
    }
    return frame, genre, artist_genre


SMALL = ClusteringParams(
    n_components=12,
    k_grid=(2, 3, 4, 6),
    n_seeds=3,
    batch_size=256,
    silhouette_sample=300,
    stability_sample=300,
    n_bootstrap=6,
    nmf_max_iter=200,
)


def test_counts_from_codes_sums_duplicates():
    c = counts_from_codes(np.array([0, 0, 1, 2, 0]), np.array([1, 1, 0, 2, 3]), 3, 4)
    assert c.toarray().tolist() == [[0, 2, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]]
    with pytest.raises(ValueError, match="artist_codes"):
        counts_from_codes(np.array([0]), np.array([4]), 1, 4)


def test_playlist_artist_counts_ignores_episodes_and_null_artists():
    t = pd.DataFrame(
        {
            "playlist_id": ["a", "a", "a", "b", "b"],
            "item_kind": ["track", "track", "episode", "track", "track"],
            "creator_name": ["Y", "X", "Show", None, "X"],
        }
    )
    pac = playlist_artist_counts(t)
    assert list(pac.playlist_ids) == ["a", "b"]
    assert list(pac.artists) == ["X", "Y"]
    assert pac.counts.toarray().tolist() == [[1, 1], [1, 0]]
    x = feature_matrix(pac.counts)
    assert np.allclose(sp.linalg.norm(x, axis=1), 1.0)
    # idf: X is in both playlists, Y only in a -> Y weighs more in a
    assert x[0, 1] > x[0, 0]


def test_silhouette_many_equals_sklearn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    labs = [rng.integers(0, 3, 300), (x[:, 0] > 0).astype(int), np.r_[0, np.ones(299, int)]]
    got = silhouette_many(x, labs, block=64)
    want = [silhouette_score(x, lab) for lab in labs]
    assert np.allclose(got, want, atol=1e-12)


def test_jaccard_and_ari_known_answers():
    ref = np.array([0, 0, 0, 1, 1, 1])
    new = np.array([1, 1, 0, 0, 0, 0])
    # cluster 0 {0,1,2} best matches new 1 {0,1}: 2/3; cluster 1 {3,4,5} vs new 0 {2,3,4,5}: 3/4
    assert np.allclose(best_jaccard(ref, new, 2, 2), [2 / 3, 3 / 4])
    assert np.isnan(best_jaccard(ref, new, 3, 2)[2])  # empty reference cluster
    assert mean_pairwise_ari(np.array([[0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1]])) == 1.0
    assert cluster_stability(np.array([[1.0, np.nan], [0.5, np.nan]])).tolist()[0] == 0.75


def test_bootstrap_jaccard_of_separated_blobs_is_one():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    lab = np.repeat(np.arange(3), 50)
    x = centres[lab] + rng.normal(scale=0.5, size=(150, 2))

    def fit_predict(xs: np.ndarray, w: np.ndarray, state: int) -> np.ndarray:
        d = ((xs[:, None, :] - centres[None]) ** 2).sum(-1)
        return d.argmin(axis=1)

    jac = bootstrap_jaccard(x, lab, 3, fit_predict, n_bootstrap=5, rng=np.random.default_rng(2))
    assert jac.shape == (5, 3)
    assert np.allclose(jac, 1.0)


def _scores(rows):
    return pd.DataFrame(
        rows,
        columns=[
            "k",
            "silhouette",
            "davies_bouldin",
            "seed_ari",
            "mean_jaccard",
            "min_jaccard",
            "n_stable",
        ],
    )


def test_select_k_rule():
    s = _scores(
        [
            (2, 0.50, 0.9, 0.99, 0.95, 0.9, 2),  # admissible, best quality
            (3, 0.60, 0.8, 0.70, 0.90, 0.8, 3),  # best quality but seed ARI too low
            (4, 0.45, 1.0, 0.95, 0.80, 0.6, 2),  # stable share 0.5 < 0.75
            (5, 0.40, 0.7, 0.90, 0.85, 0.7, 4),  # admissible, best DB
        ]
    )
    t = select_k(s, min_seed_ari=0.8, min_stable_share=0.75)
    assert list(t.columns)[-2:] == ["chosen", "reason"]
    assert t["admissible"].tolist() == [True, False, False, True]
    # ranks among k=2 and k=5: silhouette (1, 2), DB (2, 1) -> tie 1.5; tie -> higher silhouette
    assert t.loc[t["chosen"], "k"].tolist() == [2]
    assert t["mean_rank"].tolist()[0] == 1.5
    assert t["reason"][1].startswith("not admissible: seed ARI 0.700 < 0.8")
    assert "stable share 0.50 < 0.75" in t["reason"][2]
    assert t["reason"][3].startswith("admissible but mean rank")
    # nothing admissible -> most stable k
    t2 = select_k(s.assign(seed_ari=0.1), min_seed_ari=0.8, min_stable_share=0.75)
    assert t2.loc[t2["chosen"], "k"].tolist() == [2]
    assert "no k met the stability thresholds" in t2.loc[t2["chosen"], "reason"].iloc[0]


def test_soft_memberships_known_answer():
    w = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 0.0]])
    h = np.array([[3.0, 4.0], [0.0, 1.0]])  # norms 5 and 1
    m, assigned = soft_memberships(w, h)
    assert np.allclose(m, [[5 / 6, 1 / 6], [0, 0], [1, 0]])
    assert assigned.tolist() == [True, False, True]


def test_pipeline_recovers_genres_and_is_deterministic():
    frame, genre, _ = synthetic_playlists()
    res = cluster_playlists(frame, SMALL, seed=5)
    sel = res.selection
    assert sel["chosen"].sum() == 1 and res.k == 4
    assert list(sel.columns) == [
        "k",
        "silhouette",
        "davies_bouldin",
        "seed_ari",
        "mean_jaccard",
        "min_jaccard",
        "n_stable",
        "stable_share",
        "admissible",
        "mean_rank",
        "chosen",
        "reason",
    ]
    assert agreement_with_truth(res.labels, genre)["ari"] > 0.95
    nmf_lab = res.playlist_table()["nmf_cluster"].to_numpy()
    assert agreement_with_truth(nmf_lab, genre)["nmi"] > 0.9
    mem = res.nmf_memberships()
    assert np.allclose(mem.sum(axis=1), 1.0)
    assert res.embedding.shape == (400, 12)
    assert np.allclose(np.linalg.norm(res.embedding, axis=1), 1.0, atol=1e-5)
    again = cluster_playlists(frame, SMALL, seed=5)
    pd.testing.assert_frame_equal(sel, again.selection)
    assert np.array_equal(res.labels, again.labels)


def test_pipeline_with_genre_columns_and_too_few_playlists():
    frame, genre, artist_genre = synthetic_playlists(n_playlists=200, seed=8)
    params = dataclasses.replace(SMALL, genre_weight=0.5, k_grid=(3, 4, 5), nmf=False)
    res = cluster_playlists(frame, params, seed=1, artist_genre=artist_genre)
    assert res.column_names[-4:].tolist() == ["genre:0", "genre:1", "genre:2", "genre:3"]
    assert agreement_with_truth(res.labels, genre)["ari"] > 0.95
    with pytest.raises(ValueError, match="clustering.k_grid"):
        cluster_playlists(frame.iloc[:60], dataclasses.replace(params, k_grid=(50,)), seed=1)


def test_nmf_on_block_matrix():
    x = sp.csr_matrix(np.kron(np.eye(3), np.ones((4, 5))))
    res = nmf_memberships(x, 3, random_state=0)
    lab = res.hard_labels
    assert agreement_with_truth(lab, np.repeat(np.arange(3), 4))["ari"] == 1.0
    assert np.allclose(res.memberships.sum(axis=1), 1.0)
    # topics fitted on a subsample, memberships of all rows by transform
    sub = nmf_memberships(x, 3, random_state=0, fit_rows=np.array([0, 1, 4, 5, 8, 9]))
    assert agreement_with_truth(sub.hard_labels, np.repeat(np.arange(3), 4))["ari"] == 1.0
    assert sub.memberships.shape == (12, 3)


def test_agreement_and_dominant_genre():
    truth = np.array([0, 0, 1, 1, 2, -1])
    labels = np.array([5, 5, 3, 3, 4, 4])
    a = agreement_with_truth(labels, truth)
    assert a["ari"] == pytest.approx(1.0) and a["nmi"] == pytest.approx(1.0)
    assert a["n"] == 5 and a["n_left_out"] == 1
    counts = sp.csr_matrix(np.array([[2, 1, 0], [0, 1, 1], [0, 0, 3]]))
    assert dominant_genre(counts, np.array([0, 1, -1])).tolist() == [0, 1, -1]


def test_params_from_config():
    params = ClusteringParams.from_config(load_config())
    assert params.k_grid == tuple(load_config()["clustering"]["k_grid"])
    with pytest.raises(ValueError, match="clustering.n_compo"):
        ClusteringParams.from_config({"clustering": {"n_compo": 3}})


def test_shard_stream_items_equals_items_of_all_streams(tmp_path):
    from prefcal.clustering.stage import read_shards, shard_stream_items, stream_items

    rng = np.random.default_rng(5)
    paths = []
    for s in range(3):
        n = 200
        items = rng.integers(0, 60, n)
        frame = pd.DataFrame(
            {
                "participant_id": [f"P{s}{i % 7}" for i in range(n)],
                "content_type": rng.choice(["music", "podcast", "audiobook"], n, p=[0.7, 0.2, 0.1]),
                "item_uri": [f"spotify:track:{v}" for v in items],
                "creator_name": [f"artist {v % 9}" for v in items],  # one artist per track
            }
        )
        frame.loc[frame.index % 17 == 0, "item_uri"] = None
        paths.append(tmp_path / f"shard_{s}.parquet")
        frame.to_parquet(paths[-1])
    every = stream_items(read_shards(paths))
    got = shard_stream_items(paths)
    assert 20 < len(got) <= 60
    assert got["item_uri"].is_unique
    pd.testing.assert_frame_equal(got, every)


def test_stream_items_pick_the_same_creator_whatever_the_row_order(tmp_path):
    from prefcal.clustering.stage import shard_stream_items, stream_items

    rows = [("P9", "spotify:track:x", "A"), ("P1", "spotify:track:x", "B"),
            ("P5", "spotify:track:y", None), ("P2", "spotify:track:y", "C")]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["participant_id", "item_uri", "creator_name"])
    frame["content_type"] = "music"
    want = {"spotify:track:x": "A", "spotify:track:y": "C"}  # smallest non-null name
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]):
        got = stream_items(frame.iloc[order])
        assert dict(zip(got["item_uri"], got["creator_name"], strict=True)) == want
    paths = []
    for i, part in enumerate((frame.iloc[[0, 2]], frame.iloc[[1, 3]])):
        paths.append(tmp_path / f"s{i}.parquet")
        part.to_parquet(paths[-1])
    for split in (paths, paths[::-1]):
        got = shard_stream_items(split)
        assert dict(zip(got["item_uri"], got["creator_name"], strict=True)) == want
