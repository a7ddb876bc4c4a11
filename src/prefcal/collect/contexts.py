"""Classify where a play came from, from the ``context`` of a recently-played item.

``context.uri`` is the only field in any Spotify source that says a play came from a playlist that
Spotify made (editorial or algorithmic, e.g. Discover Weekly, Daily Mix, daylist) rather than one
the user made. Classes (:data:`CONTEXT_CLASSES`):

===================  ==========================================================================
class                rule (first match wins)
===================  ==========================================================================
none                 no context (the play did not start from a playlist, album, ... page)
spotify_playlist     a playlist whose owner id is ``spotify`` when known, **or** whose id starts
                     with one of :data:`SPOTIFY_PLAYLIST_ID_PREFIXES` (``37i9dQZF1``: editorial and
                     most algorithmic playlists; ``37i9dQZEVX``: Discover Weekly, Release Radar)
user_playlist        any other playlist (the user's own or another user's)
collection           the user's library ("Liked Songs", ``spotify:user:<id>:collection``)
album / artist /     the context's type
show / audiobook
other                anything else (e.g. radio ``station`` contexts)
===================  ==========================================================================

The owner of a playlist is known only for playlists listed by ``GET /me/playlists`` (the snapshot
stores it); since November 2024 new apps cannot read Spotify-owned playlists, so the id prefix is
the fallback. :func:`scrub_context_uri` removes the Spotify user name that some context URIs carry
(study rule: user names are never stored).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

SPOTIFY_OWNER_ID = "spotify"
SPOTIFY_PLAYLIST_ID_PREFIXES = ("37i9dQZF1", "37i9dQZEVX")
CONTEXT_CLASSES = (
    "none",
    "spotify_playlist",
    "user_playlist",
    "collection",
    "album",
    "artist",
    "show",
    "audiobook",
    "other",
)

_PLAYLIST_URI = re.compile(r"^spotify:(?:user:[^:]+:)?playlist:([0-9A-Za-z]+)$")
_USER_PART = re.compile(r"^spotify:user:[^:]+:")


def playlist_id_from_uri(uri: str | None) -> str | None:
    """The playlist id of ``spotify:playlist:<id>`` or ``spotify:user:<u>:playlist:<id>``."""
    if not isinstance(uri, str) or not uri:
        return None
    match = _PLAYLIST_URI.match(uri)
    return match.group(1) if match else None


def is_spotify_made(playlist_id: str, owner_id: str | None = None) -> bool:
    """True when the owner is ``spotify`` or the id has a Spotify-made prefix."""
    if owner_id is not None and owner_id == SPOTIFY_OWNER_ID:
        return True
    return playlist_id.startswith(SPOTIFY_PLAYLIST_ID_PREFIXES)


def classify_uri(
    context_type: str | None, uri: str | None, owners: Mapping[str, str] | None = None
) -> str:
    """The class (see the module table) of a context given its ``type`` and ``uri``.

    ``owners`` maps playlist id -> owner id (``spotify`` for Spotify-owned playlists). Values that
    are not strings (None, NaN from a DataFrame) count as missing.
    """
    context_type = context_type if isinstance(context_type, str) and context_type else None
    uri = uri if isinstance(uri, str) and uri else None
    if not uri and not context_type:
        return "none"
    uri = uri or ""
    playlist_id = playlist_id_from_uri(uri)
    if playlist_id is not None or context_type == "playlist":
        if playlist_id is None:
            return "user_playlist" if uri else "other"
        owner = (owners or {}).get(playlist_id)
        return "spotify_playlist" if is_spotify_made(playlist_id, owner) else "user_playlist"
    if context_type == "collection" or ":collection" in uri:
        return "collection"
    kind = context_type or (uri.split(":")[1] if uri.count(":") >= 2 else "")
    if kind in ("album", "artist", "show", "audiobook"):
        return kind
    return "other"


def classify_context(
    context: Mapping[str, object] | None, owners: Mapping[str, str] | None = None
) -> str:
    """The class of a recently-played item's ``context`` object (None -> ``none``)."""
    if not context:
        return "none"
    ctype = context.get("type")
    uri = context.get("uri")
    return classify_uri(
        ctype if isinstance(ctype, str) else None, uri if isinstance(uri, str) else None, owners
    )


def scrub_context_uri(uri: str | None) -> str | None:
    """The context URI without a user name.

    ``spotify:user:<u>:playlist:<id>`` -> ``spotify:playlist:<id>``;
    ``spotify:user:<u>:collection[...]`` -> ``spotify:user:*:collection[...]``.
    """
    if not uri:
        return None
    playlist_id = playlist_id_from_uri(uri)
    if playlist_id is not None:
        return f"spotify:playlist:{playlist_id}"
    return _USER_PART.sub("spotify:user:*:", uri)


def classify_frame(
    context_type: pd.Series, context_uri: pd.Series, owners: Mapping[str, str] | None = None
) -> pd.Series:
    """:func:`classify_uri` for whole columns: classified once per distinct (type, uri) pair."""
    pairs = pd.DataFrame({"t": context_type, "u": context_uri})
    distinct = pairs.drop_duplicates()
    labels = [classify_uri(t, u, owners) for t, u in zip(distinct["t"], distinct["u"], strict=True)]
    distinct = distinct.assign(label=labels)
    merged = pairs.merge(distinct, on=["t", "u"], how="left")
    return pd.Series(merged["label"].to_numpy(), index=context_type.index, name="context_class")
