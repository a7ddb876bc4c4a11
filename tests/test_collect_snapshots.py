"""prefcal.collect.snapshots: top items, playlists (403 recorded), saved items; stamped, deduped."""

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
from prefcal.collect.snapshots import (
    content_hash,
    playlist_item_row,
    read_snapshot,
    take_snapshot,
)
from prefcal.collect.store import CollectStore

FIXTURES = Path(__file__).parent / "fixtures" / "api"
API = "https://api.spotify.com/v1/"
T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
OWN, OTHER, SPOTIFY = "3cEYpjA9oz9GiPac4AsH4n", "6x2LnllRG5uGarZMsD4iO8", "4hOKQuZbraPDIfaGbM3lKI"
RANGES = ("short_term", "medium_term", "long_term")


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
    def __init__(self) -> None:
        self.t = T0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += timedelta(seconds=seconds)


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


def page_q(**extra: str) -> list:
    return [matchers.query_param_matcher({"limit": "50", "offset": "0", **extra})]


def mock_lists(rsps, top_tracks_short: dict | None = None) -> None:
    for kind in ("artists", "tracks"):
        for tr in RANGES:
            body = fixture(f"top_{kind}_{tr}.json")
            if kind == "tracks" and tr == "short_term" and top_tracks_short is not None:
                body = top_tracks_short
            rsps.get(f"{API}me/top/{kind}", json=body, match=page_q(time_range=tr))
    rsps.get(API + "me/", json=fixture("me.json"))
    rsps.get(API + "me/playlists", json=fixture("my_playlists.json"), match=page_q())
    for kind in ("tracks", "shows", "episodes"):
        rsps.get(f"{API}me/{kind}", json=fixture(f"saved_{kind}.json"), match=page_q())


def mock_playlist_items(rsps) -> None:
    items_q = page_q(additional_types="track,episode")
    rsps.get(f"{API}playlists/{OWN}/items", json=fixture("playlist_items_own.json"), match=items_q)
    rsps.get(
        f"{API}playlists/{OTHER}/items",
        status=403,
        json=fixture("error_403_forbidden.json"),
        match=items_q,
    )
    rsps.get(
        f"{API}playlists/{SPOTIFY}/items",
        status=404,
        json=fixture("error_404_not_found.json"),
        match=items_q,
    )


def test_full_snapshot_records_inaccessible_playlists_and_is_not_fatal(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        mock_lists(rsps)
        mock_playlist_items(rsps)
        result = take_snapshot(api, store, now=clock.now)
    assert result.snapshot_at == "2026-03-02T12:00:00.000Z"
    assert result.scopes == 6 + 1 + 3 + 3
    assert sorted(result.inaccessible) == sorted([OTHER, SPOTIFY])
    assert result.errors == [] and result.truncated == []
    runs = {(r["kind"], r["scope"]): r for r in store.snapshot_runs.read()}
    assert runs[("playlist_items", OTHER)]["status"] == "inaccessible"
    assert runs[("playlist_items", OTHER)]["http_status"] == 403
    assert runs[("playlist_items", SPOTIFY)]["http_status"] == 404
    assert runs[("playlist_items", OWN)]["status"] == "ok"
    assert all(r["snapshot_at"] == result.snapshot_at for r in runs.values())

    _, top_short = read_snapshot(store, "top_tracks", "short_term")
    expected = fixture("top_tracks_short_term.json")["items"]
    assert [r["id"] for r in top_short] == [t["id"] for t in expected]
    assert [r["position"] for r in top_short] == [0, 1, 2]
    assert [len(read_snapshot(store, "top_artists", tr)[1]) for tr in RANGES] == [3, 4, 5]

    _, playlists = read_snapshot(store, "playlists", "me")
    assert [(p["playlist_id"], p["owner"], p["spotify_made"]) for p in playlists] == [
        (OWN, "self", False),
        (OTHER, "other", False),
        (SPOTIFY, "spotify", True),
    ]
    assert [p["n_items"] for p in playlists] == [3, 25, 80]  # from the 2026 "items.total"
    _, own_items = read_snapshot(store, "playlist_items", OWN)
    assert [(r["item_type"], r["is_local"]) for r in own_items] == [
        ("track", False),
        ("episode", False),
        ("track", True),
    ]
    assert own_items[1]["creator_names"] == ["The Daily Fake"]
    assert read_snapshot(store, "playlist_items", OTHER)[1] == []
    _, saved_eps = read_snapshot(store, "saved_episodes", "me")
    assert saved_eps[0]["show_name"] == "The Daily Fake"
    assert saved_eps[0]["added_at"] == "2026-03-02T07:35:00Z"
    assert store.playlist_owners() == {OWN: "self", OTHER: "other", SPOTIFY: "spotify"}
    # user names (owner ids, added_by) never reach the store
    for path in store.root.rglob("*.jsonl"):
        text = path.read_text()
        assert "fakeuser01" not in text and "otheruser77" not in text, path


def test_repeat_snapshot_is_stamped_but_not_duplicated(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        mock_lists(rsps)
        mock_playlist_items(rsps)
        take_snapshot(api, store, now=clock.now)
    sizes = {p.name: len(p.read_text().splitlines()) for p in (store.root / "snapshots").iterdir()}

    clock.t += timedelta(days=1)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        mock_lists(rsps)  # no playlist items registered: unchanged playlists must not be re-read
        second = take_snapshot(api, store, now=clock.now)
    assert second.snapshot_at == "2026-03-03T12:00:00.000Z"
    assert second.new_contents == 0
    assert second.unchanged == 6 + 1 + 3
    assert second.skipped_unchanged_playlists == 3
    after = {p.name: len(p.read_text().splitlines()) for p in (store.root / "snapshots").iterdir()}
    assert after["runs.jsonl"] == 2 * sizes["runs.jsonl"]
    assert {k: v for k, v in after.items() if k != "runs.jsonl"} == {
        k: v for k, v in sizes.items() if k != "runs.jsonl"
    }
    run, items = read_snapshot(store, "playlist_items", OWN)
    assert run["fetched"] is False and run["snapshot_at"] == second.snapshot_at
    assert len(items) == 3
    run, _ = read_snapshot(store, "playlist_items", OTHER)
    assert run["status"] == "inaccessible" and run["fetched"] is False

    # a changed list is stored as a new content; earlier states stay readable by time
    changed = fixture("top_tracks_short_term.json")
    changed["items"] = changed["items"][::-1]
    clock.t += timedelta(days=1)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        mock_lists(rsps, top_tracks_short=changed)
        third = take_snapshot(api, store, now=clock.now)
    assert third.new_contents == 1
    _, now_items = read_snapshot(store, "top_tracks", "short_term")
    _, then_items = read_snapshot(store, "top_tracks", "short_term", at="2026-03-03T23:59:59.999Z")
    assert [r["id"] for r in now_items] == [r["id"] for r in then_items][::-1]
    assert now_items[0]["first_seen_at"] == third.snapshot_at


def test_quota_during_snapshot_keeps_what_was_read(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        for kind in ("artists", "tracks"):
            for tr in RANGES:
                rsps.get(
                    f"{API}me/top/{kind}",
                    json=fixture(f"top_{kind}_{tr}.json"),
                    match=page_q(time_range=tr),
                )
        rsps.get(
            API + "me/",
            status=429,
            json=fixture("error_429_quota_exceeded.json"),
            headers={"Retry-After": "36000"},
        )
        with pytest.raises(QuotaExceeded):
            take_snapshot(api, store, now=clock.now)
    assert clock.sleeps == []
    assert len(store.snapshot_runs) == 6
    assert len(read_snapshot(store, "top_artists", "long_term")[1]) == 5


def test_only_selected_parts_and_bad_parts(api, store, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        for kind in ("tracks", "shows", "episodes"):
            rsps.get(f"{API}me/{kind}", json=fixture(f"saved_{kind}.json"), match=page_q())
        result = take_snapshot(api, store, now=clock.now, parts=("saved",))
    assert result.scopes == 3
    with pytest.raises(ValueError, match="parts"):
        take_snapshot(api, store, now=clock.now, parts=("albums",))


def test_row_helpers():
    assert content_hash([]) == content_hash([])
    assert content_hash([{"a": 1}]) != content_hash([{"a": 2}])
    assert len(content_hash([{"a": 1}])) == 16
    legacy = {"added_at": "x", "track": {"type": "track", "id": "i", "name": "n", "artists": []}}
    assert playlist_item_row(legacy)["id"] == "i"  # pre-2026 "track" key still read
    gone = playlist_item_row({"added_at": "x", "item": None})
    assert gone["item_type"] == "unavailable" and gone["id"] is None
