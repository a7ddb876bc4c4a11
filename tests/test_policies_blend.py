"""Multinomial blending, the popularity baseline and the single-feature sanity-check policy."""

from __future__ import annotations

import numpy as np
import pytest

from prefcal.policies import (
    PopularityPolicy,
    SingleFeaturePolicy,
    multinomial_blend,
    multinomial_blend_batch,
    population_mix,
    steck_greedy,
)


def test_blend_takes_best_item_of_the_drawn_type() -> None:
    rel = np.array([0.9, 0.1, 0.5, 0.7, 0.3])
    types = np.array([0, 1, 1, 0, 1])
    # mix puts everything on type 1: items of type 1 by relevance, then the slate ends
    out = multinomial_blend(rel, types, [0.0, 1.0], 5, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [2, 4, 1])
    out = multinomial_blend(rel, types, [1.0, 0.0], 2, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [0, 3])


def test_blend_slot_types_follow_the_mix() -> None:
    rng = np.random.default_rng(1)
    n = 60
    rel = rng.random((4000, n))
    types = np.repeat(np.arange(3), n // 3)
    mix = np.array([0.5, 0.3, 0.2])
    slates = multinomial_blend_batch(rel, types, mix, 10, rng)
    shares = np.bincount(types[slates.ravel()], minlength=3) / slates.size
    np.testing.assert_allclose(shares, mix, atol=0.01)


def test_blend_renormalises_when_a_type_runs_out() -> None:
    # type 0 has 2 items: after they are used every slot is type 1
    rel = np.arange(10, dtype=float)
    types = np.array([0, 0] + [1] * 8)
    for seed in range(20):
        out = multinomial_blend(rel, types, [0.9, 0.1], 6, np.random.default_rng(seed))
        assert out.size == 6
        assert np.sum(types[out] == 0) <= 2
        assert set(out[types[out] == 1]) == set(range(9, 9 - np.sum(types[out] == 1), -1))


def test_blend_batch_equals_consecutive_single_calls() -> None:
    rng = np.random.default_rng(2)
    rel = np.where(rng.random((50, 20)) < 0.5, rng.integers(0, 3, (50, 20)), rng.random((50, 20)))
    types = rng.integers(0, 3, (50, 20))
    mix = rng.dirichlet(np.ones(3), 50)
    mix[::4, 2] = 0.0
    batch = multinomial_blend_batch(rel, types, mix, 25, np.random.default_rng(9))
    single_rng = np.random.default_rng(9)
    for i in range(50):
        single = multinomial_blend(rel[i], types[i], mix[i], 25, single_rng)
        np.testing.assert_array_equal(batch[i, : single.size], single)
        assert np.all(batch[i, single.size :] == -1)


def test_blend_is_deterministic_and_validates() -> None:
    a = multinomial_blend([0.1, 0.2, 0.3], [0, 1, 0], [0.5, 0.5], 3, np.random.default_rng(4))
    b = multinomial_blend([0.1, 0.2, 0.3], [0, 1, 0], [0.5, 0.5], 3, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="mix"):
        multinomial_blend([0.1], [0], [-1.0, 2.0], 1, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        multinomial_blend([0.1], [0], [1.0], 1, 0)  # type: ignore[arg-type]


def test_population_mix_and_popularity_policy() -> None:
    mix = population_mix(np.array([0, 0, 1, 2, 0, 1]), 3)
    np.testing.assert_allclose(mix, [0.5, 1 / 3, 1 / 6])
    np.testing.assert_allclose(population_mix([0, 1], 2, weights=[3.0, 1.0]), [0.75, 0.25])
    with pytest.raises(ValueError, match="0..1"):
        population_mix([0, 2], 2)
    policy = PopularityPolicy(3, lam=0.6).fit(np.array([0, 0, 1, 2, 0, 1]))
    rng = np.random.default_rng(0)
    rel = rng.random((5, 30))
    types = rng.integers(0, 3, 30)
    slates = policy.slates(rel, types, 6)
    for i in range(5):
        np.testing.assert_array_equal(slates[i], steck_greedy(rel[i], types, mix, 6, 0.6))
        np.testing.assert_array_equal(policy.slate(rel[i], types, 6), slates[i])
    with pytest.raises(RuntimeError, match="fit"):
        PopularityPolicy(3).slate(rel[0], types, 6)


def test_single_feature_policy_true_value_and_fit() -> None:
    rng = np.random.default_rng(3)
    n, n_arms = 20000, 3
    X = rng.normal(size=(n, 2))
    # the best arm is 2 when x_0 >= 0 and 0 otherwise
    mu = np.where(X[:, [0]] >= 0, [0.1, 0.2, 0.4], [0.5, 0.2, 0.1])
    policy = SingleFeaturePolicy(feature=0, thresholds=[0.0], n_arms=n_arms, arms=[0, 2])
    np.testing.assert_array_equal(
        policy.choose(np.array([[-1.0, 0], [0.0, 0], [2.0, 5]])), [0, 2, 2]
    )
    assert policy.true_value(X, mu) == pytest.approx(np.where(X[:, 0] >= 0, 0.4, 0.5).mean())
    dist = policy.action_dist(X)
    assert dist.shape == (n, n_arms, 1)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    # learnt from uniform logs: recovers the best arm per bin
    action = rng.integers(0, n_arms, n)
    reward = (rng.random(n) < mu[np.arange(n), action]).astype(float)
    learnt = SingleFeaturePolicy(0, [0.0], n_arms).fit(X, action, reward, np.full(n, 1 / 3))
    np.testing.assert_array_equal(learnt.arms_, [0, 2])
    with pytest.raises(ValueError, match="increasing"):
        SingleFeaturePolicy(0, [1.0, 0.0], 2)
