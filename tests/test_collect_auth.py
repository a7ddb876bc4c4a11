"""prefcal.collect.auth: PKCE login, the 0600 token cache, single-use refresh tokens (offline)."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses

from prefcal.collect import auth
from prefcal.collect.auth import (
    SCOPES,
    TokenCache,
    client_id_from_env,
    config_dir,
    login,
    make_auth_manager,
    redirect_uri,
)
from prefcal.collect.client import SpotifyApi
from prefcal.collect.errors import AuthError, MissingClientId, NotLoggedIn

FIXTURES = Path(__file__).parent / "fixtures" / "api"
TOKEN_URL = "https://accounts.spotify.com/api/token"
API = "https://api.spotify.com/v1/"
CLIENT_ID = "fakeclientid0000000000000000abcd"
SCOPE = " ".join(sorted(SCOPES))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Belt and braces beside ``responses``: any real connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def cached_token(expires_in: int = 3600) -> dict:
    return {
        "access_token": "FAKE-ACCESS-TOKEN-CACHED-0000",
        "refresh_token": "FAKE-REFRESH-TOKEN-CACHED-0000",
        "token_type": "Bearer",
        "scope": SCOPE,
        "expires_in": 3600,
        "expires_at": int(time.time()) + expires_in,
    }


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def test_config_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFCAL_CONFIG_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "explicit"
    monkeypatch.delenv("PREFCAL_CONFIG_DIR")
    assert config_dir() == tmp_path / "xdg" / "prefcal"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert config_dir().name == "prefcal"
    assert auth.token_cache_path().name == "spotify_token.json"


def test_client_id_and_redirect_uri(monkeypatch):
    monkeypatch.delenv("SPOTIFY_CLIENT_ID", raising=False)
    with pytest.raises(MissingClientId) as err:
        client_id_from_env()
    assert "SPOTIFY_CLIENT_ID is not set" in str(err.value)
    assert "\n" not in str(err.value)
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", f"  {CLIENT_ID} ")
    assert client_id_from_env() == CLIENT_ID
    assert redirect_uri() == "http://127.0.0.1:8888"
    assert redirect_uri(9090) == "http://127.0.0.1:9090"
    with pytest.raises(ValueError, match="port"):
        redirect_uri(0)


def test_token_cache_is_created_0600_through_os_open(tmp_path, monkeypatch):
    calls = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):
        calls.append((str(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(auth.os, "open", spy)
    os.umask(0o022)
    cache = TokenCache(tmp_path / "cfg" / "spotify_token.json")
    cache.save_token_to_cache(cached_token())
    assert calls and all(mode == 0o600 for _, _, mode in calls)
    assert all(flags & os.O_CREAT for _, flags, _ in calls)
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache.path.parent).st_mode) == 0o700
    assert cache.get_cached_token()["refresh_token"] == "FAKE-REFRESH-TOKEN-CACHED-0000"
    # no temp file left behind
    assert sorted(p.name for p in cache.path.parent.iterdir()) == ["spotify_token.json"]
    # permissions widened by hand are tightened on the next read
    os.chmod(cache.path, 0o644)
    cache.get_cached_token()
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600


def test_login_exchanges_code_with_pkce_verifier(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "new_state", lambda: "FIXED-STATE")
    cache = TokenCache(tmp_path / "spotify_token.json")
    with pytest.raises(AuthError, match="state does not match"):
        login(CLIENT_ID, cache=cache, redirect_response="http://127.0.0.1:8888/?code=x&state=NO")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.post(TOKEN_URL, json=fixture("token_authorization_code.json"))
        path = login(
            CLIENT_ID,
            cache=cache,
            redirect_response="http://127.0.0.1:8888/?code=FAKE-AUTH-CODE-0001&state=FIXED-STATE",
        )
        body = form(rsps.calls[0])
    assert path == cache.path
    assert body["grant_type"] == "authorization_code"
    assert body["code"] == "FAKE-AUTH-CODE-0001"
    assert body["client_id"] == CLIENT_ID
    assert body["redirect_uri"] == "http://127.0.0.1:8888"
    assert 43 <= len(body["code_verifier"]) <= 128
    assert "client_secret" not in body  # PKCE: no secret
    token = json.loads(cache.path.read_text())
    assert token["access_token"] == "FAKE-ACCESS-TOKEN-LOGIN-0001"
    assert token["refresh_token"] == "FAKE-REFRESH-TOKEN-LOGIN-0001"
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600


def test_authorize_url_uses_pkce_s256_loopback_and_scopes():
    manager = make_auth_manager(CLIENT_ID, port=9999, interactive=True)
    url = manager.get_authorize_url()
    query = {k: v[0] for k, v in parse_qs(url.split("?", 1)[1]).items()}
    assert url.startswith("https://accounts.spotify.com/authorize?")
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == "http://127.0.0.1:9999"
    assert query["response_type"] == "code"
    assert set(query["scope"].split()) == set(SCOPES)
    assert {"user-read-recently-played", "user-top-read", "playlist-read-private"} <= set(SCOPES)
    assert "user-library-read" in SCOPES


def test_login_reports_refusal_and_failed_exchange(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "new_state", lambda: "S")
    cache = TokenCache(tmp_path / "t.json")
    with pytest.raises(AuthError, match="access_denied"):
        login(
            CLIENT_ID,
            cache=cache,
            redirect_response="http://127.0.0.1:8888/?error=access_denied&state=S",
        )
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.post(TOKEN_URL, status=400, json=fixture("token_invalid_grant.json"))
        with pytest.raises(AuthError, match="invalid_grant"):
            login(
                CLIENT_ID, cache=cache, redirect_response="http://127.0.0.1:8888/?code=C0DE&state=S"
            )
    assert not cache.path.exists()


def test_refresh_rotates_the_single_use_refresh_token(tmp_path):
    cache = TokenCache(tmp_path / "spotify_token.json")
    cache.save_token_to_cache(cached_token(expires_in=-10))  # expired
    api = SpotifyApi(make_auth_manager(CLIENT_ID, cache=cache), sleep=lambda s: None)
    rotated = fixture("token_refresh_rotated.json")
    second = dict(rotated, access_token="FAKE-ACCESS-TOKEN-ROTATED-0003")
    second["refresh_token"] = "FAKE-REFRESH-TOKEN-ROTATED-0003"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.post(TOKEN_URL, json=rotated)
        rsps.post(TOKEN_URL, json=second)
        me = rsps.get(API + "me/", json=fixture("me.json"))
        assert api.me()["id"] == "fakeuser01"
        stored = json.loads(cache.path.read_text())
        assert stored["refresh_token"] == "FAKE-REFRESH-TOKEN-ROTATED-0002"
        assert stored["access_token"] == "FAKE-ACCESS-TOKEN-ROTATED-0002"
        assert me.calls[0].request.headers["Authorization"] == (
            "Bearer FAKE-ACCESS-TOKEN-ROTATED-0002"
        )
        # expire again: the next refresh must send the ROTATED token, not the cached original
        cache.save_token_to_cache(dict(stored, expires_at=int(time.time()) - 10))
        api.me()
        token_calls = [c for c in rsps.calls if c.request.url == TOKEN_URL]
        first_body, second_body = form(token_calls[0]), form(token_calls[1])
    assert first_body["grant_type"] == "refresh_token"
    assert first_body["refresh_token"] == "FAKE-REFRESH-TOKEN-CACHED-0000"
    assert first_body["client_id"] == CLIENT_ID
    assert second_body["refresh_token"] == "FAKE-REFRESH-TOKEN-ROTATED-0002"
    final = json.loads(cache.path.read_text())
    assert final["refresh_token"] == "FAKE-REFRESH-TOKEN-ROTATED-0003"
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600


def test_reused_refresh_token_asks_for_a_new_login(tmp_path):
    cache = TokenCache(tmp_path / "spotify_token.json")
    cache.save_token_to_cache(cached_token(expires_in=-10))
    api = SpotifyApi(make_auth_manager(CLIENT_ID, cache=cache), sleep=lambda s: None)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.post(TOKEN_URL, status=400, json=fixture("token_invalid_grant.json"))
        with pytest.raises(AuthError, match="invalid_grant.*prefcal collect login"):
            api.me()


def test_no_token_means_not_logged_in_never_a_prompt(tmp_path, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("must not prompt"))
    cache = TokenCache(tmp_path / "none.json")
    api = SpotifyApi(make_auth_manager(CLIENT_ID, cache=cache), sleep=lambda s: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        with pytest.raises(NotLoggedIn, match="prefcal collect login"):
            api.me()
    # a token lacking a scope is treated the same way
    cache.save_token_to_cache(dict(cached_token(), scope="user-top-read"))
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        with pytest.raises(NotLoggedIn):
            api.me()
