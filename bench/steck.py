"""Benchmark: Steck's calibrated greedy slate builder, fast (batched) vs the naive reference.

Bars (issue 4): the batched fast builder makes >= 20,000 slates/second for K = 20 slots from
N = 500 candidates of 3 types, and is >= 100x faster than the naive O(K N G) reference on the same
inputs. The naive reference is timed on fewer slates and normalised to slates/second; the first
slates of both are compared for equality.

    PYTHONPATH=src .venv/bin/python bench/steck.py [--requests 20000] [--naive 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from prefcal.policies import steck_greedy, steck_greedy_batch, steck_greedy_naive

K, N, G = 20, 500, 3
LAM, ALPHA = 0.5, 0.01
RATE_BAR = 20_000
RATIO_BAR = 100


def _best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="slates for the fast builder")
    parser.add_argument("--naive", type=int, default=100, help="slates for the naive reference")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(20261122)
    relevance = rng.random((args.requests, N))
    item_type = rng.integers(0, G, (args.requests, N))
    target = rng.dirichlet(np.ones(G), args.requests)

    steck_greedy_batch(relevance[:2048], item_type[:2048], target[:2048], K, LAM, ALPHA)  # warm-up
    t_batch = _best_of(
        lambda: steck_greedy_batch(relevance, item_type, target, K, LAM, ALPHA), args.repeats
    )
    batch = steck_greedy_batch(relevance, item_type, target, K, LAM, ALPHA)

    m = args.naive
    t_naive = _best_of(
        lambda: [
            steck_greedy_naive(relevance[i], item_type[i], target[i], K, LAM, ALPHA)
            for i in range(m)
        ],
        1,
    )
    t_single = _best_of(
        lambda: [
            steck_greedy(relevance[i], item_type[i], target[i], K, LAM, ALPHA) for i in range(m)
        ],
        1,
    )
    for i in range(m):
        naive = steck_greedy_naive(relevance[i], item_type[i], target[i], K, LAM, ALPHA)
        if not np.array_equal(naive, batch[i]):
            raise SystemExit(f"slate {i}: batched and naive builders disagree")

    rate_batch = args.requests / t_batch
    rate_naive = m / t_naive
    rate_single = m / t_single
    ratio = rate_batch / rate_naive
    print(f"Steck greedy, K={K} slots from N={N} candidates of G={G} types, lam={LAM}")
    print(f"  fast, batched ({args.requests} slates): {rate_batch:12,.0f} slates/s")
    print(f"  fast, one request per call ({m}):     {rate_single:12,.0f} slates/s")
    print(f"  naive reference ({m} slates):         {rate_naive:12,.0f} slates/s")
    single_ratio = rate_single / rate_naive
    print(f"  ratio batched / naive: {ratio:,.0f}x   (single / naive: {single_ratio:.1f}x)")
    print(f"  identical slates on the {m} compared requests: yes")
    ok_rate = rate_batch >= RATE_BAR
    ok_ratio = ratio >= RATIO_BAR
    print(f"  bar: >= {RATE_BAR:,} slates/s: {'PASS' if ok_rate else 'FAIL'}")
    print(f"  bar: >= {RATIO_BAR}x the naive reference: {'PASS' if ok_ratio else 'FAIL'}")
    return 0 if ok_rate and ok_ratio else 1


if __name__ == "__main__":
    raise SystemExit(main())
