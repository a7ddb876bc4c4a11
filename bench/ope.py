"""Benchmark: off-policy estimators on 1,000,000 logged rounds x 11 arms (len_list = 1).

Bar (issue 4): every estimator (input validation included) under 2 seconds. Baseline measured in
the same run: a plain Python loop over 10,000 rounds computing the same quantity, extrapolated
linearly to the full size; the ratio baseline / vectorised is printed for each estimator.

    PYTHONPATH=src .venv/bin/python bench/ope.py [--rounds 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from prefcal import ope

N_ARMS = 11
BAR_SECONDS = 2.0
LOOP_ROUNDS = 10_000


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _loop_ipw(reward, action, pscore, dist) -> float:
    total = 0.0
    for i in range(len(reward)):
        total += dist[i][action[i]] / pscore[i] * reward[i]
    return total / len(reward)


def _loop_dr(reward, action, pscore, dist, q) -> float:
    total = 0.0
    for i in range(len(reward)):
        row_pi, row_q = dist[i], q[i]
        dm = 0.0
        for a in range(N_ARMS):
            dm += row_pi[a] * row_q[a]
        w = row_pi[action[i]] / pscore[i]
        total += dm + w * (reward[i] - row_q[action[i]])
    return total / len(reward)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.rounds

    rng = np.random.default_rng(20261122)
    eps = 0.2
    greedy = rng.integers(0, N_ARMS, n)
    explore = rng.random(n) < eps
    action = np.where(explore, rng.integers(0, N_ARMS, n), greedy)
    pscore = np.where(action == greedy, 1 - eps + eps / N_ARMS, eps / N_ARMS)
    target = rng.dirichlet(np.ones(N_ARMS), n)
    q_hat = rng.random((n, N_ARMS))
    reward = (rng.random(n) < q_hat[np.arange(n), action]).astype(float)
    logged = dict(
        reward=reward,
        action=action,
        pscore=pscore,
        action_dist=target[:, :, None],
        estimated_rewards_by_reg_model=q_hat[:, :, None],
    )

    # baseline: plain Python loops over the first 10,000 rounds, extrapolated to n
    m = min(LOOP_ROUNDS, n)
    py = dict(
        reward=reward[:m].tolist(),
        action=action[:m].tolist(),
        pscore=pscore[:m].tolist(),
        dist=target[:m].tolist(),
    )
    t_loop_ipw, v_loop_ipw = _timed(lambda: _loop_ipw(**py))
    t_loop_dr, v_loop_dr = _timed(lambda: _loop_dr(**py, q=q_hat[:m].tolist()))
    base_ipw = t_loop_ipw * n / m
    base_dr = t_loop_dr * n / m
    head = {k: v[:m] for k, v in logged.items()}
    assert np.isclose(ope.ipw(**head), v_loop_ipw) and np.isclose(ope.dr(**head), v_loop_dr)

    print(f"OPE estimators on {n:,} rounds x {N_ARMS} arms (len_list = 1)")
    print(f"  baseline: Python loop over {m:,} rounds, extrapolated x{n / m:g}:")
    print(f"    IPW loop {base_ipw:8.2f} s     DR loop {base_dr:8.2f} s")
    estimators = {
        "dm": (ope.dm, {}, base_dr),
        "ipw": (ope.ipw, {}, base_ipw),
        "ipw (clipped, lambda_=10)": (ope.ipw, {"lambda_": 10.0}, base_ipw),
        "snipw": (ope.snipw, {}, base_ipw),
        "dr": (ope.dr, {}, base_dr),
        "sndr": (ope.sndr, {}, base_dr),
        "switch_dr (lambda_=5)": (ope.switch_dr, {"lambda_": 5.0}, base_dr),
        "dr_os (lambda_=5)": (ope.dr_os, {"lambda_": 5.0}, base_dr),
    }
    ok = True
    print(
        f"  {'estimator':28s} {'seconds':>8s} {'value':>9s} {'x loop':>8s}  bar < {BAR_SECONDS:g} s"
    )
    for name, (fn, extra, base) in estimators.items():
        seconds, value = _timed(lambda fn=fn, extra=extra: fn(**logged, **extra))
        passed = seconds < BAR_SECONDS
        ok &= passed
        print(
            f"  {name:28s} {seconds:8.3f} {value:9.5f} {base / seconds:8.0f}  "
            f"{'PASS' if passed else 'FAIL'}"
        )
    seconds, ci = _timed(lambda: ope.bootstrap_ci(ope.ipw, n_boot=100, random_state=0, **logged))
    print(
        f"  bootstrap_ci(ipw, n_boot=100): {seconds:.2f} s, "
        f"[{ci['lower']:.5f}, {ci['upper']:.5f}] (information, no bar)"
    )
    print(f"  bar: every estimator < {BAR_SECONDS:g} s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
