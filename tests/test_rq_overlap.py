"""prefcal.rq.overlap and H6 on overlap matrices (known answers), and the impressions' item URIs
written by prefcal.home.logging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefcal.home.logging import _impression_uris, item_uris
from prefcal.rq.hypotheses import h6_taste_extension_overlap
from prefcal.rq.overlap import OverlapMatrices, overlap_matrices

T0 = pd.Timestamp("2026-04-07 09:30", tz="UTC")  # first request; history = 90 days before 04-07
DAY = pd.Timedelta(days=1)


def _inputs():
    imp = pd.DataFrame(
        {
            "request_id": ["A-1", "A-1", "A-1", "B-1", "B-1", "B-1"],
            "participant_id": ["A", "A", "A", "B", "B", "B"],
            "item_type": ["music", "music", "podcast", "music", "music", "music"],
            "item_uri": [
                "spotify:track:a",
                "spotify:track:x",
                "spotify:show:s",
                "spotify:track:b",
                "spotify:track:a",
                "spotify:track:y",
            ],
        }
    )
    req = pd.DataFrame({"ts": pd.Series([T0, T0 + DAY]).astype("datetime64[ms, UTC]")})
    rows = [  # participant, days before the log start (00:00 of 04-07), ms, type, uri
        ("A", 3, 60_000, "music", "spotify:track:a"),
        ("A", 4, 60_000, "music", "spotify:track:a"),
        ("A", 5, 10_000, "music", "spotify:track:x"),  # < 30 s: not a play
        ("A", 100, 60_000, "music", "spotify:track:x"),  # before the 90-day window
        ("A", -1, 60_000, "music", "spotify:track:x"),  # after the log start
        ("B", 10, 60_000, "music", "spotify:track:b"),
        ("B", 11, 60_000, "music", "spotify:track:a"),
        ("B", 12, 60_000, "podcast", "spotify:episode:e"),
    ]
    start = pd.Timestamp("2026-04-07", tz="UTC")
    streams = pd.DataFrame(
        {
            "participant_id": [r[0] for r in rows],
            "ts_end": [start - r[1] * DAY + pd.Timedelta(hours=1) for r in rows],
            "ms_played": [r[2] for r in rows],
            "content_type": [r[3] for r in rows],
            "item_uri": [r[4] for r in rows],
        }
    )
    taste = pd.DataFrame(
        {
            "item_uri": ["spotify:track:a", "spotify:track:b", "spotify:track:x"],
            "p_0": [1.0, 0.0, 0.5],
            "p_1": [0.0, 1.0, 0.5],
        }
    )  # track y has no taste type
    return imp, req, streams, taste


def test_overlap_matrices_known_answer():
    o = overlap_matrices(*_inputs())
    assert o.participant_ids.tolist() == ["A", "B"]
    assert o.start == np.datetime64("2026-01-07T00:00", "ms")
    assert o.n_recommended.tolist() == [2, 3] and o.n_plays.tolist() == [2, 2]
    assert o.n_snapshots == 2
    # A was recommended a, x; A played {a}, B played {a, b}
    # B was recommended b, a, y
    np.testing.assert_allclose(o.track, [[1 / 2, 1 / 2], [1 / 3, 2 / 3]])
    # taste: R_A = (a + x) / 2 = (0.75, 0.25); R_B = (b + a) / 2 = (0.5, 0.5) (y unknown)
    # H_A = a a = (1, 0); H_B = (b + a) / 2 = (0.5, 0.5)
    np.testing.assert_allclose(o.cluster, [[0.75, 0.75], [0.5, 1.0]])


def test_overlap_needs_uris():
    imp, req, streams, taste = _inputs()
    imp["item_uri"] = None
    with pytest.raises(ValueError, match="item_uri is null"):
        overlap_matrices(imp, req, streams, taste)
    with pytest.raises(ValueError, match="missing column"):
        overlap_matrices(imp.drop(columns="item_type"), req, streams, taste)


def test_h6_on_overlap_matrices_known_answer():
    rng = np.random.default_rng(0)
    n = 30
    track = rng.uniform(0.0, 0.1, (n, n))
    cluster = rng.uniform(0.2, 0.4, (n, n))
    np.fill_diagonal(track, 0.15)
    np.fill_diagonal(cluster, 0.8)
    o = OverlapMatrices(
        np.arange(n).astype(str), track, cluster, np.full(n, 10.0), np.full(n, 5.0), 40, None, None
    )
    res = h6_taste_extension_overlap(o, 199, 199, np.random.default_rng(1))
    own_minus_other = lambda m: np.diag(m) - (m.sum(axis=1) - np.diag(m)) / (n - 1)  # noqa: E731
    expected = np.mean(own_minus_other(cluster) - own_minus_other(track))
    assert res.estimate == pytest.approx(expected)
    assert res.ci_low <= res.estimate <= res.ci_high
    assert res.p_value == pytest.approx(1 / 200)  # the observed assignment is the most extreme
    terms = {d["term"]: d["estimate"] for d in res.details}
    assert terms["track_own"] == pytest.approx(0.15)
    assert terms["cluster_own"] == pytest.approx(0.8)
    assert terms["cluster_excess"] == pytest.approx(np.mean(own_minus_other(cluster)))
    assert res.n_snapshots == 40


def test_impression_uris_and_catalogue_reader(tmp_path):
    uris = (
        np.array(["spotify:track:t0", "spotify:local:l1"], dtype=object),
        np.array(["spotify:show:s0"], dtype=object),
        np.array(["spotify:audiobook:b0", "spotify:audiobook:b1"], dtype=object),
    )
    col = _impression_uris(np.array([1, 0, 1, 0]), np.array([0, 1, 2, 0]), uris)
    assert col.to_pylist() == [
        "spotify:local:l1",
        "spotify:show:s0",
        "spotify:audiobook:b1",
        "spotify:track:t0",
    ]
    assert _impression_uris(np.array([0]), np.array([0]), None).to_pylist() == [None]
    with pytest.raises(ValueError, match="outside the catalogue"):
        _impression_uris(np.array([2]), np.array([1]), uris)
    pq.write_table(
        pa.table({"uri": ["spotify:track:t0", None], "local_uri": [None, "spotify:local:l1"]}),
        tmp_path / "tracks.parquet",
    )
    pq.write_table(pa.table({"uri": ["spotify:show:s0"]}), tmp_path / "shows.parquet")
    with pytest.raises(FileNotFoundError, match="audiobooks"):
        item_uris(tmp_path)
    pq.write_table(pa.table({"uri": ["spotify:audiobook:b0"]}), tmp_path / "audiobooks.parquet")
    got = item_uris(tmp_path)
    assert [g.tolist() for g in got] == [
        ["spotify:track:t0", "spotify:local:l1"],
        ["spotify:show:s0"],
        ["spotify:audiobook:b0"],
    ]


def test_read_overlap_matrices_from_shards_and_the_user_cap(tmp_path):
    """Read from shard files: the same matrices as from the frames; with ``max_users`` a seeded
    subsample of the users, whose matrices are the full ones restricted to it."""
    from prefcal.rq.overlap import h6_users, read_overlap_matrices

    imp, req, streams, taste = _inputs()
    for s, users in (("000", ["A"]), ("001", ["B"])):
        d_home, d_data = tmp_path / "home" / f"shard_{s}", tmp_path / "data" / f"shard_{s}"
        d_home.mkdir(parents=True)
        d_data.mkdir(parents=True)
        imp[imp["participant_id"].isin(users)].to_parquet(d_home / "impressions.parquet")
        req.to_parquet(d_home / "log_requests.parquet")
        streams[streams["participant_id"].isin(users)].to_parquet(d_data / "streams.parquet")
    taste.to_parquet(tmp_path / "taste.parquet")
    args = (tmp_path / "home", tmp_path / "data", tmp_path / "taste.parquet", ["000", "001"])
    full = overlap_matrices(imp, req, streams, taste)
    got = read_overlap_matrices(*args)
    np.testing.assert_allclose(got.track, full.track)
    np.testing.assert_allclose(got.cluster, full.cluster)
    one = read_overlap_matrices(*args, max_users=1, seed=7)
    pick = h6_users(["B", "A", "A"], 1, 7)
    assert one.participant_ids.tolist() == pick.tolist() and pick.size == 1
    i = full.participant_ids.tolist().index(pick[0])
    np.testing.assert_allclose(one.track, full.track[i : i + 1, i : i + 1])
    assert h6_users(["B", "A"], 5, 7).tolist() == ["A", "B"]
    assert h6_users([f"P{i}" for i in range(50)], 10, 7).tolist() == sorted(
        h6_users([f"P{i}" for i in range(50)][::-1], 10, 7).tolist()
    )
