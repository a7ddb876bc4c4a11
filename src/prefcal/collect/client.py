"""A thin wrapper around spotipy that does its own rate-limit handling.

spotipy's session retries 429s inside urllib3; with ``retries=0`` that session turns a 429 into
``Max Retries`` and *loses* both the ``Retry-After`` header and the body (measured with spotipy
2.26.0). :class:`SpotifyApi` therefore builds ``spotipy.Spotify(..., retries=0, status_retries=0)``
on a plain :class:`requests.Session` (no retrying adapter), so every error reaches us intact, and:

* 429 with ``Retry-After`` <= ``policy.max_wait_s`` (default 60 s; Spotify's window is 30 s):
  sleep that long with the injected ``sleep`` and retry, at most ``policy.max_retries`` times;
* 429 whose body says ``QUOTA_EXCEEDED`` (the daily quota, Retry-After of hours): raise
  :class:`~prefcal.collect.errors.QuotaExceeded` at once with ``resume_at = now + Retry-After``
  (UTC); never sleeps;
* 429 with a longer Retry-After, or still 429 after the retries:
  :class:`~prefcal.collect.errors.RateLimitTooLong` (same contract);
* 500/502/503/504: up to ``policy.max_retries`` retries, waiting ``server_error_wait_s * 2**i``;
* other statuses: :class:`~prefcal.collect.errors.ApiError` with ``.status`` (callers decide, e.g.
  a 403 on a playlist the user does not own is recorded, not fatal).

All messages are redacted; spotipy's exceptions never escape.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import spotipy
from spotipy.exceptions import SpotifyException, SpotifyOauthError

from prefcal.collect.errors import (
    ApiError,
    AuthError,
    CollectError,
    NetworkError,
    QuotaExceeded,
    RateLimitTooLong,
)
from prefcal.collect.redact import get_logger, install_log_redaction, redact

log = get_logger(__name__)

API_PREFIX = "https://api.spotify.com/v1/"
PAGE_LIMIT = 50  # the largest page every endpoint used here accepts
TIME_RANGES = ("short_term", "medium_term", "long_term")
_SERVER_ERRORS = (500, 502, 503, 504)


MIN_SPOTIPY = (2, 26)


def check_spotipy_version(version: str | None = None) -> str:
    """Fail clearly on spotipy < 2.26 (older ones call the removed ``/playlists/{id}/tracks``)."""
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("spotipy")
    numbers = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    if numbers < MIN_SPOTIPY:
        raise CollectError(
            f"spotipy {version} is too old: >= 2.26 is needed for /playlists/{{id}}/items"
        )
    return version


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


def utc_stamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.fffZ`` of an aware datetime (the collector's time stamps)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class RateLimitPolicy:
    """How long the collector may wait on its own.

    ``max_wait_s``: longest ``Retry-After`` that is slept out; ``max_retries``: retries per request
    (429 and 5xx together); ``server_error_wait_s``: first wait after a 5xx (doubles each time);
    ``missing_retry_after_s``: wait for a 429 without a usable ``Retry-After`` header.
    """

    max_wait_s: float = 60.0
    max_retries: int = 5
    server_error_wait_s: float = 2.0
    missing_retry_after_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_wait_s < 0 or self.max_retries < 0:
            raise ValueError("max_wait_s and max_retries must be >= 0")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def is_quota_exceeded(exc: SpotifyException, body: str | None) -> bool:
    """True when a 429 carries Spotify's daily-quota marker ``QUOTA_EXCEEDED`` anywhere."""
    parts = (exc.reason, exc.msg, body)
    return any(isinstance(p, str) and "QUOTA_EXCEEDED" in p.upper() for p in parts)


class SpotifyApi:
    """The Web API calls the collector needs, each through :meth:`call`'s 429 handling.

    ``auth_manager`` is a :class:`prefcal.collect.auth.CollectorPKCE` (tokens refreshed and rotated
    through its cache); ``sleep`` and ``now`` are injectable for tests.
    """

    def __init__(
        self,
        auth_manager: Any,
        *,
        policy: RateLimitPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utc_now,
        requests_timeout: float = 20.0,
    ) -> None:
        install_log_redaction()
        check_spotipy_version()
        self.policy = policy or RateLimitPolicy()
        self.sleep = sleep
        self.now = now
        self.n_requests = 0
        self.slept_s: list[float] = []
        self._last_error_body: str | None = None
        self._session = requests.Session()  # no retrying adapter: 429s come back to us whole
        self._session.hooks["response"].append(self._remember_error_body)
        self.sp = spotipy.Spotify(
            auth_manager=auth_manager,
            requests_session=self._session,
            retries=0,
            status_retries=0,
            requests_timeout=requests_timeout,
        )

    def _remember_error_body(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.n_requests += 1
        if response.status_code >= 400:
            self._last_error_body = response.text[:8192]

    # -- the retry loop -------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with the rate-limit contract of the module docstring."""
        attempt = 0
        while True:
            self._last_error_body = None
            try:
                return fn(*args, **kwargs)
            except SpotifyException as exc:
                status = int(exc.http_status)
                if status == 429:
                    wait = self._wait_for_429(what, exc, attempt)
                elif status in _SERVER_ERRORS and attempt < self.policy.max_retries:
                    wait = self.policy.server_error_wait_s * 2**attempt
                    log.warning("%s: HTTP %d, retrying in %.0f s", what, status, wait)
                else:
                    raise ApiError(what, status, redact(exc.reason or "")) from None
            except SpotifyOauthError as exc:
                detail = getattr(exc, "error", None) or "token endpoint error"
                raise AuthError(
                    f"{what}: token refresh failed ({detail}); run `prefcal collect login` again"
                ) from None
            except requests.RequestException as exc:
                raise NetworkError(f"{what}: {type(exc).__name__}") from None
            except CollectError:
                raise
            except Exception as exc:  # noqa: BLE001 - nothing unredacted leaves the client
                raise CollectError(f"{what}: {type(exc).__name__}: {exc}") from None
            attempt += 1
            self.slept_s.append(wait)
            self.sleep(wait)

    def _wait_for_429(self, what: str, exc: SpotifyException, attempt: int) -> float:
        now = self.now()
        headers = exc.headers or {}
        retry_after = parse_retry_after(headers.get("Retry-After"), now)
        if is_quota_exceeded(exc, self._last_error_body):
            seconds = retry_after if retry_after is not None else 24 * 3600.0
            raise QuotaExceeded(
                what,
                "daily quota exceeded (QUOTA_EXCEEDED)",
                now + timedelta(seconds=seconds),
                seconds,
            )
        wait = retry_after if retry_after is not None else self.policy.missing_retry_after_s
        if wait > self.policy.max_wait_s:
            raise RateLimitTooLong(
                what,
                f"rate limited for {wait:.0f} s (> {self.policy.max_wait_s:.0f} s)",
                now + timedelta(seconds=wait),
                wait,
            )
        if attempt >= self.policy.max_retries:
            raise RateLimitTooLong(
                what,
                f"still rate limited after {attempt} retries",
                now + timedelta(seconds=wait),
                wait,
            )
        log.info("%s: HTTP 429, waiting %.0f s (retry %d)", what, wait, attempt + 1)
        return wait

    def _page(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict:
        """:meth:`call` for endpoints that return a JSON object (``{}`` for an empty body)."""
        result = self.call(what, fn, *args, **kwargs)
        if result is None:
            return {}
        if not isinstance(result, dict):
            raise CollectError(f"{what}: expected a JSON object, got {type(result).__name__}")
        return result

    # -- endpoints --------------------------------------------------------------------------------

    def recently_played(self, after_ms: int | None = None, limit: int = PAGE_LIMIT) -> dict:
        """GET /me/player/recently-played?limit=50[&after=<ms>]: plays after ``after_ms``."""
        return self._page(
            "recently-played", self.sp.current_user_recently_played, limit=limit, after=after_ms
        )

    def me(self) -> dict:
        """GET /me (only the user id is used, to tell own playlists from followed ones)."""
        return self._page("me", self.sp.me)

    def top(self, kind: str, time_range: str, limit: int = PAGE_LIMIT, offset: int = 0) -> dict:
        """GET /me/top/{artists|tracks}?time_range=..."""
        if time_range not in TIME_RANGES:
            raise ValueError(f"time_range must be one of {TIME_RANGES}, got {time_range!r}")
        fn = {
            "artists": self.sp.current_user_top_artists,
            "tracks": self.sp.current_user_top_tracks,
        }.get(kind)
        if fn is None:
            raise ValueError(f"top kind must be 'artists' or 'tracks', got {kind!r}")
        return self._page(
            f"top {kind} {time_range}", fn, limit=limit, offset=offset, time_range=time_range
        )

    def my_playlists(self, limit: int = PAGE_LIMIT, offset: int = 0) -> dict:
        """GET /me/playlists (own and followed playlists)."""
        return self._page("playlists", self.sp.current_user_playlists, limit=limit, offset=offset)

    def playlist_items(self, playlist_id: str, limit: int = PAGE_LIMIT, offset: int = 0) -> dict:
        """GET /playlists/{id}/items (tracks and episodes; own/collaborative playlists only)."""
        return self._page(
            f"playlist {playlist_id} items",
            self.sp.playlist_items,
            playlist_id,
            limit=limit,
            offset=offset,
            additional_types=("track", "episode"),
        )

    def saved(self, kind: str, limit: int = PAGE_LIMIT, offset: int = 0) -> dict:
        """GET /me/{tracks|shows|episodes}."""
        fn = {
            "tracks": self.sp.current_user_saved_tracks,
            "shows": self.sp.current_user_saved_shows,
            "episodes": self.sp.current_user_saved_episodes,
        }.get(kind)
        if fn is None:
            raise ValueError(f"saved kind must be tracks, shows or episodes, got {kind!r}")
        return self._page(f"saved {kind}", fn, limit=limit, offset=offset)

    def next_page(self, what: str, page: dict) -> dict | None:
        """The page after ``page`` (its ``next`` URL), or None on the last page."""
        if not page.get("next"):
            return None
        return self.call(f"{what} (next page)", self.sp.next, page)

    def pages(self, what: str, first: dict, max_pages: int) -> Iterator[dict]:
        """``first`` and the pages after it, at most ``max_pages`` in all."""
        page: dict | None = first
        n = 0
        while page is not None and n < max_pages:
            yield page
            n += 1
            if n < max_pages:
                page = self.next_page(what, page)
