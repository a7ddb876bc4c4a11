"""Organic listening of one user: sessions, plays, skips, reason chains, timing.

Everything is vectorised over the user's sessions and rows (one numpy call per step). The draws
follow :mod:`prefcal.simulate.model`:

1. Day d (0..days-1) is active with probability ``active_day_prob_u``; an active day has
   ``Poisson(lambda_u)`` sessions. A session starts in hour h ~ ``a_u(. | w)`` at a uniform second
   of that hour, on device d ~ ``P(d | h, w)``, with type k ~ ``q_k(h, w, d, tau)``.
   Habitual users add, on active weekdays with probability ``habit_strength``, a mobile podcast
   session at ``m_u + N(0, 0.2)`` hours playing the day's episode of their daily show.
2. A session of type k holds ``1 + Poisson(L_k - 1)`` *intended* plays (streams >= 30 s); each is
   preceded by ``Geometric`` skip rows (< 30 s) with mean ``skips_per_play * (1, 0.3, 0.15)_k``.
3. Items. Music sessions are a playlist (probability 0.45 when the user has playlists; shuffled
   with probability 0.65, else in playlist order), an album (0.15; in order) or taste radio
   (random tracks: genre ~ ``theta(tau)``, artist by affinity, track by weight). Podcast sessions
   pick a subscribed show (the habit show for habit sessions) and start with its latest episode
   (probability 0.6; always for habits) or a back-catalogue episode, then older episodes.
   Audiobook sessions continue the user's book list chapter by chapter.
4. Reasons: ``reason_end`` of a skip row is fwdbtn / endplay / backbtn / trackerror / unknown; of
   an intended row trackdone / endplay / fwdbtn / backbtn / remote / unknown / empty (by type); the
   last row of a session ends with endplay / logout / trackdone / unexpected-exit(-while-paused) /
   remote. ``reason_start`` of a session's first row is clickrow / playbtn / appload / trackdone /
   fwdbtn / unknown (remote on speakers and tvs); later rows inherit the previous end (trackdone ->
   trackdone, fwdbtn -> fwdbtn, backbtn -> backbtn, endplay -> clickrow, ...). After backbtn the
   same item restarts. ``remote`` only occurs on speakers and tvs.
5. ``ms_played``: trackdone = full duration; other intended ends uniform on [30 s, duration);
   skips < 30 s (trackerror < 1.5 s). Rows follow each other with 0-1.5 s gaps (2-20 s after
   endplay); overlapping sessions are pushed later (max-plus recursion); rows ending after the
   period are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from prefcal.simulate import model
from prefcal.simulate.catalogue import Catalogue, start_day64
from prefcal.simulate.model import AUDIOBOOK, MOBILE, MUSIC, PODCAST, SPEAKER, TV
from prefcal.simulate.users import UserDraw, sample_genres, sample_tracks, user_rng

REASONS = (
    "trackdone",
    "clickrow",
    "fwdbtn",
    "backbtn",
    "playbtn",
    "appload",
    "remote",
    "trackerror",
    "unknown",
    "",
    "endplay",
    "logout",
    "unexpected-exit-while-paused",
    "unexpected-exit",
)
R = {name: i for i, name in enumerate(REASONS)}
#: reason_start that follows a reason_end inside a session
NEXT_START = np.array(
    [
        R["trackdone"],  # trackdone
        R["clickrow"],  # clickrow (never an end)
        R["fwdbtn"],  # fwdbtn
        R["backbtn"],  # backbtn
        R["clickrow"],  # playbtn (never an end)
        R["clickrow"],  # appload (never an end)
        R["remote"],  # remote
        R["trackerror"],  # trackerror
        R["unknown"],  # unknown
        R[""],  # ""
        R["clickrow"],  # endplay
        R["appload"],  # logout
        R["appload"],  # unexpected-exit-while-paused
        R["appload"],  # unexpected-exit
    ]
)
SKIP_END = (
    [R["fwdbtn"], R["endplay"], R["backbtn"], R["trackerror"], R["unknown"]],
    [0.82, 0.08, 0.06, 0.03, 0.01],
)
INTENDED_END = {
    MUSIC: (
        [R["trackdone"], R["endplay"], R["fwdbtn"], R["backbtn"], R["remote"], R["unknown"], R[""]],
        [0.78, 0.10, 0.08, 0.02, 0.01, 0.005, 0.005],
    ),
    PODCAST: (
        [R["trackdone"], R["endplay"], R["fwdbtn"], R["backbtn"], R["remote"], R["unknown"], R[""]],
        [0.55, 0.30, 0.10, 0.03, 0.01, 0.005, 0.005],
    ),
    AUDIOBOOK: (
        [R["trackdone"], R["endplay"], R["fwdbtn"], R["backbtn"], R["remote"], R["unknown"], R[""]],
        [0.80, 0.12, 0.03, 0.03, 0.01, 0.005, 0.005],
    ),
}
LAST_END = (
    [
        R["endplay"],
        R["logout"],
        R["trackdone"],
        R["unexpected-exit-while-paused"],
        R["unexpected-exit"],
        R["remote"],
    ],
    [0.35, 0.25, 0.20, 0.10, 0.05, 0.05],
)
FIRST_START_HANDHELD = (
    [R["clickrow"], R["playbtn"], R["appload"], R["trackdone"], R["fwdbtn"], R["unknown"]],
    [0.50, 0.20, 0.15, 0.08, 0.05, 0.02],
)
FIRST_START_REMOTE = (
    [R["remote"], R["clickrow"], R["playbtn"], R["appload"], R["trackdone"]],
    [0.45, 0.25, 0.15, 0.10, 0.05],
)
SKIP_FACTOR = np.array([1.0, 0.3, 0.15])  # skips per intended play, relative to music
MODE_PLAYLIST, MODE_ALBUM, MODE_TASTE = 0, 1, 2
LISTEN_STREAM = 2
MS_DAY = 86_400_000
MS_HOUR = 3_600_000


@dataclass
class Plays:
    """One row per play of one user, in chronological order."""

    start_ms: np.ndarray  # int64 epoch ms (UTC), true start of playback
    ms_played: np.ndarray  # int64
    ts_ms: (
        np.ndarray
    )  # int64 epoch ms logged as ``ts``: the end, or the later sync for offline plays
    content_type: np.ndarray  # 0 music, 1 podcast, 2 audiobook
    item: np.ndarray  # track_id / episode_id / chapter_id
    device: np.ndarray  # 0..3, model.DEVICES
    session: np.ndarray  # session number (chronological)
    intended: np.ndarray  # bool: a stream the user meant to hear (>= 30 s)
    habit: np.ndarray  # bool: part of a habit session
    reason_start: np.ndarray  # index into REASONS
    reason_end: np.ndarray
    shuffle: np.ndarray  # bool
    offline: np.ndarray  # bool
    offline_ts_ms: np.ndarray  # int64 epoch ms: client clock at the start (0 on a few rows)
    incognito: np.ndarray  # bool
    video: np.ndarray  # bool: a video podcast (written to the video files)
    ip: np.ndarray  # index into UserDraw.ips
    country: np.ndarray  # object: conn_country
    day: np.ndarray  # int64 day index of the session start
    hour: np.ndarray  # int64 hour of the session start (the context of its type draw)
    weekend: np.ndarray  # bool

    @property
    def n(self) -> int:
        return int(self.start_ms.size)

    @property
    def end_ms(self) -> np.ndarray:
        return self.start_ms + self.ms_played


def _choice(rng: np.random.Generator, spec: tuple[list[int], list[float]], n: int) -> np.ndarray:
    values, probs = spec
    p = np.asarray(probs, dtype=float)
    return np.asarray(values, dtype=np.int64)[rng.choice(len(values), size=n, p=p / p.sum())]


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a (n, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def _group_start(group: np.ndarray) -> np.ndarray:
    """For sorted group labels, True where a new group begins."""
    out = np.ones(group.size, dtype=bool)
    out[1:] = group[1:] != group[:-1]
    return out


def _rank_in_group(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within runs of equal (sorted) labels."""
    start = _group_start(group)
    idx = np.arange(group.size)
    first = np.maximum.accumulate(np.where(start, idx, 0))
    return idx - first


def empty_plays() -> Plays:
    """A :class:`Plays` with no rows."""
    i = np.zeros(0, dtype=np.int64)
    b = np.zeros(0, dtype=bool)
    return Plays(
        i, i, i, i, i, i, i, b, b, i, i, b, b, i, b, b, i, np.zeros(0, dtype=object), i, i, b
    )


def simulate_listening(draw: UserDraw, seed: int, sim: Mapping[str, Any], cat: Catalogue) -> Plays:
    """All plays of one user over the period (see the module docstring for the process).

    Draws come from the user's listening generator ``SeedSequence([seed, 2, u])``.
    """
    rng = user_rng(seed, draw.u, LISTEN_STREAM)
    p = draw.params
    days = int(sim["days"])
    start = start_day64(str(sim["start_date"]))
    start_ms = int(start.astype("datetime64[ms]").astype(np.int64))
    start_weekday = int((start.astype(np.int64) + 3) % 7)

    # 1. sessions
    day_idx = np.arange(days)
    weekend_day = model.weekend_flag(day_idx, start_weekday)
    active = rng.random(days) < p.active_day_prob[0]
    n_sess = rng.poisson(p.sessions_per_day[0], days) * active
    s_day = np.repeat(day_idx, n_sess)
    s_we = weekend_day[s_day]
    ns = s_day.size
    cum_wd = np.cumsum(model.session_hour_probs(p, False)[0])
    cum_we = np.cumsum(model.session_hour_probs(p, True)[0])
    u_h = rng.random(ns)
    s_hour = np.where(
        s_we,
        np.searchsorted(cum_we, u_h * cum_we[-1], side="right"),
        np.searchsorted(cum_wd, u_h * cum_wd[-1], side="right"),
    )
    s_hour = np.minimum(s_hour, 23)
    s_sec = rng.integers(0, 3600, ns)
    one = p.take(np.zeros(ns, dtype=np.int64))
    s_dev = _categorical(rng, model.device_probs(one, s_hour, s_we))
    s_tau = (s_day + s_hour / 24.0) / days
    s_type = _categorical(rng, model.session_type_probs(one, s_hour, s_we, s_dev, s_tau))
    s_habit = np.zeros(ns, dtype=bool)
    s_start = start_ms + s_day * MS_DAY + s_hour * MS_HOUR + s_sec * 1000

    # habit sessions
    if p.habitual[0]:
        hd = np.flatnonzero(active & ~weekend_day & (rng.random(days) < p.habit_strength[0]))
        h_hours = p.commute_hour[0] + rng.normal(0.0, model.HABIT_HOUR_SD, hd.size)
        h_ms = np.rint(h_hours * MS_HOUR).astype(np.int64)
        s_day = np.concatenate([s_day, hd])
        s_we = np.concatenate([s_we, np.zeros(hd.size, dtype=bool)])
        s_hour = np.concatenate([s_hour, (h_ms // MS_HOUR)])
        s_dev = np.concatenate([s_dev, np.full(hd.size, MOBILE)])
        s_type = np.concatenate([s_type, np.full(hd.size, PODCAST)])
        s_habit = np.concatenate([s_habit, np.ones(hd.size, dtype=bool)])
        s_start = np.concatenate([s_start, start_ms + hd * MS_DAY + h_ms])
    order = np.argsort(s_start, kind="stable")
    s_day, s_we, s_hour, s_dev, s_type, s_habit, s_start = (
        a[order] for a in (s_day, s_we, s_hour, s_dev, s_type, s_habit, s_start)
    )
    ns = s_day.size
    if ns == 0:
        return empty_plays()
    s_tau = (s_day + s_hour / 24.0) / days

    # session attributes
    has_pl = draw.pl_item_kind.size > 0 and np.any(draw.pl_item_kind == 0)
    u_mode = rng.random(ns)
    s_mode = np.where(
        u_mode < (0.45 if has_pl else 0.0),
        MODE_PLAYLIST,
        np.where(u_mode < (0.60 if has_pl else 0.15), MODE_ALBUM, MODE_TASTE),
    )
    shuffle_p = np.where(s_type == MUSIC, np.choose(s_mode, [0.65, 0.10, 0.30]), 0.05)
    s_shuffle = rng.random(ns) < shuffle_p
    s_offline = (s_dev == MOBILE) & (rng.random(ns) < float(sim["offline_share"]))
    s_incognito = rng.random(ns) < 0.005
    s_video = (s_type == PODCAST) & (rng.random(ns) < float(sim["video_share"]))
    n_ips = len(draw.ips)
    s_ip = np.where(s_dev == MOBILE, rng.integers(0, n_ips, ns), 0)
    u_c = rng.random(ns)
    travel = np.array(["GB", "DE", "ES", "US", "DK"], dtype=object)
    s_country = np.where(
        u_c < 0.003,
        "ZZ",
        np.where(u_c < 0.02, travel[rng.integers(0, travel.size, ns)], draw.country),
    ).astype(object)

    # 2. intended plays and skips
    L = p.plays_per_session[0]
    n_int = 1 + rng.poisson(np.maximum(L[s_type] - 1.0, 0.0))
    i_sess = np.repeat(np.arange(ns), n_int)
    i_type = s_type[i_sess]
    i_rank = _rank_in_group(i_sess)  # 0.. within session
    mean_skips = float(sim["skips_per_play"]) * SKIP_FACTOR[i_type]
    n_skip = rng.geometric(1.0 / (1.0 + mean_skips)) - 1
    r_int = np.repeat(np.arange(i_sess.size), n_skip + 1)
    r_sess = i_sess[r_int]
    nr = r_int.size
    r_pos = _rank_in_group(r_int)
    r_intended = r_pos == np.repeat(n_skip, n_skip + 1)
    r_type = s_type[r_sess]
    r_rank = _rank_in_group(r_sess)  # row position within session
    r_tau = s_tau[r_sess]

    # 3. items
    item = np.zeros(nr, dtype=np.int64)
    # music
    mus = np.flatnonzero(r_type == MUSIC)
    if mus.size:
        ms_sess = r_sess[mus]
        genre = sample_genres(rng, draw, r_tau[mus])
        taste_track = sample_tracks(rng, draw, cat, genre)
        # album: one per session, a favourite artist's album, in order from a random start
        sess_genre = sample_genres(rng, draw, s_tau)
        sess_artist_track = sample_tracks(rng, draw, cat, sess_genre)
        sess_album = cat.track_album[sess_artist_track]
        a_first = cat.album_first_track[sess_album]
        a_len = cat.album_n_tracks[sess_album]
        a_off = rng.integers(0, 1 << 30, ns) % a_len
        album_pos = np.where(
            s_shuffle[ms_sess],
            rng.integers(0, 1 << 30, mus.size) % a_len[ms_sess],
            (a_off[ms_sess] + r_rank[mus]) % a_len[ms_sess],
        )
        album_track = a_first[ms_sess] + album_pos
        track_pick = np.where(s_mode[ms_sess] == MODE_ALBUM, album_track, taste_track)
        if has_pl:
            is_tr = draw.pl_item_kind == 0
            pl_tracks = draw.pl_item_id[is_tr]
            pl_of = draw.pl_item_playlist[is_tr]
            n_pl = len(draw.pl_names)
            pl_len = np.bincount(pl_of, minlength=n_pl)
            pl_first = np.cumsum(pl_len) - pl_len
            usable = np.flatnonzero(pl_len > 0)
            s_pl = usable[rng.integers(0, usable.size, ns)]
            p_off = rng.integers(0, 1 << 30, ns) % pl_len[s_pl]
            plen = pl_len[s_pl][ms_sess]
            pos = np.where(
                s_shuffle[ms_sess],
                rng.integers(0, 1 << 30, mus.size) % plen,
                (p_off[ms_sess] + r_rank[mus]) % plen,
            )
            pl_track = pl_tracks[pl_first[s_pl][ms_sess] + pos]
            track_pick = np.where(s_mode[ms_sess] == MODE_PLAYLIST, pl_track, track_pick)
        item[mus] = track_pick
    # podcasts
    pod = np.flatnonzero(r_type == PODCAST)
    if pod.size:
        s_show = draw.subs[
            np.minimum(
                np.searchsorted(draw.subs_cum, rng.random(ns) * draw.subs_cum[-1], side="right"),
                draw.subs.size - 1,
            )
        ]
        if p.habitual[0]:
            s_show = np.where(s_habit, p.habit_show[0], s_show)
        first_ep = cat.show_first_episode[s_show]
        latest = (
            np.searchsorted(cat.episode_keys, s_show * (1 << 20) + s_day + (1 << 19), side="right")
            - 1
        )
        back = first_ep + (rng.random(ns) * (latest - first_ep + 1)).astype(np.int64)
        e0 = np.where(s_habit | (rng.random(ns) < 0.6), latest, back)
        ps = r_sess[pod]
        int_rank = i_rank[r_int[pod]]
        ep_int = np.maximum(e0[ps] - int_rank, first_ep[ps])
        ep_skip = first_ep[ps] + (rng.random(pod.size) * (latest[ps] - first_ep[ps] + 1)).astype(
            np.int64
        )
        item[pod] = np.where(r_intended[pod], ep_int, ep_skip)
    # audiobooks
    book = np.flatnonzero(r_type == AUDIOBOOK)
    if book.size:
        ab_int = np.flatnonzero(i_type == AUDIOBOOK)  # intended audiobook plays, chronological
        progress = np.zeros(i_sess.size, dtype=np.int64)
        progress[ab_int] = np.arange(ab_int.size)
        c = progress[r_int[book]]
        n_ch = int(cat.audiobook_n_chapters[draw.books[0]])  # the same for every book
        bk = draw.books[(c // n_ch) % draw.books.size]
        item[book] = cat.audiobook_first_chapter[bk] + (c % n_ch)

    # 4. reasons
    first_row = r_rank == 0
    last_row = np.ones(nr, dtype=bool)
    last_row[:-1] = r_sess[1:] != r_sess[:-1]
    r_end = np.empty(nr, dtype=np.int64)
    skip_rows = ~r_intended
    r_end[skip_rows] = _choice(rng, SKIP_END, int(skip_rows.sum()))
    for k, spec in INTENDED_END.items():
        m = r_intended & ~last_row & (r_type == k)
        r_end[m] = _choice(rng, spec, int(m.sum()))
    r_end[last_row] = _choice(rng, LAST_END, int(last_row.sum()))
    r_dev = s_dev[r_sess]
    handheld = (r_dev != SPEAKER) & (r_dev != TV)
    remote_bad = handheld & (r_end == R["remote"])
    r_end[remote_bad & last_row] = R["endplay"]
    r_end[remote_bad & ~last_row] = R["trackdone"]
    r_start = np.empty(nr, dtype=np.int64)
    r_start[1:] = NEXT_START[r_end[:-1]]
    fs_hand = first_row & handheld
    fs_rem = first_row & ~handheld
    r_start[fs_hand] = _choice(rng, FIRST_START_HANDHELD, int(fs_hand.sum()))
    r_start[fs_rem] = _choice(rng, FIRST_START_REMOTE, int(fs_rem.sum()))
    r_habit = s_habit[r_sess]
    r_start[first_row & r_habit] = _choice(
        rng,
        ([R["clickrow"], R["playbtn"], R["appload"]], [0.5, 0.3, 0.2]),
        int((first_row & r_habit).sum()),
    )
    # after backbtn the same item restarts (chains follow the first item)
    restart = np.zeros(nr, dtype=bool)
    restart[1:] = (r_end[:-1] == R["backbtn"]) & ~first_row[1:]
    idx = np.arange(nr)
    anchor = np.maximum.accumulate(np.where(restart, 0, idx))
    item = item[anchor]

    # 5. durations and ms_played
    duration = np.where(
        r_type == MUSIC,
        cat.track_duration[np.where(r_type == MUSIC, item, 0)],
        np.where(
            r_type == PODCAST,
            cat.episode_duration[np.where(r_type == PODCAST, item, 0)],
            cat.chapter_duration[np.where(r_type == AUDIOBOOK, item, 0)],
        ),
    )
    u_ms = rng.random(nr)
    short_music = np.where(rng.random(nr) < 0.25, u_ms * 2000, 2000 + u_ms * 27_999)
    skip_ms = np.where(r_type == MUSIC, short_music, u_ms * 29_999)
    skip_ms = np.where(r_end == R["trackerror"], u_ms * 1500, skip_ms)
    skip_ms = np.minimum(skip_ms, duration - 1)
    full = r_end == R["trackdone"]
    part_ms = 30_000 + u_ms * (duration - 30_000)
    played = np.where(r_intended, np.where(full, duration, part_ms), skip_ms)
    played = np.floor(played).astype(np.int64)

    # timing
    gap = np.where(
        r_end == R["endplay"], rng.integers(2000, 20_000, nr), rng.integers(0, 1500, nr)
    ).astype(np.int64)
    step = played + gap
    sess_first = np.flatnonzero(first_row)
    cum = np.cumsum(step)
    before = np.concatenate([[0], cum[:-1]])
    rel = before - before[sess_first][r_sess]
    s_len = np.add.reduceat(step, sess_first) if nr else np.zeros(0, dtype=np.int64)
    # sessions that drew no rows cannot exist (every session has >= 1 intended play)
    pause = 60_000
    c_excl = np.concatenate([[0], np.cumsum(s_len + pause)[:-1]])
    s_real = np.maximum.accumulate(s_start - c_excl) + c_excl
    r_start_ms = s_real[r_sess] + rel
    end_ms = r_start_ms + played
    period_end = start_ms + days * MS_DAY
    keep = end_ms < period_end

    # offline_timestamp: the client clock at the start of playback (~0.5 s early); 0 on a few
    # rows. Offline plays are logged when the client syncs: ts = end + lognormal delay (median
    # 2.8 h, >= 150 s), as in the real endsong sample.
    r_offline = s_offline[r_sess]
    off_ts = r_start_ms - rng.integers(0, 1000, nr)
    off_ts[rng.random(nr) < 0.003] = 0
    delay = np.maximum(rng.lognormal(np.log(10_000.0), 1.2, nr), 150.0) * 1000
    ts_ms = end_ms + np.where(r_offline, delay.astype(np.int64), 0)

    return Plays(
        start_ms=r_start_ms[keep],
        ms_played=played[keep],
        ts_ms=ts_ms[keep],
        content_type=r_type[keep],
        item=item[keep],
        device=r_dev[keep],
        session=r_sess[keep],
        intended=r_intended[keep],
        habit=r_habit[keep],
        reason_start=r_start[keep],
        reason_end=r_end[keep],
        shuffle=s_shuffle[r_sess][keep],
        offline=r_offline[keep],
        offline_ts_ms=off_ts[keep],
        incognito=s_incognito[r_sess][keep],
        video=s_video[r_sess][keep],
        ip=s_ip[r_sess][keep],
        country=s_country[r_sess][keep],
        day=s_day[r_sess][keep],
        hour=s_hour[r_sess][keep],
        weekend=s_we[r_sess][keep],
    )
