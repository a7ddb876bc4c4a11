"""Windowed and decayed type distributions: known answers and agreement with the naive reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.preferences import (
    taste_window_features,
    taste_window_features_naive,
    window_features,
    window_features_naive,
)

T0 = pd.Timestamp("2026-01-05", tz="UTC")
DAY = pd.Timedelta(days=1)


def stream_table(rows: list[tuple]) -> pd.DataFrame:
    """(participant, ts_end, ms_played, content_type[, skipped, item_uri]) -> canonical columns."""
    full = [r + (None,) * (6 - len(r)) for r in rows]
    pid, end, ms, ctype, skipped, uri = zip(*full, strict=True)
    end = pd.to_datetime(list(end), utc=True).astype("datetime64[ms, UTC]")
    ms = np.asarray(ms, dtype=np.int64)
    return pd.DataFrame(
        {
            "participant_id": list(pid),
            "ts_start": end - pd.to_timedelta(ms, unit="ms"),
            "ts_end": end,
            "ms_played": ms,
            "content_type": list(ctype),
            "item_uri": list(uri),
            "skipped": pd.array(list(skipped), dtype="boolean"),
        }
    )


def random_streams(seed: int, n: int = 2500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    end = T0 + pd.to_timedelta(rng.integers(0, 60 * 86400, n), unit="s")
    ms = rng.integers(0, 400_000, n)
    return pd.DataFrame(
        {
            "participant_id": rng.choice(["Pa", "Pb", "Pc"], n),
            "ts_start": end - pd.to_timedelta(ms, unit="ms"),
            "ts_end": end,
            "ms_played": ms,
            "content_type": rng.choice(
                ["music", "podcast", "audiobook", "video", "unknown"],
                n,
                p=[0.6, 0.2, 0.1, 0.05, 0.05],
            ),
            "item_uri": rng.choice([f"spotify:track:{i}" for i in range(40)], n),
            "skipped": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
        }
    )


def test_known_answer_windows_boundaries_and_decay():
    t = T0 + 30 * DAY
    s = stream_table(
        [
            ("Pa", t - 7 * DAY, 60_000, "music"),  # exactly at t - 7d: in the 7-day window
            ("Pa", t - 3 * DAY, 60_000, "podcast"),
            ("Pa", t - 1 * DAY, 10_000, "podcast"),  # shorter than 30 s: does not count
            ("Pa", t, 60_000, "podcast"),  # exactly at t: not before t
            ("Pa", t - 8 * DAY, 60_000, "video"),  # not a listed type
            ("Pa", t - 10 * DAY, 60_000, "audiobook"),
        ]
    )
    req = pd.DataFrame(
        {"participant_id": ["Pa", "Pa", "Pz"], "t": [t, T0, t]},
        index=pd.Index([10, 11, 12], name="rid"),
    )
    out = window_features(s, req, windows=(7, 28), half_life=7)
    assert out.index.equals(req.index)
    r = out.loc[10]
    assert (
        r["n_7d"] == 2
        and r["music_7d"] == 0.5
        and r["podcast_7d"] == 0.5
        and r["audiobook_7d"] == 0
    )
    assert r["n_28d"] == 3 and r["audiobook_28d"] == pytest.approx(1 / 3)
    # decay: 2^-1 (music, 7 d) + 2^(-3/7) (podcast) + 2^(-10/7) (audiobook)
    w = np.array([2.0**-1, 2.0 ** (-3 / 7), 2.0 ** (-10 / 7)])
    assert r["weight_hl7d"] == pytest.approx(w.sum())
    assert r["music_hl7d"] == pytest.approx(w[0] / w.sum())
    # before the first stream and unknown user: zero counts, NaN shares (fallback "nan")
    for rid in (11, 12):
        assert out.loc[rid, "n_7d"] == 0 and out.loc[rid, "weight_hl7d"] == 0
        assert np.isnan(out.loc[rid, "music_7d"]) and np.isnan(out.loc[rid, "podcast_hl7d"])
    uni = window_features(s, req, windows=(7,), half_life=None, fallback="uniform")
    assert uni.loc[12, ["music_7d", "podcast_7d", "audiobook_7d"]].tolist() == [1 / 3] * 3
    vec = window_features(s, req, windows=(7,), half_life=None, fallback=[0.7, 0.2, 0.1])
    assert vec.loc[11, ["music_7d", "podcast_7d", "audiobook_7d"]].tolist() == [0.7, 0.2, 0.1]
    assert "weight_hl7d" not in uni.columns


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"weight": "ms_played", "exclude_skips": True},
        {"windows": (1, 7.5), "half_life": (0.5, 3), "fallback": "uniform", "min_ms_played": 0},
        {"types": ("podcast", "music"), "time_column": "ts_start"},
    ],
)
def test_fast_equals_naive(kwargs):
    s = random_streams(1)
    rng = np.random.default_rng(2)
    req = pd.DataFrame(
        {
            "participant_id": rng.choice(["Pa", "Pb", "Pc", "Pnone"], 250),
            "t": T0 + pd.to_timedelta(rng.integers(-5 * 86400, 70 * 86400, 250), unit="s"),
        }
    )
    # boundary requests: exactly at a stream's time, and exactly W days after it
    col = kwargs.get("time_column", "ts_end")
    req.loc[0] = [s["participant_id"][0], s[col][0]]
    req.loc[1] = [s["participant_id"][0], s[col][0] + 7 * DAY]
    req.loc[2] = [s["participant_id"][5], s[col][5] + DAY]
    fast = window_features(s, req, **kwargs)
    naive = window_features_naive(s, req, **kwargs)
    pd.testing.assert_frame_equal(fast, naive, rtol=1e-9, atol=1e-12)
    shares = fast.filter(regex="^(music|podcast|audiobook)_").to_numpy()
    assert np.all((shares >= 0) | np.isnan(shares))


def test_rows_out_of_order_and_long_history_with_short_half_life():
    rng = np.random.default_rng(3)
    n = 1500
    end = T0 + pd.to_timedelta(rng.integers(0, 15 * 365 * 86400, n), unit="s")  # 15 years, unsorted
    s = pd.DataFrame(
        {
            "participant_id": rng.choice(["Pa", "Pb"], n),
            "ts_end": end,
            "ms_played": 40_000,
            "content_type": rng.choice(["music", "podcast"], n),
        }
    )
    req = pd.DataFrame(
        {
            "participant_id": rng.choice(["Pa", "Pb"], 200),
            "t": T0 + pd.to_timedelta(rng.integers(0, 16 * 365 * 86400, 200), unit="s"),
        }
    )
    # half-life 1 day: epochs of 256 days, many of them; exponents never overflow
    kw = {"windows": (90,), "half_life": (1, 2), "types": ("music", "podcast")}
    fast = window_features(s, req, **kw)
    pd.testing.assert_frame_equal(fast, window_features_naive(s, req, **kw), rtol=1e-9, atol=0)
    assert np.isfinite(fast["weight_hl1d"]).all()


def test_taste_windows_equal_naive():
    s = random_streams(4)
    items = np.array([f"spotify:track:{i}" for i in range(30)], dtype=object)
    dist = np.random.default_rng(5).dirichlet(np.ones(4), 30)
    dist[[3, 7]] = 0.0  # unknown taste
    rng = np.random.default_rng(6)
    req = pd.DataFrame(
        {
            "participant_id": rng.choice(["Pa", "Pb", "Pc"], 150),
            "t": T0 + pd.to_timedelta(rng.integers(0, 65 * 86400, 150), unit="s"),
        }
    )
    fast = taste_window_features(s, req, items, dist, weight="ms_played")
    naive = taste_window_features_naive(s, req, items, dist, weight="ms_played")
    pd.testing.assert_frame_equal(fast, naive, rtol=1e-9, atol=1e-12)
    assert {"n_known_7d", "c0_7d", "c3_hl30d"} <= set(fast.columns)
    ok = fast["n_known_28d"] > 0
    assert np.allclose(fast.loc[ok, [f"c{j}_28d" for j in range(4)]].sum(axis=1), 1.0)


def test_bad_input_is_named():
    s = random_streams(7, n=20)
    req = pd.DataFrame({"participant_id": ["Pa"], "t": [T0]})
    with pytest.raises(ValueError, match="preferences.weight"):
        window_features(s, req, weight="minutes")
    with pytest.raises(ValueError, match=r"requests table lacks column\(s\) \['t'\]"):
        window_features(s, req.rename(columns={"t": "time"}))
    with pytest.raises(ValueError, match="preferences.windows"):
        window_features(s, req, windows=(0,))
    with pytest.raises(ValueError, match="requests.t is missing"):
        window_features(s, pd.DataFrame({"participant_id": ["Pa"], "t": [pd.NaT]}))
