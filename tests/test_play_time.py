"""``t_play`` (prefcal.tables.play_time): the hour and weekday of an offline play come from its
offline_ts, not from the later sync that Spotify logs as ``ts``; stage 03 and the Home features
use it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest_helpers import ENDSONG

from prefcal.home.features import StreamHistory
from prefcal.ingest import ingest
from prefcal.preferences.context import context_counts
from prefcal.preferences.descriptors import user_descriptors
from prefcal.preferences.stage import play_end_ms
from prefcal.tables import PLAY_TIME, play_time, stream_time

UTC = "UTC"


def frame() -> pd.DataFrame:
    """Four plays: online; offline with offline_ts; offline without; offline with a clock in
    2031. Index shuffled so that alignment mistakes show."""
    start = pd.to_datetime(
        ["2026-01-05 10:00", "2026-01-05 20:00", "2026-01-06 20:00", "2026-01-07 20:00"], utc=True
    )
    return pd.DataFrame(
        {
            "participant_id": ["Pa"] * 4,
            "ts_start": start,
            "ts_end": start + pd.Timedelta(minutes=30),
            "ms_played": [1_800_000] * 4,
            "content_type": ["podcast"] * 4,
            "item_uri": ["e1", "e2", "e3", "e4"],
            "creator_name": ["News"] * 4,
            "device": ["mobile"] * 4,
            "offline": pd.array([False, True, True, True], dtype="boolean"),
            "offline_ts": pd.to_datetime(
                ["2026-01-05 03:00", "2026-01-05 07:15", None, "2031-01-01 00:00"], utc=True
            ),
        },
        index=[7, 3, 11, 0],
    )


def test_play_time_known_answers():
    got = stream_time(frame(), PLAY_TIME)
    assert list(got.index) == [7, 3, 11, 0]
    assert got.tolist() == [
        pd.Timestamp("2026-01-05 10:00", tz=UTC),  # online: ts_start, its offline_ts is not used
        pd.Timestamp("2026-01-05 07:15", tz=UTC),  # offline: offline_ts
        pd.Timestamp("2026-01-06 20:00", tz=UTC),  # offline without offline_ts: ts_start
        pd.Timestamp("2026-01-07 20:00", tz=UTC),  # a clock in 2031: capped at ts_start
    ]
    assert got.dtype == "datetime64[ms, UTC]"


def test_play_time_without_offline_columns_is_ts_start():
    f = frame().drop(columns=["offline", "offline_ts"])
    got = stream_time(f, PLAY_TIME)
    assert got.tolist() == f["ts_start"].tolist() and list(got.index) == list(f.index)
    table = pa.table({"ts_start": pa.array([0, 5_000], pa.timestamp("ms"))})  # naive = UTC
    assert play_time(table).to_pylist() == pd.to_datetime([0, 5_000], unit="ms", utc=True).tolist()


def test_an_offline_ts_more_than_30_days_before_the_log_is_not_a_play_time():
    """Spotify's offline mode syncs at least every 30 days: an older offline_ts is a wrong clock
    (a reset to 1970 here), and the play keeps ts_start; 29 days before is still a play time."""
    start = pd.to_datetime(["2026-03-01 20:00", "2026-03-01 20:00"], utc=True)
    f = pd.DataFrame(
        {
            "ts_start": start,
            "offline": pd.array([True, True], dtype="boolean"),
            "offline_ts": pd.to_datetime(["1970-01-01 00:00:01", "2026-01-31 21:00:00"], utc=True),
        }
    )
    assert stream_time(f, PLAY_TIME).tolist() == [
        pd.Timestamp("2026-03-01 20:00", tz=UTC),
        pd.Timestamp("2026-01-31 21:00", tz=UTC),
    ]
    # the end of playback of t_eval follows the same rule: ts_end for the reset clock
    ends = f.assign(ms_played=[60_000, 60_000], ts_end=start + pd.Timedelta(minutes=1))
    got = play_end_ms(pa.Table.from_pandas(ends.drop(columns="ts_start"), preserve_index=False))
    want = [pd.Timestamp("2026-03-01 20:01", tz=UTC), pd.Timestamp("2026-01-31 21:01", tz=UTC)]
    assert got.to_pylist() == [int(t.value // 1_000_000) for t in want]


def test_stream_time_errors_and_stored_columns():
    f = frame()
    assert stream_time(f, "ts_end").equals(f["ts_end"])  # a stored column is returned as is
    with pytest.raises(ValueError, match="ts_start"):
        stream_time(f.drop(columns=["ts_start"]), PLAY_TIME)
    with pytest.raises(ValueError, match="'when'"):
        stream_time(f, "when")
    with pytest.raises(ValueError, match="expected timestamps"):
        play_time(pa.table({"ts_start": pa.array([1, 2])}))


def test_context_counts_put_an_offline_play_in_its_play_hour():
    """The offline play of 07:15 (logged at 20:30) counts in the 06-10 block, not 18-22."""
    f = frame().iloc[[1]]
    blocks = (0, 6, 10, 14, 18, 22)
    by_play = context_counts(f, hour_blocks=blocks, types=("podcast",))
    by_sync = context_counts(f, hour_blocks=blocks, types=("podcast",), time_column="ts_start")
    # folds: (users, blocks, weekend, classes, types, 2)
    assert by_play.folds.sum(axis=(0, 2, 3, 4, 5)).tolist() == [0, 1, 0, 0, 0, 0]
    assert by_sync.folds.sum(axis=(0, 2, 3, 4, 5)).tolist() == [0, 0, 0, 0, 1, 0]


def test_habit_score_uses_the_play_time():
    """Two weekday-morning podcasts of one show, one of them offline and synced at night: both
    count as mornings with t_play, only one with ts_start."""
    f = frame().iloc[[1]].copy()
    online = f.assign(
        ts_start=pd.Timestamp("2026-01-06 08:00", tz=UTC),
        ts_end=pd.Timestamp("2026-01-06 08:30", tz=UTC),
        offline=pd.array([False], dtype="boolean"),
        item_uri="e9",
    )
    both = pd.concat([f, online], ignore_index=True)
    d_play = user_descriptors(both).set_index("participant_id")
    d_sync = user_descriptors(both, time_column="ts_start").set_index("participant_id")
    assert d_play.loc["Pa", "n_podcast_mornings"] == 2
    assert d_sync.loc["Pa", "n_podcast_mornings"] == 1


def test_home_history_hours_come_from_the_play_time():
    f = frame()
    hist = StreamHistory.from_streams(f, ["Pa"])
    want = pd.Series(stream_time(f, PLAY_TIME).to_numpy()).astype("int64")
    # history rows are sorted by ts_end, as the frame's rows already are
    assert hist.t_play.tolist() == want.tolist()
    back = hist.to_streams()
    assert (back["ts_start"] == back["ts_end"] - pd.Timedelta(minutes=30)).all()


def test_real_endsong_offline_ts_is_the_start_of_playback(tmp_path):
    """In the real endsong sample, offline plays synced together share one ``ts``; their
    offline_ts values follow each other by at least the earlier play's ms_played (one play after
    the other), and t_play puts them hours before their logged start."""
    ingest([ENDSONG.parent], tmp_path, id_seed=1)
    s = pq.read_table(tmp_path / "streams.parquet").to_pandas()
    off = s[s["offline"].fillna(False).astype(bool) & s["offline_ts"].notna()]
    assert len(off) == 21
    t_play = stream_time(off, PLAY_TIME)
    assert (t_play == off["offline_ts"]).all()  # every one is before its logged start
    lead_h = (off["ts_start"] - t_play).dt.total_seconds() / 3600
    assert float(np.median(lead_h)) > 1.0
    gaps_ok = 0
    for _, g in off.sort_values("offline_ts").groupby("ts_end"):
        if len(g) < 2:
            continue
        gap_ms = np.diff(g["offline_ts"].astype("int64").to_numpy())
        assert (gap_ms >= g["ms_played"].to_numpy()[:-1] - 1_000).all()
        gaps_ok += len(gap_ms)
    assert gaps_ok >= 5


def test_descriptors_select_streams_like_the_windows():
    """A play synced after t (logged at or after it) is left out of the descriptors, as of the
    windows (``preferences.time_column`` = ts_end), though its play time is before t."""
    f = frame().iloc[[0, 1]].copy()  # online 10:00 on the 5th; offline played 07:15, logged 20:30
    t = pd.Timestamp("2026-01-05 12:00", tz=UTC)
    by_end = user_descriptors(f, before=t, before_column="ts_end").set_index("participant_id")
    by_play = user_descriptors(f, before=t).set_index("participant_id")
    assert by_end.loc["Pa", "n_streams"] == 1 and by_play.loc["Pa", "n_streams"] == 2
    from prefcal.preferences.params import PreferenceParams

    kw = PreferenceParams().descriptor_kwargs()
    assert (kw["time_column"], kw["before_column"]) == ("t_play", "ts_end")
