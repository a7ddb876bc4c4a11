"""The content-type snapshot table built from Home logs (prefcal.rq.snapshots): known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.rq.contract import snapshot_data
from prefcal.rq.snapshots import PopulationStreams, global_mix, snapshot_table

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2026-03-01 12:00", tz="UTC")


def _streams() -> pd.DataFrame:
    # P1: 3 music plays 2-5 days before, 1 podcast 30 days before, 1 short audiobook (< 30 s).
    # P2: one podcast 20 days before (nothing in the last 7 days).
    rows = [
        ("P1", T0 - 2 * DAY, 60_000, "music"),
        ("P1", T0 - 3 * DAY, 60_000, "music"),
        ("P1", T0 - 5 * DAY, 60_000, "music"),
        ("P1", T0 - 30 * DAY, 60_000, "podcast"),
        ("P1", T0 - 1 * DAY, 10_000, "audiobook"),
        ("P1", T0 + 1 * DAY, 60_000, "audiobook"),  # after the request: never used
        ("P2", T0 - 20 * DAY, 60_000, "podcast"),
    ]
    df = pd.DataFrame(rows, columns=["participant_id", "ts_end", "ms_played", "content_type"])
    df["ts_end"] = df["ts_end"].astype("datetime64[ms, UTC]")
    df["ts_start"] = df["ts_end"] - pd.to_timedelta(df["ms_played"], unit="ms")
    return df


def _logs() -> tuple[pd.DataFrame, pd.DataFrame]:
    req = pd.DataFrame(
        {
            "request_id": ["P1-L0000", "P2-L0000"],
            "participant_id": ["P1", "P2"],
            "ts": pd.Series([T0, T0]).astype("datetime64[ms, UTC]"),
            "x_hr_music": [0.6, 0.2],
            "x_hr_podcast": [0.3, 0.6],
            "x_hr_audiobook": [0.1, 0.2],
        }
    )
    imp = pd.DataFrame(
        {
            "request_id": ["P1-L0000"] * 4 + ["P2-L0000"] * 4,
            "item_type": ["music", "music", "podcast", "audiobook", "podcast"] + ["music"] * 3,
        }
    )
    return req, imp


def _population(streams: pd.DataFrame) -> PopulationStreams:
    keep = streams["ms_played"] >= 30_000
    code = pd.Categorical(
        streams["content_type"][keep], categories=["music", "podcast", "audiobook"]
    ).codes
    ts = streams["ts_end"][keep].dt.tz_localize(None).to_numpy().astype("datetime64[ms]")
    return PopulationStreams(ts.astype(np.int64), code, 3)


def test_snapshot_table_known_answer() -> None:
    streams = _streams()
    req, imp = _logs()
    fixed = global_mix(
        pd.DataFrame({"n_music": [6, 2], "n_podcast": [1, 0], "n_audiobook": [0, 1]})
    )
    np.testing.assert_allclose(fixed, [0.8, 0.1, 0.1])
    out = snapshot_table(req, imp, streams, _population(streams), fixed, popularity_days=28)
    data = snapshot_data(out)  # satisfies the contract
    assert data.n_snapshots == 2
    np.testing.assert_array_equal(
        out[["n__music", "n__podcast", "n__audiobook"]], [[2, 1, 1], [3, 1, 0]]
    )
    # P1: 90 days = 3 music + 1 podcast (the short play and the future play do not count).
    np.testing.assert_allclose(
        out.loc[0, ["hist_90__music", "hist_90__podcast", "hist_90__audiobook"]].to_numpy(float),
        [0.75, 0.25, 0.0],
    )
    np.testing.assert_allclose(
        out.loc[0, ["hist_7__music", "hist_7__podcast", "hist_7__audiobook"]].to_numpy(float),
        [1.0, 0.0, 0.0],
    )
    # P2: no play in the last 7 days -> hist_7 undefined (all null); 90 days = podcast only.
    assert out.loc[1, ["hist_7__music", "hist_7__podcast", "hist_7__audiobook"]].isna().all()
    np.testing.assert_allclose(
        out.loc[1, ["hist_90__music", "hist_90__podcast"]].to_numpy(float), [0.0, 1.0]
    )
    # popularity: pooled plays in the last 28 days = 3 music + 1 podcast (P2's), same for both.
    pop = out[["popularity__music", "popularity__podcast", "popularity__audiobook"]].to_numpy(float)
    np.testing.assert_allclose(pop, [[0.75, 0.25, 0.0]] * 2)
    np.testing.assert_allclose(
        out.filter(like="global_mix__").to_numpy(float), [[0.8, 0.1, 0.1]] * 2
    )
    np.testing.assert_allclose(
        out.filter(like="context__").to_numpy(float), [[0.6, 0.3, 0.1], [0.2, 0.6, 0.2]]
    )


def test_population_shares_window_is_half_open() -> None:
    day = 86_400_000
    pop = PopulationStreams(np.array([0, day, 2 * day]), np.array([0, 1, 1]), 3)
    # window [2 days - 2 days, 2 days) holds the plays at 0 and 1 day, not the one at 2 days
    np.testing.assert_allclose(pop.shares(np.array([2 * day]), 2), [[0.5, 0.5, 0.0]])
    assert np.isnan(pop.shares(np.array([10 * day]), 2)).all()


def test_unknown_request_or_type_is_named() -> None:
    streams = _streams()
    req, imp = _logs()
    pop = _population(streams)
    bad = imp.copy()
    bad.loc[0, "request_id"] = "P9-L0000"
    with pytest.raises(ValueError, match="P9-L0000"):
        snapshot_table(req, bad, streams, pop, np.full(3, 1 / 3))
    bad = imp.copy()
    bad.loc[0, "item_type"] = "video"
    with pytest.raises(ValueError, match="video"):
        snapshot_table(req, bad, streams, pop, np.full(3, 1 / 3))
