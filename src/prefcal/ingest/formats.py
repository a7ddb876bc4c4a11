"""Which file of a Spotify export is what: detection of the file kind and export generation.

A file is classified by its *name* only (never by opening it), so files that must not be kept are
never read. The kinds:

* ``streams``: listening history; the ``fmt`` says which generation (a value of
  :data:`prefcal.tables.SOURCE_FORMATS`), which fixes the fields read (:data:`STREAM_FIELDS`);
* ``playlists`` (``Playlist1.json``, ``Playlist2.json``, ...) and ``library``
  (``YourLibrary.json``);
* ``ignored``: known export files the study does not use (Marquee, Wrapped, Follow, ...), and files
  that are not JSON (the PDF read-me, images);
* ``privacy``: files that hold identity, payment, address, voice, search or inference data
  (:data:`prefcal.tables.NEVER_KEEP_FILE_STEMS`): never opened, reported as skipped for privacy;
* ``unknown``: any other JSON file: reported, not opened, not fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from prefcal.tables import NEVER_KEEP_FILE_STEMS

# Browsers add " (1)" to a name that is downloaded twice; accept it wherever a name is matched.
_COPY = r"(?: ?\(\d+\))?"

# (regex on the file name, kind, fmt); the first match wins.
_PATTERNS: tuple[tuple[re.Pattern[str], str, str | None], ...] = tuple(
    (re.compile(rf"^{rx}{_COPY}\.json$", re.IGNORECASE), kind, fmt)
    for rx, kind, fmt in (
        (r"StreamingHistory\d+", "streams", "legacy_account"),
        (r"StreamingHistory_music_\d+", "streams", "account_music"),
        (r"StreamingHistory_podcast_\d+", "streams", "account_podcast"),
        (r"StreamingHistory_audiobook_\d+", "streams", "account_audiobook"),
        (r"endsong(?:_\d+)?", "streams", "endsong"),
        (r"endvideo(?:_\d+)?", "streams", "endvideo"),
        (r"Streaming_History_Audio_[0-9_\-]+", "streams", "extended_audio"),
        (r"Streaming_History_Video_[0-9_\-]+", "streams", "extended_video"),
        (r"Playlist\d+", "playlists", None),
        (r"YourLibrary", "library", None),
    )
)

# Known export files that the study does not use (listed in the report as ignored).
_KNOWN_UNUSED = re.compile(
    r"^(?:Marquee|Wrapped\d{4}|Follow|YourSoundCapsule|SoundCapsule|FamilyPlan\w*|DuoNewFamily"
    r"|CustomerServiceHistory|MessageData|PodcastInteractivity\w*|Podcast_Interactivity\w*"
    r"|YourVideos|LiveEvents|ConnectedDevices|StreamingHistory_video_\d+)"
    rf"{_COPY}\.json$",
    re.IGNORECASE,
)

_PRIVACY_STEMS = tuple(s.lower() for s in NEVER_KEEP_FILE_STEMS)

# Preference when the same play is exported twice: lower rank is kept (newer generation first,
# extended history before account data, typed account data before legacy).
FORMAT_RANK = {
    "extended_audio": 0,
    "extended_video": 1,
    "endsong": 2,
    "endvideo": 3,
    "account_music": 4,
    "account_podcast": 5,
    "account_audiobook": 6,
    "legacy_account": 7,
}
EXTENDED_FORMATS = frozenset({"extended_audio", "extended_video", "endsong", "endvideo"})
ACCOUNT_FORMATS = frozenset(
    {"legacy_account", "account_music", "account_podcast", "account_audiobook"}
)
VIDEO_FORMATS = frozenset({"extended_video", "endvideo"})

_S, _I, _B = pa.string(), pa.int64(), pa.bool_()

_EXTENDED_OLD = {
    "ts": _S,
    "platform": _S,
    "ms_played": _I,
    "master_metadata_track_name": _S,
    "master_metadata_album_artist_name": _S,
    "master_metadata_album_album_name": _S,
    "spotify_track_uri": _S,
    "episode_name": _S,
    "episode_show_name": _S,
    "spotify_episode_uri": _S,
    "reason_start": _S,
    "reason_end": _S,
    "shuffle": _B,
    "skipped": _B,
    "offline": _B,
    "offline_timestamp": _I,
}
_EXTENDED_NEW = {
    **_EXTENDED_OLD,
    "audiobook_title": _S,
    "audiobook_uri": _S,
    "audiobook_chapter_uri": _S,
    "audiobook_chapter_title": _S,
}

# Fields read from each stream format, with their JSON type; everything else is never parsed into
# a column (personal fields included). The old generation may carry the audiobook fields too in a
# late export, so they are read wherever they appear.
STREAM_FIELDS: dict[str, dict[str, pa.DataType]] = {
    "legacy_account": {"endTime": _S, "artistName": _S, "trackName": _S, "msPlayed": _I},
    "account_music": {"endTime": _S, "artistName": _S, "trackName": _S, "msPlayed": _I},
    "account_podcast": {"endTime": _S, "podcastName": _S, "episodeName": _S, "msPlayed": _I},
    "account_audiobook": {
        "endTime": _S,
        "audiobookName": _S,
        "chapterName": _S,
        "msPlayed": _I,
    },
    "endsong": _EXTENDED_NEW,
    "endvideo": _EXTENDED_NEW,
    "extended_audio": _EXTENDED_NEW,
    "extended_video": _EXTENDED_NEW,
}

# (timestamp field, ms_played field) that a row cannot do without.
REQUIRED_FIELDS: dict[str, tuple[str, str]] = {
    fmt: (("ts", "ms_played") if fmt in EXTENDED_FORMATS else ("endTime", "msPlayed"))
    for fmt in STREAM_FIELDS
}

# Every field a stream file may legitimately hold (read or deliberately not read); any other key
# is reported as an unexpected field.
KNOWN_STREAM_KEYS: dict[str, frozenset[str]] = {
    fmt: frozenset(fields)
    | (
        frozenset(
            {
                "username",
                "conn_country",
                "ip_addr",
                "ip_addr_decrypted",
                "user_agent_decrypted",
                "incognito_mode",
            }
        )
        if fmt in EXTENDED_FORMATS
        else frozenset({"authorName"})
    )
    for fmt, fields in STREAM_FIELDS.items()
}


@dataclass(frozen=True)
class FileKind:
    """What a file of a donation is: ``kind`` (streams, playlists, library, ignored, privacy,
    unknown) and, for streams, ``fmt`` (the source format)."""

    kind: str
    fmt: str | None = None


def detect_format(filename: str) -> FileKind:
    """Classify one file of an export by its base name (case-insensitive).

    >>> detect_format("endsong_3.json")
    FileKind(kind='streams', fmt='endsong')
    >>> detect_format("Streaming_History_Audio_2019-2021_2.json").fmt
    'extended_audio'
    >>> detect_format("Userdata.json").kind
    'privacy'
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    if stem.lower().startswith(_PRIVACY_STEMS):
        return FileKind("privacy")
    for rx, kind, fmt in _PATTERNS:
        if rx.match(name):
            return FileKind(kind, fmt)
    if _KNOWN_UNUSED.match(name) or not name.lower().endswith(".json"):
        return FileKind("ignored")
    return FileKind("unknown")
