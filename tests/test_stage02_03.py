"""Glue of stages 02 and 03: truth profiles, crossfit shrinkage, profile error, cluster cards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.clustering import ClusteringParams, cluster_playlists, validation
from prefcal.clustering import stage as cstage
from prefcal.ingest import study_id
from prefcal.preferences import (
    PreferenceParams,
    context_profiles,
    crossfit_strength,
    estimate_strength,
    paired_bootstrap_profile_error,
)
from prefcal.preferences import stage as pstage
from prefcal.preferences.context import local_day_index
from prefcal.preferences.truth import expected_streams, true_context_profiles, true_hourly_mix
from prefcal.simulate import model

TYPES = ("music", "podcast", "audiobook")


def user_params(n: int, seed: int = 0, habitual: bool = True) -> model.UserParams:
    rng = np.random.default_rng(seed)
    g = 4
    dev = rng.dirichlet(np.ones(4), size=n)
    dev[0, 3] = 0.0  # user 0 owns no tv
    dev /= dev.sum(axis=1, keepdims=True)
    base = np.column_stack([np.zeros(n), rng.normal(-1.5, 0.5, n), rng.normal(-2.5, 0.5, n)])
    return model.UserParams(
        user_index=np.arange(n, dtype=np.int64),
        specialist=np.zeros(n, dtype=bool),
        taste_start=rng.dirichlet(np.ones(g), size=n),
        taste_end=rng.dirichlet(np.ones(g), size=n),
        type_base_start=base,
        type_base_end=base + rng.normal(0, 0.3, (n, 3)) * np.array([0, 1, 1]),
        context_strength=np.ones(n),
        context_sensitivity=rng.gamma(4.0, 0.25, n),
        commute_hour=rng.uniform(6, 9, n),
        night_hour=rng.uniform(21, 24, n) % 24,
        device_mix=dev,
        weekday_activity=rng.dirichlet(np.ones(5), size=n),
        weekend_activity=rng.dirichlet(np.ones(5), size=n),
        sessions_per_day=rng.uniform(1, 3, n),
        active_day_prob=np.full(n, 0.8),
        habitual=np.arange(n) % 2 == 0 if habitual else np.zeros(n, dtype=bool),
        habit_show=np.where(np.arange(n) % 2 == 0, 7, -1) if habitual else np.full(n, -1),
        habit_strength=np.full(n, 0.85),
        plays_per_session=np.tile([7.0, 1.3, 2.0], (n, 1)),
    )


def test_expected_streams_normalise_to_the_models_stream_mix():
    p = user_params(5)
    e = expected_streams(p, tau=0.4)
    for h in (0, 7, 13, 22):
        for w in (False, True):
            for d in range(4):
                want = model.expected_stream_mix(p, h, w, d, 0.4)
                tot = e[:, h, int(w), d].sum(axis=1)
                got = e[:, h, int(w), d] / np.where(tot > 0, tot, 1)[:, None]
                own = tot > 0
                np.testing.assert_allclose(got[own], want[own], rtol=1e-12, atol=1e-15)
    assert np.all(e[0, :, :, 3] == 0)  # a device the user does not own has no streams


def test_true_context_profiles_pool_hours_by_expected_volume():
    p = user_params(3)
    ids = np.array(["Pa", "Pb", "Pc"], dtype=object)
    blocks = (0, 6, 10, 14, 18, 22)
    t = true_context_profiles(p, ids, hour_blocks=blocks, tau=1.0)
    # shares sum to one per cell; user 0 has no tv cell
    sums = t.groupby(["participant_id", "hour_block", "day_type", "device_class"])["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert not ((t["participant_id"] == "Pa") & (t["device_class"] == "tv")).any()
    # block 6-10, weekday, mobile of user 1 = volume-weighted mix of hours 6..9
    e = expected_streams(p, 1.0)[1, 6:10, 0, 0]  # (hours, types)
    want = e.sum(axis=0) / e.sum()
    cell = t[
        (t["participant_id"] == "Pb")
        & (t["hour_block"] == 6)
        & (t["day_type"] == "weekday")
        & (t["device_class"] == "mobile")
    ].set_index("content_type")["share"]
    np.testing.assert_allclose(cell.reindex(list(TYPES)).to_numpy(), want)
    # the night block wraps round: 22, 23 (and nothing before 0)
    assert set(t["hour_block"]) == set(blocks)
    hourly = true_hourly_mix(p, ids, weekend=False)
    np.testing.assert_allclose(hourly.groupby(["participant_id", "hour"])["share"].sum(), 1.0)


def _sessions(rng, p, n_sessions, length):
    """Counts of one row from n_sessions sessions of `length` streams, each of one type."""
    return rng.multinomial(n_sessions, p) * length


def test_crossfit_recovers_strength_in_stream_units_where_likelihood_undershrinks():
    rng = np.random.default_rng(3)
    alpha, length = 20.0, 6
    mean = rng.dirichlet(np.ones(3) * 3, size=3000)
    truth = np.array([rng.dirichlet(alpha * m) for m in mean])
    sizes = rng.integers(2, 8, 3000)
    a = np.array([_sessions(rng, q, s, length) for q, s in zip(truth, sizes, strict=True)])
    b = np.array([_sessions(rng, q, s, length) for q, s in zip(truth, sizes, strict=True)])
    est = crossfit_strength(a, b, mean)
    # sessions of `length` streams: the right strength in stream units is about length * alpha
    assert 0.6 * length * alpha < est < 1.6 * length * alpha
    # the Dirichlet-multinomial likelihood on the pooled counts shrinks far too little
    assert estimate_strength(a + b, mean) < 0.5 * est
    # no informative row -> upper bound; shape errors are explicit
    assert crossfit_strength(np.zeros((2, 3)), np.ones((2, 3)), np.full((2, 3), 1 / 3)) == 1e6
    with pytest.raises(ValueError, match="same shape"):
        crossfit_strength(a, b[:, :2], mean)


def synthetic_streams(n_users: int = 30, days: int = 40, seed: int = 5) -> pd.DataFrame:
    """Podcasts on weekday mornings on mobile, music otherwise; sessions of a few streams."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2026-01-05", tz="UTC")
    for u in range(n_users):
        pid = f"P{u:010x}"
        for d in range(days):
            day = start + pd.Timedelta(days=d)
            for _ in range(rng.poisson(2)):
                hour = int(rng.integers(0, 24))
                morning = 6 <= hour < 10 and day.day_of_week < 5
                ctype = "podcast" if rng.random() < (0.7 if morning else 0.1) else "music"
                device = "mobile" if morning or rng.random() < 0.5 else "desktop"
                n = 1 if ctype == "podcast" else int(rng.integers(3, 8))
                t = day + pd.Timedelta(hours=hour, minutes=int(rng.integers(0, 50)))
                for i in range(n):
                    ts = t + pd.Timedelta(minutes=4 * i)
                    rows.append((pid, ts, ts + pd.Timedelta(minutes=3), 180_000, ctype, device))
    s = pd.DataFrame(
        rows,
        columns=["participant_id", "ts_start", "ts_end", "ms_played", "content_type", "device"],
    )
    s["item_uri"] = "spotify:track:x" + (s.index % 50).astype(str)
    s["creator_name"] = "A" + (s.index % 7).astype(str)
    s["reason_start"] = "trackdone"
    s["skipped"] = False
    return s


def test_context_profiles_crossfit_and_local_days():
    s = synthetic_streams()
    prof = context_profiles(s, types=TYPES, method="crossfit")
    assert prof.method == "crossfit"
    assert 1e-3 <= prof.alpha_user <= 1e6 and 1e-3 <= prof.alpha_context < 1e6
    cells = prof.cells("shrunk")
    np.testing.assert_allclose(cells.sum(axis=-1), 1.0)
    with pytest.raises(ValueError, match="crossfit"):
        context_profiles(s, types=TYPES, method="bayes")
    ts = pd.Series(pd.to_datetime(["2026-01-05 23:30", "2026-01-06 00:10"], utc=True))
    assert local_day_index(ts, "UTC").tolist() == [20458, 20459]
    # 23:30 UTC is already the next day in Berlin
    assert local_day_index(ts, "Europe/Berlin").tolist() == [20459, 20459]


def test_profile_error_table_matches_the_package_bootstrap():
    s = synthetic_streams()
    params = PreferenceParams(windows=(7, 28), half_lives=(7,), n_bootstrap=300)
    t = pstage.evaluation_time(s)
    assert t == s["ts_end"].max().floor("D") + pd.Timedelta(days=1)
    static, context = pstage.estimate_profiles(s, t, params)
    # truth: the generating mix of streams (podcast sessions of 1 stream with probability 0.7 on
    # weekday-morning mobile, else 0.1; music sessions of 5 streams on average; no audiobooks)
    users = sorted(s["participant_id"].unique())
    rows = []
    for pid in users:
        for b in params.hour_blocks:
            for day_type in ("weekday", "weekend"):
                for dev in ("mobile", "desktop"):
                    morning = b == 6 and day_type == "weekday"
                    if morning and dev == "desktop":
                        continue  # never used on weekday mornings
                    q = 0.7 if morning else 0.1
                    pod = q / (q + (1 - q) * 5.0)
                    rows += [
                        (pid, b, day_type, dev, "music", 1 - pod),
                        (pid, b, day_type, dev, "podcast", pod),
                        (pid, b, day_type, dev, "audiobook", 0.0),
                    ]
    truth = pd.DataFrame(
        rows,
        columns=[
            "participant_id",
            "hour_block",
            "day_type",
            "device_class",
            "content_type",
            "share",
        ],
    )
    table = pstage.profile_error_table(
        static, context, truth, params=params, seed=11, population="synthetic"
    )
    assert list(table.columns) == list(pstage.ERROR_COLUMNS)
    ref = table[(table["estimator"] == "static") & (table["window"] == "28d")].iloc[0]
    assert ref["diff_vs_static"] == 0 and ref["ci_low"] == 0 and ref["ci_high"] == 0
    row = table[(table["estimator"] == "context, shrunk") & (table["window"] == "28d")].iloc[0]
    want = paired_bootstrap_profile_error(
        context["28d"],
        pstage._static_cells(static["28d"], truth),
        truth,
        rng=np.random.default_rng(np.random.SeedSequence([11, 3])),
        n_bootstrap=300,
        est_col="est",
    )
    assert row["error"] == pytest.approx(want["error_a"], abs=1e-12)
    assert row["diff_vs_static"] == pytest.approx(want["diff"], abs=1e-12)
    assert row["ci_low"] == pytest.approx(want["ci_low"], abs=1e-12)
    assert row["ci_high"] == pytest.approx(want["ci_high"], abs=1e-12)
    # a strong context effect: the context profiles beat the static 28-day mix
    assert row["ci_high"] < 0
    frame, header = pstage.profile_error_latex_frame(table)
    assert len(frame) == len(table) and len(header) == frame.shape[1] == 5


def test_window_streams_bounds_and_evaluation_time():
    t = pd.Timestamp("2026-01-10", tz="UTC")
    s = pd.DataFrame(
        {
            "ts_end": pd.to_datetime(
                ["2026-01-03 00:00:00", "2026-01-03 00:00:01", "2026-01-10 00:00:00"], utc=True
            )
        }
    )
    # [t - 7 days, t): the stream at exactly t - 7 days is in, the one at t is out
    assert len(pstage.window_streams(s, t, 7)) == 2
    assert len(pstage.window_streams(s, t, None)) == 2
    assert pstage.evaluation_time(s) == pd.Timestamp("2026-01-11", tz="UTC")


def tiny_playlists() -> pd.DataFrame:
    """Eight playlists of two users: four rock (artists R0-R3), four jazz (J0-J3)."""
    rows = []
    for p in range(8):
        owner = "Pa" if p % 2 == 0 else "Pb"
        genre = "R" if p < 4 else "J"
        for pos in range(6):
            artist = f"{genre}{(p + pos) % 4}"
            uri = f"spotify:track:{genre}{(p * 3 + pos) % 9}"
            rows.append((owner, f"{owner}-{p}", pos, "track", uri, artist))
    return pd.DataFrame(
        rows,
        columns=[
            "participant_id",
            "playlist_id",
            "position",
            "item_kind",
            "item_uri",
            "creator_name",
        ],
    )


def test_cluster_cards_name_only_common_artists_and_truth_agreement():
    pl = tiny_playlists()
    params = ClusteringParams(
        n_components=3,
        min_playlists_per_artist=1,
        k_grid=(2, 3),
        n_seeds=2,
        n_bootstrap=3,
        n_init=2,
        nmf=False,
    )
    res = cluster_playlists(pl, params, seed=1)
    assert res.k == 2
    heard = pd.Series({"R0": 5, "R1": 5, "R2": 1, "J0": 9, "J1": 4})  # R3, J2, J3: nobody
    cards = cstage.cluster_cards(res, pl, heard, k_anonymity=5, n_top=3)
    assert cards["n_playlists"].sum() == 8 and cards["share_playlists"].sum() == pytest.approx(1)
    named = {a for s in cards["top_artists"] for a in s.split("; ") if a}
    assert named == {"R0", "R1", "J0"}
    assert cards["n_artists_suppressed"].sum() == 8 - 3
    assert set(cards["n_participants"]) == {2}
    # truth agreement: playlist ids built like the ingest's
    truth = pd.DataFrame(
        {"theme_genre": [0, 0, 0, 0, 1, 1, 1, 1], "dominant_genre": [0, 0, 0, 0, 1, 1, 1, 1]},
        index=pd.Index([f"{'Pa' if p % 2 == 0 else 'Pb'}-{p}" for p in range(8)]),
    )
    agree = validation.agreement_table(res, truth)
    assert agree["ari"].tolist() == [1.0, 1.0]
    purity = validation.cluster_purity(res, truth, pd.Series({0: "rock", 1: "jazz"}))
    assert sorted(purity["true_genre"]) == ["jazz", "rock"] and (purity["purity"] == 1).all()
    taste = cstage.taste_types(res, pl)
    assert taste.counts() == {"playlist": 18, "artist": 0, "unknown": 0}
    macros = cstage.stage_macros(
        res, n_playlists=8, taste=taste, cards=cards, params=params, k_anonymity=5
    )
    assert macros["CluChosenK"] == "2" and macros["CluARI"] == "n/a"


def test_playlist_truth_ids(tmp_path):
    d = tmp_path / "shard_000"
    d.mkdir()
    pd.DataFrame(
        {
            "folder": ["sim_000001", "sim_000001"],
            "playlist_index": [0, 1],
            "theme_genre": [3, 4],
            "dominant_genre": [3, 5],
        }
    ).to_parquet(d / "playlists.parquet")
    t = validation.playlist_truth([d], seed=7)
    pid = study_id("sim_000001", 7)
    assert t.loc[f"{pid}-1", "dominant_genre"] == 5 and t.loc[f"{pid}-0", "theme_genre"] == 3


def test_taste_entropy_order_and_example_users():
    feats = pd.DataFrame(
        {
            "participant_id": ["Pc", "Pa", "Pb"],
            "c0_90d": [0.5, 1.0, 0.5],
            "c1_90d": [0.5, 0.0, 0.5],
            "c10_90d": [0.0, 0.0, 0.0],
            "n_known_90d": [4, 4, 4],
        }
    )
    order = pstage.taste_entropy_order(feats, "c", "90d")
    assert list(order.index) == ["Pa", "Pb", "Pc"]  # entropy 0, then the tie by id
    assert list(order.columns) == ["c0_90d", "c1_90d", "c10_90d", "entropy"]
    s = synthetic_streams(n_users=8, days=20)
    prof = context_profiles(s, types=TYPES, method="crossfit")
    ex = pstage.example_users(prof, n=3)
    assert len(ex) == 3 and len(set(ex)) == 3
    blocks = pstage.block_profiles(prof)
    np.testing.assert_allclose(blocks.sum(axis=-1), 1.0)
