"""Write one simulated user's plays as the files of a real Spotify data export.

Folder ``sim_{u:06d}`` (the folder name is the only identity) holds, like an unzipped donation:

Old extended generation (``MyData/``, the 2018-2023 exporter)
    ``endsong_0.json``, ``endsong_1.json``, ... (rows shuffled over files, at most
    ``extended_rows_per_file`` each) and ``endvideo.json`` for video podcasts; fields and order as
    :data:`OLD_FIELDS`: ``username``, ``ip_addr_decrypted``, ``user_agent_decrypted``, free-text
    ``platform`` such as ``iOS 17.6.1 (iPhone14,5)``, ``offline_timestamp`` in **milliseconds**,
    ``skipped`` null except on 2 % of rows. There are no audiobook fields: audiobook chapters appear
    as episodes (``episode_name`` = chapter title, ``episode_show_name`` = book title,
    ``spotify_episode_uri`` = the ``spotify:chapter:`` URI).
New extended generation (``Spotify Extended Streaming History/``)
    ``Streaming_History_Audio_{YYYY[-YYYY]}[_n].json`` (rows sorted by time, cut into files of at
    most ``extended_rows_per_file`` rows, named by the years they span, then shuffled within the
    file), ``Streaming_History_Video_*.json`` likewise; fields :data:`NEW_FIELDS`: ``ip_addr``, no
    username or user agent, ``audiobook_*`` fields, ``offline_timestamp`` in **seconds**,
    ``skipped`` always a boolean (``reason_end == fwdbtn``), normalised ``platform`` (``ios``,
    ``android``, ``windows``, ``osx``, ``sonos``, ``amazon_echo``, ``google_home``, ``smart_tv``).
Account data (``MyData/`` for old-generation users, else ``Spotify Account Data/``)
    for every user ``Playlist1.json``, ``YourLibrary.json`` and the never-keep files
    ``Userdata.json`` and ``Identifiers.json`` (dummy values); for a share ``account_data_share`` of
    users also ``StreamingHistory_music_N.json``, ``StreamingHistory_podcast_N.json`` (video
    included) and ``StreamingHistory_audiobook_N.json``: the same plays of the last 365 days,
    ``endTime`` = ``ts`` cut to the minute, sorted by time, ``account_rows_per_file`` rows a file.

``ts`` is the end of playback (UTC, whole seconds, ``YYYY-MM-DDTHH:MM:SSZ``). Local files have a
null track URI. All identity values are dummies: username ``sim-user-<8 hex>``, e-mail at
``example.invalid``, IP addresses in 198.51.100.0/24 (TEST-NET-2), user agents carrying a random
build token; they are recorded in the truth so a privacy test can look for them downstream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prefcal.simulate.catalogue import Catalogue, start_day64
from prefcal.simulate.listening import REASONS, Plays, R
from prefcal.simulate.model import AUDIOBOOK, DESKTOP, MOBILE, MUSIC, PODCAST
from prefcal.simulate.users import UserDraw, user_rng
from prefcal.simulate.writers import (
    NULL,
    ExportSink,
    bool_tokens,
    json_array,
    json_objects,
    json_records,
    json_token,
    tokens_for,
)

OLD_FIELDS = (
    "ts",
    "username",
    "platform",
    "ms_played",
    "conn_country",
    "ip_addr_decrypted",
    "user_agent_decrypted",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
)
NEW_FIELDS = (
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "ip_addr",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
)
ACCOUNT_FIELDS = {
    "music": ("endTime", "artistName", "trackName", "msPlayed"),
    "podcast": ("endTime", "podcastName", "episodeName", "msPlayed"),
    "audiobook": ("endTime", "audiobookName", "chapterName", "authorName", "msPlayed"),
}
OLD_DIR = "MyData"
NEW_EXTENDED_DIR = "Spotify Extended Streaming History"
NEW_ACCOUNT_DIR = "Spotify Account Data"
EXPORT_STREAM = 3
REASON_TOKENS = np.asarray([json_token(r) for r in REASONS], dtype=object)


def user_folder(u: int) -> str:
    """The export folder name of user ``u``: ``sim_{u:06d}``."""
    return f"sim_{u:06d}"


@dataclass
class ExportCounts:
    """What was written for one user."""

    files: list[str] = field(default_factory=list)
    bytes: int = 0
    rows_extended_audio: int = 0
    rows_extended_video: int = 0
    rows_account_music: int = 0
    rows_account_podcast: int = 0
    rows_account_audiobook: int = 0
    playlist_items: int = 0
    library_tracks: int = 0
    dummy_user_agents: list[str] = field(default_factory=list)


def _quoted(text: np.ndarray, suffix: str = "") -> np.ndarray:
    """``"<text><suffix>"`` per element (object array): the JSON text of ASCII strings that need
    no escaping, such as ISO dates and times, without encoding each one in Python."""
    return np.strings.add(np.strings.add('"', text), suffix + '"').astype(object)


def _ts_tokens(end_ms: np.ndarray) -> np.ndarray:
    """``"YYYY-MM-DDTHH:MM:SSZ"`` of each end time (ms since the epoch)."""
    return _quoted(np.datetime_as_string((end_ms // 1000).astype("datetime64[s]"), unit="s"), "Z")


def _end_time_tokens(end_ms: np.ndarray) -> np.ndarray:
    """``"YYYY-MM-DD HH:MM"`` of each end time (ms since the epoch)."""
    s = np.datetime_as_string((end_ms // 60_000).astype("datetime64[m]"), unit="m")
    return _quoted(np.strings.replace(s, "T", " "))


def _date_tokens(start: np.datetime64, days: np.ndarray) -> np.ndarray:
    """``"YYYY-MM-DD"`` of each date ``start + days``."""
    return _quoted(
        np.datetime_as_string(start + np.asarray(days).astype("timedelta64[D]"), unit="D")
    )


def _fill(n: int, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.full(n, NULL, dtype=object)
    out[mask] = values
    return out


class _Columns:
    """The JSON tokens of every extended-history field for all plays of a user."""

    def __init__(
        self, plays: Plays, draw: UserDraw, cat: Catalogue, rng: np.random.Generator, days: int
    ):
        n = plays.n
        it = plays.item
        mus = plays.content_type == MUSIC
        pod = plays.content_type == PODCAST
        book = plays.content_type == AUDIOBOOK
        self.n = n
        self.ts = _ts_tokens(plays.ts_ms)
        self.ms_played = plays.ms_played
        self.country = tokens_for(plays.country)
        ip_tok = np.asarray([json_token(x) for x in draw.ips], dtype=object)
        self.ip = ip_tok[plays.ip]
        # old-generation platform: the mobile OS string changes on the upgrade day
        old_plat = np.asarray([json_token(x) for x in draw.platform_old], dtype=object)
        self.platform_old = old_plat[plays.device]
        upgraded = (plays.device == MOBILE) & (plays.day >= draw.upgrade_day)
        self.platform_old[upgraded] = json_token(draw.platform_old_mobile_upgraded)
        new_plat = np.asarray([json_token(x) for x in draw.platform_new], dtype=object)
        self.platform_new = new_plat[plays.device]
        ua = np.asarray([json_token(x) for x in draw.user_agents], dtype=object)
        self.user_agent = ua[plays.device]
        handheld = (plays.device == MOBILE) | (plays.device == DESKTOP)
        self.user_agent[handheld & (rng.random(n) < 0.2)] = json_token("unknown")
        self.user_agents_used = sorted(
            {draw.user_agents[d] for d in np.unique(plays.device[handheld]).tolist()}
        )
        self.username = np.full(n, json_token(draw.username), dtype=object)
        # music
        t = it[mus]
        self.track_name = _fill(n, mus, cat.json("tracks", "name")[t])
        self.artist_name = _fill(n, mus, cat.json("artists", "name")[cat.track_artist[t]])
        self.album_name = _fill(n, mus, cat.json("albums", "name")[cat.track_album[t]])
        self.track_uri = _fill(n, mus, cat.json("tracks", "uri")[t])
        # podcasts
        e = it[pod]
        self.episode_name = _fill(n, pod, cat.json("episodes", "name")[e])
        self.show_name = _fill(n, pod, cat.json("shows", "name")[cat.episode_show[e]])
        self.episode_uri = _fill(n, pod, cat.json("episodes", "uri")[e])
        # audiobooks
        c = it[book]
        b = cat.chapter_audiobook[c]
        self.book_title = _fill(n, book, cat.json("audiobooks", "title")[b])
        self.book_uri = _fill(n, book, cat.json("audiobooks", "uri")[b])
        self.chapter_uri = _fill(n, book, cat.json("chapters", "uri")[c])
        self.chapter_title = _fill(n, book, cat.json("chapters", "title")[c])
        # old generation: chapters written as episodes
        self.episode_name_old = np.where(book, self.chapter_title, self.episode_name)
        self.show_name_old = np.where(book, self.book_title, self.show_name)
        self.episode_uri_old = np.where(book, self.chapter_uri, self.episode_uri)
        self.reason_start = REASON_TOKENS[plays.reason_start]
        self.reason_end = REASON_TOKENS[plays.reason_end]
        self.shuffle = bool_tokens(plays.shuffle)
        skipped = plays.reason_end == R["fwdbtn"]
        self.skipped_new = bool_tokens(skipped)
        self.skipped_old = np.where(rng.random(n) < 0.02, self.skipped_new, NULL).astype(object)
        self.offline = bool_tokens(plays.offline)
        self.offline_ts_ms = plays.offline_ts_ms
        self.offline_ts_s = plays.offline_ts_ms // 1000
        self.incognito = bool_tokens(plays.incognito)

    def old(self) -> list[np.ndarray]:
        return [
            self.ts,
            self.username,
            self.platform_old,
            self.ms_played,
            self.country,
            self.ip,
            self.user_agent,
            self.track_name,
            self.artist_name,
            self.album_name,
            self.track_uri,
            self.episode_name_old,
            self.show_name_old,
            self.episode_uri_old,
            self.reason_start,
            self.reason_end,
            self.shuffle,
            self.skipped_old,
            self.offline,
            self.offline_ts_ms,
            self.incognito,
        ]

    def new(self) -> list[np.ndarray]:
        return [
            self.ts,
            self.platform_new,
            self.ms_played,
            self.country,
            self.ip,
            self.track_name,
            self.artist_name,
            self.album_name,
            self.track_uri,
            self.episode_name,
            self.show_name,
            self.episode_uri,
            self.book_title,
            self.book_uri,
            self.chapter_uri,
            self.chapter_title,
            self.reason_start,
            self.reason_end,
            self.shuffle,
            self.skipped_new,
            self.offline,
            self.offline_ts_s,
            self.incognito,
        ]


def _take(cols: list[np.ndarray], idx: np.ndarray) -> list[np.ndarray]:
    return [c[idx] for c in cols]


def _chunks(n: int, per_file: int) -> list[np.ndarray]:
    """Split 0..n-1 into ceil(n / per_file) nearly equal consecutive parts (at least one)."""
    k = max(1, -(-n // per_file))
    return np.array_split(np.arange(n), k)


def _year_span(end_ms: np.ndarray) -> str:
    years = (end_ms // 1000).astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    y0, y1 = int(years.min()), int(years.max())
    return str(y0) if y0 == y1 else f"{y0}-{y1}"


def write_user_exports(
    user_dir: Path, draw: UserDraw, plays: Plays, cat: Catalogue, seed: int, sim: Mapping[str, Any]
) -> ExportCounts:
    """Write all export files of one user into ``user_dir`` (or, with ``simulation.export_container:
    zip``, into the archive ``user_dir.zip`` with the same paths); return what was written."""
    sink = ExportSink(user_dir, str(sim.get("export_container", "folder")))
    try:
        return _write_user_exports(sink, draw, plays, cat, seed, sim)
    finally:
        sink.close()


def _write_user_exports(
    sink: ExportSink,
    draw: UserDraw,
    plays: Plays,
    cat: Catalogue,
    seed: int,
    sim: Mapping[str, Any],
) -> ExportCounts:
    rng = user_rng(seed, draw.u, EXPORT_STREAM)
    days = int(sim["days"])
    per_file = int(sim["extended_rows_per_file"])
    counts = ExportCounts()
    cols = _Columns(plays, draw, cat, rng, days)
    counts.dummy_user_agents = cols.user_agents_used if not draw.new_format else []
    end_ms = plays.ts_ms
    video = plays.video
    audio_idx = np.flatnonzero(~video)
    video_idx = np.flatnonzero(video)

    def put(rel: str, text: str) -> None:
        counts.bytes += sink.write(rel, text)
        counts.files.append(rel)

    if draw.new_format:
        keys, all_cols = NEW_FIELDS, cols.new()
        for kind, idx in (("Audio", audio_idx), ("Video", video_idx)):
            if kind == "Video" and idx.size == 0:
                continue
            idx = idx[np.argsort(end_ms[idx], kind="stable")]
            parts = _chunks(idx.size, per_file)
            for j, part in enumerate(parts):
                rows = idx[part]
                span = (
                    _year_span(end_ms[rows])
                    if rows.size
                    else str(start_day64(str(sim["start_date"])).astype("datetime64[Y]"))
                )
                suffix = f"_{j}" if len(parts) > 1 else ""
                rows = rows[rng.permutation(rows.size)]
                put(
                    f"{NEW_EXTENDED_DIR}/Streaming_History_{kind}_{span}{suffix}.json",
                    json_records(keys, _take(all_cols, rows)),
                )
        account_dir = NEW_ACCOUNT_DIR
    else:
        keys, all_cols = OLD_FIELDS, cols.old()
        shuffled = audio_idx[rng.permutation(audio_idx.size)]
        for j, part in enumerate(_chunks(shuffled.size, per_file)):
            put(f"{OLD_DIR}/endsong_{j}.json", json_records(keys, _take(all_cols, shuffled[part])))
        if video_idx.size:
            rows = video_idx[rng.permutation(video_idx.size)]
            put(f"{OLD_DIR}/endvideo.json", json_records(keys, _take(all_cols, rows)))
        account_dir = OLD_DIR
    counts.rows_extended_audio = int(audio_idx.size)
    counts.rows_extended_video = int(video_idx.size)

    if draw.account_data:
        _write_account_history(put, account_dir, plays, cols, cat, sim, counts)
    _write_playlists(put, account_dir, draw, cat, sim, counts)
    _write_library(put, account_dir, draw, plays, cat, rng, counts)
    _write_identity(put, account_dir, draw, rng)
    return counts


def _write_account_history(put, account_dir, plays, cols, cat, sim, counts) -> None:  # noqa: ANN001
    """StreamingHistory_{music,podcast,audiobook}_N.json: last 365 days, sorted by time."""
    per_file = int(sim["account_rows_per_file"])
    end_ms = plays.ts_ms
    start = start_day64(str(sim["start_date"]))
    period_end_ms = int(
        (start + np.timedelta64(int(sim["days"]), "D")).astype("datetime64[ms]").astype(np.int64)
    )
    recent = end_ms >= period_end_ms - 365 * 86_400_000
    order = np.argsort(end_ms, kind="stable")
    order = order[recent[order]]
    end_time = _end_time_tokens(end_ms)
    ms = plays.ms_played
    book = plays.content_type == AUDIOBOOK
    authors = np.full(plays.n, NULL, dtype=object)
    authors[book] = cat.json("audiobooks", "authors")[cat.chapter_audiobook[plays.item[book]]]
    spec = {
        "music": (MUSIC, [end_time, cols.artist_name, cols.track_name, ms]),
        "podcast": (PODCAST, [end_time, cols.show_name, cols.episode_name, ms]),
        "audiobook": (AUDIOBOOK, [end_time, cols.book_title, cols.chapter_title, authors, ms]),
    }
    for kind, (ctype, columns) in spec.items():
        rows = order[plays.content_type[order] == ctype]
        if rows.size == 0 and kind != "music":
            continue
        for j, part in enumerate(_chunks(rows.size, per_file)):
            put(
                f"{account_dir}/StreamingHistory_{kind}_{j}.json",
                json_records(ACCOUNT_FIELDS[kind], _take(columns, rows[part])),
            )
        setattr(counts, f"rows_account_{kind}", int(rows.size))


def _write_playlists(put, account_dir, draw: UserDraw, cat: Catalogue, sim, counts) -> None:  # noqa: ANN001
    """Playlist1.json in the real key order: name, lastModifiedDate, items, description, followers.

    The text equals ``json.dumps(obj, indent=2, ensure_ascii=False)`` (built with templates).
    """
    start = start_day64(str(sim["start_date"]))
    kind, iid = draw.pl_item_kind, draw.pl_item_id
    n_items = iid.size
    tr = np.where(kind == 0, iid, 0)
    ep = np.where(kind == 1, iid, 0)
    is_local = (kind == 0) & cat.track_is_local[tr]
    is_track = (kind == 0) & ~is_local
    is_ep = kind == 1
    track_obj = _fill(
        n_items,
        is_track,
        np.asarray(
            json_objects(
                ("trackName", "artistName", "albumName", "trackUri"),
                [
                    cat.json("tracks", "name")[tr[is_track]],
                    cat.json("artists", "name")[cat.track_artist[tr[is_track]]],
                    cat.json("albums", "name")[cat.track_album[tr[is_track]]],
                    cat.json("tracks", "uri")[tr[is_track]],
                ],
                level=5,
            ),
            dtype=object,
        ),
    )
    ep_obj = _fill(
        n_items,
        is_ep,
        np.asarray(
            json_objects(
                ("episodeName", "showName", "episodeUri"),
                [
                    cat.json("episodes", "name")[ep[is_ep]],
                    cat.json("shows", "name")[cat.episode_show[ep[is_ep]]],
                    cat.json("episodes", "uri")[ep[is_ep]],
                ],
                level=5,
            ),
            dtype=object,
        ),
    )
    local_obj = _fill(
        n_items,
        is_local,
        np.asarray(
            json_objects(("uri",), [cat.json("tracks", "local_uri")[tr[is_local]]], level=5),
            dtype=object,
        ),
    )
    added = _date_tokens(start, draw.pl_item_day)
    nulls = np.full(n_items, NULL, dtype=object)
    items = json_objects(
        ("track", "episode", "audiobook", "localTrack", "addedDate"),
        [track_obj, ep_obj, nulls, local_obj, added],
        level=4,
    )
    n_pl = len(draw.pl_names)
    bounds = np.searchsorted(draw.pl_item_playlist, np.arange(n_pl + 1))
    item_arrays = [json_array(items[bounds[i] : bounds[i + 1]], level=3) for i in range(n_pl)]
    last_day = np.full(n_pl, np.iinfo(np.int64).min)
    np.maximum.at(last_day, draw.pl_item_playlist, draw.pl_item_day)
    last_day = np.where(last_day == np.iinfo(np.int64).min, draw.pl_created_day, last_day)
    playlists = json_objects(
        ("name", "lastModifiedDate", "items", "description", "numberOfFollowers"),
        [
            tokens_for(draw.pl_names),
            _date_tokens(start, last_day),
            item_arrays,
            tokens_for(draw.pl_description),
            draw.pl_followers,
        ],
        level=2,
    )
    counts.playlist_items = int(n_items)
    put(
        f"{account_dir}/Playlist1.json",
        '{\n  "playlists": ' + json_array(playlists, level=1) + "\n}",
    )


def _write_library(
    put, account_dir, draw: UserDraw, plays: Plays, cat: Catalogue, rng, counts
) -> None:  # noqa: ANN001
    """YourLibrary.json: most-played tracks, their albums and artists, subscribed shows."""
    streams = plays.intended & (plays.content_type == MUSIC)
    t = plays.item[streams]
    t = t[~cat.track_is_local[t]]
    tr_count = np.bincount(t, minlength=cat.track_artist.size)
    n_tr = int(min(np.count_nonzero(tr_count), rng.integers(15, 120)))
    top_tracks = np.argsort(-tr_count, kind="stable")[:n_tr]
    ar_count = np.bincount(cat.track_artist[t], minlength=cat.artist_weight.size)
    n_ar = int(min(np.count_nonzero(ar_count), rng.integers(3, 25)))
    top_artists = np.argsort(-ar_count, kind="stable")[:n_ar]
    albums = np.unique(cat.track_album[top_tracks[: int(rng.integers(0, 12))]])
    heard_eps = np.unique(plays.item[plays.intended & (plays.content_type == PODCAST)])
    saved_eps = heard_eps[rng.permutation(heard_eps.size)[: int(rng.integers(0, 5))]]
    subs = draw.subs
    parts = {
        "tracks": json_records(
            ("artist", "album", "track", "uri"),
            [
                cat.json("artists", "name")[cat.track_artist[top_tracks]],
                cat.json("albums", "name")[cat.track_album[top_tracks]],
                cat.json("tracks", "name")[top_tracks],
                cat.json("tracks", "uri")[top_tracks],
            ],
            level=1,
        ),
        "albums": json_records(
            ("artist", "album", "uri"),
            [
                cat.json("artists", "name")[cat.album_artist[albums]],
                cat.json("albums", "name")[albums],
                cat.json("albums", "uri")[albums],
            ],
            level=1,
        ),
        "shows": json_records(
            ("name", "publisher", "uri"),
            [
                cat.json("shows", "name")[subs],
                cat.json("shows", "publisher")[subs],
                cat.json("shows", "uri")[subs],
            ],
            level=1,
        ),
        "episodes": json_records(
            ("name", "show", "uri"),
            [
                cat.json("episodes", "name")[saved_eps],
                cat.json("shows", "name")[cat.episode_show[saved_eps]],
                cat.json("episodes", "uri")[saved_eps],
            ],
            level=1,
        ),
        "bannedTracks": "[]",
        "artists": json_records(
            ("name", "uri"),
            [cat.json("artists", "name")[top_artists], cat.json("artists", "uri")[top_artists]],
            level=1,
        ),
        "bannedArtists": "[]",
        "other": "[]",
    }
    counts.library_tracks = n_tr
    text = "{\n" + ",\n".join(f'  "{k}": {v}' for k, v in parts.items()) + "\n}"
    put(f"{account_dir}/YourLibrary.json", text)


def _write_identity(put, account_dir, draw: UserDraw, rng) -> None:  # noqa: ANN001
    """Userdata.json and Identifiers.json with dummy values (never-keep files)."""
    year = int(rng.integers(1960, 2007))
    created = int(rng.integers(2012, 2025))
    userdata = {
        "username": draw.username,
        "email": draw.email,
        "country": draw.country,
        "createdFromFacebook": False,
        "facebookUid": None,
        "birthdate": f"{year}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
        "gender": "neutral",
        "postalCode": None,
        "mobileNumber": None,
        "mobileOperator": None,
        "mobileBrand": None,
        "creationTime": f"{created}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
    }
    put(f"{account_dir}/Userdata.json", json.dumps(userdata, indent=2, ensure_ascii=False))
    put(
        f"{account_dir}/Identifiers.json",
        json.dumps({"identifierType": "email", "identifierValue": draw.email}, indent=2),
    )


__all__ = [
    "ACCOUNT_FIELDS",
    "NEW_FIELDS",
    "OLD_FIELDS",
    "ExportCounts",
    "user_folder",
    "write_user_exports",
]
