"""Per-user descriptors on hand-built streams with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.preferences import entropy_bits, user_descriptors


def make_streams() -> pd.DataFrame:
    # 2026-01-05 is a Monday
    rows = [
        # participant, ts_start, content_type, item, creator, reason_start, ms
        ("Pa", "2026-01-05 07:00", "music", "t1", "A", "clickrow", 60_000),
        ("Pa", "2026-01-05 08:00", "podcast", "e1", "News", "playbtn", 60_000),
        ("Pa", "2026-01-06 07:30", "podcast", "e2", "News", "trackdone", 60_000),
        ("Pa", "2026-01-07 09:00", "podcast", "e3", "Talk", "trackdone", 60_000),
        (
            "Pa",
            "2026-01-07 10:59",
            "podcast",
            "e2",
            "News",
            None,
            60_000,
        ),  # hour 10 is a morning hour
        ("Pa", "2026-01-08 11:00", "podcast", "e4", "News", "fwdbtn", 60_000),  # 11: not a morning
        ("Pa", "2026-01-10 07:00", "podcast", "e5", "Talk", "", 60_000),  # Saturday: not a weekday
        ("Pa", "2026-01-05 09:00", "music", "t1", "A", "trackdone", 5_000),  # < 30 s: ignored
        ("Pb", "2026-01-05 12:00", "music", "t1", "A", "clickrow", 60_000),
        ("Pb", "2026-01-05 12:05", "music", "t2", "B", "clickrow", 60_000),
        ("Pb", "2026-01-05 12:10", "music", "t1", "A", "clickrow", 60_000),
        ("Pc", "2026-01-05 12:00", "music", "t3", "C", "clickrow", 10_000),  # nothing counts
    ]
    pid, ts, ct, item, creator, reason, ms = zip(*rows, strict=True)
    start = pd.to_datetime(list(ts), utc=True)
    ms = np.asarray(ms, dtype=np.int64)
    return pd.DataFrame(
        {
            "participant_id": list(pid),
            "ts_start": start,
            "ts_end": start + pd.to_timedelta(ms, unit="ms"),
            "ms_played": ms,
            "content_type": list(ct),
            "item_uri": list(item),
            "creator_name": list(creator),
            "reason_start": list(reason),
        }
    ).sample(frac=1.0, random_state=0)  # rows in no particular order


def test_entropy_bits():
    got = entropy_bits(np.array([[2, 2, 0], [5, 0, 0], [0, 0, 0], [1, 1, 2]]))
    assert got[0] == 1.0 and got[1] == 0.0 and np.isnan(got[2]) and got[3] == 1.5


def test_descriptors_known_answers():
    s = make_streams()
    taste = (
        np.array(["t1", "t2", "e1"], dtype=object),
        np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]),
    )
    vectors = (np.array(["A", "B"], dtype=object), np.array([[2.0, 0.0], [0.0, 3.0]]))
    d = user_descriptors(s, taste=taste, item_vectors=vectors, vector_key="creator_name").set_index(
        "participant_id"
    )
    assert d.loc["Pa", "n_streams"] == 7 and d.loc["Pc", "n_streams"] == 0
    # Pa: 1 music, 6 podcasts
    p = np.array([1, 6]) / 7
    assert d.loc["Pa", "entropy_content"] == pytest.approx(-(p * np.log2(p)).sum())
    assert d.loc["Pb", "entropy_content"] == 0.0
    # Pb taste: t1, t2, t1 -> (2/3, 1/3); Pa: t1 + e1 -> (1.5, 0.5) / 2
    q = np.array([2, 1]) / 3
    assert d.loc["Pb", "entropy_taste"] == pytest.approx(-(q * np.log2(q)).sum())
    assert d.loc["Pa", "entropy_taste"] == pytest.approx(
        -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    )
    assert d.loc["Pa", "n_taste_known"] == 2
    # GS: Pb streams artist A twice and B once, orthogonal unit vectors: mu = (2/3, 1/3)
    assert d.loc["Pb", "gs_score"] == pytest.approx(np.hypot(2 / 3, 1 / 3))
    assert d.loc["Pa", "gs_score"] == pytest.approx(1.0)  # only artist A has a vector
    assert np.isnan(d.loc["Pc", "gs_score"])
    # repeats: Pa e2 again (1 of 7), Pb t1 again (1 of 3)
    assert d.loc["Pa", "repeat_share"] == pytest.approx(1 / 7)
    assert d.loc["Pb", "repeat_share"] == pytest.approx(1 / 3)
    # habit: weekday mornings with podcasts: Jan 5 (News), 6 (News), 7 (Talk, News) -> top News, 3/3
    assert d.loc["Pa", "habit_show"] == "News"
    assert d.loc["Pa", "n_podcast_mornings"] == 3 and d.loc["Pa", "habit_score"] == 1.0
    assert np.isnan(d.loc["Pb", "habit_score"]) and d.loc["Pb", "n_podcast_mornings"] == 0
    # user-initiated among known reason_start (null and "" are unknown): Pa clickrow, playbtn of 5
    assert d.loc["Pa", "user_initiated_share"] == pytest.approx(2 / 5)
    assert d.loc["Pb", "user_initiated_share"] == 1.0


def test_habit_score_counts_mornings_without_the_top_show():
    s = make_streams()
    extra = s[s["creator_name"] == "Talk"].copy()
    extra["ts_start"] = pd.to_datetime(["2026-01-08 06:00", "2026-01-09 06:00"], utc=True)
    extra["item_uri"] = ["e8", "e9"]
    d = user_descriptors(pd.concat([s, extra]), habit_hours=(5, 10)).set_index("participant_id")
    # mornings Jan 5, 6 (News), 7 (Talk+News), 8 and 9 (Talk): News 3, Talk 3 -> tie -> "News"
    assert d.loc["Pa", "habit_show"] == "News"
    assert d.loc["Pa", "habit_score"] == pytest.approx(3 / 5)
    # a narrower morning (5-7 h): podcasts on Jan 6 (07:30 News), 8 and 9 (06:00 Talk)
    d2 = user_descriptors(pd.concat([s, extra]), habit_hours=(5, 7)).set_index("participant_id")
    assert d2.loc["Pa", "n_podcast_mornings"] == 3
    with pytest.raises(ValueError, match="preferences.habit_hours"):
        user_descriptors(s, habit_hours=(10, 5))
