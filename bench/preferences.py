"""Benchmark: windowed preference features for 1,000,000 requests (issue 3 bar).

Bar: ``window_features`` for 1,000,000 (participant, time) requests over 2,000 users x 180 days of
synthetic streams (15-25 plays per user and day, about 7.2 million rows) finishes in under 60 s and
is at least 50x faster than the straightforward per-request filter
(:func:`prefcal.preferences.window_features_naive`), timed in the same run on the first
``--naive-requests`` requests and extrapolated linearly to all requests. The fast and the naive
results on those requests are also checked to be equal.

Features computed: windows 7, 28 and 90 days and half-lives 7 and 30 days (config defaults),
content types music, podcast, audiobook, count weights, plays >= 30 s.

    nice -n 10 .venv/bin/python bench/preferences.py
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from prefcal.preferences import window_features, window_features_naive  # noqa: E402

START = pd.Timestamp("2026-01-05", tz="UTC")


def synthetic_streams(n_users: int, days: int, seed: int) -> pd.DataFrame:
    """Canonical-schema streams (the columns the features read, plus device), canonical order."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(15, 25, n_users)
    per_day = rng.poisson(np.repeat(rate, days))
    user = np.repeat(np.repeat(np.arange(n_users), days), per_day)
    day = np.repeat(np.tile(np.arange(days), n_users), per_day)
    n = user.size
    # hour of day: daytime-heavy mixture, seconds uniform within the hour
    hour = rng.choice(24, size=n, p=np.r_[np.full(6, 0.01), np.full(18, 0.94 / 18)])
    start_ms = (day.astype(np.int64) * 86400 + hour * 3600 + rng.integers(0, 3600, n)) * 1000
    order = np.lexsort((start_ms, user))  # canonical order: participant_id, ts_start
    user, start_ms = user[order], start_ms[order]
    short = rng.random(n) < 0.3
    ms_played = np.where(short, rng.integers(0, 30_000, n), rng.integers(30_000, 600_000, n))
    mix = rng.dirichlet([6.0, 2.0, 1.0], n_users)
    cum = np.cumsum(mix, axis=1)[user]
    ctype = (rng.random(n)[:, None] > cum[:, :2]).sum(axis=1)
    ids = np.array([f"P{i:010x}" for i in range(n_users)])
    base = START.value // 10**6  # epoch ms
    return pd.DataFrame(
        {
            "participant_id": pd.Series(ids[user], dtype="str"),
            "ts_start": pd.to_datetime(base + start_ms, unit="ms", utc=True),
            "ts_end": pd.to_datetime(base + start_ms + ms_played, unit="ms", utc=True),
            "ms_played": ms_played.astype(np.int64),
            "content_type": pd.Series(
                np.array(["music", "podcast", "audiobook"])[ctype], dtype="str"
            ),
            "device": pd.Series(
                np.array(["mobile", "desktop", "speaker", "tv"])[rng.integers(0, 4, n)], dtype="str"
            ),
            "skipped": rng.random(n) < 0.1,
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--naive-requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    t0 = time.perf_counter()
    streams = synthetic_streams(args.users, args.days, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    ids = streams["participant_id"].unique()
    requests = pd.DataFrame(
        {
            "participant_id": ids[rng.integers(0, ids.size, args.requests)],
            "t": START
            + pd.to_timedelta(rng.integers(0, args.days * 86_400_000, args.requests), unit="ms"),
        }
    )
    print(
        f"data: {args.users:,d} users x {args.days} days = {len(streams):,d} streams "
        f"({len(streams) / args.users / args.days:.1f} plays/user/day), "
        f"{len(requests):,d} requests "
        f"(generated in {time.perf_counter() - t0:.1f}s)"
    )

    t0 = time.perf_counter()
    fast = window_features(streams, requests)
    t_fast = time.perf_counter() - t0
    print(
        f"window_features: {t_fast:.1f}s for {len(requests):,d} requests, {fast.shape[1]} columns"
    )

    m = args.naive_requests
    sub = requests.iloc[:m]
    t0 = time.perf_counter()
    naive = window_features_naive(streams, sub)
    t_naive = time.perf_counter() - t0
    pd.testing.assert_frame_equal(fast.iloc[:m], naive, rtol=1e-9, atol=1e-12)
    t_naive_all = t_naive / m * len(requests)
    print(
        f"naive per-request filter: {t_naive:.1f}s for {m:,d} requests "
        f"({t_naive / m * 1e3:.1f} ms each) -> {t_naive_all / 3600:.1f} h extrapolated to "
        f"{len(requests):,d}; results equal on those {m:,d}"
    )
    ratio = t_naive_all / t_fast
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"speed-up (naive extrapolated / fast): {ratio:,.0f}x   peak RSS {peak:.2f} GB")
    ok = t_fast < 60 and ratio >= 50
    print(f"BAR (< 60 s and >= 50x): {'PASS' if ok else 'FAIL'} ({t_fast:.1f} s, {ratio:,.0f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
