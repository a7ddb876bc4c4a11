"""The preference heatmap: one row per user, and a message instead of blank axes when no user
has a known taste mix (donated data whose streamed items are in nobody's playlist)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from prefcal.preferences.plots import plot_preference_heatmap  # noqa: E402

TYPES = ("music", "podcast", "audiobook")


def test_heatmap_rows_are_users_and_colours_are_shares():
    taste = pd.DataFrame({0: [0.9, 0.2], 1: [0.1, 0.8], "entropy": [0.47, 0.72]}, index=["a", "b"])
    content = pd.DataFrame({"music": [1.0, 0.5], "podcast": [0.0, 0.5], "audiobook": [0.0, 0.0]},
                           index=["b", "a"])  # fmt: skip
    fig = plot_preference_heatmap(taste, content, window="last 90d", types=TYPES)
    left, right = fig.axes[0], fig.axes[1]
    assert left.get_images()[0].get_array().shape == (2, 2)
    # content rows follow the taste order (a, b), not the content frame's order
    assert right.get_images()[0].get_array()[0].tolist() == [0.5, 0.5, 0.0]
    assert len(left.texts) == 0 and "users (2)" in left.get_ylabel()
    plt.close(fig)


def test_empty_heatmap_says_why():
    taste = pd.DataFrame({0: [], 1: [], "entropy": []}, dtype=float)
    content = pd.DataFrame(columns=list(TYPES), dtype=float)
    fig = plot_preference_heatmap(taste, content, window="last 90d", types=TYPES)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["no user with streams of a known\ntaste type in the last 90d"]
    plt.close(fig)


def one_podcast(start: str) -> pd.DataFrame:
    """Participant Pa's one podcast stream of the show News, on mobile, starting at ``start``."""
    return pd.DataFrame(
        {
            "participant_id": ["Pa"],
            "ts_start": pd.to_datetime([start], utc=True),
            "ms_played": [60_000],
            "content_type": ["podcast"],
            "device": ["mobile"],
            "creator_name": ["News"],
        }
    )


def test_figures_of_single_users_show_the_note_when_empty():
    from prefcal.preferences.context import context_profiles
    from prefcal.preferences.plots import plot_habit_pattern, plot_hourly_profiles
    from prefcal.preferences.stage import block_profiles

    streams = one_podcast("2026-01-05 08:00:00")
    profiles = context_profiles(streams)
    fig = plot_hourly_profiles(profiles, block_profiles(profiles), [], note="private")
    assert [t.get_text() for t in fig.axes[0].texts] == ["private"]
    plt.close(fig)
    fig = plot_habit_pattern(
        streams, "nobody", habit_show=None, habit_hours=(5, 10), min_ms_played=30_000, note="none"
    )
    assert [t.get_text() for t in fig.axes[0].texts] == ["none"]
    plt.close(fig)
    fig = plot_habit_pattern(
        streams, "Pa", habit_show="News", habit_hours=(5, 10), min_ms_played=30_000, note="none"
    )
    assert len(fig.axes[0].texts) == 0 and len(fig.axes[0].collections) >= 1
    plt.close(fig)


def test_habit_pattern_hours_in_the_configured_zone():
    from prefcal.preferences.plots import plot_habit_pattern

    streams = one_podcast("2026-01-05 07:00:00")
    kw = {"habit_show": "News", "habit_hours": (5, 10), "min_ms_played": 30_000}
    fig = plot_habit_pattern(streams, "Pa", timezone="Europe/Berlin", **kw)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "hour (Europe/Berlin)"
    assert ax.collections[-1].get_offsets()[0][1] == 8.0  # 07:00 UTC is 08:00 in Berlin
    plt.close(fig)
