"""prefcal.rq.contract and synthetic: the snapshot table round-trips; bad tables are named."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from prefcal.rq.contract import TARGETS, SnapshotTableError, snapshot_data, user_mean
from prefcal.rq.synthetic import SyntheticConfig, simulate_snapshots

SMALL = replace(SyntheticConfig(), n_users=12, snapshots_per_user=4)


@pytest.fixture(scope="module")
def study():
    return simulate_snapshots(SMALL, "hist_90", 0.7, 5)


def test_synthetic_is_deterministic_and_well_formed(study):
    again = simulate_snapshots(SMALL, "hist_90", 0.7, 5)
    pd.testing.assert_frame_equal(study.data.to_frame(), again.data.to_frame())
    d = study.data
    assert d.n_users == 12 and d.counts.shape == (d.n_snapshots, 3)
    k = d.counts.sum(axis=1)
    assert k.min() >= 10 and k.max() <= 30
    for t in TARGETS:
        ok = np.isfinite(d.targets[t]).all(axis=1)
        np.testing.assert_allclose(d.targets[t][ok].sum(axis=1), 1.0)
    np.testing.assert_allclose(
        d.targets["global_mix"], np.tile([0.5, 0.4, 0.1], (d.n_snapshots, 1))
    )
    assert np.all(np.diff(d.user) >= 0)


def test_fully_aligned_recommender_follows_its_target():
    cfg = replace(SyntheticConfig(), n_users=200, snapshots_per_user=10, overdispersion=0.0)
    d = simulate_snapshots(cfg, "popularity", 1.0, 1).data
    np.testing.assert_allclose(
        d.counts.sum(axis=0) / d.counts.sum(), d.targets["popularity"].mean(axis=0), atol=0.01
    )


def test_frame_round_trip_and_sorting(study):
    frame = study.data.to_frame()
    shuffled = frame.sample(frac=1.0, random_state=0)
    back = snapshot_data(shuffled)
    np.testing.assert_array_equal(back.counts, study.data.counts)
    np.testing.assert_array_equal(back.user, study.data.user)
    for t in TARGETS:
        np.testing.assert_allclose(back.targets[t], study.data.targets[t])
    assert back.types == ("music", "podcast", "audiobook")
    assert set(back.extras) == {"item_overlap", "cluster_overlap", "entropy", "gs_score"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda f: f.drop(columns=["hist_7__podcast"]),
            r"missing target column\(s\) \['hist_7__podcast'\]",
        ),
        (lambda f: f.assign(**{"n__music": -1.0}), r"row 0 .* column n__music: must be >= 0"),
        (
            lambda f: f.assign(**{"context__music": 0.9}),
            r"column context__music: context over the types sums",
        ),
        (lambda f: pd.concat([f, f.iloc[[0]]]), r"duplicate \(participant_id, snapshot_id\)"),
        (lambda f: f.drop(columns=["time"]), r"missing column 'time'"),
    ],
)
def test_bad_tables_are_named(study, edit, message):
    with pytest.raises(SnapshotTableError, match=r"snapshot table home.parquet: .*" + message):
        snapshot_data(edit(study.data.to_frame()), name="home.parquet")


def test_partial_null_target_rejected_and_all_null_kept(study):
    frame = study.data.to_frame()
    frame.loc[1, ["hist_7__music", "hist_7__podcast", "hist_7__audiobook"]] = np.nan
    assert np.isnan(snapshot_data(frame).targets["hist_7"]).any()
    frame.loc[2, "hist_7__music"] = np.nan
    with pytest.raises(SnapshotTableError, match="row 2 .*null for some types but not all"):
        snapshot_data(frame)


def test_user_mean_ignores_nan():
    v = np.array([1.0, np.nan, 3.0, 5.0])
    np.testing.assert_allclose(user_mean(v, np.array([0, 0, 0, 1]), 3), [2.0, 5.0, np.nan])
    rows = np.array([[1.0, 0.0], [np.nan, np.nan], [0.0, 1.0]])
    np.testing.assert_allclose(user_mean(rows, np.array([0, 0, 0]), 1), [[0.5, 0.5]])
