"""Raw export columns -> the canonical ``streams`` columns (:data:`prefcal.tables.STREAMS_SCHEMA`).

Definitions (all vectorised with :mod:`pyarrow.compute`):

* ``ts_end``: the export's end-of-playback time in UTC: extended history ``ts``
  (``YYYY-MM-DDTHH:MM:SSZ``), account data ``endTime`` (``YYYY-MM-DD HH:MM``, UTC, minute
  precision). ``ts_start = ts_end - ms_played``.
* ``offline_ts``: the client's ``offline_timestamp`` as a UTC time. The old generation
  (``endsong``/``endvideo``) writes milliseconds, the new one (``Streaming_History_*``) seconds;
  the unit is decided per value by magnitude (>= 1e11 is milliseconds: 1e11 s would be the year
  5138, 1e11 ms is 1973), which agrees with the generation on every real file and stays right if a
  file mixes them. ``0`` and null mean "not recorded" and give null.
* ``content_type`` from which fields are set, in this order: any audiobook field -> audiobook, any
  episode field -> podcast, any track field -> music; none -> ``video`` in a video file, else
  ``unknown``. Account files are typed by their name (music/podcast/audiobook); the legacy
  account file has no type (``unknown``).
* ``item_uri``/``item_name``/``creator_name``/``album_name``: the fields of that content type
  (audiobook: chapter URI and title, book title as creator); empty strings become null; local
  files keep their null URI.
* ``device``: :func:`device_class` of the free-text ``platform`` (account data: ``unknown``).

Rows that cannot be normalised are skipped and counted (reason, first failing check wins):
``missing:<ts field>``, ``missing:<ms field>`` (absent or null), ``bad_value:<ts field>`` (does not
parse as a time), ``implausible:<ts field>`` (before :data:`EARLIEST_TS`, 2008-01-01, or more than a
day after the time of the ingest: Spotify launched in October 2008 and no play ends in the
future), ``negative:<ms field>``, ``implausible:<ms field>`` (more than a week,
:data:`MAX_MS_PLAYED`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prefcal.ingest.formats import (
    ACCOUNT_FORMATS,
    EXTENDED_FORMATS,
    REQUIRED_FIELDS,
    VIDEO_FORMATS,
)
from prefcal.ingest.skips import SkipLog
from prefcal.tables import STREAMS_SCHEMA

TS_UTC = pa.timestamp("ms", tz="UTC")
_NULL_STR = pa.scalar(None, pa.string())
_MS_THRESHOLD = 10**11  # offline_timestamp >= this is in milliseconds, below in seconds
MAX_MS_PLAYED = 7 * 24 * 3600 * 1000  # one play longer than a week is not a play
EARLIEST_TS = datetime(2008, 1, 1, tzinfo=UTC)  # Spotify launched in October 2008
FUTURE_SLACK_MS = 24 * 3600 * 1000  # a play may end at most a day after the ingest's clock


def latest_plausible_ms() -> int:
    """Latest plausible end of a play, in ms since the epoch: now (UTC) + one day."""
    return time.time_ns() // 1_000_000 + FUTURE_SLACK_MS


# Columns produced here (the schema without participant_id) plus the file position ``_row``.
NORMALISED_COLUMNS = [f.name for f in STREAMS_SCHEMA if f.name != "participant_id"]

# Device classes from the free-text platform, checked in this order on the lower-cased text.
# Old exports write e.g. "iOS 14.7.1 (iPhone10,3)", "Android OS 9 API 28 (samsung, SM-G960F)",
# "Windows 10 (10.0.18362; x64; AppX)", "web_player windows 10;chrome 76.0;desktop",
# "Partner google cast_tv;Chromecast;;", "Partner sonos_...": the new ones "ios", "android",
# "windows", "osx", "linux", "web_player", "not_applicable".
_DEVICE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (cls, re.compile(rx))
    for cls, rx in (
        ("unknown", r"^\s*(?:|unknown|not_applicable|n/a|none|null)\s*$"),
        ("web", r"web_?player|web player|\bweb\b|browser"),
        (
            "tv",
            r"smart_?tv|android[ _\-]?tv|google[ _]?tv|\btv\b|_tv\b|\btv_|tvos|apple ?tv|fire ?tv"
            r"|xbox|playstation|\bps[345]\b|roku|tizen|webos|bravia|vizio|samsung_tv|lg_tv",
        ),
        (
            "speaker",
            r"\bcast\b|cast_audio|chromecast|google[ _]?home|\bnest\b|sonos|speaker|amazon_salmon"
            r"|amazon[ _]?echo|\becho|alexa|homepod|bose|denon|yamaha|harman|bang ?& ?olufsen|\bbeo"
            r"|jbl|marantz",
        ),
        ("other", r"android[ _]?auto|carplay|\bcar\b|automotive|tesla|vehicle"),
        ("mobile", r"\bios\b|iphone|ipad|ipod|android|wear ?os|watchos|windows phone|\bmobile\b"),
        ("desktop", r"windows|\bos ?x\b|macos|mac os|macintosh|\bmac\b|linux|ubuntu|desktop"),
    )
)


def device_class(platform: str | None) -> str:
    """Device class of one free-text ``platform`` value.

    iOS/Android -> ``mobile``; Windows/OS X/Linux -> ``desktop``; web player -> ``web``;
    cast/speaker/Sonos/Google Home -> ``speaker``; TV/smart TV/Android TV/Xbox/PlayStation ->
    ``tv``; empty, null or ``not_applicable`` -> ``unknown``; anything else (cars, partner
    devices without a class) -> ``other``. TV and speaker are checked before mobile, so
    "Android TV" is a TV; web before desktop, so "web_player windows 10" is the web player.

    >>> device_class("iOS 14.7.1 (iPhone10,3)"), device_class("Partner google cast_tv;Chromecast;;")
    ('mobile', 'tv')
    >>> device_class("web_player windows 10;chrome 76.0.3809.132;desktop"), device_class("osx")
    ('web', 'desktop')
    """
    if platform is None:
        return "unknown"
    text = platform.lower()
    for cls, rx in _DEVICE_RULES:
        if rx.search(text):
            return cls
    return "other"


def device_classes(platform: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`device_class` of every value, computed once per distinct platform string."""
    enc = pc.dictionary_encode(platform)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    classes = pa.array([device_class(v) for v in enc.dictionary.to_pylist()], pa.string())
    out = pc.take(classes, enc.indices)
    return pc.fill_null(out, "unknown")


def _has_empty_string(col: pa.Array) -> bool:
    """True when a (non-null) value of a string array is ``""``: read from the offsets and the
    validity bitmap with numpy (a compute call costs more than the check on a file's rows)."""
    n, off = len(col), col.offset
    validity, offsets = col.buffers()[:2]
    ends = np.frombuffer(offsets, dtype=np.int32, count=off + n + 1)[off:]
    empty = ends[1:] == ends[:-1]
    if not empty.any():
        return False
    if validity is None or col.null_count == 0:
        return True
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    return bool((empty & bits[off : off + n].astype(bool)).any())


def _nonempty(col: pa.Array) -> pa.Array:
    """Empty strings -> null."""
    if len(col) == 0:
        return col
    if col.type == pa.string() and not _has_empty_string(col):
        return col
    empty = pc.equal(col, "")
    if not pc.any(empty).as_py():
        return col
    return pc.if_else(empty, _NULL_STR, col)


def _parse_fallback(values: list[str | None]) -> list[int | None]:
    """Per-value ISO-8601 parse (naive times are UTC) for the few values the fast format misses."""
    out: list[int | None] = []
    for v in values:
        try:
            dt = datetime.fromisoformat(v) if v is not None else None
        except ValueError:
            dt = None
        if dt is None:
            out.append(None)
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        out.append(int(round(dt.timestamp() * 1000)))
    return out


def parse_utc(values: pa.Array, fmt: str) -> pa.Array:
    """Timestamps of the export's time strings as ``timestamp[ms, UTC]``; null where they do not
    parse. Extended history: ``%Y-%m-%dT%H:%M:%SZ``; account data: ``%Y-%m-%d %H:%M`` (UTC); any
    other ISO-8601 spelling is accepted through a per-value fallback."""
    extended = fmt in EXTENDED_FORMATS
    try:  # Arrow's ISO-8601 cast: fast, and strict (every value must parse)
        return pc.cast(values, TS_UTC if extended else pa.timestamp("ms")).cast(TS_UTC)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    pattern = "%Y-%m-%dT%H:%M:%SZ" if extended else "%Y-%m-%d %H:%M"
    ts = pc.strptime(values, format=pattern, unit="ms", error_is_null=True).cast(TS_UTC)
    missed = pc.and_(pc.is_null(ts), pc.is_valid(values))
    if pc.any(missed).as_py():
        idx = np.flatnonzero(missed.to_numpy(zero_copy_only=False))
        fixed = _parse_fallback(pc.take(values, pa.array(idx)).to_pylist())
        ms = pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False).astype("float64")
        ms[idx] = [np.nan if f is None else f for f in fixed]
        mask = np.isnan(ms)
        ts = pa.array(np.where(mask, 0, ms).astype(np.int64), mask=mask).cast(TS_UTC)
    return ts


def offline_utc(offline_timestamp: pa.Array) -> pa.Array:
    """``offline_timestamp`` (ms or s, decided per value, see module doc) as ``timestamp[ms, UTC]``;
    0, negative and null give null."""
    ot = offline_timestamp
    secs = pc.less(ot, _MS_THRESHOLD)
    ms = pc.if_else(secs, pc.multiply(pc.if_else(secs, ot, 0), 1000), ot)
    ms = pc.if_else(pc.greater(ot, 0), ms, pa.scalar(None, pa.int64()))
    return ms.cast(TS_UTC)


def _out_of_range(ts_end: pa.Array) -> pa.Array:
    """True where ``ts_end`` is before :data:`EARLIEST_TS` or after :func:`latest_plausible_ms`
    (null stays False: missing and unparseable times are counted by their own checks)."""
    ms = pc.cast(ts_end, pa.int64())
    low = int(EARLIEST_TS.timestamp() * 1000)
    bad = pc.or_(pc.less(ms, low), pc.greater(ms, latest_plausible_ms()))
    return pc.fill_null(bad, False)


def _all_valid(ts_raw: pa.ChunkedArray, ms: pa.ChunkedArray, ts_end: pa.Array) -> bool:
    """True when no row fails a check of :func:`_valid_rows` (the usual case), from null counts
    and the smallest and largest values only."""
    if ts_raw.null_count or ms.null_count or ts_end.null_count or len(ts_end) == 0:
        return False
    t = pc.min_max(pc.cast(ts_end, pa.int64()))
    m = pc.min_max(ms)
    low = int(EARLIEST_TS.timestamp() * 1000)
    return (
        t["min"].as_py() >= low
        and t["max"].as_py() <= latest_plausible_ms()
        and m["min"].as_py() >= 0
        and m["max"].as_py() <= MAX_MS_PLAYED
    )


def _valid_rows(
    raw: pa.Table, fmt: str, ts_end: pa.Array, skips: Sequence[SkipLog], bounds: np.ndarray
) -> np.ndarray:
    """Boolean mask of rows that pass the checks; the others are recorded in the ``skips`` of
    their file (file ``i`` holds the rows ``bounds[i]:bounds[i + 1]``). Every check is a test of
    one row, so the files' masks and counts do not depend on how the files are batched."""
    ts_field, ms_field = REQUIRED_FIELDS[fmt]
    ok = np.ones(raw.num_rows, dtype=bool)
    if _all_valid(raw[ts_field], raw[ms_field], ts_end):
        return ok
    rows = raw["_row"].to_numpy()
    checks = [
        (f"missing:{ts_field}", pc.is_null(raw[ts_field])),
        (f"missing:{ms_field}", pc.is_null(raw[ms_field])),
        (f"bad_value:{ts_field}", pc.is_null(ts_end)),
        (f"implausible:{ts_field}", _out_of_range(ts_end)),
        (f"negative:{ms_field}", pc.fill_null(pc.less(raw[ms_field], 0), False)),
        (
            f"implausible:{ms_field}",
            pc.fill_null(pc.greater(raw[ms_field], MAX_MS_PLAYED), False),
        ),
    ]
    for reason, bad in checks:
        bad_np = bad.to_numpy(zero_copy_only=False) if raw.num_rows else np.zeros(0, bool)
        hit = np.flatnonzero(bad_np & ok)
        if hit.size:
            file_of = np.searchsorted(bounds, hit, side="right") - 1
            for f in np.unique(file_of).tolist():
                skips[f].add(reason, rows[hit[file_of == f]])
        ok &= ~bad_np
    return ok


def _parse_files(values: pa.Array, fmt: str, bounds: np.ndarray) -> pa.Array:
    """:func:`parse_utc` of each file's slice of ``values``, in one call when every value of
    every file takes the strict fast cast (the usual case), else file by file (so a file's
    times never depend on the other files of the batch)."""
    extended = fmt in EXTENDED_FORMATS
    try:
        return pc.cast(values, TS_UTC if extended else pa.timestamp("ms")).cast(TS_UTC)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parts = [
        parse_utc(values.slice(s, e - s), fmt)
        for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    ]
    return pa.concat_arrays(parts) if parts else pa.array([], TS_UTC)


def _pick(
    groups: list[tuple[pa.Array, int]],
    values: list[pa.Array | pa.Scalar | None],
    default: pa.Scalar,
    n: int,
) -> pa.Array:
    """``values[i]`` where ``groups[i]`` (exclusive boolean masks with their counts) holds, else
    ``default``; groups with no row are skipped, and a group holding every row returns its value
    without a copy."""
    chosen = [(m, v) for (m, c), v in zip(groups, values, strict=True) if c]
    for (_m, c), v in zip(groups, values, strict=True):
        if c == n:
            if v is None:
                return pa.nulls(n, default.type)
            return pa.repeat(v, n) if isinstance(v, pa.Scalar) else v
    if not chosen:
        return pa.repeat(default, n)
    masks = pc.make_struct(
        *(m for m, _ in chosen), field_names=[str(i) for i in range(len(chosen))]
    )
    values = [pa.scalar(None, default.type) if v is None else v for _, v in chosen]
    return pc.case_when(masks, *values, default)  # one pass, first true mask wins


def normalise_streams(raw: pa.Table, fmt: str, skips: SkipLog) -> pa.Table:
    """Canonical stream columns (:data:`NORMALISED_COLUMNS`, plus ``_row``) of one file's raw
    columns (see :mod:`prefcal.ingest.readers`); invalid rows are dropped and counted in
    ``skips``."""
    return normalise_many([raw], fmt, [skips])[0]


def normalise_many(raws: Sequence[pa.Table], fmt: str, skips: Sequence[SkipLog]) -> list[pa.Table]:
    """:func:`normalise_streams` of several files of one format, computed in one pass.

    The files' raw tables are concatenated (file ``i`` holds the rows ``bounds[i]:bounds[i+1]``
    with ``bounds = [0, cumsum(n_rows)]``), every column is computed once over all their rows
    (each value depends on its own row only; the time parse falls back to file by file, see
    :func:`_parse_files`), the skipped rows are counted in ``skips[i]`` of their file, and the
    result is split back into one zero-copy slice per file: element ``i`` equals
    ``normalise_streams(raws[i], fmt, skips[i])`` value for value. A pyarrow compute call costs
    ~10-50 us whatever its length, and a file has a few hundred rows, so one call per batch
    instead of per file removes most of the cost."""
    if len(raws) != len(skips):
        raise ValueError(f"normalise_many: {len(raws)} tables but {len(skips)} skip logs")
    if not raws:
        return []
    sizes = np.array([t.num_rows for t in raws], dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    schema = raws[0].schema
    raw = pa.concat_tables(
        [t if t.schema.equals(schema) else t.cast(schema) for t in raws]
    ).combine_chunks()
    ts_field, ms_field = REQUIRED_FIELDS[fmt]
    ts_end_all = _parse_files(raw[ts_field].combine_chunks(), fmt, bounds)
    ok = _valid_rows(raw, fmt, ts_end_all, skips, bounds)
    if ok.all():
        ts_end = ts_end_all
    else:
        keep = pa.array(ok)
        raw = raw.filter(keep)
        ts_end = ts_end_all.filter(keep)
    n = raw.num_rows
    ms = raw[ms_field].combine_chunks()
    ts_start = pc.subtract(pc.cast(ts_end, pa.int64()), ms).cast(TS_UTC)

    def col(name: str) -> pa.Array:
        return _nonempty(raw[name].combine_chunks()) if name in raw.column_names else None

    nulls_s = pa.nulls(n, pa.string())
    nulls_b = pa.nulls(n, pa.bool_())
    if fmt in ACCOUNT_FORMATS:
        ctype = {
            "legacy_account": "unknown",
            "account_music": "music",
            "account_podcast": "podcast",
            "account_audiobook": "audiobook",
        }[fmt]
        name_f, creator_f = {
            "legacy_account": ("trackName", "artistName"),
            "account_music": ("trackName", "artistName"),
            "account_podcast": ("episodeName", "podcastName"),
            "account_audiobook": ("chapterName", "audiobookName"),
        }[fmt]
        out = {
            "ts_start": ts_start,
            "ts_end": ts_end,
            "ms_played": ms,
            "content_type": pa.repeat(pa.scalar(ctype), n),
            "item_uri": nulls_s,
            "item_name": col(name_f),
            "creator_name": col(creator_f),
            "album_name": nulls_s,
            "device": pa.repeat(pa.scalar("unknown"), n),
            "reason_start": nulls_s,
            "reason_end": nulls_s,
            "shuffle": nulls_b,
            "skipped": nulls_b,
            "offline": nulls_b,
            "offline_ts": pa.nulls(n, TS_UTC),
        }
    else:
        tr_uri, tr_name = col("spotify_track_uri"), col("master_metadata_track_name")
        artist, album = (
            col("master_metadata_album_artist_name"),
            col("master_metadata_album_album_name"),
        )
        ep_uri, ep_name, show = (
            col("spotify_episode_uri"),
            col("episode_name"),
            col("episode_show_name"),
        )
        ab_title, ab_uri = col("audiobook_title"), col("audiobook_uri")
        ch_uri, ch_title = col("audiobook_chapter_uri"), col("audiobook_chapter_title")

        def any_valid(*cols: pa.Array) -> pa.Array:
            out = pc.is_valid(cols[0])
            for c in cols[1:]:
                out = pc.or_(out, pc.is_valid(c))
            return out

        # Old-generation exports have no audiobook fields: a chapter there is an "episode" row
        # whose spotify_episode_uri starts with spotify:chapter:.
        chapter_as_episode = pc.fill_null(pc.starts_with(ep_uri, "spotify:chapter:"), False)
        is_ab = pc.or_(any_valid(ch_uri, ab_uri, ab_title, ch_title), chapter_as_episode)
        is_ep = pc.and_(pc.invert(is_ab), any_valid(ep_uri, ep_name, show))
        is_tr = pc.and_(pc.invert(pc.or_(is_ab, is_ep)), any_valid(tr_uri, tr_name, artist, album))
        groups = [(m, pc.sum(m).as_py() or 0) for m in (is_ab, is_ep, is_tr)]
        default = "video" if fmt in VIDEO_FORMATS else "unknown"
        out = {
            "ts_start": ts_start,
            "ts_end": ts_end,
            "ms_played": ms,
            "content_type": _pick(
                groups,
                [pa.scalar("audiobook"), pa.scalar("podcast"), pa.scalar("music")],
                pa.scalar(default),
                n,
            ),
            "item_uri": _pick(
                groups, [pc.coalesce(ch_uri, ab_uri, ep_uri), ep_uri, tr_uri], _NULL_STR, n
            ),
            "item_name": _pick(
                groups, [pc.coalesce(ch_title, ab_title, ep_name), ep_name, tr_name], _NULL_STR, n
            ),
            "creator_name": _pick(
                groups, [pc.coalesce(ab_title, show), show, artist], _NULL_STR, n
            ),
            "album_name": _pick(groups, [None, None, album], _NULL_STR, n),
            "device": device_classes(raw["platform"]),
            "reason_start": raw["reason_start"].combine_chunks(),
            "reason_end": raw["reason_end"].combine_chunks(),
            "shuffle": raw["shuffle"].combine_chunks(),
            "skipped": raw["skipped"].combine_chunks(),
            "offline": raw["offline"].combine_chunks(),
            "offline_ts": offline_utc(raw["offline_timestamp"].combine_chunks()),
        }
    out["source_format"] = pa.repeat(pa.scalar(fmt), n)
    out["_row"] = raw["_row"].combine_chunks()
    table = pa.table(out)
    kept = np.concatenate([[0], np.cumsum(ok, dtype=np.int64)])[bounds].tolist()
    return [table.slice(s, e - s) for s, e in zip(kept[:-1], kept[1:], strict=True)]
