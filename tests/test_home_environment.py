"""The simulated Home environment: valid probabilities, determinism, true values vs Monte Carlo."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_home_helpers import tiny_catalogue, tiny_config, tiny_env

from prefcal.home.candidates import sample_without_replacement
from prefcal.home.examination import examination_probs
from prefcal.home.online import expected_outcomes, run_policy
from prefcal.home.policies import CalibratedPolicy, SlateInput
from prefcal.home.settings import home_settings
from prefcal.policies import simplex_grid


def _input(env, batch, target):
    hs = env.settings
    shares = {w: np.broadcast_to(target, (batch.n, 3)) for w in hs.windows}
    return SlateInput(
        batch.cands.relevance,
        np.zeros((batch.n, 1)),
        shares,
        simplex_grid(3, hs.arm_step),
        env.theta,
        hs.lam,
        hs.alpha,
    )


def test_examination_probs_known_values() -> None:
    assert np.allclose(examination_probs(3, 1.0), [1.0, 0.5, 1.0 / 3.0])
    assert np.allclose(examination_probs(4, 0.0), 1.0)
    with pytest.raises(ValueError, match="slate_size"):
        examination_probs(0, 1.0)


def test_probabilities_are_valid() -> None:
    env = tiny_env()
    batch = env.draw_requests()
    pi = env.type_preference(batch)
    assert np.allclose(pi.sum(axis=1), 1.0) and np.all(pi >= 0)
    ia = env.intent_attraction(batch)
    a = env.attraction(batch)
    assert ia.shape == (batch.n, 3, env.settings.n_actions)
    for arr in (ia, a):
        assert np.all((arr >= 0) & (arr <= 1))
    # the marginal attraction is the intent mixture
    assert np.allclose(a, np.einsum("ng,ngj->nj", pi, ia))
    # on-intent items are more attractive than the same item off-intent
    types = env.types
    for t in range(3):
        on = ia[:, t, types == t]
        off = ia[:, (t + 1) % 3, types == t]
        assert np.all(on > off)
    base = env.return_base(batch)
    k = env.settings.slate_size
    for s, sp in [(0, 0), (k, 0), (k, k)]:
        p = env.return_prob(base, np.full(batch.n, s), np.full(batch.n, sp))
        assert np.all((p >= 0) & (p <= 1))


def test_requests_and_candidates() -> None:
    env = tiny_env()
    hs = env.settings
    batch = env.draw_requests()
    assert batch.n == env.params.n * hs.requests_per_user
    d0, d1 = env.period("log")
    assert batch.day.min() >= d0 and batch.day.max() < d1
    assert np.all((batch.hour >= 0) & (batch.hour <= 23))
    k = hs.slate_size
    rel = batch.cands.relevance.reshape(batch.n, 3, k)
    assert np.all(np.diff(rel, axis=2) <= 0), "each type block is sorted best first"
    ids = batch.cands.item_id.reshape(batch.n, 3, k)
    for g in range(3):
        srt = np.sort(ids[:, g], axis=1)
        assert np.all(srt[:, 1:] != srt[:, :-1]), "candidates of a type are distinct"
    # a request's devices are devices the user owns
    owned = env.params.device_mix[batch.user_row, batch.device] > 0
    assert owned.all()


def test_requests_are_deterministic_and_per_user() -> None:
    env = tiny_env()
    a = env.draw_requests()
    b = env.draw_requests()
    assert np.array_equal(a.ts_ms, b.ts_ms)
    assert np.array_equal(a.cands.relevance, b.cands.relevance)
    sub = env.draw_requests(np.array([2, 4]))
    mask = np.isin(a.user_row, [2, 4])
    assert np.array_equal(sub.ts_ms, a.ts_ms[mask])
    assert np.array_equal(sub.cands.item_id, a.cands.item_id[mask])
    ua = env.outcome_uniforms(a)
    assert np.array_equal(env.outcome_uniforms(sub), ua[mask])


def test_true_value_matches_monte_carlo() -> None:
    """Expected outcomes of a fixed policy = the mean of many simulated outcomes."""
    env = tiny_env(n=4)
    batch = env.draw_requests()
    policy = CalibratedPolicy("fixed", lambda inp: inp.shares[28])
    inp = _input(env, batch, np.array([0.5, 0.3, 0.2]))
    truth = expected_outcomes(env, batch, inp, policy)
    rng = np.random.default_rng(0)
    width = env.outcome_uniforms(batch).shape[1]
    reps = 400
    sums = {key: np.zeros(reps) for key in truth}
    ia = env.intent_attraction(batch)
    for r in range(reps):
        out = run_policy(env, batch, inp, policy, rng.random((batch.n, width)), rng, ia)
        for key in truth:
            sums[key][r] = out[key].sum()
    for key in ("streams", "podcast_streams", "minutes", "returned", "podcast_impressions"):
        mean, se = sums[key].mean(), sums[key].std(ddof=1) / np.sqrt(reps)
        assert abs(mean - truth[key].sum()) <= 4 * se + 1e-9, key


def test_sampling_without_replacement_follows_weights() -> None:
    rng = np.random.default_rng(1)
    w = np.array([5.0, 1.0, 1.0, 1.0, 0.0, 2.0] + [0.5] * 60)
    sparse = sample_without_replacement(w, 3, rng.random((20000, 3 + 8 + 0)))
    for rows in (sparse,):
        assert np.all(np.sort(rows, axis=1)[:, 1:] != np.sort(rows, axis=1)[:, :-1])
        assert not np.any(rows == 4), "zero-weight items are never drawn"
    first = np.bincount(sparse[:, 0], minlength=w.size) / sparse.shape[0]
    assert np.allclose(first, w / w.sum(), atol=0.01)
    dense = sample_without_replacement(w[:6], 3, rng.gumbel(size=(20000, 6)))
    first = np.bincount(dense[:, 0], minlength=6) / dense.shape[0]
    assert np.allclose(first, w[:6] / w[:6].sum(), atol=0.01)
    with pytest.raises(ValueError, match="pool_sizes"):
        sample_without_replacement(w[:6], 6, rng.gumbel(size=(3, 6)))


def test_settings_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="home.pool_sizes.audiobook"):
        home_settings(tiny_config(slate_size=5))
    with pytest.raises(ValueError, match="home.test_days"):
        home_settings(tiny_config(test_days=14))
    cat = tiny_catalogue()
    assert cat.sizes == (40, 12, 8)


def test_context_strength_override() -> None:
    env = tiny_env()
    flat = env.with_context_strength(0.0)
    batch = flat.draw_requests()
    # without context the preference of a non-habitual user does not depend on hour and device
    moved = dataclasses.replace(
        batch, hour=(batch.hour + 7) % 24, device=np.zeros_like(batch.device)
    )
    keep = ~flat.params.habitual[batch.user_row]
    assert np.allclose(flat.type_preference(batch)[keep], flat.type_preference(moved)[keep])
    assert not np.allclose(env.type_preference(batch)[keep], env.type_preference(moved)[keep])
