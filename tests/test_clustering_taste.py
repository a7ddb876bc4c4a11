"""Item taste types: cluster distribution of the playlists holding an item, artist fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.clustering import item_taste_types


@pytest.fixture()
def playlists() -> pd.DataFrame:
    # p1 (cluster 0): t1 twice, t2; p2 (cluster 1): t1, t3; p3 (cluster 1): t3; p4 unclustered: t5
    return pd.DataFrame(
        {
            "playlist_id": ["p1", "p1", "p1", "p2", "p2", "p3", "p4", "p4"],
            "item_uri": ["t1", "t1", "t2", "t1", "t3", "t3", "t5", None],
            "creator_name": ["A", "A", "B", "A", "C", "C", "D", "E"],
        }
    )


def test_hard_labels_known_answer(playlists):
    items = pd.DataFrame({"item_uri": ["t4", "t9", "t1"], "creator_name": ["A", "Z", "A"]})
    tt = item_taste_types(playlists, np.array(["p1", "p2", "p3"]), np.array([0, 1, 1]), items=items)
    frame = tt.to_frame().set_index("item_uri")
    # t1 is in p1 (twice, counted once) and p2 -> (1/2, 1/2)
    assert frame.loc["t1", ["p_0", "p_1"]].tolist() == [0.5, 0.5]
    assert frame.loc["t1", "n_playlists"] == 2
    assert frame.loc["t2", ["p_0", "p_1"]].tolist() == [1.0, 0.0]
    assert frame.loc["t3", ["p_0", "p_1"]].tolist() == [0.0, 1.0]
    # t4 is in no playlist: artist A is in p1 and p2 -> (1/2, 1/2)
    assert frame.loc["t4", "source"] == "artist"
    assert frame.loc["t4", ["p_0", "p_1"]].tolist() == [0.5, 0.5]
    # t5 only in an unclustered playlist and its artist likewise; t9's artist is unknown
    assert frame.loc["t5", "source"] == "unknown" and frame.loc["t9", "source"] == "unknown"
    assert tt.n_unknown == 2
    assert tt.counts() == {"playlist": 3, "artist": 1, "unknown": 2}
    assert frame.loc["t9", "top_cluster"] == -1
    dist, known = tt.lookup(np.array(["t3", "nope", "t5"], dtype=object))
    assert known.tolist() == [True, False, False]
    assert dist.tolist() == [[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]


def test_soft_memberships(playlists):
    soft = np.array([[0.8, 0.2], [0.4, 0.6], [0.0, 1.0]])
    tt = item_taste_types(playlists, np.array(["p1", "p2", "p3"]), soft)
    frame = tt.to_frame().set_index("item_uri")
    assert np.allclose(frame.loc["t1", ["p_0", "p_1"]].to_numpy(float), [0.6, 0.4])
    assert np.allclose(tt.dist[tt.source != "unknown"].sum(axis=1), 1.0)
