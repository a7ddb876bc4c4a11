"""Tiny synthetic populations for the Home and evaluation tests (and tests of the helpers).

Nothing here runs the simulator: users, catalogue and stream histories are built directly, so the
tests stay fast and every expected value is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prefcal.home.candidates import HomeCatalogue
from prefcal.home.environment import HomeEnvironment
from prefcal.home.logging import participant_ids
from prefcal.home.settings import HomeSettings, home_settings
from prefcal.simulate.model import UserParams

N_GENRES = 4
SEED = 7

HOME = {
    "log_days": 14,
    "test_days": 4,
    "requests_per_user": 30,
    "ab_requests_per_user": 10,
    "slate_size": 3,
    "pool_sizes": {"music": 12, "podcast": 6, "audiobook": 4},
    "ranker_noise": 0.2,
    "examination_decay": 1.0,
    "engagement": 0.6,
    "type_preference": "stream_mix",
    "stream_model": {"intercept": 0.5, "fit_weight": 2.0, "off_intent_penalty": 3.0},
    "return_model": {"base_scale": 0.8, "stream_weight": 0.3, "podcast_weight": 0.3},
    "lam": 0.5,
    "alpha": 0.01,
    "arm_step": 0.5,
    "logging": {"epsilon": 0.5, "history_window": 28},
    "features": {
        "windows": [7, 28],
        "profile_days": 30,
        "profile_bandwidth": 1.5,
        "profile_shrinkage": 5,
    },
}

EVALUATION = {
    "cb": {
        "reward_model": "logistic_mix",
        "epsilon": 0.1,
        "ucb_alpha": 1.0,
        "ts_scale": 0.5,
        "ts_n_mc": 20,
        "mo_weight": 0.5,
    },
    "single_feature": {"feature": "s28_podcast", "thresholds": [0.1, 0.3]},
    "ope": {"lambda": 100, "ridge": 1.0, "max_error": 0.05},
    "n_bootstrap": 50,
    "ci_level": 0.9,
    "fit_max_users": 100,
    "intent_bands": [0.0, 0.1, 0.3, 1.0],
    "sensitivity": {
        "n_users": 4,
        "n_bootstrap": 20,
        "context_strength": [0.0, 1.0],
        "epsilon": [0.5],
        "lam": [0.5],
        "arm_step": [0.5],
        "slate_size": [3],
        "examination_decay": [0.5, 1.0],
    },
}


def tiny_config(**home_overrides: object) -> dict:
    """A config with the sections stage 04 reads (60 simulated days from 2026-01-05)."""
    home = {**HOME, **home_overrides}
    return {
        "seed": SEED,
        "simulation": {"days": 60, "start_date": "2026-01-05"},
        "analysis": {"hour_blocks": [0, 6, 10, 14, 18, 22]},
        "home": home,
        "evaluation": EVALUATION,
    }


def tiny_params(n: int = 6, context_strength: float = 1.0, seed: int = 3) -> UserParams:
    """``n`` users with random but valid latent parameters (genres 0..3)."""
    rng = np.random.default_rng(seed)
    taste = rng.dirichlet(np.ones(N_GENRES), size=n)
    base = np.column_stack([np.zeros(n), rng.normal(-1.0, 0.8, n), rng.normal(-2.5, 0.8, n)])
    dev = rng.dirichlet(np.array([4.0, 2.0, 1.0, 1.0]), size=n)
    return UserParams(
        user_index=np.arange(n, dtype=np.int64) * 3 + 1,
        specialist=np.zeros(n, dtype=bool),
        taste_start=taste,
        taste_end=0.7 * taste + 0.3 * rng.dirichlet(np.ones(N_GENRES), size=n),
        type_base_start=base,
        type_base_end=base + np.column_stack([np.zeros(n), rng.normal(0, 0.2, (n, 2))]),
        context_strength=np.full(n, float(context_strength)),
        context_sensitivity=rng.gamma(4.0, 0.25, n),
        commute_hour=rng.normal(7.75, 0.6, n),
        night_hour=np.mod(rng.normal(22.75, 1.0, n), 24.0),
        device_mix=dev,
        weekday_activity=rng.dirichlet(np.full(5, 4.0), size=n),
        weekend_activity=rng.dirichlet(np.full(5, 4.0), size=n),
        sessions_per_day=rng.gamma(4.0, 0.6, n),
        active_day_prob=rng.uniform(0.5, 0.9, n),
        habitual=np.arange(n) % 3 == 0,
        habit_show=np.where(np.arange(n) % 3 == 0, 1, -1).astype(np.int64),
        habit_strength=np.full(n, 0.8),
        plays_per_session=np.tile([7.0, 1.3, 2.0], (n, 1)),
    )


def tiny_catalogue(seed: int = 4) -> HomeCatalogue:
    """40 tracks, 12 shows, 8 audiobooks over 4 genres."""
    rng = np.random.default_rng(seed)
    sizes = (40, 12, 8)
    return HomeCatalogue(
        genre=tuple(rng.integers(0, N_GENRES, s).astype(np.int64) for s in sizes),
        weight=tuple(rng.lognormal(0.0, 1.0, s) for s in sizes),
        minutes=tuple(
            rng.uniform(lo, hi, s)
            for s, (lo, hi) in zip(sizes, [(2, 5), (15, 60), (20, 40)], strict=True)
        ),
    )


def tiny_env(
    n: int = 6, context_strength: float = 1.0, **home_overrides: object
) -> HomeEnvironment:
    """A Home environment over :func:`tiny_params` and :func:`tiny_catalogue`."""
    hs = home_settings(tiny_config(**home_overrides))
    return HomeEnvironment(tiny_params(n, context_strength), tiny_catalogue(), hs)


def tiny_streams(env: HomeEnvironment, per_user: int = 150, seed: int = 5) -> pd.DataFrame:
    """A canonical-looking streams table: random plays of every user before the period's end."""
    rng = np.random.default_rng(seed)
    hs: HomeSettings = env.settings
    pids = participant_ids(env.params.user_index, hs.seed)
    n = env.params.n * per_user
    who = np.repeat(np.arange(env.params.n), per_user)
    end = env.start_ms + rng.integers(0, hs.days * 86_400_000, n)
    pod = rng.random(n) < 0.15 + 0.4 * (who % 2)
    book = ~pod & (rng.random(n) < 0.05)
    ctype = np.where(pod, "podcast", np.where(book, "audiobook", "music"))
    ms = rng.integers(5_000, 400_000, n)
    dev = np.asarray(["mobile", "desktop", "speaker", "tv", "web"], dtype=object)[
        rng.integers(0, 5, n)
    ]
    return pd.DataFrame(
        {
            "participant_id": pids[who],
            "ts_start": pd.to_datetime(end - ms, unit="ms", utc=True),
            "ts_end": pd.to_datetime(end, unit="ms", utc=True),
            "ms_played": ms,
            "content_type": ctype,
            "device": dev,
        }
    )


def test_tiny_population_is_valid() -> None:
    env = tiny_env()
    p = env.params
    assert np.allclose(p.taste_start.sum(axis=1), 1.0)
    assert np.allclose(p.device_mix.sum(axis=1), 1.0)
    streams = tiny_streams(env)
    assert set(streams["participant_id"]) == set(participant_ids(p.user_index, SEED))
    assert (streams["ts_end"] > streams["ts_start"]).all()
