"""Snapshots of what the API says about a user's taste and library, stamped and deduplicated.

One snapshot run (``prefcal collect snapshot``) reads, for the logged-in user:

* top artists and top tracks for ``short_term``, ``medium_term`` and ``long_term``
  (kinds ``top_artists`` / ``top_tracks``, scope = the time range);
* own and followed playlists from ``/me/playlists`` (kind ``playlists``, scope ``me``) and the
  items of each through ``/playlists/{id}/items`` (kind ``playlist_items``, scope = playlist id);
  a 403/404 (a playlist the user neither owns nor collaborates on, or a Spotify-owned one) is
  recorded with status ``inaccessible`` and the run goes on. Items are re-read only when the
  playlist's ``snapshot_id`` changed since the last successful or inaccessible read;
* saved tracks, shows and episodes (kinds ``saved_tracks``, ``saved_shows``, ``saved_episodes``).

Storage (see :mod:`prefcal.collect.store`): every (kind, scope) read appends one row to
``snapshots/runs.jsonl`` - ``snapshot_at`` (UTC), ``kind``, ``scope``, ``content_hash``,
``n_items``, ``truncated``, ``status`` (``ok`` | ``inaccessible`` | ``error``), ``fetched``
(False when an unchanged playlist was not re-read) and ``http_status``. The items go to
``snapshots/<kind>.jsonl`` keyed by (``scope``, ``content_hash``, ``position``), so a content seen
before is not stored again: the state at time T is the items of the latest run row at or before
T. ``content_hash`` = first 16 hex digits of SHA-256 over the canonical JSON of the item list.

Owner ids and ``added_by`` are not stored (user names); a playlist's owner is kept as the label
``spotify`` | ``self`` | ``other``. This module only measures; Spotify's developer terms forbid
training models on API content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prefcal.collect.client import TIME_RANGES, SpotifyApi, utc_now, utc_stamp
from prefcal.collect.contexts import SPOTIFY_OWNER_ID, is_spotify_made
from prefcal.collect.errors import ApiError
from prefcal.collect.redact import get_logger
from prefcal.collect.store import CollectStore

log = get_logger(__name__)

PARTS = ("top", "playlists", "saved")
SAVED_KINDS = ("tracks", "shows", "episodes")
INACCESSIBLE_STATUSES = (403, 404)


def content_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    """First 16 hex digits of SHA-256 of ``json.dumps(rows, sort_keys=True)``."""
    blob = json.dumps(list(rows), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _names(objs: Any) -> list[str | None]:
    return [o.get("name") for o in objs or [] if isinstance(o, Mapping)]


def _ids(objs: Any) -> list[str | None]:
    return [o.get("id") for o in objs or [] if isinstance(o, Mapping)]


def _sub(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def top_artist_row(a: Mapping[str, Any]) -> dict[str, Any]:
    """id, uri, name, genres (null when the 2026 API leaves them out)."""
    return {
        "id": a.get("id"),
        "uri": a.get("uri"),
        "name": a.get("name"),
        "genres": a.get("genres"),
    }


def track_row(t: Mapping[str, Any]) -> dict[str, Any]:
    """id, uri, name, artists, album, duration of a track object."""
    return {
        "id": t.get("id"),
        "uri": t.get("uri"),
        "name": t.get("name"),
        "artist_ids": _ids(t.get("artists")),
        "artist_names": _names(t.get("artists")),
        "album_name": _sub(t, "album").get("name"),
        "duration_ms": t.get("duration_ms"),
    }


def playlist_row(p: Mapping[str, Any], me_id: str | None) -> dict[str, Any]:
    """A playlist from /me/playlists; ``owner`` is ``spotify`` | ``self`` | ``other``."""
    owner_id = _sub(p, "owner").get("id")
    if owner_id == SPOTIFY_OWNER_ID:
        owner = "spotify"
    elif me_id is not None and owner_id == me_id:
        owner = "self"
    else:
        owner = "other"
    # 2026 shape: "items": {"href", "total"}; before February 2026: "tracks"
    count = p.get("items") if isinstance(p.get("items"), Mapping) else _sub(p, "tracks")
    pid = p.get("id") or ""
    return {
        "playlist_id": pid,
        "name": p.get("name"),
        "owner": owner,
        "spotify_made": is_spotify_made(pid, owner_id),
        "collaborative": p.get("collaborative"),
        "public": p.get("public"),
        "snapshot_id": p.get("snapshot_id"),
        "n_items": count.get("total"),
    }


def playlist_item_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A playlist entry (2026: the object is under ``item``; before: ``track``)."""
    obj = entry.get("item") if isinstance(entry.get("item"), Mapping) else entry.get("track")
    obj = obj if isinstance(obj, Mapping) else {}
    kind = obj.get("type") or ("unavailable" if not obj else "track")
    if kind == "episode":
        creators = [_sub(obj, "show").get("name")]
        container = _sub(obj, "show").get("name")
    else:
        creators = _names(obj.get("artists"))
        container = _sub(obj, "album").get("name")
    return {
        "item_type": kind,
        "id": obj.get("id"),
        "uri": obj.get("uri"),
        "name": obj.get("name"),
        "creator_names": creators,
        "container_name": container,
        "duration_ms": obj.get("duration_ms"),
        "is_local": bool(entry.get("is_local") or obj.get("is_local")),
        "added_at": entry.get("added_at"),
    }


def saved_row(kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A saved track / show / episode with its ``added_at``."""
    if kind == "tracks":
        row = track_row(_sub(entry, "track"))
    elif kind == "shows":
        show = _sub(entry, "show")
        row = {
            "id": show.get("id"),
            "uri": show.get("uri"),
            "name": show.get("name"),
            "publisher": show.get("publisher"),
        }
    else:
        ep = _sub(entry, "episode")
        row = {
            "id": ep.get("id"),
            "uri": ep.get("uri"),
            "name": ep.get("name"),
            "show_name": _sub(ep, "show").get("name"),
            "duration_ms": ep.get("duration_ms"),
            "release_date": ep.get("release_date"),
        }
    row["added_at"] = entry.get("added_at")
    return row


@dataclass
class SnapshotResult:
    """Counts of one snapshot run."""

    snapshot_at: str
    scopes: int = 0
    new_contents: int = 0
    unchanged: int = 0
    skipped_unchanged_playlists: int = 0
    inaccessible: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        return (
            f"snapshot {self.snapshot_at}: {self.scopes} lists read, {self.new_contents} changed, "
            f"{self.unchanged} unchanged, "
            f"{self.skipped_unchanged_playlists} playlists not re-read, "
            f"{len(self.inaccessible)} inaccessible, {len(self.errors)} errors, "
            f"{len(self.truncated)} truncated"
        )


class _Snapshotter:
    def __init__(self, api: SpotifyApi, store: CollectStore, snapshot_at: str, max_pages: int):
        self.api = api
        self.store = store
        self.max_pages = max_pages
        self.result = SnapshotResult(snapshot_at)
        self.latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in store.snapshot_runs.read():
            self.latest[(row["kind"], row["scope"])] = row

    def collect(self, what: str, first: dict) -> tuple[list[dict], bool]:
        items: list[dict] = []
        last: dict = first
        n = 0
        for page in self.api.pages(what, first, self.max_pages):
            items.extend(i for i in page.get("items") or [] if isinstance(i, Mapping))
            last = page
            n += 1
        return items, bool(last.get("next")) and n >= self.max_pages

    def record(
        self,
        kind: str,
        scope: str,
        rows: list[dict[str, Any]],
        *,
        truncated: bool = False,
        status: str = "ok",
        fetched: bool = True,
        http_status: int | None = 200,
        extra: Mapping[str, Any] | None = None,
        digest: str | None = None,
    ) -> None:
        snapshot_at = self.result.snapshot_at
        digest = digest if digest is not None else content_hash(rows)
        if status == "ok" and fetched:
            items = [
                {
                    **row,
                    "scope": scope,
                    "content_hash": digest,
                    "position": i,
                    "first_seen_at": snapshot_at,
                }
                for i, row in enumerate(rows)
            ]
            self.store.snapshot_items(kind).append(items)
            previous = self.latest.get((kind, scope))
            if previous is not None and previous.get("content_hash") == digest:
                self.result.unchanged += 1
            else:
                self.result.new_contents += 1
        run = {
            "snapshot_at": snapshot_at,
            "kind": kind,
            "scope": scope,
            "content_hash": digest,
            "n_items": len(rows),
            "truncated": truncated,
            "status": status,
            "fetched": fetched,
            "http_status": http_status,
            **(extra or {}),
        }
        self.store.snapshot_runs.append([run])
        self.latest[(kind, scope)] = run
        self.result.scopes += 1
        if truncated:
            self.result.truncated.append(f"{kind}:{scope}")

    def top(self) -> None:
        for kind, row_fn in (("artists", top_artist_row), ("tracks", track_row)):
            for time_range in TIME_RANGES:
                first = self.api.top(kind, time_range)
                items, truncated = self.collect(f"top {kind} {time_range}", first)
                self.record(
                    f"top_{kind}", time_range, [row_fn(i) for i in items], truncated=truncated
                )

    def playlists(self) -> None:
        me_id = self.api.me().get("id")
        items, truncated = self.collect("playlists", self.api.my_playlists())
        rows = [playlist_row(p, me_id) for p in items if p.get("id")]
        self.record("playlists", "me", rows, truncated=truncated)
        for row in rows:
            self.playlist_items(row["playlist_id"], row["snapshot_id"])

    def playlist_items(self, playlist_id: str, snapshot_id: str | None) -> None:
        previous = self.latest.get(("playlist_items", playlist_id))
        if (
            snapshot_id is not None
            and previous is not None
            and previous.get("playlist_snapshot_id") == snapshot_id
            and previous.get("status") in ("ok", "inaccessible")
            and not previous.get("truncated")
        ):
            self.record(
                "playlist_items",
                playlist_id,
                [],
                status=previous["status"],
                fetched=False,
                http_status=previous.get("http_status"),
                extra={"playlist_snapshot_id": snapshot_id},
                digest=previous.get("content_hash"),
            )
            self.result.skipped_unchanged_playlists += 1
            return
        extra = {"playlist_snapshot_id": snapshot_id}
        try:
            first = self.api.playlist_items(playlist_id)
            items, truncated = self.collect(f"playlist {playlist_id} items", first)
        except ApiError as exc:
            status = "inaccessible" if exc.status in INACCESSIBLE_STATUSES else "error"
            if status == "inaccessible":
                self.result.inaccessible.append(playlist_id)
                log.info("playlist %s: HTTP %d, recorded as inaccessible", playlist_id, exc.status)
            else:
                self.result.errors.append(f"playlist {playlist_id}: HTTP {exc.status}")
                log.warning("playlist %s: HTTP %d, skipped", playlist_id, exc.status)
            self.record(
                "playlist_items",
                playlist_id,
                [],
                status=status,
                http_status=exc.status,
                extra=extra,
            )
            return
        rows = [playlist_item_row(e) for e in items]
        self.record("playlist_items", playlist_id, rows, truncated=truncated, extra=extra)

    def saved(self) -> None:
        for kind in SAVED_KINDS:
            items, truncated = self.collect(f"saved {kind}", self.api.saved(kind))
            self.record(
                f"saved_{kind}", "me", [saved_row(kind, e) for e in items], truncated=truncated
            )


def read_snapshot(
    store: CollectStore, kind: str, scope: str, at: str | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The run row and the items of (``kind``, ``scope``) as of ``at`` (a UTC stamp; None = latest).

    The run row is the latest one with ``snapshot_at <= at``; its items are the stored rows with
    its ``content_hash``, in position order (empty for an inaccessible playlist).
    """
    runs = [
        r
        for r in store.snapshot_runs.read()
        if r["kind"] == kind and r["scope"] == scope and (at is None or r["snapshot_at"] <= at)
    ]
    if not runs:
        return None, []
    run = max(runs, key=lambda r: r["snapshot_at"])
    if run["status"] != "ok":
        return run, []
    items = [
        r
        for r in store.snapshot_items(kind).read()
        if r["scope"] == scope and r["content_hash"] == run["content_hash"]
    ]
    return run, sorted(items, key=lambda r: r["position"])


def take_snapshot(
    api: SpotifyApi,
    store: CollectStore,
    *,
    now: Callable[[], datetime] = utc_now,
    parts: Sequence[str] = PARTS,
    max_pages: int = 20,
) -> SnapshotResult:
    """Read the ``parts`` (``top``, ``playlists``, ``saved``) and store them (module docstring).

    Each list is stored as soon as it is read, so a :class:`StopCollecting` part-way keeps
    everything before it; the next run starts again from the top (unchanged contents and
    unchanged playlists cost nothing to store).
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"snapshot parts must be among {PARTS}, got {sorted(unknown)}")
    snap = _Snapshotter(api, store, utc_stamp(now()), max_pages)
    for part in PARTS:
        if part in parts:
            getattr(snap, part)()
    log.info(snap.result.summary())
    return snap.result
