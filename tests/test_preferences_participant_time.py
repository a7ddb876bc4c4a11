"""``preferences.evaluation_time: per_participant``: each participant's features at the midnight
after their own last play (donations collected over weeks), instead of one t_eval for all."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from prefcal.preferences import PreferenceParams, stage
from prefcal.preferences.shards import shard_features

UTC = "UTC"


def streams_of(rows) -> pd.DataFrame:
    """rows: (participant, ts_start, content_type); 60-s plays on mobile, online."""
    pid, start, ctype = zip(*rows, strict=True)
    start = pd.to_datetime(list(start), utc=True)
    n = len(rows)
    return pd.DataFrame(
        {
            "participant_id": list(pid),
            "ts_start": start,
            "ts_end": start + pd.Timedelta(seconds=60),
            "ms_played": np.full(n, 60_000),
            "content_type": list(ctype),
            "item_uri": [f"spotify:track:{i}" for i in range(n)],
            "creator_name": ["A"] * n,
            "device": ["mobile"] * n,
            "reason_start": ["clickrow"] * n,
            "skipped": [False] * n,
            "offline": pd.array([False] * n, dtype="boolean"),
            "offline_ts": pd.to_datetime([None] * n, utc=True),
        }
    )


# Pa listens until 2026-03-20; Pb donated earlier: their last play is on 2026-02-27 (late evening)
ROWS = [
    ("Pa", "2026-03-18 08:00:00", "podcast"),
    ("Pa", "2026-03-20 09:00:00", "music"),
    ("Pa", "2026-01-05 09:00:00", "music"),
    ("Pb", "2026-02-25 07:00:00", "podcast"),
    ("Pb", "2026-02-27 23:59:30", "music"),  # ends 2026-02-28 00:00:30: t_b = 2026-03-01
    ("Pb", "2026-01-10 12:00:00", "music"),
]


def test_participant_times_known_answers():
    t = stage.participant_times(streams_of(ROWS).sample(frac=1.0, random_state=1))
    assert t.to_dict() == {
        "Pa": pd.Timestamp("2026-03-21", tz=UTC),
        "Pb": pd.Timestamp("2026-03-01", tz=UTC),
    }
    # the study's t_eval is the latest of them
    assert stage.evaluation_time(streams_of(ROWS)) == t.max()


def test_features_at_each_participants_own_time():
    s = streams_of(ROWS)
    t_eval = stage.evaluation_time(s)
    study = PreferenceParams()
    own = dataclasses.replace(study, evaluation_time="per_participant")
    a = shard_features(s, t_eval, study).user_windows.set_index("participant_id")
    b = shard_features(s, t_eval, own).user_windows.set_index("participant_id")
    # study: Pb's last week before 2026-03-21 is empty; own time: both of Pb's February plays
    assert (a.loc["Pb", "n_7d"], b.loc["Pb", "n_7d"]) == (0, 2)
    assert b.loc["Pb", "podcast_7d"] == 0.5 and np.isnan(a.loc["Pb", "podcast_7d"])
    assert b.loc["Pb", "t"] == pd.Timestamp("2026-03-01", tz=UTC)
    # Pa's last play decides t_eval: the same features either way
    pd.testing.assert_series_equal(a.loc["Pa"], b.loc["Pa"])
    # context counts of the 7-day window: Pb's two plays only with their own time
    ca = shard_features(s, t_eval, study).counts["7d"]
    cb = shard_features(s, t_eval, own).counts["7d"]
    assert ca.folds.sum() == 2 and cb.folds.sum() == 4


def test_descriptors_take_each_participants_streams_before_their_time():
    """Pb's last play (offline on 2026-02-27) synced on 2026-03-15: it sets t_b = 2026-02-28 but
    is logged after it, so it is left out for Pb's own time (as the windows leave it out), while
    the study's t_eval (2026-03-21) takes it."""
    s = streams_of(ROWS[:4] + ROWS[5:] + [("Pb", "2026-03-15 10:00:00", "music")])
    s.loc[s.index[-1], "offline"] = True
    s.loc[s.index[-1], "offline_ts"] = pd.Timestamp("2026-02-27 18:00", tz=UTC)
    t = stage.participant_times(s)
    assert t["Pb"] == pd.Timestamp("2026-02-28", tz=UTC)
    t_eval = stage.evaluation_time(s)
    own = dataclasses.replace(PreferenceParams(), evaluation_time="per_participant")
    d_own = shard_features(s, t_eval, own).descriptors.set_index("participant_id")
    d_study = shard_features(s, t_eval, PreferenceParams()).descriptors.set_index("participant_id")
    assert (d_own.loc["Pb", "n_streams"], d_study.loc["Pb", "n_streams"]) == (2, 3)
    assert d_own.loc["Pa", "n_streams"] == d_study.loc["Pa", "n_streams"] == 3


def test_stream_cutoffs_and_eval_date_text():
    s = streams_of(ROWS)
    t = stage.participant_times(s)
    cut = stage.stream_cutoffs(s, t)
    assert cut.tolist() == [t["Pa"]] * 3 + [t["Pb"]] * 3
    assert stage.stream_cutoffs(s, t["Pa"]) == t["Pa"]
    with pytest.raises(ValueError, match="participant Pb has no evaluation time"):
        stage.stream_cutoffs(s, t.drop("Pb"))
    assert stage.eval_date_text(t) == "2026-03-01 to 2026-03-21 (per participant)"
    assert stage.eval_date_text(t["Pa"]) == "2026-03-21"
    assert stage.eval_date_text(t[["Pa"]]) == "2026-03-21 (per participant)"


def test_evaluation_time_config_is_checked():
    cfg = {"preferences": {"evaluation_time": "each"}}
    with pytest.raises(ValueError, match="preferences.evaluation_time: 'each' is not one of"):
        PreferenceParams.from_config(cfg)
    assert PreferenceParams.from_config({"preferences": {}}).evaluation_time == "study"


def test_an_empty_shard_has_no_participant_and_no_error():
    """A shard without donors (usual with few of them) gives empty tables in this mode too."""
    s = streams_of(ROWS).iloc[:0]
    own = dataclasses.replace(PreferenceParams(), evaluation_time="per_participant")
    assert len(stage.participant_times(s)) == 0
    f = shard_features(s, pd.Timestamp("2026-03-21", tz=UTC), own)
    assert len(f.user_windows) == 0 and len(f.descriptors) == 0


def test_features_time_and_the_no_recent_streams_note():
    s = streams_of(ROWS)
    t_eval = stage.evaluation_time(s)
    study = PreferenceParams()
    own = dataclasses.replace(study, evaluation_time="per_participant")
    w_study = shard_features(s, t_eval, study).user_windows
    w_own = shard_features(s, t_eval, own).user_windows
    assert stage.features_time(w_study, t_eval, study) == t_eval
    assert stage.features_time(w_own, t_eval, own).to_dict() == stage.participant_times(s).to_dict()
    # nobody is without a stream in the last 90 days before their own time, or before t_eval
    assert stage.no_recent_streams_note(w_own, own) is None
    assert stage.no_recent_streams_note(w_study, study) is None
    # Pb's plays moved 100 days earlier: none in the 90 days before t_eval
    pa_rows = s["participant_id"] == "Pa"
    shift = pd.Timedelta(days=100)
    early = s.assign(
        ts_start=s["ts_start"].where(pa_rows, s["ts_start"] - shift),
        ts_end=s["ts_end"].where(pa_rows, s["ts_end"] - shift),
    )
    w = shard_features(early, stage.evaluation_time(early), study).user_windows
    note = stage.no_recent_streams_note(w, study)
    assert note.startswith(
        "note: 1 of 2 participants have no counting stream in the 90d before t_eval"
    )
    assert note.endswith(
        "preferences.evaluation_time: per_participant evaluates each at their own last day"
    )
    w = shard_features(early, stage.evaluation_time(early), own).user_windows
    assert stage.no_recent_streams_note(w, own) is None
