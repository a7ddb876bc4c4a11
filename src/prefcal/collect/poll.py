"""Poll ``GET /me/player/recently-played`` and append new plays to the store.

Spotify keeps only the last 50 plays (of >= 30 s, music only), so the collector polls: each poll
asks for ``limit=50`` plays strictly after the saved ``after`` cursor (a Unix time in
milliseconds), appends them, moves the cursor to the newest ``played_at`` seen and, while a page is
full, asks again from the new cursor. The cursor is saved after every page's rows are on disk, so
a run stopped at any point resumes where it was; the key (``played_at_ms``, ``track_key``)
removes anything fetched twice. A poll that finds a full page right after an existing cursor may
have missed plays older than Spotify's 50 (``possibly_missed`` in ``polls.jsonl``): poll more
often.

One stored play (``plays.jsonl``):

=================  ============================================================================
field              meaning
=================  ============================================================================
played_at          as returned, normalised to ``YYYY-MM-DDTHH:MM:SS.fffZ`` (UTC)
played_at_ms       the same instant in Unix milliseconds (the cursor's unit)
track_key          ``track_id``, or ``track_uri`` for local files (which have no id)
track_id/_uri      Spotify id and URI of the track
track_name         title
artist_names       list of artist names; ``artist_ids`` the matching ids
album_name         album title (null when absent)
duration_ms        track length in ms
context_type       ``context.type`` (playlist, album, artist, collection, show, ...) or null
context_uri        ``context.uri`` with any user name removed (see contexts.scrub_context_uri)
context_class      :func:`prefcal.collect.contexts.classify_context` at poll time
collected_at       when the poll ran (UTC)
=================  ============================================================================

This module only measures listening; Spotify's developer terms forbid training models on API
content.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from prefcal.collect.client import PAGE_LIMIT, SpotifyApi, utc_now, utc_stamp
from prefcal.collect.contexts import classify_context, scrub_context_uri
from prefcal.collect.errors import ApiError, CollectError, NetworkError, StopCollecting
from prefcal.collect.redact import get_logger
from prefcal.collect.store import CollectStore

log = get_logger(__name__)

CURSOR_KEY = "recently_played_after_ms"
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_INTERVAL = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_interval(text: str) -> float:
    """Seconds in an interval such as ``90s``, ``30m``, ``1h``, ``1h30m`` or a bare ``600``.

    Units: s, m, h, d; parts add up; the result must be at least 1 s.
    """
    raw = str(text).strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    else:
        parts = _INTERVAL.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise ValueError(f"--every: cannot read {text!r}; use e.g. 90s, 30m, 1h or 1h30m")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise ValueError(f"--every: {text!r} is shorter than 1 s")
    return seconds


def parse_played_at(value: str) -> int:
    """Unix milliseconds of a ``played_at`` timestamp such as ``2026-03-02T07:41:05.123Z``."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise CollectError(f"recently-played: unreadable played_at {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(round(moment.timestamp() * 1000))


def ms_to_iso(ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.fffZ`` of Unix milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def play_row(
    item: Mapping[str, Any], owners: Mapping[str, str] | None, collected_at: str
) -> dict[str, Any] | None:
    """The stored form of one recently-played item (None when it has no track object)."""
    track = item.get("track")
    if not isinstance(track, Mapping):
        return None
    played_at_ms = parse_played_at(item.get("played_at"))  # type: ignore[arg-type]
    context = item.get("context") if isinstance(item.get("context"), Mapping) else None
    artists = [a for a in track.get("artists") or [] if isinstance(a, Mapping)]
    album = track.get("album") if isinstance(track.get("album"), Mapping) else {}
    track_key = track.get("id") or track.get("uri")
    if not track_key:
        return None
    return {
        "played_at": ms_to_iso(played_at_ms),
        "played_at_ms": played_at_ms,
        "track_key": track_key,
        "track_id": track.get("id"),
        "track_uri": track.get("uri"),
        "track_name": track.get("name"),
        "artist_ids": [a.get("id") for a in artists],
        "artist_names": [a.get("name") for a in artists],
        "album_name": album.get("name"),
        "duration_ms": track.get("duration_ms"),
        "context_type": context.get("type") if context else None,
        "context_uri": scrub_context_uri(context.get("uri")) if context else None,
        "context_class": classify_context(context, owners),
        "collected_at": collected_at,
    }


@dataclass
class PollResult:
    """What one poll did: items fetched, rows new to the store, pages, the cursor before/after."""

    polled_at: str
    fetched: int
    new: int
    pages: int
    cursor_before: int | None
    cursor_after: int | None
    possibly_missed: bool
    status: str = "ok"

    def summary(self) -> str:
        """One line for the terminal."""
        cursor = ms_to_iso(self.cursor_after) if self.cursor_after is not None else "none"
        warn = "; >50 plays since the last poll, some may be lost" if self.possibly_missed else ""
        return (
            f"poll {self.polled_at}: {self.fetched} fetched, {self.new} new, "
            f"{self.pages} page(s), cursor {cursor}{warn}"
        )


def poll_once(
    api: SpotifyApi,
    store: CollectStore,
    *,
    now: Callable[[], datetime] = utc_now,
    max_pages: int = 20,
) -> PollResult:
    """One poll: pages of plays after the saved cursor until a page is not full.

    The ``polls.jsonl`` row is written even when a rate limit stops the poll (``status``
    ``stopped``), then the :class:`StopCollecting` propagates.
    """
    polled_at = utc_stamp(now())
    state = store.load_state()
    after = state.get(CURSOR_KEY)
    owners = store.playlist_owners()
    result = PollResult(polled_at, 0, 0, 0, after, after, False)
    try:
        while result.pages < max_pages:
            page = api.recently_played(after_ms=after, limit=PAGE_LIMIT)
            items = page.get("items") or []
            rows = [r for r in (play_row(i, owners, polled_at) for i in items) if r is not None]
            result.pages += 1
            result.fetched += len(items)
            result.new += store.plays.append(rows)
            if result.pages == 1 and result.cursor_before is not None and len(items) >= PAGE_LIMIT:
                result.possibly_missed = True
            cursors = page.get("cursors") or {}
            candidates = [r["played_at_ms"] for r in rows]
            if cursors.get("after") not in (None, ""):
                candidates.append(int(cursors["after"]))
            if after is not None:
                candidates.append(int(after))
            new_after = max(candidates) if candidates else None
            advanced = new_after is not None and (after is None or new_after > after)
            if advanced:
                state[CURSOR_KEY] = new_after
                store.save_state(state)
                after = new_after
            result.cursor_after = after
            if len(items) < PAGE_LIMIT or not advanced:
                break
    except StopCollecting:
        result.status = "stopped"
        store.polls.append([asdict(result)])
        raise
    store.polls.append([asdict(result)])
    log.info(result.summary())
    return result


def run_poll(
    api: SpotifyApi,
    store: CollectStore,
    *,
    every_s: float,
    once: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
    max_polls: int | None = None,
    max_pages: int = 20,
    report: Callable[[PollResult], None] | None = None,
) -> list[PollResult]:
    """Poll now, then every ``every_s`` seconds (``sleep`` between polls).

    Stops after one poll with ``once``, after ``max_polls`` polls (tests bound the loop this way),
    or when a :class:`StopCollecting` (quota, long rate limit) is raised - that always propagates,
    with everything fetched before it already stored. In the loop, an API or network error is
    logged and the next poll tried; with ``once`` it propagates.
    """
    results: list[PollResult] = []
    n = 0
    while True:
        n += 1
        try:
            result = poll_once(api, store, now=now, max_pages=max_pages)
        except (ApiError, NetworkError) as exc:
            if once:
                raise
            log.warning("poll failed (%s); trying again in %.0f s", exc, every_s)
        else:
            results.append(result)
            if report is not None:
                report(result)
        if once or (max_polls is not None and n >= max_polls):
            return results
        sleep(every_s)
