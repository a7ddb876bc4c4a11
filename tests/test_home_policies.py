"""Home policies as slate distributions, the logging policy and the logged tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_home_helpers import tiny_env, tiny_streams

from prefcal.home.features import StreamHistory
from prefcal.home.logging import (
    logging_policy,
    participant_ids,
    read_home_data,
    simulate_home_data,
    write_home_data,
)
from prefcal.home.policies import (
    ArmPolicy,
    BlendPolicy,
    CalibratedPolicy,
    SlateInput,
    exposure_from_slates,
    nearest_arm,
)
from prefcal.policies import simplex_grid, steck_greedy


def _random_input(n: int = 200, k: int = 3, seed: int = 0) -> SlateInput:
    rng = np.random.default_rng(seed)
    rel = -np.sort(-rng.random((n, 3, k)), axis=2).reshape(n, 3 * k)
    mix = rng.dirichlet(np.ones(3), size=n)
    return SlateInput(
        rel,
        rng.random((n, 2)),
        {90: mix},
        simplex_grid(3, 0.5),
        1.0 / (np.arange(k) + 1.0),
        0.5,
        0.01,
    )


def test_exposure_from_slates_known_case() -> None:
    theta = np.array([1.0, 0.5])
    slates = np.array([[2, 0], [1, 3]])
    e, c = exposure_from_slates(slates, theta, 4)
    assert np.allclose(e, [[0.5, 0, 1.0, 0], [0, 1.0, 0, 0.5]])
    assert np.allclose(c, [[1, 0, 1, 0], [0, 1, 0, 1]])
    # a 50/50 mixture of two slates
    mix = np.stack([slates, slates[::-1]], axis=0).transpose(1, 0, 2)  # (n=2, A=2, K=2)
    e2, c2 = exposure_from_slates(mix, theta, 4, np.full((2, 2), 0.5))
    assert np.allclose(e2[0], [0.25, 0.5, 0.5, 0.25])
    assert np.allclose(c2.sum(axis=1), 2.0)


def test_calibrated_policy_equals_steck_greedy() -> None:
    inp = _random_input()
    pol = CalibratedPolicy("SC", lambda i: i.shares[90])
    d = pol.distribution(inp)
    for i in range(0, inp.n, 37):
        slate = steck_greedy(inp.relevance[i], inp.item_type, inp.shares[90][i], inp.k, 0.5)
        expect = np.zeros(inp.relevance.shape[1])
        expect[slate] = inp.theta
        assert np.allclose(d.exposure[i], expect)
    assert np.allclose(d.exposure.sum(axis=1), inp.theta.sum())
    assert np.allclose(d.containment.sum(axis=1), inp.k)


def test_blend_closed_form_matches_sampling() -> None:
    """MB's exact exposure and containment agree with the mean of many sampled slates."""
    inp = _random_input(n=50, k=4)
    pol = BlendPolicy("MB", lambda i: i.shares[90])
    d = pol.distribution(inp)
    assert np.allclose(d.containment.sum(axis=1), inp.k)
    assert np.allclose(d.exposure.sum(axis=1), inp.theta.sum())
    rng = np.random.default_rng(3)
    reps = 3000
    e_mc = np.zeros_like(d.exposure)
    c_mc = np.zeros_like(d.containment)
    for _ in range(reps):
        s = pol.sample(inp, np.zeros(inp.n), rng).slates
        e, c = exposure_from_slates(s, inp.theta, inp.relevance.shape[1])
        e_mc += e / reps
        c_mc += c / reps
    assert np.abs(c_mc - d.containment).max() < 0.04
    assert np.abs(e_mc - d.exposure).max() < 0.04


def test_arm_policy_mixture_and_sampling() -> None:
    inp = _random_input(n=400)
    n_arms = inp.arms.shape[0]
    dist = np.random.default_rng(1).dirichlet(np.ones(n_arms), size=inp.n)
    pol = ArmPolicy("mix", lambda i: dist)
    d = pol.distribution(inp)
    assert np.allclose(d.mix, dist @ inp.arms)
    e_expected = sum(
        dist[:, [a]] * exposure_from_slates(inp.arm_slates()[:, a], inp.theta, 9)[0]
        for a in range(n_arms)
    )
    assert np.allclose(d.exposure, e_expected)
    u = np.random.default_rng(2).random(inp.n)
    arm, pscore = pol.sample_arms(inp, u)
    assert np.allclose(pscore, dist[np.arange(inp.n), arm])
    assert np.array_equal(
        pol.sample(inp, u, np.random.default_rng(0)).slates, inp.arm_slates()[np.arange(inp.n), arm]
    )


def test_nearest_arm_ties_to_lowest_index() -> None:
    arms = simplex_grid(2, 0.5)  # (1, 0), (0.5, 0.5), (0, 1)
    assert np.array_equal(
        nearest_arm(np.array([[0.75, 0.25], [0.9, 0.1], [0.2, 0.8]]), arms), [0, 0, 2]
    )


def test_logged_propensities_equal_action_dist(tmp_path) -> None:
    env = tiny_env()
    streams = tiny_streams(env)
    log, profiles = simulate_home_data(env, streams)
    hs = env.settings
    logger = logging_policy(log.inp.arms, hs.logging_epsilon, hs.logging_window)
    dist = logger.action_dist(log.inp)
    assert np.allclose(dist.sum(axis=1), 1.0)
    assert np.array_equal(log.pscore, dist[np.arange(log.n), log.arm])
    assert set(np.unique(np.round(log.pscore, 12))) <= {
        round(hs.logging_epsilon / dist.shape[1], 12),
        round(1 - hs.logging_epsilon + hs.logging_epsilon / dist.shape[1], 12),
    }
    # logged slates are the arms' greedy slates
    assert np.array_equal(log.outcomes.slates, log.inp.arm_slates()[np.arange(log.n), log.arm])

    # the tables round-trip
    ab, _ = simulate_home_data(env, streams, period="ab")
    pids = participant_ids(env.params.user_index, hs.seed)
    history = StreamHistory.from_streams(streams, pids)
    write_home_data(tmp_path / "shard_000", env, log, ab, profiles, history)
    log2, ab2, pop = read_home_data([tmp_path / "shard_000"], env)
    for a, b in [(log, log2), (ab, ab2)]:
        assert np.array_equal(a.batch.ts_ms, b.batch.ts_ms)
        assert np.array_equal(a.batch.user_row, b.batch.user_row)
        assert np.array_equal(a.batch.cands.genre, b.batch.cands.genre)
        assert np.allclose(a.inp.X, b.inp.X)
        assert np.allclose(a.batch.tau, b.batch.tau)
        assert np.array_equal(a.test, b.test)
    assert np.array_equal(log.outcomes.streamed, log2.outcomes.streamed)
    assert np.array_equal(log.outcomes.slates, log2.outcomes.slates)
    assert np.array_equal(log.pscore, log2.pscore)
    assert np.array_equal(pop, profiles.counts.sum(axis=0))
    imp = pd.read_parquet(tmp_path / "shard_000" / "impressions.parquet")
    assert len(imp) == log.n * hs.slate_size
    assert imp["streamed"].sum() == log.outcomes.streamed.sum()


def test_features_use_only_the_past() -> None:
    """Shares of a request do not change when streams after it are removed."""
    env = tiny_env(n=3)
    streams = tiny_streams(env)
    log, _ = simulate_home_data(env, streams)
    t_cut = int(np.median(log.batch.ts_ms))
    early = log.batch.ts_ms < t_cut
    cut = streams[streams["ts_end"] < pd.Timestamp(t_cut, unit="ms", tz="UTC")]
    log2, _ = simulate_home_data(env, cut)
    cols = [i for i, n in enumerate(log.names) if n.startswith("s")]
    assert np.allclose(log.inp.X[early][:, cols], log2.inp.X[early][:, cols])
