"""``prefcal collect``: log in, poll recently-played, take snapshots, show the store's status.

Exit status: 0 done; 2 setup or input problem (no ``SPOTIFY_CLIENT_ID``, not logged in, bad
``--every``); 3 stopped by a rate limit that must not be slept out (daily ``QUOTA_EXCEEDED`` or a
long ``Retry-After``) - everything fetched before is stored and the one-line message says when to
resume (UTC); 1 any other failure. Messages never contain a token, code or verifier.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MEASURE_NOTE = (
    "Measurement only: Spotify's developer terms forbid training machine-learning models on "
    "content from the Web API, and nothing collected here may be used to train one."
)

#: the sleep used between polls and for short Retry-After waits (tests replace it)
SLEEP: Callable[[float], None] = time.sleep


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def register(subparsers: Any) -> None:
    """Add ``collect`` and its sub-commands to the ``prefcal`` parser."""
    parser = subparsers.add_parser(
        "collect",
        help="collect a participant's listening from the Spotify Web API (measurement only)",
        description=(
            "Collect a consenting participant's listening from the Spotify Web API: "
            "recently-played with its context (Spotify-made playlist or not), top items, "
            "playlists, saved items. " + MEASURE_NOTE
        ),
    )
    sub = parser.add_subparsers(dest="collect_command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store",
        type=Path,
        default=None,
        help="store directory (default: $PREFCAL_STORE_DIR or the user data dir/prefcal/api_store)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log progress (redacted)")

    limits = argparse.ArgumentParser(add_help=False)
    limits.add_argument(
        "--max-wait",
        type=float,
        default=60.0,
        help="longest Retry-After (s) to sleep out; longer ones stop the run (default 60)",
    )
    limits.add_argument(
        "--max-retries",
        type=_non_negative_int,
        default=5,
        help="retries per request after a 429/5xx (default 5)",
    )
    limits.add_argument(
        "--max-pages",
        type=_positive_int,
        default=20,
        help="pages of 50 read per list at most (default 20)",
    )

    login = sub.add_parser(
        "login",
        parents=[common],
        help="log in with Authorization Code + PKCE and cache the token (0600)",
        description="Log in with Authorization Code + PKCE. The app's client id comes from "
        "SPOTIFY_CLIENT_ID; register http://127.0.0.1:PORT as its redirect URI. " + MEASURE_NOTE,
    )
    login.add_argument("--port", type=int, default=8888, help="redirect port (default 8888)")
    login.add_argument(
        "--no-browser",
        action="store_true",
        help="print the authorization URL and ask for the address the browser was sent to",
    )
    login.add_argument(
        "--redirect-url",
        default=None,
        help="the full redirect address (with ?code=...), for a non-interactive login",
    )
    login.set_defaults(func=_cmd_login)

    poll = sub.add_parser(
        "poll",
        parents=[common, limits],
        help="poll recently-played (50 plays max per request) and append new plays",
        description="Poll GET /me/player/recently-played after the saved cursor and append new "
        "plays without duplicates; resumable. " + MEASURE_NOTE,
    )
    poll.add_argument(
        "--every", default="30m", help="interval between polls: 90s, 30m, 1h, 1h30m (default 30m)"
    )
    poll.add_argument("--once", action="store_true", help="poll once and exit")
    poll.set_defaults(func=_cmd_poll)

    snap = sub.add_parser(
        "snapshot",
        parents=[common, limits],
        help="snapshot top items, playlists and their items, saved tracks/shows/episodes",
        description="Snapshot top artists/tracks (short, medium, long term), own playlists and "
        "their items, saved tracks, shows and episodes; stamped with the time and deduplicated. "
        + MEASURE_NOTE,
    )
    snap.add_argument(
        "--parts",
        default="top,playlists,saved",
        help="comma-separated subset of top,playlists,saved (default: all)",
    )
    snap.set_defaults(func=_cmd_snapshot)

    status = sub.add_parser(
        "status", parents=[common], help="show what the store holds and whether a token is cached"
    )
    status.set_defaults(func=_cmd_status)


def _configure_logging(verbose: bool) -> None:
    from prefcal.collect.redact import install_log_redaction

    install_log_redaction()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("prefcal.collect").setLevel(logging.INFO if verbose else logging.WARNING)
    # spotipy logs every HTTP error at ERROR before we handle it; show it only when asked
    logging.getLogger("spotipy").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def _run(args: argparse.Namespace, body: Callable[[], int | None]) -> int:
    from prefcal.collect.errors import CollectError
    from prefcal.collect.redact import redact

    _configure_logging(args.verbose)
    name = f"prefcal collect {args.collect_command}"
    try:
        return int(body() or 0)
    except CollectError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.exit_status
    except ValueError as exc:
        print(f"{name}: error: {redact(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted; everything fetched so far is stored", file=sys.stderr)
        return 130


def _store(args: argparse.Namespace) -> Any:
    from prefcal.collect.store import CollectStore, default_store_dir

    return CollectStore(args.store if args.store is not None else default_store_dir())


def _api(args: argparse.Namespace) -> Any:
    from prefcal.collect.auth import TokenCache, client_id_from_env, make_auth_manager
    from prefcal.collect.client import RateLimitPolicy, SpotifyApi
    from prefcal.collect.errors import NotLoggedIn

    client_id = client_id_from_env()
    cache = TokenCache()
    if cache.get_cached_token() is None:
        raise NotLoggedIn(f"no token cached at {cache.path}; run `prefcal collect login` first")
    auth = make_auth_manager(client_id, cache=cache, interactive=False)
    policy = RateLimitPolicy(max_wait_s=args.max_wait, max_retries=args.max_retries)
    return SpotifyApi(auth, policy=policy, sleep=SLEEP)


def _cmd_login(args: argparse.Namespace) -> int:
    def body() -> int:
        from prefcal.collect.auth import TokenCache, client_id_from_env, login

        client_id = client_id_from_env()
        path = login(
            client_id,
            port=args.port,
            cache=TokenCache(),
            open_browser=not args.no_browser,
            redirect_response=args.redirect_url,
        )
        print(f"logged in; token cached at {path} (mode 600). {MEASURE_NOTE}")
        return 0

    return _run(args, body)


def _cmd_poll(args: argparse.Namespace) -> int:
    def body() -> int:
        from prefcal.collect.errors import StopCollecting
        from prefcal.collect.poll import parse_interval, run_poll

        every_s = parse_interval(args.every)
        store = _store(args)
        api = _api(args)
        n_before = len(store.plays)
        with store.locked():
            try:
                run_poll(
                    api,
                    store,
                    every_s=every_s,
                    once=args.once,
                    sleep=SLEEP,
                    max_pages=args.max_pages,
                    report=lambda r: print(r.summary(), flush=True),
                )
            except StopCollecting as exc:
                n_new = len(store.plays) - n_before
                exc.message = f"{exc.message} ({n_new} new plays stored this run)"
                exc.args = (exc.message,)
                raise
        return 0

    return _run(args, body)


def _cmd_snapshot(args: argparse.Namespace) -> int:
    def body() -> int:
        from prefcal.collect.snapshots import take_snapshot

        parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
        store = _store(args)
        api = _api(args)
        with store.locked():
            result = take_snapshot(api, store, parts=parts, max_pages=args.max_pages)
        print(result.summary())
        return 0

    return _run(args, body)


def _cmd_status(args: argparse.Namespace) -> int:
    def body() -> int:
        from prefcal.collect.auth import TokenCache
        from prefcal.collect.poll import CURSOR_KEY, ms_to_iso

        store = _store(args)
        cursor = store.load_state().get(CURSOR_KEY)
        token = TokenCache().get_cached_token()
        polls = store.polls.read()
        print(f"store: {store.root}")
        print(f"plays: {len(store.plays)}")
        print(f"cursor: {ms_to_iso(cursor) if cursor is not None else 'none'}")
        print(f"last poll: {polls[-1]['polled_at'] if polls else 'never'}")
        print(f"snapshot runs: {len(store.snapshot_runs)}")
        if token is None:
            print("token: none (run `prefcal collect login`)")
        else:
            print(f"token: cached, scopes: {token.get('scope', '?')}")
        return 0

    return _run(args, body)
