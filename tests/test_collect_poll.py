"""prefcal.collect.poll: recently-played with the after cursor, dedup, resume, bounded loop."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from responses import matchers

from prefcal.collect.auth import SCOPES, TokenCache, make_auth_manager
from prefcal.collect.client import SpotifyApi
from prefcal.collect.errors import QuotaExceeded
from prefcal.collect.poll import CURSOR_KEY, poll_once, run_poll
from prefcal.collect.store import CollectStore, read_plays

FIXTURES = Path(__file__).parent / "fixtures" / "api"
RECENT = "https://api.spotify.com/v1/me/player/recently-played"
T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
PAGE1 = json.loads((FIXTURES / "recently_played_page1.json").read_text())
PAGE2 = json.loads((FIXTURES / "recently_played_page2.json").read_text())
EMPTY = json.loads((FIXTURES / "recently_played_empty.json").read_text())
CURSOR1 = int(PAGE1["cursors"]["after"])
CURSOR2 = int(PAGE2["cursors"]["after"])


class Clock:
    def __init__(self) -> None:
        self.t = T0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Belt and braces beside ``responses``: any real connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(tmp_path, clock) -> SpotifyApi:
    cache = TokenCache(tmp_path / "cfg" / "spotify_token.json")
    cache.save_token_to_cache(
        {
            "access_token": "FAKE-ACCESS-TOKEN-CACHED-0000",
            "refresh_token": "FAKE-REFRESH-TOKEN-CACHED-0000",
            "token_type": "Bearer",
            "scope": " ".join(sorted(SCOPES)),
            "expires_in": 3600,
            "expires_at": int(time.time()) + 3600,
        }
    )
    return SpotifyApi(
        make_auth_manager("fakeclientid0000", cache=cache), sleep=clock.sleep, now=clock.now
    )


@pytest.fixture
def store(tmp_path) -> CollectStore:
    return CollectStore(tmp_path / "store")


def q(after: int | None = None) -> list:
    params = {"limit": "50"} if after is None else {"limit": "50", "after": str(after)}
    return [matchers.query_param_matcher(params)]


def test_fixture_shapes_are_the_documented_ones():
    assert len(PAGE1["items"]) == 50 and PAGE1["limit"] == 50
    assert set(PAGE1) == {"items", "next", "cursors", "limit", "href"}
    item = PAGE1["items"][1]
    assert set(item) == {"track", "played_at", "context"}
    assert {"id", "name", "artists", "duration_ms", "uri"} <= set(item["track"])
    assert set(item["context"]) == {"type", "uri", "href", "external_urls"}
    assert EMPTY["items"] == [] and EMPTY["cursors"] is None


def test_first_poll_pages_with_the_after_cursor_and_deduplicates(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE1, match=q())
        rsps.get(RECENT, json=PAGE2, match=q(CURSOR1))
        result = poll_once(api, store, now=clock.now)
    assert (result.fetched, result.new, result.pages) == (62, 61, 2)
    assert result.cursor_before is None
    assert result.cursor_after == CURSOR2
    assert not result.possibly_missed
    assert store.load_state()[CURSOR_KEY] == CURSOR2
    assert len(store.plays) == 61

    # the second poll asks only for plays after the saved cursor
    clock.t += timedelta(minutes=30)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=EMPTY, match=q(CURSOR2))
        again = poll_once(api, store, now=clock.now)
    assert (again.fetched, again.new, again.pages, again.cursor_after) == (0, 0, 1, CURSOR2)
    assert len(store.plays) == 61
    assert [p["new"] for p in store.polls.read()] == [61, 0]


def test_stored_play_fields_and_scrubbing(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE1, match=q())
        rsps.get(RECENT, json=EMPTY, match=q(CURSOR1))
        poll_once(api, store, now=clock.now)
    rows = {r["played_at"]: r for r in store.plays.read()}
    newest, src = PAGE1["items"][0], PAGE1["items"][2]
    assert newest["context"] is None and rows[newest["played_at"]]["context_class"] == "none"
    assert rows[newest["played_at"]]["context_uri"] is None
    row = rows[src["played_at"]]
    assert row["track_id"] == src["track"]["id"]
    assert row["track_uri"] == src["track"]["uri"]
    assert row["track_name"] == src["track"]["name"]
    assert row["artist_names"] == [a["name"] for a in src["track"]["artists"]]
    assert row["duration_ms"] == src["track"]["duration_ms"]
    assert row["context_type"] == src["context"]["type"]
    assert row["context_class"] == "user_playlist"  # own playlist, old URI form
    assert row["context_uri"] == "spotify:playlist:3cEYpjA9oz9GiPac4AsH4n"
    assert rows[newest["played_at"]]["played_at_ms"] == CURSOR1  # newest play = the cursor
    assert row["collected_at"] == "2026-03-02T12:00:00.000Z"
    text = store.plays.path.read_text()
    assert "fakeuser01" not in text  # user names in context URIs are scrubbed
    assert "external_urls" not in text and "href" not in text
    assert "spotify:user:*:collection" in text


def test_context_classes_known_answer(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE1, match=q())
        rsps.get(RECENT, json=PAGE2, match=q(CURSOR1))
        poll_once(api, store, now=clock.now)
    plays = read_plays(store)
    assert len(plays) == 61
    assert plays["played_at"].is_monotonic_increasing
    assert str(plays["played_at"].dtype) == "datetime64[ms, UTC]"
    # fixtures cycle through 10 contexts over plays 0..60: context 0 seven times, others six
    counts = plays["context_class"].value_counts().to_dict()
    assert counts == {
        "spotify_playlist": 19,  # editorial, Discover Weekly, Daily Mix
        "user_playlist": 18,  # own (2 URI forms) + followed Spotify playlist without prefix
        "album": 6,
        "artist": 6,
        "collection": 6,
        "none": 6,
    }
    # once a snapshot says who owns the followed playlist, it is reclassified as Spotify-made
    store.snapshot_items("playlists").append(
        [
            {
                "scope": "me",
                "content_hash": "h",
                "position": 0,
                "playlist_id": "4hOKQuZbraPDIfaGbM3lKI",
                "owner": "spotify",
            }
        ]
    )
    counts = read_plays(store)["context_class"].value_counts().to_dict()
    assert counts["spotify_playlist"] == 25 and counts["user_playlist"] == 12


def test_quota_mid_poll_keeps_what_was_stored_and_resumes(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE1, match=q())
        rsps.get(
            RECENT,
            status=429,
            json=json.loads((FIXTURES / "error_429_quota_exceeded.json").read_text()),
            headers={"Retry-After": "36000"},
            match=q(CURSOR1),
        )
        with pytest.raises(QuotaExceeded) as err:
            poll_once(api, store, now=clock.now)
    assert clock.sleeps == []
    assert err.value.resume_at == T0 + timedelta(hours=10)
    assert len(store.plays) == 50
    assert store.load_state()[CURSOR_KEY] == CURSOR1
    assert store.polls.read()[-1]["status"] == "stopped"

    # later: the next run continues from the saved cursor
    clock.t += timedelta(hours=10)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE2, match=q(CURSOR1))
        result = poll_once(api, store, now=clock.now)
    assert (result.new, result.cursor_after) == (11, CURSOR2)
    assert len(store.plays) == 61


def test_rows_written_but_cursor_lost_are_not_duplicated(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE1, match=q())
        rsps.get(RECENT, json=EMPTY, match=q(CURSOR1))
        poll_once(api, store, now=clock.now)
    store.state_path.unlink()  # killed after the append, before the cursor was saved
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE1, match=q())
        rsps.get(RECENT, json=EMPTY, match=q(CURSOR1))
        result = poll_once(api, store, now=clock.now)
    assert (result.fetched, result.new) == (50, 0)
    assert len(store.plays) == 50


def test_full_page_after_a_cursor_warns_of_possible_loss(api, store, clock):
    store.save_state({CURSOR_KEY: 1_700_000_000_000})
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE1, match=q(1_700_000_000_000))
        rsps.get(RECENT, json=EMPTY, match=q(CURSOR1))
        result = poll_once(api, store, now=clock.now)
    assert result.possibly_missed
    assert "some may be lost" in result.summary()


def test_run_poll_loop_is_bounded_and_sleeps_between_polls(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=PAGE1, match=q())
        rsps.get(RECENT, json=PAGE2, match=q(CURSOR1))
        rsps.get(
            RECENT, status=401, json={"error": {"status": 401, "message": "x"}}, match=q(CURSOR2)
        )
        results = run_poll(api, store, every_s=1800, sleep=clock.sleep, now=clock.now, max_polls=3)
        calls = len(rsps.calls)
    # poll 1 read two pages, poll 2 failed (logged, loop goes on), poll 3 hit the same 401
    # registration again (responses repeats the last match)
    assert calls == 4
    assert clock.sleeps == [1800, 1800]
    assert [r.new for r in results] == [61]
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=EMPTY, match=q(CURSOR2))
        once = run_poll(api, store, every_s=1800, once=True, sleep=clock.sleep, now=clock.now)
    assert len(once) == 1 and clock.sleeps == [1800, 1800]
