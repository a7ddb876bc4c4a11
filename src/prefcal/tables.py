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

``t_play`` is not stored: :func:`play_time` derives it (the listener's clock at the start of
playback, for the hour and weekday of a play) from ``ts_start``, ``offline`` and ``offline_ts``.

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

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


#: the derived (not stored) column of :func:`play_time`
PLAY_TIME = "t_play"
#: the longest an offline play can wait for its sync (Spotify: online at least every 30 days)
OFFLINE_MAX_DAYS = 30
#: the streams columns :func:`play_time` reads (the last two when present)
PLAY_TIME_COLUMNS = ("ts_start", "offline", "offline_ts")


def play_time(table: pa.Table) -> pa.ChunkedArray:
    r"""``t_play``: when each play started on the listener's clock, ``timestamp[ms, UTC]``.

    .. math::

        t^{play}_i = \begin{cases} \min(\mathit{offline\_ts}_i,\ \mathit{ts\_start}_i)
            & \text{offline}_i,\ \mathit{offline\_ts}_i \text{ recorded and }
              \mathit{offline\_ts}_i \ge \mathit{ts\_start}_i - D \\
            \mathit{ts\_start}_i & \text{otherwise} \end{cases}

    with ``D`` = :data:`OFFLINE_MAX_DAYS` days. Spotify logs an offline play's ``ts``
    (``ts_end``) when the client syncs, hours or days after the play (in the real endsong sample,
    offline plays synced together share one ``ts``, and their ``offline_timestamp`` values are
    apart by the previous play's ``ms_played``: it is the start of playback), so
    ``ts_start = ts_end - ms_played`` would give such a play the hour and weekday of the sync. The
    two bounds guard against a wrong client clock: a play cannot start after it was logged minus
    its duration (cap at ``ts_start``), and Spotify's offline mode needs the app online at least
    every 30 days, so an ``offline_ts`` more than ``D`` days before ``ts_start`` (a clock reset
    to 1970, say) is not a play time. A table without the ``offline``/``offline_ts`` columns
    gives ``ts_start``.
    """
    if "ts_start" not in table.column_names:
        raise ValueError("streams have no column 'ts_start': no play time")
    ts = utc_ms(table["ts_start"], "ts_start")
    if not all(c in table.column_names for c in PLAY_TIME_COLUMNS[1:]):
        return ts
    offline_ts = utc_ms(table["offline_ts"], "offline_ts").cast(pa.int64())
    start = ts.cast(pa.int64())
    recent = pc.fill_null(  # no ts_start to compare with: keep the offline_ts
        pc.greater_equal(offline_ts, pc.subtract(start, OFFLINE_MAX_DAYS * 86_400_000)), True
    )
    use = pc.and_(
        pc.and_(pc.fill_null(table["offline"].cast(pa.bool_()), False), pc.is_valid(offline_ts)),
        recent,
    )
    earliest = pc.min_element_wise(offline_ts, start)
    return pc.if_else(use, earliest, start).cast(ts.type)


def stream_time(streams: pd.DataFrame, column: str) -> pd.Series:
    """The timestamps ``column`` of a pandas ``streams`` table: the column itself, or
    :func:`play_time` when ``column`` is ``t_play`` and the table does not hold it."""
    if column in streams.columns:
        return streams[column]
    if column != PLAY_TIME:
        raise ValueError(f"streams table lacks column(s) [{column!r}]")
    cols = [c for c in PLAY_TIME_COLUMNS if c in streams.columns]
    if "ts_start" not in cols:
        raise ValueError("streams table lacks column(s) ['ts_start'] (needed for t_play)")
    frame = streams[cols].assign(ts_start=pd.to_datetime(streams["ts_start"], utc=True))
    if "offline_ts" in cols:
        frame = frame.assign(offline_ts=pd.to_datetime(frame["offline_ts"], utc=True))
    values = play_time(pa.Table.from_pandas(frame, preserve_index=False))
    out = values.to_pandas()  # a Series on a fresh RangeIndex: relabel, do not align
    out.index = streams.index
    return out.rename(PLAY_TIME)


def utc_ms(column: pa.ChunkedArray | pa.Array, name: str) -> pa.ChunkedArray | pa.Array:
    """A timestamp column of ``streams`` as ``timestamp[ms, UTC]`` (naive timestamps are taken as
    UTC, a column of nulls only becomes null timestamps); ``.cast(pa.int64())`` gives epoch ms."""
    kind = column.type
    if pa.types.is_null(kind):  # e.g. a pandas column of None only
        return column.cast(pa.timestamp("ms", tz="UTC"))
    if not pa.types.is_timestamp(kind):
        raise ValueError(f"streams.{name} has type {kind}, expected timestamps")
    if kind.tz is None:
        column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
    return pc.cast(column, pa.timestamp("ms", tz="UTC"), safe=False)
