"""Context profiles, empirical-Bayes strength, profile error and its paired bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from prefcal.config import load_config
from prefcal.preferences import (
    PreferenceParams,
    context_profiles,
    crossfit_strength,
    estimate_strength,
    js_distance_rows,
    paired_bootstrap_profile_error,
    profile_error,
)
from prefcal.preferences.context import hour_block_index, local_hour_weekend

TYPES = ("music", "podcast", "audiobook")


def dm_sample(
    rng: np.random.Generator, alpha: float, mean: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    p = (
        rng.dirichlet(alpha * mean, size=sizes.size)
        if mean.ndim == 1
        else np.array([rng.dirichlet(alpha * m) for m in mean])
    )
    return np.array([rng.multinomial(n, q) for n, q in zip(sizes, p, strict=True)])


@pytest.mark.parametrize("method, tol", [("marginal_likelihood", 0.2), ("moments", 0.3)])
def test_estimate_strength_recovers_alpha(method, tol):
    rng = np.random.default_rng(0)
    mean = rng.dirichlet(np.ones(3), size=1500)  # a different prior mean per row
    sizes = rng.integers(5, 60, 1500)
    counts = dm_sample(rng, 20.0, mean, sizes)
    est = estimate_strength(counts, mean, method)
    assert abs(np.log(est / 20.0)) < tol
    # plain multinomial rows (no heterogeneity): alpha is very large (complete pooling)
    multi = np.array([rng.multinomial(n, m) for n, m in zip(sizes, mean, strict=True)])
    assert estimate_strength(multi, mean, method) > 500
    with pytest.raises(ValueError, match="preferences.shrinkage"):
        estimate_strength(counts, mean, "bayes")


def test_crossfit_strength_recovers_alpha_from_held_out_halves():
    rng = np.random.default_rng(4)
    mean = rng.dirichlet(np.ones(3), size=2000)
    sizes = rng.integers(10, 80, 2000)
    p = np.array([rng.dirichlet(20.0 * m) for m in mean])
    a = np.array([rng.multinomial(n // 2, q) for n, q in zip(sizes, p, strict=True)])
    b = np.array([rng.multinomial(n - n // 2, q) for n, q in zip(sizes, p, strict=True)])
    est = crossfit_strength(np.vstack([a, b]), np.vstack([b, a]), np.vstack([mean, mean]))
    assert abs(np.log(est / 20.0)) < 0.2
    s, _ = simulated_context_streams(seed=3, n_users=30)
    prof = context_profiles(s, types=TYPES, method="crossfit")
    assert prof.method == "crossfit" and 1e-3 <= prof.alpha_context <= 1e6
    assert np.allclose(prof.cells("shrunk").sum(axis=-1), 1.0)


def test_hour_blocks_wrap_and_local_time():
    assert hour_block_index(np.array([0, 5, 6, 9, 10, 23]), [0, 6, 10, 14, 18, 22]).tolist() == [
        0,
        0,
        1,
        1,
        2,
        5,
    ]
    # before the first start: the last block (night wraps round)
    assert hour_block_index(np.array([3, 6, 20]), [6, 12, 18]).tolist() == [2, 0, 2]
    with pytest.raises(ValueError, match="analysis.hour_blocks"):
        hour_block_index(np.array([1]), [6, 6])
    ts = pd.Series(
        pd.to_datetime(["2026-01-09 23:30", "2026-01-10 12:00"], utc=True)
    )  # Fri, Sat UTC
    hour, weekend = local_hour_weekend(ts, "Europe/Berlin")
    assert hour.tolist() == [0, 13] and weekend.tolist() == [True, True]
    hour, weekend = local_hour_weekend(ts, "UTC")
    assert hour.tolist() == [23, 12] and weekend.tolist() == [False, True]


def simulated_context_streams(seed: int = 1, n_users: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    """Users whose podcast share depends on the morning block and on the device."""
    rng = np.random.default_rng(seed)
    rows = []
    base = pd.Timestamp("2026-01-05", tz="UTC")
    truth = {}
    for u in range(n_users):
        pid = f"P{u:010x}"
        n = int(rng.integers(40, 200))
        day = rng.integers(0, 28, n)
        hour = rng.integers(0, 24, n)
        dev = rng.choice(["mobile", "desktop", "web", "speaker"], n)
        morning = (hour >= 6) & (hour < 10)
        p_pod = np.clip(
            0.1 + 0.5 * morning + 0.2 * (dev == "mobile") + rng.normal(0, 0.05), 0, 0.95
        )
        ctype = np.where(
            rng.random(n) < p_pod, "podcast", np.where(rng.random(n) < 0.9, "music", "audiobook")
        )
        start = base + pd.to_timedelta(
            day * 86400 + hour * 3600 + rng.integers(0, 3600, n), unit="s"
        )
        rows.append(
            pd.DataFrame(
                {
                    "participant_id": pid,
                    "ts_start": start,
                    "ts_end": start + pd.Timedelta(minutes=3),
                    "ms_played": np.where(rng.random(n) < 0.2, 5_000, 180_000),
                    "content_type": ctype,
                    "device": dev,
                }
            )
        )
        truth[pid] = None
    return pd.concat(rows, ignore_index=True), np.array(list(truth))


def test_context_profiles_formulas_and_lookup():
    s, users = simulated_context_streams()
    prof = context_profiles(s, hour_blocks=(0, 6, 10, 14, 18, 22), types=TYPES)
    assert prof.classes == ("mobile", "desktop", "speaker", "tv", "other")
    assert prof.cell_counts.shape == (60, 6, 2, 5, 3)
    assert prof.cell_counts.sum() == (s["ms_played"] >= 30_000).sum()
    tot = prof.user_counts.sum(axis=0)
    pi = (tot + 0.5) / (tot.sum() + 1.5)
    assert np.allclose(prof.population, pi)
    pu = (prof.user_counts + prof.alpha_user * pi) / (
        prof.user_counts.sum(1, keepdims=True) + prof.alpha_user
    )
    assert np.allclose(prof.user_shrunk, pu)
    shrunk = prof.cells("shrunk")
    assert np.allclose(shrunk.sum(axis=-1), 1.0)
    n = prof.cell_counts[3, 2, 0, 0]
    want = (n + prof.alpha_context * pu[3]) / (n.sum() + prof.alpha_context)
    assert np.allclose(shrunk[3, 2, 0, 0], want)
    # the estimated strengths are finite and inside the bounds
    assert 1e-3 <= prof.alpha_context < 1e6 and 1e-3 <= prof.alpha_user <= 1e6
    # lookup: tv was never seen -> the user's overall profile; unknown user -> the population
    got = prof.lookup(
        np.array([users[3], users[3], "Pnobody"], dtype=object),
        np.array([2, 2, 0]),
        np.array([False, False, True]),
        np.array([0, 3, 0]),
    )
    assert np.allclose(got[0], want)
    assert np.allclose(got[1], pu[3])
    assert np.allclose(got[2], pi)
    at = prof.lookup_at(
        np.array([users[3]], dtype=object),
        pd.Series(pd.to_datetime(["2026-01-06 11:15"], utc=True)),  # Tuesday, block 10-14
        np.array(["web"]),  # web -> desktop
    )
    assert np.allclose(at[0], shrunk[3, 2, 0, 1])
    frame = prof.to_frame()
    assert list(frame.columns) == [
        "participant_id",
        "hour_block",
        "day_type",
        "device_class",
        "content_type",
        "count",
        "n_cell",
        "raw_share",
        "prior_share",
        "shrunk_share",
    ]
    assert np.allclose(
        frame.groupby(["participant_id", "hour_block", "day_type", "device_class"])[
            "shrunk_share"
        ].sum(),
        1.0,
    )
    assert frame["count"].sum() == prof.cell_counts.sum()
    users_frame = prof.users_frame()
    assert np.allclose(users_frame.groupby("participant_id")["shrunk_share"].sum(), 1.0)
    # data before a cut-off only
    cut = pd.Timestamp("2026-01-12", tz="UTC")
    early = context_profiles(s, types=TYPES, before=cut)
    assert early.cell_counts.sum() == ((s["ms_played"] >= 30_000) & (s["ts_start"] < cut)).sum()


def test_profile_error_and_shrinkage_beats_raw():
    s, users = simulated_context_streams(seed=2, n_users=80)
    prof = context_profiles(s, types=TYPES)
    # truth: the generating podcast share by cell (music/audiobook split 0.9 / 0.1 of the rest)
    blocks = np.array(prof.hour_blocks)
    rows = []
    for pid in users:
        for b in blocks:
            for day_type in ("weekday", "weekend"):
                for dev in ("mobile", "desktop", "speaker"):
                    hours = np.arange(b, blocks[blocks > b].min() if (blocks > b).any() else 24)
                    morning = np.mean((hours >= 6) & (hours < 10))
                    p = np.clip(0.1 + 0.5 * morning + 0.2 * (dev == "mobile"), 0, 0.95)
                    for ct, share in zip(TYPES, (0.9 * (1 - p), p, 0.1 * (1 - p)), strict=True):
                        rows.append((pid, int(b), day_type, dev, ct, share))
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
    err_shrunk = profile_error(prof, truth)
    err_raw = profile_error(prof, truth, kind="raw")
    assert 0 < err_shrunk < err_raw
    # identical estimate -> 0; a tidy table works as the estimate too
    assert profile_error(truth.rename(columns={"share": "est"}), truth, est_col="est") == 0.0
    res = paired_bootstrap_profile_error(
        prof,
        prof,
        truth,
        rng=np.random.default_rng(9),
        n_bootstrap=500,
        kind_a="shrunk",
        kind_b="raw",
    )
    assert res["diff"] == pytest.approx(err_shrunk - err_raw)
    assert res["ci_low"] <= res["diff"] <= res["ci_high"] < 0
    assert res["n_users"] == 80
    again = paired_bootstrap_profile_error(
        prof,
        prof,
        truth,
        rng=np.random.default_rng(9),
        n_bootstrap=500,
        kind_a="shrunk",
        kind_b="raw",
    )
    assert again == res
    with pytest.raises(ValueError, match="truth device_class 'car'"):
        profile_error(prof, truth.assign(device_class="car"))


def test_js_distance_known_values():
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    q = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.8]])
    got = js_distance_rows(p, q)
    assert got[0] == pytest.approx(1.0) and got[2] == 0.0
    assert got[1] == pytest.approx(jensenshannon(p[1], q[1], base=2))
    assert got[1] == pytest.approx(np.sqrt(0.5 * (0.5 * np.log2(2 / 3) + 0.5 + np.log2(4 / 3))))


def test_params_from_config():
    params = PreferenceParams.from_config(load_config())
    assert params.windows == (7, 28, 90) and params.hour_blocks == (0, 6, 10, 14, 18, 22)
    assert params.min_ms_played == 30_000
    assert params.window_kwargs()["half_life"] == (7, 30)
    assert params.context_kwargs()["device_classes"]["web"] == "desktop"
