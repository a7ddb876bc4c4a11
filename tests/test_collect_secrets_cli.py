"""prefcal.collect: secrets never leak (logs, stderr, exceptions, store) and the CLI contract."""

from __future__ import annotations

import argparse
import json
import logging
import re
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
from responses import matchers

from prefcal.cli import SUBCOMMAND_MODULES
from prefcal.collect import cli as collect_cli
from prefcal.collect.auth import SCOPES, TokenCache, login, make_auth_manager
from prefcal.collect.client import SpotifyApi
from prefcal.collect.errors import ApiError, AuthError, CollectError, redacted_errors
from prefcal.collect.poll import poll_once
from prefcal.collect.redact import (
    REDACTED,
    RedactingFilter,
    clear_secrets,
    redact,
    register_secret,
)
from prefcal.collect.store import CollectStore

FIXTURES = Path(__file__).parent / "fixtures" / "api"
API = "https://api.spotify.com/v1/"
RECENT = API + "me/player/recently-played"
TOKEN_URL = "https://accounts.spotify.com/api/token"
CLIENT_ID = "fakeclientid0000000000000000abcd"
SCOPE = " ".join(sorted(SCOPES))
CACHED_ACCESS = "FAKE-ACCESS-TOKEN-CACHED-0000"
CACHED_REFRESH = "FAKE-REFRESH-TOKEN-CACHED-0000"
CODE = "FAKE-AUTH-CODE-0001"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Belt and braces beside ``responses``: any real connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def main(argv: list[str]) -> int:
    """``prefcal <argv>`` with only the collect sub-command registered (the others are built by
    other modules; ``prefcal.cli.main`` adds nothing but their registration)."""
    parser = argparse.ArgumentParser(prog="prefcal")
    sub = parser.add_subparsers(dest="command", required=True)
    collect_cli.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def token(expires_in: int = 3600) -> dict:
    return {
        "access_token": CACHED_ACCESS,
        "refresh_token": CACHED_REFRESH,
        "token_type": "Bearer",
        "scope": SCOPE,
        "expires_in": 3600,
        "expires_at": int(time.time()) + expires_in,
    }


def test_redact_patterns_catch_unregistered_secrets():
    clear_secrets()
    text = (
        "Headers: {'Authorization': 'Bearer abc.DEF-123_xyz'} Body: {'refresh_token': 'r3fr3sh', "
        "'code': 'c0de', 'code_verifier': 'v3r1f13r', 'grant_type': 'refresh_token'} "
        'json {"access_token": "acc355"} url ?code=XYZ&state=s form refresh_token=RT1&x=1'
    )
    out = redact(text)
    for secret in ("abc.DEF-123_xyz", "r3fr3sh", "c0de", "v3r1f13r", "acc355", "XYZ", "RT1"):
        assert secret not in out
    assert "'grant_type': 'refresh_token'" in out  # the grant type is not a secret
    assert "state=s" in out
    # ordinary text stays readable
    assert redact("http status: 403, code: -1 - Forbidden") == (
        "http status: 403, code: -1 - Forbidden"
    )
    register_secret("a-registered-value-1234")
    assert redact("x a-registered-value-1234 y") == f"x {REDACTED} y"
    register_secret("abc")  # too short to register safely
    assert redact("abc") == "abc"


def test_filter_redacts_args_and_tracebacks():
    register_secret("TOPSECRET-TOKEN-999")
    record = logging.LogRecord("spotipy.client", logging.ERROR, __file__, 1, "got %s", None, None)
    record.args = ("TOPSECRET-TOKEN-999",)
    try:
        raise RuntimeError("boom TOPSECRET-TOKEN-999")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "TOPSECRET-TOKEN-999" not in formatted
    assert "boom [REDACTED]" in formatted


def test_exception_wrapper_redacts_and_does_not_chain():
    register_secret("WRAPPED-SECRET-42")
    with pytest.raises(CollectError) as err:
        with redacted_errors("step"):
            raise KeyError("WRAPPED-SECRET-42")
    assert "WRAPPED-SECRET-42" not in str(err.value) and "WRAPPED-SECRET-42" not in repr(err.value)
    assert err.value.__suppress_context__
    assert "WRAPPED-SECRET-42" not in str(CollectError("x WRAPPED-SECRET-42"))


def test_known_fake_tokens_never_appear_anywhere(tmp_path, caplog, capsys, monkeypatch):
    """Drive login, a refresh with rotation, an API error and a CLI quota stop with DEBUG logging,
    then look for every fake secret in the captured logs, stdout/stderr, exception texts and the
    store files."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="spotipy")
    caplog.set_level(logging.DEBUG, logger="prefcal.collect")
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("PREFCAL_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setattr("prefcal.collect.auth.new_state", lambda: "STATE")
    cache = TokenCache()
    store = CollectStore(tmp_path / "store")
    errors: list[str] = []
    rotated = fixture("token_refresh_rotated.json")

    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        # 1. login: code + PKCE verifier in the token request (spotipy logs that body at DEBUG)
        rsps.post(TOKEN_URL, json=fixture("token_authorization_code.json"))
        login(
            CLIENT_ID,
            cache=cache,
            redirect_response=f"http://127.0.0.1:8888/?code={CODE}&state=STATE",
        )
        verifier = parse_qs(rsps.calls[0].request.body)["code_verifier"][0]
        # 2. an expired token: refresh (rotation), then a 401 from the API
        cache.save_token_to_cache(token(expires_in=-10))
        rsps.post(TOKEN_URL, json=rotated)
        rsps.get(API + "me/", status=401, json=fixture("error_401_expired.json"))
        api = SpotifyApi(make_auth_manager(CLIENT_ID, cache=cache), sleep=lambda s: None)
        with pytest.raises(ApiError) as err:
            api.me()
        errors += [str(err.value), repr(err.value)]
        # 3. a poll that stores plays (Authorization header logged at DEBUG by spotipy)
        rsps.get(RECENT, json=fixture("recently_played_page1.json"))
        poll_once(api, store)
        # 4. a refused refresh
        cache.save_token_to_cache(dict(json.loads(cache.path.read_text()), expires_at=1))
        rsps.post(TOKEN_URL, status=400, json=fixture("token_invalid_grant.json"))
        with pytest.raises(AuthError) as err2:
            api.me()
        errors += [str(err2.value), repr(err2.value)]
    # 5. the CLI: a quota stop on stderr
    cache.save_token_to_cache(dict(rotated, expires_at=int(time.time()) + 3600))
    monkeypatch.setattr(collect_cli, "SLEEP", lambda s: pytest.fail("must not sleep"))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(
            RECENT,
            status=429,
            json=fixture("error_429_quota_exceeded.json"),
            headers={"Retry-After": "36000"},
        )
        status = main(["collect", "poll", "--once", "--store", str(store.root), "-v"])
    assert status == 3
    out = capsys.readouterr()

    secrets = [
        CACHED_ACCESS,
        CACHED_REFRESH,
        "FAKE-ACCESS-TOKEN-LOGIN-0001",
        "FAKE-REFRESH-TOKEN-LOGIN-0001",
        rotated["access_token"],
        rotated["refresh_token"],
        CODE,
        verifier,
        CLIENT_ID,
    ]
    store_text = "".join(p.read_text() for p in store.root.rglob("*") if p.is_file())
    assert len(store_text) > 10_000  # plays were stored
    haystacks = {
        "logs": caplog.text,
        "stdout": out.out,
        "stderr": out.err,
        "errors": "\n".join(errors),
        "store": store_text,
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"{secret} leaked into {where}"
    # the logs did contain the places where secrets would have been
    assert "Bearer [REDACTED]" in caplog.text
    assert "'refresh_token': '[REDACTED]'" in caplog.text
    assert "'code_verifier': '[REDACTED]'" in caplog.text


def test_cli_quota_stop_is_one_line_with_resume_time(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("PREFCAL_CONFIG_DIR", str(tmp_path / "cfg"))
    TokenCache().save_token_to_cache(token())
    store_dir = tmp_path / "store"
    page1 = fixture("recently_played_page1.json")
    cursor1 = page1["cursors"]["after"]
    monkeypatch.setattr(collect_cli, "SLEEP", lambda s: pytest.fail("must not sleep"))
    before = datetime.now(UTC)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(RECENT, json=page1, match=[matchers.query_param_matcher({"limit": "50"})])
        rsps.get(
            RECENT,
            status=429,
            json=fixture("error_429_quota_exceeded.json"),
            headers={"Retry-After": "36000"},
            match=[matchers.query_param_matcher({"limit": "50", "after": cursor1})],
        )
        status = main(["collect", "poll", "--every", "30m", "--store", str(store_dir)])
    after = datetime.now(UTC)
    assert status == 3
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("prefcal collect poll: daily quota exceeded (QUOTA_EXCEEDED)")
    assert "(50 new plays stored this run)" in line
    stamp = re.search(r"resume after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", line).group(1)
    resume = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    lo = (before + timedelta(seconds=36000)).replace(microsecond=0)
    assert lo <= resume <= after + timedelta(seconds=36000)
    assert len(CollectStore(store_dir).plays) == 50  # kept


def test_cli_poll_once_retries_a_short_429_with_the_injected_sleep(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("PREFCAL_CONFIG_DIR", str(tmp_path / "cfg"))
    TokenCache().save_token_to_cache(token())
    slept: list[float] = []
    monkeypatch.setattr(collect_cli, "SLEEP", slept.append)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(
            RECENT,
            status=429,
            json=fixture("error_429_rate_limit.json"),
            headers={"Retry-After": "2"},
        )
        rsps.get(RECENT, json=fixture("recently_played_empty.json"))
        status = main(["collect", "poll", "--once", "--store", str(tmp_path / "s")])
    assert status == 0
    assert slept == [2.0]
    assert "0 fetched, 0 new" in capsys.readouterr().out


def test_cli_setup_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPOTIFY_CLIENT_ID", raising=False)
    monkeypatch.setenv("PREFCAL_CONFIG_DIR", str(tmp_path / "cfg"))
    assert main(["collect", "login", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SPOTIFY_CLIENT_ID is not set" in err[0]

    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    assert main(["collect", "poll", "--once", "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "prefcal collect login" in err[0]

    assert main(["collect", "poll", "--every", "soon", "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--every" in err[0]


def test_cli_status_and_snapshot_and_help(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("PREFCAL_CONFIG_DIR", str(tmp_path / "cfg"))
    TokenCache().save_token_to_cache(token())
    store_dir = tmp_path / "s"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        for kind in ("tracks", "shows", "episodes"):
            rsps.get(f"{API}me/{kind}", json=fixture(f"saved_{kind}.json"))
        status = main(["collect", "snapshot", "--parts", "saved", "--store", str(store_dir)])
    assert status == 0
    assert "3 lists read" in capsys.readouterr().out
    assert main(["collect", "status", "--store", str(store_dir)]) == 0
    out = capsys.readouterr().out
    assert "plays: 0" in out and "snapshot runs: 3" in out and "token: cached" in out
    assert CACHED_ACCESS not in out and CACHED_REFRESH not in out

    assert "prefcal.collect.cli" in SUBCOMMAND_MODULES
    with pytest.raises(SystemExit):
        main(["collect", "--help"])
    assert "Measurement only" in capsys.readouterr().out.replace("\n", " ")
