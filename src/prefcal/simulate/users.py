"""Draw one simulated user: latent parameters, favourites, playlists, devices and dummy PII.

User u draws everything from its own generator ``default_rng(SeedSequence([seed, 1, u]))``, so a
user's output never depends on which shard simulates it or on the other users.

Latent parameters (see :mod:`prefcal.simulate.model` for how they are used):

* taste ``theta^start``: a *specialist* (probability ``specialist_share``) puts ``Beta(18, 2)``
  of the mass on 1-2 genres drawn by genre popularity (split ``Dirichlet(2, 2)``), the rest
  ``Dirichlet(0.3)`` over all genres; a generalist draws ``Dirichlet(1.5 G p_genre)``.
  ``theta^end = (1 - drift) theta^start + drift theta^new`` with ``theta^new`` a fresh draw of the
  same kind;
* type baseline ``b^start = (0, N(-1.6, 0.9) - 2.5 [podcast-averse], N(-3, 1) - 2.5
  [audiobook-averse])`` with averse probabilities 0.3 and 0.5; ``b^end = b^start + (0, N(0,
  type_drift^2), N(0, type_drift^2))``;
* context sensitivity ``c ~ Gamma(4, 0.25)``; commute hour ``m ~ N(7.75, 0.6)`` clipped to
  [5.5, 10]; night hour ``n ~ N(22.75, 1)`` mod 24;
* devices: desktop, speaker, tv owned with probabilities 0.7, 0.4, 0.35 (mobile always); weights
  ``Dirichlet(4 (0.55, 0.25, 0.12, 0.08))`` on owned devices;
* activity: weekday / weekend component weights ``Dirichlet(20 a)``; sessions per active day
  ``sessions_per_day * Gamma(4, 0.25)``; active-day probability ``Beta(8 p, 8 (1 - p))``;
* habit: habitual with probability ``habitual_share``; the show is a daily show drawn with weight
  ``show weight * (theta^start[genre] + 0.02)``.

Favourites: artist affinity ``weight_a^0.8 * Gamma(0.3, 1)`` (a few favourites per genre);
subscriptions ``1 + Poisson(3)`` shows and ``1 + Poisson(1.5)`` audiobooks drawn without
replacement with weight ``popularity weight * (theta^start[genre] + 0.02)``.

Playlists: ``playlists_per_user`` (inclusive range) playlists, each with a theme genre drawn from
``theta^start``; an item is a track of the theme genre with probability
:data:`PLAYLIST_THEME_SHARE` (0.75), else of a genre drawn from ``theta^start``; the artist by
affinity, the track by the artist's track weights; duplicates are dropped. One playlist in ten
also holds 1-2 podcast episodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from prefcal.simulate.catalogue import Catalogue, segment_keys
from prefcal.simulate.model import UserParams

USER_STREAM = 1
#: probability that a playlist item comes from the playlist's theme genre
PLAYLIST_THEME_SHARE = 0.75

IOS_VERSIONS = ("16.7.10", "17.5.1", "17.6.1", "18.1.1", "18.3.2", "18.5", "18.6.2")
IOS_MODELS = ("iPhone12,1", "iPhone13,2", "iPhone14,5", "iPhone14,7", "iPhone15,2", "iPhone16,1")
ANDROID = (
    ("13", "33", "samsung", "SM-A536B"),
    ("14", "34", "samsung", "SM-S911B"),
    ("14", "34", "Google", "Pixel 7"),
    ("15", "35", "Google", "Pixel 8a"),
    ("13", "33", "Xiaomi", "2201117TG"),
    ("14", "34", "OnePlus", "CPH2449"),
)
DESKTOP = (
    ("windows", "Windows 10 (10.0.19045; x64)"),
    ("windows", "Windows 11 (10.0.22631; x64)"),
    ("osx", "OS X 14.5.0 [arm 2]"),
    ("osx", "OS X 15.1.1 [arm 2]"),
)
#: (old-generation free text, new-generation normalised name) of smart speakers
SPEAKERS = (
    ("Partner sonos_one Sonos;One;", "sonos"),
    ("Partner amazon_salmon Amazon;Echo Dot;", "amazon_echo"),
    ("Partner google_home Google;Nest Mini;", "google_home"),
)
TVS = (
    "Partner samsung_tv Samsung;Tizen TV 2022;",
    "Partner android_tv Sony;BRAVIA 4K;",
    "Partner lg_tv LG;webOS TV 23;",
)
#: normalised platform name of TVs in the new extended-history generation
NEW_PLATFORM_TV = "smart_tv"
PLAYLIST_MOODS = (
    "Morning run",
    "Chill",
    "Road trip",
    "Focus",
    "Gym",
    "Sleep",
    "Party",
    "Rainy days",
    "Summer",
    "Cooking",
    "Throwbacks",
    "Late night",
    "Sunday",
    "Feel good",
    "Study",
)
PLAYLIST_EMOJI = ("", "", "", "", " \u2600\ufe0f", " \U0001f319", " \u2728", " \U0001f3a7")


@dataclass
class UserDraw:
    """Everything drawn for one user before listening is simulated."""

    u: int
    params: UserParams  # n = 1
    new_format: bool
    account_data: bool
    artist_keys: np.ndarray  # segment keys of the user's artist affinity within genres
    theta_cum_start: np.ndarray  # (G,) cumulative theta^start
    theta_cum_end: np.ndarray  # (G,) cumulative theta^end
    # playlists (flat, ordered by playlist then position)
    pl_names: list[str]
    pl_theme: np.ndarray  # (P,) theme genre
    pl_created_day: np.ndarray  # (P,) days since start (negative: before the period)
    pl_description: list[str | None]
    pl_followers: np.ndarray  # (P,)
    pl_item_playlist: np.ndarray  # (I,) playlist index of each item
    pl_item_kind: np.ndarray  # (I,) 0 track, 1 episode
    pl_item_id: np.ndarray  # (I,) track_id or episode_id
    pl_item_day: np.ndarray  # (I,) added day (days since start)
    subs: np.ndarray  # subscribed show ids (habit show first when habitual)
    subs_cum: np.ndarray  # cumulative session weights of subs
    books: np.ndarray  # audiobook ids in listening order
    # devices
    mobile_os: str  # "ios" | "android"
    platform_old: list[str]  # by device, old generation (mobile: before the OS upgrade)
    platform_old_mobile_upgraded: str
    upgrade_day: int  # day of the mobile OS upgrade (>= days: none)
    platform_new: list[str]  # by device, new generation
    user_agents: list[str]  # by device, old generation only ("unknown" for speaker and tv)
    # dummy PII
    username: str
    email: str
    ips: list[str]
    country: str


def user_rng(seed: int, u: int, stream: int = USER_STREAM) -> np.random.Generator:
    """Generator ``default_rng(SeedSequence([seed, stream, u]))`` of user ``u``.

    Stream 1 draws the user (:func:`draw_user`), stream 2 the listening, stream 3 the export
    details (row order, file contents).
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), int(u)]))


def _draw_taste(rng: np.random.Generator, specialist: bool, gpop: np.ndarray) -> np.ndarray:
    g = gpop.size
    if specialist:
        k = 1 + int(rng.random() < 0.5)
        core = rng.choice(g, size=min(k, g), replace=False, p=gpop)
        core_mass = rng.beta(18.0, 2.0)
        theta = rng.dirichlet(np.full(g, 0.3)) * (1.0 - core_mass)
        theta[core] += core_mass * rng.dirichlet(np.full(core.size, 2.0))
    else:
        theta = rng.dirichlet(1.5 * g * gpop)
    theta = np.maximum(theta, 1e-12)
    return theta / theta.sum()


def _hexes(rng: np.random.Generator, n: int, k: int) -> list[str]:
    return [f"{int(v):0{k}x}" for v in rng.integers(0, 16**k, size=n)]


def draw_user(u: int, seed: int, sim: Mapping[str, Any], cat: Catalogue) -> UserDraw:
    """All latent and descriptive draws of user ``u`` (see the module docstring)."""
    rng = user_rng(seed, u)
    gpop = cat.genre_popularity
    n_genres = cat.n_genres
    days = int(sim["days"])

    new_format = bool(rng.random() < float(sim["new_format_share"]))
    account_data = bool(rng.random() < float(sim["account_data_share"]))
    specialist = bool(rng.random() < float(sim["specialist_share"]))
    theta0 = _draw_taste(rng, specialist, gpop)
    drift = float(sim["drift"])
    theta1 = (1.0 - drift) * theta0 + drift * _draw_taste(rng, specialist, gpop)

    averse_p = rng.random() < 0.3
    averse_a = rng.random() < 0.5
    b0 = np.array(
        [0.0, rng.normal(-1.6, 0.9) - 2.5 * averse_p, rng.normal(-3.0, 1.0) - 2.5 * averse_a]
    )
    td = float(sim["type_drift"])
    b1 = b0 + np.array([0.0, rng.normal(0.0, td), rng.normal(0.0, td)]) if td > 0 else b0.copy()
    sensitivity = rng.gamma(4.0, 0.25)
    commute = float(np.clip(rng.normal(7.75, 0.6), 5.5, 10.0))
    night = float(np.mod(rng.normal(22.75, 1.0), 24.0))
    owns = np.array([True, rng.random() < 0.7, rng.random() < 0.4, rng.random() < 0.35])
    dev_mix = rng.dirichlet(4.0 * np.array([0.55, 0.25, 0.12, 0.08])) * owns
    dev_mix /= dev_mix.sum()
    wd_act = rng.dirichlet(20.0 * np.array([0.2, 0.1, 0.2, 0.3, 0.2]))
    we_act = rng.dirichlet(20.0 * np.array([0.25, 0.25, 0.15, 0.2, 0.15]))
    lam = float(sim["sessions_per_day"]) * rng.gamma(4.0, 0.25)
    p_act = float(sim["active_day_prob"])
    active = p_act if p_act in (0.0, 1.0) else float(rng.beta(8 * p_act, 8 * (1 - p_act)))

    daily_ids = np.flatnonzero(cat.show_daily)
    habitual = bool(rng.random() < float(sim["habitual_share"])) and daily_ids.size > 0
    habit_show = -1
    if habitual:
        w = cat.show_weight[daily_ids] * (theta0[cat.show_genre[daily_ids]] + 0.02)
        habit_show = int(daily_ids[rng.choice(daily_ids.size, p=w / w.sum())])
    pps = sim["plays_per_session"]
    params = UserParams(
        user_index=np.array([u], dtype=np.int64),
        specialist=np.array([specialist]),
        taste_start=theta0[None, :],
        taste_end=theta1[None, :],
        type_base_start=b0[None, :],
        type_base_end=b1[None, :],
        context_strength=np.array([float(sim["context_strength"])]),
        context_sensitivity=np.array([sensitivity]),
        commute_hour=np.array([commute]),
        night_hour=np.array([night]),
        device_mix=dev_mix[None, :],
        weekday_activity=wd_act[None, :],
        weekend_activity=we_act[None, :],
        sessions_per_day=np.array([lam]),
        active_day_prob=np.array([active]),
        habitual=np.array([habitual]),
        habit_show=np.array([habit_show], dtype=np.int64),
        habit_strength=np.array([float(sim["habit_strength"])]),
        plays_per_session=np.array(
            [[float(pps["music"]), float(pps["podcast"]), float(pps["audiobook"])]]
        ),
    )

    # favourites
    affinity = cat.artist_weight**0.8 * rng.gamma(0.3, 1.0, cat.artist_weight.size)
    affinity = np.maximum(affinity, 1e-300)
    artist_keys = segment_keys(affinity, cat.artist_genre, n_genres)

    def pick_weighted(weights: np.ndarray, k: int) -> np.ndarray:
        k = min(k, int(np.count_nonzero(weights)))
        return rng.choice(weights.size, size=k, replace=False, p=weights / weights.sum())

    show_w = cat.show_weight * (theta0[cat.show_genre] + 0.02)
    subs = pick_weighted(show_w, 1 + int(rng.poisson(3.0)))
    if habitual:
        subs = np.concatenate([[habit_show], subs[subs != habit_show]])
    sub_w = rng.dirichlet(np.ones(subs.size))
    book_w = cat.audiobook_weight * (theta0[cat.audiobook_genre] + 0.02)
    books = pick_weighted(book_w, 1 + int(rng.poisson(1.5)))

    # playlists
    lo, hi = (int(x) for x in sim["playlists_per_user"])
    n_pl = int(rng.integers(min(lo, hi), max(lo, hi) + 1))
    theme = rng.choice(n_genres, size=n_pl, p=theta0)
    llo, lhi = (int(x) for x in sim["playlist_length"])
    lengths = rng.integers(min(llo, lhi), max(llo, lhi) + 1, size=n_pl)
    item_pl = np.repeat(np.arange(n_pl), lengths)
    n_items = item_pl.size
    own_genre = rng.random(n_items) < PLAYLIST_THEME_SHARE
    other = np.searchsorted(np.cumsum(theta0), rng.random(n_items) * theta0.sum(), side="right")
    genre = np.where(own_genre, theme[item_pl], np.minimum(other, n_genres - 1))
    artist = np.searchsorted(artist_keys, genre + rng.random(n_items), side="right")
    track = np.searchsorted(cat.track_keys, artist + rng.random(n_items), side="right")
    # drop duplicates within a playlist, keep first occurrences in order
    key = item_pl.astype(np.int64) * (1 << 32) + track
    _, first = np.unique(key, return_index=True)
    keep = np.sort(first)
    item_pl, track = item_pl[keep], track[keep]
    kind = np.zeros(track.size, dtype=np.int64)
    # one playlist in ten gets 1-2 podcast episodes from subscribed shows (released before start)
    with_eps = np.flatnonzero(rng.random(n_pl) < 0.1)
    if with_eps.size and subs.size:
        n_e = rng.integers(1, 3, size=with_eps.size)
        ep_pl = np.repeat(with_eps, n_e)
        show = subs[rng.integers(0, subs.size, size=ep_pl.size)]
        first_ep = cat.show_first_episode[show]
        latest = (
            np.searchsorted(cat.episode_keys, show * (1 << 20) + (1 << 19) - 1, side="right") - 1
        )
        ep = first_ep + (rng.random(ep_pl.size) * (latest - first_ep + 1)).astype(np.int64)
        item_pl = np.concatenate([item_pl, ep_pl])
        track = np.concatenate([track, ep])
        kind = np.concatenate([kind, np.ones(ep.size, dtype=np.int64)])
    created = -rng.integers(30, 900, size=n_pl)
    added = created[item_pl] + (rng.random(item_pl.size) * (-created[item_pl])).astype(np.int64)
    order = np.lexsort((added, item_pl))
    item_pl, track, kind, added = item_pl[order], track[order], kind[order], added[order]
    style = rng.random(n_pl)
    mood = np.asarray(PLAYLIST_MOODS, dtype=object)[rng.integers(0, len(PLAYLIST_MOODS), n_pl)]
    emoji = np.asarray(PLAYLIST_EMOJI, dtype=object)[rng.integers(0, len(PLAYLIST_EMOJI), n_pl)]
    gname = cat.genre_names[theme]
    pl_names = np.where(
        style < 0.3,
        gname,
        np.where(
            style < 0.5, "my " + gname + " mix", np.where(style < 0.6, gname + " " + mood, mood)
        ),
    )
    pl_names = (pl_names + emoji).tolist()
    has_desc = rng.random(n_pl) < 0.15
    pl_desc = [
        ("songs for " + str(m).lower()) if d else None for m, d in zip(mood, has_desc, strict=True)
    ]
    followers = np.where(rng.random(n_pl) < 0.8, 0, rng.geometric(0.3, size=n_pl))

    # devices and platforms
    ios = bool(rng.random() < 0.55)
    ver = int(rng.integers(0, len(IOS_VERSIONS) - 1))
    model = IOS_MODELS[int(rng.integers(0, len(IOS_MODELS)))]
    a = ANDROID[int(rng.integers(0, len(ANDROID)))]
    if ios:
        mobile_old = f"iOS {IOS_VERSIONS[ver]} ({model})"
        mobile_up = f"iOS {IOS_VERSIONS[ver + 1]} ({model})"
    else:
        mobile_old = f"Android OS {a[0]} API {a[1]} ({a[2]}, {a[3]})"
        nxt = str(int(a[0]) + 1)
        mobile_up = f"Android OS {nxt} API {int(a[1]) + 1} ({a[2]}, {a[3]})"
    upgrade_day = int(rng.integers(0, days)) if rng.random() < 0.5 else days
    desk = DESKTOP[int(rng.integers(0, len(DESKTOP)))]
    speaker = SPEAKERS[int(rng.integers(0, len(SPEAKERS)))]
    tv = TVS[int(rng.integers(0, len(TVS)))]
    platform_old = [mobile_old, desk[1], speaker[0], tv]
    platform_new = ["ios" if ios else "android", desk[0], speaker[1], NEW_PLATFORM_TV]
    token = _hexes(rng, 2, 6)
    build = int(rng.integers(10, 99))
    if ios:
        ua_mobile = f"Spotify/9.0.{build}.{token[0]} iOS/{IOS_VERSIONS[ver]} ({model})"
    else:
        ua_mobile = f"Spotify/9.0.{build}.{token[0]} Android/{a[1]} ({a[3]})"
    desk_os = "Win32_x86_64" if desk[0] == "windows" else "OSX_ARM64"
    ua_desk = f"Spotify/1.2.{build}.{token[1]} {desk_os}/0 (PC desktop)"
    user_agents = [ua_mobile, ua_desk, "unknown", "unknown"]

    # dummy PII
    username = "sim-user-" + _hexes(rng, 1, 8)[0]
    n_ip = int(rng.integers(1, 4))
    ips = [f"198.51.100.{int(x)}" for x in rng.choice(np.arange(1, 255), size=n_ip, replace=False)]

    return UserDraw(
        u=u,
        params=params,
        new_format=new_format,
        account_data=account_data,
        artist_keys=artist_keys,
        theta_cum_start=np.cumsum(theta0),
        theta_cum_end=np.cumsum(theta1),
        pl_names=[str(x) for x in pl_names],
        pl_theme=theme.astype(np.int64),
        pl_created_day=created.astype(np.int64),
        pl_description=pl_desc,
        pl_followers=followers.astype(np.int64),
        pl_item_playlist=item_pl.astype(np.int64),
        pl_item_kind=kind,
        pl_item_id=track.astype(np.int64),
        pl_item_day=added.astype(np.int64),
        subs=subs.astype(np.int64),
        subs_cum=np.cumsum(sub_w),
        books=books.astype(np.int64),
        mobile_os="ios" if ios else "android",
        platform_old=platform_old,
        platform_old_mobile_upgraded=mobile_up,
        upgrade_day=upgrade_day,
        platform_new=platform_new,
        user_agents=user_agents,
        username=username,
        email=username + "@example.invalid",
        ips=ips,
        country="IS",
    )


def sample_genres(rng: np.random.Generator, draw: UserDraw, tau: np.ndarray) -> np.ndarray:
    """Genres from ``theta(tau)``: the mixture picks ``theta^end`` with probability tau."""
    use_end = rng.random(tau.size) < tau
    u = rng.random(tau.size)
    g0 = np.searchsorted(draw.theta_cum_start, u * draw.theta_cum_start[-1], side="right")
    g1 = np.searchsorted(draw.theta_cum_end, u * draw.theta_cum_end[-1], side="right")
    g = np.where(use_end, g1, g0)
    return np.minimum(g, draw.theta_cum_start.size - 1)


def sample_tracks(
    rng: np.random.Generator, draw: UserDraw, cat: Catalogue, genre: np.ndarray
) -> np.ndarray:
    """A track per genre: artist by the user's affinity, then track by the artist's weights."""
    artist = np.searchsorted(draw.artist_keys, genre + rng.random(genre.size), side="right")
    return np.searchsorted(cat.track_keys, artist + rng.random(genre.size), side="right")
