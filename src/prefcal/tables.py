"""Canonical tables that the ingest writes and every later stage reads (Parquet, one file a shard).

``streams`` (one row per play, sorted by participant_id, ts_start, item_uri, then every other
column as a tie-break, so the same input always gives the same bytes):

==================  ======================  ===================================================
column              type                    meaning
==================  ======================  ===================================================
participant_id      string                  random study id (``P`` + 10 hex digits), never a name
ts_start            timestamp[ms, UTC]      start of playback = ts_end - ms_played
ts_end              timestamp[ms, UTC]      end of playback as exported (minute precision in
                                            account data, second precision in extended history)
ms_played           int64                   milliseconds played, >= 0
content_type        string                  music | podcast | audiobook | video | unknown
                                            (legacy account data has no type: ``unknown``)
item_uri            string, nullable        spotify:track / spotify:episode / audiobook chapter
                                            URI; null for local files and account data
item_name           string, nullable        track, episode or chapter title
creator_name        string, nullable        artist (music), show (podcast), book (audiobook)
album_name          string, nullable        album (music only)
device              string                  mobile | desktop | speaker | tv | web | other | unknown
reason_start        string, nullable        as exported; null where the format lacks it
reason_end          string, nullable
shuffle             bool, nullable
skipped             bool, nullable          null where the export does not say
offline             bool, nullable
offline_ts          timestamp[ms, UTC],     the client's ``offline_timestamp`` (ms in endsong/
                    nullable                endvideo, s in Streaming_History_*; unit decided per
                                            value by magnitude). In the real endsong sample it
                                            lies within ~1 s of ts_start for online plays, while
                                            for offline plays ``ts`` is the later sync time
                                            (median 2.8 h after): use it for the time of day of
                                            offline plays. Null in account data, and for 0/null.
source_format       string                  legacy_account | account_music | account_podcast |
                                            account_audiobook | endsong | endvideo |
                                            extended_audio | extended_video
==================  ======================  ===================================================

``content_type`` comes from which fields are set (audiobook, then episode, then track fields): a
video podcast in a video file is a ``podcast``; ``video`` is a row of a video file with none of
them. ``item_name``/``creator_name`` are track/artist, episode/show, chapter/book.

``playlists`` (one row per playlist item): participant_id, playlist_id (``<participant_id>-<n>``,
n = 0-based number of the playlist in Playlist1.json, Playlist2.json, ... order), playlist_name,
position (int32, 0-based index in the playlist), item_kind (track | episode | audiobook | local),
item_uri (nullable; null for local files), item_name, creator_name, album_name (nullable),
added_date (date32). Playlists are a snapshot: when a donation holds several exports, the newest
(latest lastModifiedDate) is kept. Rows in playlist order.

``library`` (one row per saved item): participant_id, kind (track | album | show | episode |
artist | banned_track | banned_artist | other), uri (nullable), name, creator_name (nullable).
Rows sorted by participant_id, kind, uri, name, creator_name.

Nothing else from an export is kept: usernames, IP addresses, user agents, countries and the files
that hold identity, payment, address, voice, search or inference data never enter these tables.
"""

from __future__ import annotations

import pyarrow as pa

CONTENT_TYPES = ("music", "podcast", "audiobook", "video", "unknown")
DEVICES = ("mobile", "desktop", "speaker", "tv", "web", "other", "unknown")
SOURCE_FORMATS = (
    "legacy_account",
    "account_music",
    "account_podcast",
    "account_audiobook",
    "endsong",
    "endvideo",
    "extended_audio",
    "extended_video",
)

STREAMS_SCHEMA = pa.schema(
    [
        ("participant_id", pa.string()),
        ("ts_start", pa.timestamp("ms", tz="UTC")),
        ("ts_end", pa.timestamp("ms", tz="UTC")),
        ("ms_played", pa.int64()),
        ("content_type", pa.string()),
        ("item_uri", pa.string()),
        ("item_name", pa.string()),
        ("creator_name", pa.string()),
        ("album_name", pa.string()),
        ("device", pa.string()),
        ("reason_start", pa.string()),
        ("reason_end", pa.string()),
        ("shuffle", pa.bool_()),
        ("skipped", pa.bool_()),
        ("offline", pa.bool_()),
        ("offline_ts", pa.timestamp("ms", tz="UTC")),
        ("source_format", pa.string()),
    ]
)

PLAYLISTS_SCHEMA = pa.schema(
    [
        ("participant_id", pa.string()),
        ("playlist_id", pa.string()),
        ("playlist_name", pa.string()),
        ("position", pa.int32()),
        ("item_kind", pa.string()),
        ("item_uri", pa.string()),
        ("item_name", pa.string()),
        ("creator_name", pa.string()),
        ("album_name", pa.string()),
        ("added_date", pa.date32()),
    ]
)

LIBRARY_SCHEMA = pa.schema(
    [
        ("participant_id", pa.string()),
        ("kind", pa.string()),
        ("uri", pa.string()),
        ("name", pa.string()),
        ("creator_name", pa.string()),
    ]
)

# Fields and files a donation may contain that must never be kept (STUDY.md section 4).
NEVER_KEEP_FIELDS = (
    "username",
    "ip_addr",
    "ip_addr_decrypted",
    "user_agent_decrypted",
    "conn_country",
)
NEVER_KEEP_FILE_STEMS = (
    "Userdata",
    "Identifiers",
    "Identity",
    "Payments",
    "UserAddress",
    "VoiceInput",
    "Inferences",
    "SearchQueries",
)
