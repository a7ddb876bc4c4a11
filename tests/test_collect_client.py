"""prefcal.collect.client: our own 429 handling on top of spotipy with retries=0 (offline)."""

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
from prefcal.collect.client import (
    RateLimitPolicy,
    SpotifyApi,
    check_spotipy_version,
    parse_retry_after,
)
from prefcal.collect.errors import (
    ApiError,
    CollectError,
    NetworkError,
    QuotaExceeded,
    RateLimitTooLong,
)

FIXTURES = Path(__file__).parent / "fixtures" / "api"
API = "https://api.spotify.com/v1/"
RECENT = API + "me/player/recently-played"
T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Belt and braces beside ``responses``: any real connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class Clock:
    """A fake clock: ``sleep`` records the wait and moves ``now`` forward."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += timedelta(seconds=seconds)


def make_api(tmp_path, clock: Clock, policy: RateLimitPolicy | None = None) -> SpotifyApi:
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
        make_auth_manager("fakeclientid0000", cache=cache),
        policy=policy,
        sleep=clock.sleep,
        now=clock.now,
    )


def test_spotipy_is_built_without_its_own_retries(tmp_path):
    api = make_api(tmp_path, Clock())
    assert api.sp.retries == 0
    assert api.sp.status_retries == 0
    # our session has the stock adapter (no status retries): 429s reach us with their headers
    adapter = api.sp._session.get_adapter("https://api.spotify.com/")
    assert adapter.max_retries.total == 0
    assert not adapter.max_retries.status_forcelist


def test_429_with_short_retry_after_waits_then_retries(tmp_path):
    clock = Clock()
    api = make_api(tmp_path, clock)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        q = [matchers.query_param_matcher({"limit": "50"})]
        rsps.get(
            RECENT,
            status=429,
            json=fixture("error_429_rate_limit.json"),
            headers={"Retry-After": "2"},
            match=q,
        )
        rsps.get(RECENT, json=fixture("recently_played_page1.json"), match=q)
        page = api.recently_played()
        assert len(rsps.calls) == 2
    assert len(page["items"]) == 50
    assert clock.sleeps == [2.0]
    assert api.slept_s == [2.0]


def test_quota_exceeded_stops_without_sleeping(tmp_path):
    clock = Clock()
    api = make_api(tmp_path, clock)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(
            RECENT,
            status=429,
            json=fixture("error_429_quota_exceeded.json"),
            headers={"Retry-After": "36000"},
        )
        with pytest.raises(QuotaExceeded) as err:
            api.recently_played()
        assert len(rsps.calls) == 1  # no retry
    assert clock.sleeps == []
    exc = err.value
    assert exc.resume_at == T0 + timedelta(seconds=36000)
    assert exc.exit_status == 3
    assert "resume after 2026-03-02T22:00:00Z" in str(exc)
    assert "QUOTA_EXCEEDED" in str(exc)
    assert "\n" not in str(exc)


def test_quota_marker_is_found_in_a_plain_text_body(tmp_path):
    clock = Clock()
    api = make_api(tmp_path, clock)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, status=429, body="QUOTA_EXCEEDED", headers={"Retry-After": "7200"})
        with pytest.raises(QuotaExceeded):
            api.recently_played()
    assert clock.sleeps == []


def test_long_retry_after_and_exhausted_retries_stop(tmp_path):
    clock = Clock()
    api = make_api(tmp_path, clock, RateLimitPolicy(max_wait_s=60, max_retries=2))
    body = fixture("error_429_rate_limit.json")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, status=429, json=body, headers={"Retry-After": "600"})
        with pytest.raises(RateLimitTooLong) as err:
            api.recently_played()
    assert clock.sleeps == []
    assert err.value.resume_at == T0 + timedelta(seconds=600)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, status=429, json=body, headers={"Retry-After": "3"})
        with pytest.raises(RateLimitTooLong, match="after 2 retries"):
            api.recently_played()
        assert len(rsps.calls) == 3  # first try + 2 retries
    assert clock.sleeps == [3.0, 3.0]


def test_server_errors_back_off_and_other_errors_carry_status(tmp_path):
    clock = Clock()
    api = make_api(tmp_path, clock, RateLimitPolicy(server_error_wait_s=1.0))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(API + "me/", status=503, body="")
        rsps.get(API + "me/", status=502, body="")
        rsps.get(API + "me/", json=fixture("me.json"))
        assert api.me()["id"] == "fakeuser01"
    assert clock.sleeps == [1.0, 2.0]
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(API + "me/", status=401, json=fixture("error_401_expired.json"))
        with pytest.raises(ApiError) as err:
            api.me()
    assert err.value.status == 401
    assert err.value.exit_status == 1


def test_unmocked_request_is_a_network_error_not_a_real_request(tmp_path):
    api = make_api(tmp_path, Clock())
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        with pytest.raises(NetworkError, match="ConnectionError"):
            api.me()


def test_playlist_items_uses_the_2026_items_path(tmp_path):
    api = make_api(tmp_path, Clock())
    pid = "3cEYpjA9oz9GiPac4AsH4n"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(
            f"{API}playlists/{pid}/items",
            json=fixture("playlist_items_own.json"),
            match=[
                matchers.query_param_matcher(
                    {"limit": "50", "offset": "0", "additional_types": "track,episode"}
                )
            ],
        )
        page = api.playlist_items(pid)
    assert [e["item"]["type"] for e in page["items"]] == ["track", "episode", "track"]


def test_pages_follow_next_up_to_the_bound(tmp_path):
    api = make_api(tmp_path, Clock())
    first = {"items": [1], "next": API + "me/tracks?offset=1&limit=1"}
    second = {"items": [2], "next": API + "me/tracks?offset=2&limit=1"}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(
            API + "me/tracks",
            json=second,
            match=[matchers.query_param_matcher({"offset": "1", "limit": "1"})],
        )
        pages = list(api.pages("saved tracks", first, max_pages=2))
    assert [p["items"] for p in pages] == [[1], [2]]


def test_parse_retry_after():
    assert parse_retry_after("2", T0) == 2.0
    assert parse_retry_after(" 36000 ", T0) == 36000.0
    assert parse_retry_after("Mon, 02 Mar 2026 12:00:30 GMT", T0) == 30.0
    assert parse_retry_after(None, T0) is None
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after("-4", T0) == 0.0


def test_bad_arguments_are_named(tmp_path):
    api = make_api(tmp_path, Clock())
    with pytest.raises(ValueError, match="time_range"):
        api.top("tracks", "forever")
    with pytest.raises(ValueError, match="top kind"):
        api.top("albums", "short_term")
    with pytest.raises(ValueError, match="saved kind"):
        api.saved("albums")


def test_spotipy_version_gate():
    assert check_spotipy_version() >= "2.26"
    assert check_spotipy_version("2.26.0") == "2.26.0"
    assert check_spotipy_version("3.0.1") == "3.0.1"
    with pytest.raises(CollectError, match="too old"):
        check_spotipy_version("2.25.1")
