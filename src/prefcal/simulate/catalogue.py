"""The simulated catalogue: genres, artists, albums, tracks, podcast shows, episodes, audiobooks.

Deterministic from ``seed`` and the ``simulation`` config (generator ``SeedSequence([seed, 0])``).
Written as Parquet files, one per table, into the catalogue directory (truth: only the simulator,
the Home-page environment and validation code read it):

``genres``      genre_id, name, popularity (share, sums to 1; ``p_g`` proportional to
                ``(rank + 2)^-0.7``)
``artists``     artist_id, uri, name, genre_id, popularity (0-100), weight (lognormal(0, 1)); sorted
                by genre, so the artists of a genre are contiguous
``albums``      album_id, uri, name, artist_id, genre_id, first_track_id, n_tracks
``tracks``      track_id, uri (null for local files), local_uri (``spotify:local:...`` for local
                files, else null), name, artist_id, album_id, genre_id, popularity (0-100),
                duration_ms, weight (within-artist play weight, Zipf over a random rank); sorted by
                artist then album
``shows``       show_id, uri, name, publisher, genre_id, daily (publishes every weekday),
                popularity (0-100), weight, first_episode_id, n_episodes
``episodes``    episode_id, uri, name, show_id, genre_id, release_day (days since start_date, may be
                negative), release_date, duration_ms; sorted by show then release_day
``audiobooks``  audiobook_id, uri, title, authors, genre_id, popularity, weight, first_chapter_id,
                n_chapters
``chapters``    chapter_id, uri (``spotify:chapter:``), title, audiobook_id, chapter_number
                (1-based), duration_ms

A daily show has one episode every weekday from 21 days before the start to the last day; a weekly
show has ``max(episodes_per_show, ceil((days + 28) / 7))`` episodes, the last released in the final
week, so that every simulated day has released episodes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prefcal.simulate import names

TABLES = ("genres", "artists", "albums", "tracks", "shows", "episodes", "audiobooks", "chapters")

GENRE_NAMES = (
    "pop",
    "hip hop",
    "rock",
    "indie",
    "electronic",
    "r&b",
    "latin",
    "country",
    "jazz",
    "classical",
    "metal",
    "folk",
    "k-pop",
    "afrobeats",
    "soul",
    "reggae",
    "punk",
    "ambient",
    "blues",
    "techno",
    "house",
    "lo-fi",
    "gospel",
    "soundtrack",
)
MONTHS = np.array(
    "January February March April May June July August September October November December".split(),
    dtype=object,
)
CATALOGUE_STREAM = 0


def genre_names(n: int) -> list[str]:
    """Names of ``n`` genres: the first from :data:`GENRE_NAMES`, then ``genre 25`` etc."""
    return [GENRE_NAMES[i] if i < len(GENRE_NAMES) else f"genre {i + 1}" for i in range(n)]


def start_day64(start_date: str) -> np.datetime64:
    """``start_date`` as numpy ``datetime64[D]`` with a clear error for a bad value."""
    try:
        return np.datetime64(start_date, "D")
    except ValueError as exc:
        raise ValueError(f"config key simulation.start_date: {start_date!r} is not a date") from exc


def _uris(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    ids = names.base62_ids(rng, n)
    if len(np.unique(ids)) != n:  # 62^22 ids: never happens, but a duplicate would be a silent bug
        raise RuntimeError("duplicate base62 id drawn")
    return (f"spotify:{kind}:" + ids.astype(object)).astype(object)


def _zipf_weights(rng: np.random.Generator, sizes: np.ndarray, exponent: float) -> np.ndarray:
    """Within each group of ``sizes`` consecutive items, weights ``(rank + 1)^-exponent``."""
    group = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    noise = rng.random(group.size)
    order = np.lexsort((noise, group))  # random order within each group
    rank = np.empty(group.size, dtype=np.int64)
    rank[order] = np.arange(group.size) - starts
    return (rank + 1.0) ** -exponent


def build_catalogue(seed: int, sim: Mapping[str, Any]) -> dict[str, pa.Table]:
    """All catalogue tables, deterministic from ``seed`` and the ``simulation`` config section."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, CATALOGUE_STREAM]))
    n_genres = int(sim["n_genres"])
    n_artists = int(sim["n_artists"])
    if n_artists < 2 * n_genres:
        raise ValueError(
            f"config key simulation.n_artists: {n_artists} < 2 * n_genres = {2 * n_genres} "
            "(every genre needs two artists)"
        )
    days = int(sim["days"])
    start = start_day64(str(sim["start_date"]))

    # genres
    gpop = (np.arange(n_genres) + 2.0) ** -0.7
    gpop /= gpop.sum()
    genres = pa.table(
        {
            "genre_id": pa.array(np.arange(n_genres, dtype=np.int32)),
            "name": pa.array(genre_names(n_genres)),
            "popularity": pa.array(gpop),
        }
    )

    # artists, sorted by genre
    share = np.sqrt(gpop) / np.sqrt(gpop).sum()
    per_genre = 2 + rng.multinomial(n_artists - 2 * n_genres, share)
    artist_genre = np.repeat(np.arange(n_genres, dtype=np.int32), per_genre)
    artist_logw = rng.normal(0.0, 1.0, n_artists)
    artist_pop = np.clip(np.rint(45 + 15 * artist_logw), 0, 100).astype(np.int32)

    def artist_name_draw(r: np.random.Generator, m: int) -> np.ndarray:
        first = names.FIRST_NAMES[r.integers(0, len(names.FIRST_NAMES), m)]
        w1 = names.pseudo_words(r, m)
        w2 = names.pseudo_words(r, m, 1, 2)
        style = r.random(m)
        return np.where(
            style < 0.4,
            first + " " + w1,
            np.where(style < 0.7, "The " + w1 + "s", np.where(style < 0.85, w1, w1 + " " + w2)),
        ).astype(object)

    artists = pa.table(
        {
            "artist_id": pa.array(np.arange(n_artists, dtype=np.int32)),
            "uri": pa.array(_uris(rng, "artist", n_artists), pa.string()),
            "name": pa.array(names.unique_names(rng, n_artists, artist_name_draw), pa.string()),
            "genre_id": pa.array(artist_genre),
            "popularity": pa.array(artist_pop),
            "weight": pa.array(np.exp(artist_logw)),
        }
    )

    # albums and tracks
    tpa = int(sim["tracks_per_artist"])
    apa = min(int(sim["albums_per_artist"]), tpa)
    n_albums = n_artists * apa
    n_tracks = n_artists * tpa
    album_artist = np.repeat(np.arange(n_artists, dtype=np.int32), apa)
    within = np.tile(np.arange(tpa), n_artists)
    track_artist = np.repeat(np.arange(n_artists, dtype=np.int32), tpa)
    track_album = (track_artist.astype(np.int64) * apa + (within * apa) // tpa).astype(np.int32)
    album_n_tracks = np.bincount(track_album, minlength=n_albums).astype(np.int32)
    album_first = (np.cumsum(album_n_tracks) - album_n_tracks).astype(np.int32)
    albums = pa.table(
        {
            "album_id": pa.array(np.arange(n_albums, dtype=np.int32)),
            "uri": pa.array(_uris(rng, "album", n_albums), pa.string()),
            "name": pa.array(names.phrases(rng, n_albums, 1, 3), pa.string()),
            "artist_id": pa.array(album_artist),
            "genre_id": pa.array(artist_genre[album_artist]),
            "first_track_id": pa.array(album_first),
            "n_tracks": pa.array(album_n_tracks),
        }
    )
    track_w = _zipf_weights(rng, np.full(n_artists, tpa), 1.0)
    track_pop = np.clip(
        np.rint(artist_pop[track_artist] + 8 * np.log(track_w) + rng.normal(0, 4, n_tracks)), 0, 100
    ).astype(np.int32)
    duration = np.clip(rng.lognormal(np.log(205_000), 0.28, n_tracks), 60_000, 600_000).astype(
        np.int64
    )
    track_names = names.phrases(rng, n_tracks, 1, 4)
    track_uri = _uris(rng, "track", n_tracks)
    local = rng.random(n_tracks) < float(sim["local_track_share"])
    artist_names = np.asarray(artists.column("name").to_pylist(), dtype=object)
    album_names = np.asarray(albums.column("name").to_pylist(), dtype=object)
    local_uri = (
        "spotify:local:"
        + _plus(artist_names[track_artist])
        + ":"
        + _plus(album_names[track_album])
        + ":"
        + _plus(track_names)
        + ":"
        + (duration // 1000).astype(str).astype(object)
    )
    tracks = pa.table(
        {
            "track_id": pa.array(np.arange(n_tracks, dtype=np.int32)),
            "uri": pa.array(np.where(local, None, track_uri), pa.string()),
            "local_uri": pa.array(np.where(local, local_uri, None), pa.string()),
            "name": pa.array(track_names, pa.string()),
            "artist_id": pa.array(track_artist),
            "album_id": pa.array(track_album),
            "genre_id": pa.array(artist_genre[track_artist]),
            "popularity": pa.array(track_pop),
            "duration_ms": pa.array(duration),
            "weight": pa.array(track_w),
        }
    )

    # podcast shows and episodes
    n_shows = int(sim["n_shows"])
    show_genre = rng.choice(n_genres, size=n_shows, p=gpop).astype(np.int32)
    daily = rng.random(n_shows) < float(sim["daily_show_share"])
    if float(sim["daily_show_share"]) > 0 and not daily.any():
        daily[0] = True
    show_logw = rng.normal(0.0, 1.0, n_shows)
    show_names = names.unique_names(rng, n_shows, _show_name_draw)
    show_names = np.where(daily, show_names + " Daily", show_names)
    publisher = names.FIRST_NAMES[rng.integers(0, len(names.FIRST_NAMES), n_shows)] + (
        " " + names.pseudo_words(rng, n_shows)
    )
    start_weekday = int((start.astype("datetime64[D]").astype(np.int64) + 3) % 7)  # Monday = 0
    back = 21
    span = np.arange(-back, days)
    weekdays_in_span = span[((span + start_weekday) % 7) < 5]
    n_weekly = max(int(sim["episodes_per_show"]), int(np.ceil((days + 28) / 7)))
    n_eps = np.where(daily, len(weekdays_in_span), n_weekly).astype(np.int64)
    ep_show = np.repeat(np.arange(n_shows, dtype=np.int32), n_eps)
    ep_k = np.arange(ep_show.size) - np.repeat(np.cumsum(n_eps) - n_eps, n_eps)  # 0.. within show
    phase = rng.integers(0, 7, n_shows)
    weekly_day = (days - 1) - phase[ep_show] - 7 * (n_eps[ep_show] - 1 - ep_k)
    daily_day = weekdays_in_span[np.minimum(ep_k, len(weekdays_in_span) - 1)]
    release_day = np.where(daily[ep_show], daily_day, weekly_day).astype(np.int32)
    release_date = start + release_day.astype("timedelta64[D]")
    n_episodes = ep_show.size
    ep_dur = np.where(
        daily[ep_show],
        np.clip(rng.lognormal(np.log(20 * 60_000), 0.2, n_episodes), 8 * 60_000, 40 * 60_000),
        np.clip(rng.lognormal(np.log(45 * 60_000), 0.45, n_episodes), 10 * 60_000, 150 * 60_000),
    ).astype(np.int64)
    month = release_date.astype("datetime64[M]").astype(np.int64) % 12
    dom = (release_date - release_date.astype("datetime64[M]")).astype(np.int64) + 1
    topic = names.phrases(rng, n_episodes, 2, 5)
    ep_name = np.where(
        daily[ep_show],
        MONTHS[month] + " " + dom.astype(str).astype(object) + ": " + topic,
        (ep_k + 1).astype(str).astype(object) + ". " + topic,
    )
    first_ep = (np.cumsum(n_eps) - n_eps).astype(np.int32)
    shows = pa.table(
        {
            "show_id": pa.array(np.arange(n_shows, dtype=np.int32)),
            "uri": pa.array(_uris(rng, "show", n_shows), pa.string()),
            "name": pa.array(show_names, pa.string()),
            "publisher": pa.array(publisher, pa.string()),
            "genre_id": pa.array(show_genre),
            "daily": pa.array(daily),
            "popularity": pa.array(np.clip(np.rint(45 + 15 * show_logw), 0, 100).astype(np.int32)),
            "weight": pa.array(np.exp(show_logw)),
            "first_episode_id": pa.array(first_ep),
            "n_episodes": pa.array(n_eps.astype(np.int32)),
        }
    )
    episodes = pa.table(
        {
            "episode_id": pa.array(np.arange(n_episodes, dtype=np.int32)),
            "uri": pa.array(_uris(rng, "episode", n_episodes), pa.string()),
            "name": pa.array(ep_name, pa.string()),
            "show_id": pa.array(ep_show),
            "genre_id": pa.array(show_genre[ep_show]),
            "release_day": pa.array(release_day),
            "release_date": pa.array(release_date.astype("datetime64[D]")),
            "duration_ms": pa.array(ep_dur),
        }
    )

    # audiobooks and chapters
    n_books = int(sim["n_audiobooks"])
    n_ch = int(sim["chapters_per_audiobook"])
    book_genre = rng.choice(n_genres, size=n_books, p=gpop).astype(np.int32)
    book_logw = rng.normal(0.0, 1.0, n_books)
    titles = names.unique_names(rng, n_books, _book_title_draw)
    author1 = names.FIRST_NAMES[rng.integers(0, len(names.FIRST_NAMES), n_books)] + (
        " " + names.pseudo_words(rng, n_books)
    )
    author2 = names.FIRST_NAMES[rng.integers(0, len(names.FIRST_NAMES), n_books)] + (
        " " + names.pseudo_words(rng, n_books)
    )
    authors = np.where(rng.random(n_books) < 0.15, author1 + ", " + author2, author1)
    audiobooks = pa.table(
        {
            "audiobook_id": pa.array(np.arange(n_books, dtype=np.int32)),
            "uri": pa.array(_uris(rng, "audiobook", n_books), pa.string()),
            "title": pa.array(titles, pa.string()),
            "authors": pa.array(authors, pa.string()),
            "genre_id": pa.array(book_genre),
            "popularity": pa.array(np.clip(np.rint(45 + 15 * book_logw), 0, 100).astype(np.int32)),
            "weight": pa.array(np.exp(book_logw)),
            "first_chapter_id": pa.array(np.arange(n_books, dtype=np.int32) * n_ch),
            "n_chapters": pa.array(np.full(n_books, n_ch, dtype=np.int32)),
        }
    )
    n_chapters = n_books * n_ch
    ch_number = np.tile(np.arange(1, n_ch + 1), n_books)
    chapters = pa.table(
        {
            "chapter_id": pa.array(np.arange(n_chapters, dtype=np.int32)),
            "uri": pa.array(_uris(rng, "chapter", n_chapters), pa.string()),
            "title": pa.array(("Chapter " + ch_number.astype(str).astype(object)), pa.string()),
            "audiobook_id": pa.array(np.repeat(np.arange(n_books, dtype=np.int32), n_ch)),
            "chapter_number": pa.array(ch_number.astype(np.int32)),
            "duration_ms": pa.array(
                np.clip(
                    rng.lognormal(np.log(25 * 60_000), 0.35, n_chapters), 5 * 60_000, 60 * 60_000
                ).astype(np.int64)
            ),
        }
    )
    return {
        "genres": genres,
        "artists": artists,
        "albums": albums,
        "tracks": tracks,
        "shows": shows,
        "episodes": episodes,
        "audiobooks": audiobooks,
        "chapters": chapters,
    }


def _plus(values: np.ndarray) -> np.ndarray:
    """URL-style ``+`` for spaces, as in ``spotify:local:`` URIs."""
    return np.strings.replace(values.astype(str), " ", "+").astype(object)


def _show_name_draw(rng: np.random.Generator, m: int) -> np.ndarray:
    w = names.phrases(rng, m, 1, 2)
    p = names.pseudo_words(rng, m)
    style = rng.random(m)
    return np.where(
        style < 0.35,
        "The " + w + " Show",
        np.where(
            style < 0.6,
            w + " Talk",
            np.where(style < 0.8, p + " & " + names.pseudo_words(rng, m), w + " with " + p),
        ),
    ).astype(object)


def _book_title_draw(rng: np.random.Generator, m: int) -> np.ndarray:
    w = names.phrases(rng, m, 1, 3)
    style = rng.random(m)
    return np.where(
        style < 0.5, "The " + w, np.where(style < 0.75, w + " of " + names.pseudo_words(rng, m), w)
    ).astype(object)


def write_catalogue(tables: Mapping[str, pa.Table], out_dir: str | Path) -> None:
    """Write each table to ``out_dir/<name>.parquet`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        pq.write_table(tables[name], out / f"{name}.parquet")


def read_catalogue_tables(cat_dir: str | Path) -> dict[str, pa.Table]:
    """The tables written by :func:`write_catalogue`, with a clear error when one is missing."""
    d = Path(cat_dir)
    out = {}
    for name in TABLES:
        path = d / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(
                f"catalogue table {path} is missing (run `prefcal simulate catalogue`)"
            )
        out[name] = pq.read_table(path)
    return out


def _np(table: pa.Table, col: str) -> np.ndarray:
    return table.column(col).to_numpy()


def _obj(table: pa.Table, col: str) -> np.ndarray:
    return np.asarray(table.column(col).to_pylist(), dtype=object)


def json_tokens(values: np.ndarray) -> np.ndarray:
    """Each value as its JSON text (``null`` for None), as Spotify writes it (non-ASCII kept)."""
    return np.asarray([json.dumps(v, ensure_ascii=False) for v in values.tolist()], dtype=object)


def segment_keys(weights: np.ndarray, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """Sampling keys ``segment + within-segment cumulative share`` (last of a segment = seg + 1).

    Items of a segment must be contiguous and sorted by segment. With U uniform on [0, 1),
    ``searchsorted(keys, s + U, side='right')`` draws an item of segment s with probability
    ``weight / segment total``.
    """
    sizes = np.bincount(segment, minlength=n_segments)
    starts = np.cumsum(sizes) - sizes
    cum = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])
    offset = cum[starts]
    seg_total = cum[starts + sizes] - offset
    seg_total = np.where(seg_total > 0, seg_total, 1.0)
    within = (cum[1:] - np.repeat(offset, sizes)) / np.repeat(seg_total, sizes)
    within[(starts + sizes - 1)[sizes > 0]] = 1.0
    return np.asarray(segment, dtype=np.float64) + within


@dataclass
class Catalogue:
    """The catalogue tables plus the numpy arrays that the user simulation samples from."""

    tables: dict[str, pa.Table]
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, cat_dir: str | Path) -> Catalogue:
        """Load a catalogue directory."""
        return cls(read_catalogue_tables(cat_dir))

    # sizes
    @cached_property
    def n_genres(self) -> int:
        return self.tables["genres"].num_rows

    @cached_property
    def genre_names(self) -> np.ndarray:
        return _obj(self.tables["genres"], "name")

    @cached_property
    def genre_popularity(self) -> np.ndarray:
        return _np(self.tables["genres"], "popularity")

    # artists
    @cached_property
    def artist_genre(self) -> np.ndarray:
        return _np(self.tables["artists"], "genre_id").astype(np.int64)

    @cached_property
    def artist_weight(self) -> np.ndarray:
        return _np(self.tables["artists"], "weight")

    # albums
    @cached_property
    def album_first_track(self) -> np.ndarray:
        return _np(self.tables["albums"], "first_track_id").astype(np.int64)

    @cached_property
    def album_n_tracks(self) -> np.ndarray:
        return _np(self.tables["albums"], "n_tracks").astype(np.int64)

    @cached_property
    def album_artist(self) -> np.ndarray:
        return _np(self.tables["albums"], "artist_id").astype(np.int64)

    # tracks
    @cached_property
    def track_artist(self) -> np.ndarray:
        return _np(self.tables["tracks"], "artist_id").astype(np.int64)

    @cached_property
    def track_album(self) -> np.ndarray:
        return _np(self.tables["tracks"], "album_id").astype(np.int64)

    @cached_property
    def track_genre(self) -> np.ndarray:
        return _np(self.tables["tracks"], "genre_id").astype(np.int64)

    @cached_property
    def track_duration(self) -> np.ndarray:
        return _np(self.tables["tracks"], "duration_ms").astype(np.int64)

    @cached_property
    def track_is_local(self) -> np.ndarray:
        return self.tables["tracks"].column("uri").is_null().to_numpy(zero_copy_only=False)

    @cached_property
    def track_keys(self) -> np.ndarray:
        """:func:`segment_keys` of track weights within artists."""
        return segment_keys(
            _np(self.tables["tracks"], "weight"), self.track_artist, self.tables["artists"].num_rows
        )

    # shows and episodes
    @cached_property
    def show_genre(self) -> np.ndarray:
        return _np(self.tables["shows"], "genre_id").astype(np.int64)

    @cached_property
    def show_daily(self) -> np.ndarray:
        return _np(self.tables["shows"], "daily").astype(bool)

    @cached_property
    def show_weight(self) -> np.ndarray:
        return _np(self.tables["shows"], "weight")

    @cached_property
    def show_first_episode(self) -> np.ndarray:
        return _np(self.tables["shows"], "first_episode_id").astype(np.int64)

    @cached_property
    def episode_show(self) -> np.ndarray:
        return _np(self.tables["episodes"], "show_id").astype(np.int64)

    @cached_property
    def episode_release_day(self) -> np.ndarray:
        return _np(self.tables["episodes"], "release_day").astype(np.int64)

    @cached_property
    def episode_duration(self) -> np.ndarray:
        return _np(self.tables["episodes"], "duration_ms").astype(np.int64)

    @cached_property
    def episode_keys(self) -> np.ndarray:
        """``show_id * 2^20 + release_day + 2^19``: sorted; ``searchsorted`` finds the latest."""
        return self.episode_show * (1 << 20) + self.episode_release_day + (1 << 19)

    # audiobooks
    @cached_property
    def audiobook_genre(self) -> np.ndarray:
        return _np(self.tables["audiobooks"], "genre_id").astype(np.int64)

    @cached_property
    def audiobook_weight(self) -> np.ndarray:
        return _np(self.tables["audiobooks"], "weight")

    @cached_property
    def audiobook_first_chapter(self) -> np.ndarray:
        return _np(self.tables["audiobooks"], "first_chapter_id").astype(np.int64)

    @cached_property
    def audiobook_n_chapters(self) -> np.ndarray:
        return _np(self.tables["audiobooks"], "n_chapters").astype(np.int64)

    @cached_property
    def chapter_duration(self) -> np.ndarray:
        return _np(self.tables["chapters"], "duration_ms").astype(np.int64)

    @cached_property
    def chapter_audiobook(self) -> np.ndarray:
        return _np(self.tables["chapters"], "audiobook_id").astype(np.int64)

    def strings(self, table: str, col: str) -> np.ndarray:
        """A string column as an object array (None for null), cached."""
        key = f"s:{table}.{col}"
        if key not in self._cache:
            self._cache[key] = _obj(self.tables[table], col)
        return self._cache[key]

    def json(self, table: str, col: str) -> np.ndarray:
        """A column as JSON text tokens (see :func:`json_tokens`), cached."""
        key = f"j:{table}.{col}"
        if key not in self._cache:
            self._cache[key] = json_tokens(self.strings(table, col))
        return self._cache[key]
