"""Contextual bandits over type mixes: exact propensities, learning a known best arm."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from prefcal.policies import (
    EpsilonGreedy,
    LinearThompson,
    LinUCB,
    multi_objective_reward,
    run_online,
    simplex_grid,
)
from prefcal.policies.bandits import arm_features

N_ARMS = 5
BEST = 3


def _reward_fn(X: np.ndarray, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = np.clip(0.25 + 0.25 * (arms == BEST) + 0.05 * X[:, 0], 0.0, 1.0)
    return (rng.random(arms.size) < p).astype(float)


def _uniform_log(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    arms = rng.integers(0, N_ARMS, n)
    return X, arms, _reward_fn(X, arms, rng)


def test_simplex_grid_sizes_and_order() -> None:
    two = simplex_grid(2, 0.1)
    assert two.shape == (11, 2)
    np.testing.assert_allclose(two[:, 1], np.arange(11) / 10)
    three = simplex_grid(3, 0.2)
    assert three.shape == (21, 3)
    np.testing.assert_allclose(three.sum(axis=1), 1.0)
    assert len({tuple(r) for r in np.round(three, 9)}) == 21
    with pytest.raises(ValueError, match="step"):
        simplex_grid(2, 0.3)


def test_epsilon_greedy_exact_propensities() -> None:
    X, arms, r = _uniform_log(3000, 0)
    policy = EpsilonGreedy("logistic", 0.2, n_arms=N_ARMS).fit(X, arms, r)
    dist = policy.action_dist(X[:100])
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    greedy = np.argmax(policy.predict_reward(X[:100]), axis=1)
    np.testing.assert_allclose(dist[np.arange(100), greedy], 1 - 0.2 + 0.2 / N_ARMS)
    off = np.ones_like(dist, dtype=bool)
    off[np.arange(100), greedy] = False
    np.testing.assert_allclose(dist[off], 0.2 / N_ARMS)
    # eps = 0 is greedy
    greedy_policy = EpsilonGreedy("logistic", 0.0, n_arms=N_ARMS).fit(X, arms, r)
    np.testing.assert_array_equal(greedy_policy.action_dist(X[:100]), np.eye(N_ARMS)[greedy])
    # sampling follows action_dist and reports its probabilities
    rep = np.repeat(X[:1], 20000, axis=0)
    drawn, pscore = policy.sample(rep, np.random.default_rng(1))
    np.testing.assert_allclose(pscore, dist[0, drawn])
    np.testing.assert_allclose(np.bincount(drawn, minlength=N_ARMS) / 20000, dist[0], atol=0.01)
    # before fit: uniform
    np.testing.assert_allclose(EpsilonGreedy(n_arms=4).action_dist(X[:3]), 0.25)


def test_logistic_closed_form_equals_predict_proba() -> None:
    X, arms, r = _uniform_log(2000, 1)
    policy = EpsilonGreedy("logistic", 0.1, n_arms=N_ARMS).fit(X, arms, r)
    fast = policy.predict_reward(X[:50])
    for a in range(N_ARMS):
        phi = arm_features(X[:50], np.full(50, a), N_ARMS)
        np.testing.assert_allclose(fast[:, a], policy.model_.predict_proba(phi)[:, 1], rtol=1e-10)


def test_epsilon_greedy_learns_best_arm_online() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 2))
    policy = EpsilonGreedy("logistic", 0.1, n_arms=N_ARMS)
    log = run_online(policy, X, _reward_fn, batch_size=500, rng=rng)
    assert np.all((log["pscore"] > 0) & (log["pscore"] <= 1))
    assert np.mean(np.argmax(policy.predict_reward(X), axis=1) == BEST) > 0.95
    # later batches play the best arm about 1 - eps + eps/A of the time
    assert np.mean(log["arms"][-500:] == BEST) > 0.8


def test_gradient_boosting_reward_model() -> None:
    X, arms, r = _uniform_log(3000, 3)
    # one OpenMP thread: on a shared 2-core runner the default thread pool spins for seconds
    with threadpool_limits(1):
        policy = EpsilonGreedy("gbm", 0.1, n_arms=N_ARMS, random_state=0).fit(X, arms, r)
        pred = policy.predict_reward(X[:200])
        again = EpsilonGreedy("gbm", 0.1, n_arms=N_ARMS, random_state=0).fit(X, arms, r)
        np.testing.assert_array_equal(again.predict_reward(X[:200]), pred)
    assert np.all((pred >= 0) & (pred <= 1))
    assert np.mean(np.argmax(pred, axis=1) == BEST) > 0.9


def test_multi_objective_reward_moves_the_best_arm() -> None:
    rng = np.random.default_rng(4)
    n = 6000
    X = rng.normal(size=(n, 2))
    arms = rng.integers(0, N_ARMS, n)
    stream = (rng.random(n) < np.where(arms == 1, 0.6, 0.3)).astype(float)
    long_term = (rng.random(n) < np.where(arms == 2, 0.9, 0.2)).astype(float)
    np.testing.assert_allclose(multi_objective_reward([1, 0], [0, 1], 0.25), [0.75, 0.25])
    best = {}
    for w in (0.0, 0.8):
        r = multi_objective_reward(stream, long_term, w)
        policy = EpsilonGreedy("logistic", 0.0, n_arms=N_ARMS).fit(X, arms, r)
        pred = policy.predict_reward(X[:100])
        assert np.all((pred >= 0) & (pred <= 1))
        best[w] = np.bincount(np.argmax(pred, axis=1), minlength=N_ARMS).argmax()
    assert best == {0.0: 1, 0.8: 2}
    with pytest.raises(ValueError, match="weight"):
        multi_objective_reward([1.0], [0.0], 1.5)


def test_constant_rewards_do_not_break_the_classifier() -> None:
    X, arms, _ = _uniform_log(50, 5)
    policy = EpsilonGreedy("logistic", 0.1, n_arms=N_ARMS).fit(X, arms, np.zeros(50))
    np.testing.assert_array_equal(policy.predict_reward(X), 0.0)
    np.testing.assert_allclose(policy.action_dist(X).sum(axis=1), 1.0)


def test_linucb_learns_best_arm_and_is_deterministic() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(3000, 2))
    policy = LinUCB(1.0, n_arms=N_ARMS)
    log = run_online(policy, X, _reward_fn, batch_size=300, rng=rng)
    np.testing.assert_array_equal(log["pscore"], 1.0)
    dist = policy.action_dist(X[:200])
    np.testing.assert_array_equal(dist.sum(axis=1), 1.0)
    assert set(np.unique(dist)) <= {0.0, 1.0}
    assert np.mean(np.argmax(dist, axis=1) == BEST) > 0.95
    # the posterior mean equals a per-arm ridge regression on [x, 1]
    z = np.hstack([X, np.ones((3000, 1))])
    za, ra = z[log["arms"] == BEST], log["reward"][log["arms"] == BEST]
    theta = np.linalg.solve(za.T @ za + np.eye(3), za.T @ ra)
    np.testing.assert_allclose(policy.theta_[BEST], theta, rtol=1e-8)


def test_linear_thompson_learns_and_estimates_propensities() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3000, 2))
    policy = LinearThompson(0.5, n_arms=N_ARMS, n_mc=200, random_state=0)
    log = run_online(policy, X, _reward_fn, batch_size=300, rng=rng)
    assert np.all((log["pscore"] > 0) & (log["pscore"] <= 1))
    dist = policy.action_dist(X[:200])
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    np.testing.assert_array_equal(policy.action_dist(X[:200]), dist)  # seeded: reproducible
    assert np.mean(dist[:, BEST]) > 0.8
    # the reported pscore estimates the probability of the played arm
    arms, pscore = policy.sample(X[:200], np.random.default_rng(8))
    assert np.mean(np.abs(pscore - dist[np.arange(200), arms])) < 0.1


def test_bad_bandit_input() -> None:
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedy(epsilon=1.5, n_arms=3)
    with pytest.raises(ValueError, match="arms must lie"):
        EpsilonGreedy(n_arms=3).fit(np.zeros((2, 1)), [0, 3], [0.0, 1.0])
    with pytest.raises(ValueError, match="rewards in"):
        EpsilonGreedy(n_arms=3).fit(np.zeros((2, 1)), [0, 1], [0.0, 2.0])
    with pytest.raises(ValueError, match="reward_model"):
        EpsilonGreedy("forest", n_arms=3).fit(np.zeros((2, 1)), [0, 1], [0.0, 1.0])
