"""Position-based-model correction on simulated slates whose true value is known."""

from __future__ import annotations

import numpy as np
import pytest

from prefcal import ope

THETA = np.array([1.0, 0.6, 0.3])  # examination by slot
GAMMA = np.array([0.30, 0.25, 0.20, 0.15, 0.40, 0.10])  # attractiveness by item
TARGET = np.array(
    [4, 0, 1]
)  # the target shows item 4 in slot 0, item 0 in slot 1, item 1 in slot 2
L, N_ITEMS = 3, 6


def _simulate(n_slates: int, support: list[np.ndarray], seed: int) -> dict:
    """Each slot draws its item uniformly from ``support[k]``; clicks follow the PBM."""
    rng = np.random.default_rng(seed)
    position = np.tile(np.arange(L), n_slates)
    action = np.empty(position.size, dtype=np.int64)
    mu = np.zeros((N_ITEMS, L))
    for k in range(L):
        rows = position == k
        action[rows] = rng.choice(support[k], rows.sum())
        mu[support[k], k] = 1.0 / support[k].size
    reward = (rng.random(position.size) < THETA[position] * GAMMA[action]).astype(float)
    action_dist = np.zeros((position.size, N_ITEMS, L))
    action_dist[:, TARGET, np.arange(L)] = 1.0
    return dict(
        reward=reward,
        action=action,
        position=position,
        pscore=mu[action, position],
        action_dist=action_dist,
        pscore_item=mu.sum(axis=1)[action],
    )


TRUTH = float(np.mean(THETA * GAMMA[TARGET]))  # value per impression


def test_pbm_ipw_is_unbiased_when_the_target_moves_items_between_slots() -> None:
    # items 0-2 are only ever logged in slot 0, items 3-5 only in slots 1 and 2
    support = [np.arange(3), np.arange(3, 6), np.arange(3, 6)]
    data = _simulate(150_000, support, seed=0)
    estimate = ope.pbm_ipw(examination=THETA, **data)
    assert estimate == pytest.approx(TRUTH, rel=0.03)
    snipw = ope.pbm_ipw(examination=THETA, self_normalize=True, **data)
    assert snipw == pytest.approx(TRUTH, rel=0.03)
    # per-slot IPW cannot see item 4 in slot 0 (never logged there): clearly biased
    obp_args = {k: v for k, v in data.items() if k != "pscore_item"}
    assert abs(ope.ipw(**obp_args) - TRUTH) / TRUTH > 0.2
    # ignoring position bias (theta = 1) is biased too
    assert abs(ope.pbm_ipw(examination=np.ones(L), **data) - TRUTH) / TRUTH > 0.08


def test_uniform_logging_default_item_propensity_and_examination_estimate() -> None:
    support = [np.arange(N_ITEMS)] * L
    data = _simulate(100_000, support, seed=1)
    np.testing.assert_allclose(data["pscore_item"], L * data["pscore"])
    without = {k: v for k, v in data.items() if k != "pscore_item"}
    assert ope.pbm_ipw(examination=THETA, **without) == ope.pbm_ipw(examination=THETA, **data)
    theta_hat = ope.examination_from_uniform_logs(data["reward"], data["position"])
    np.testing.assert_allclose(theta_hat, THETA / THETA[0], rtol=0.05)
    assert ope.pbm_ipw(examination=theta_hat, **without) == pytest.approx(TRUTH, rel=0.03)
    # examination known up to a constant: same estimate
    assert ope.pbm_ipw(examination=5 * THETA, **without) == pytest.approx(
        ope.pbm_ipw(examination=THETA, **without), rel=1e-12
    )


def test_hand_weights_and_bootstrap() -> None:
    # one row: item 1 logged in slot 1 with mu = 0.5; target puts item 1 in slot 0 w.p. 0.5 and
    # in slot 2 w.p. 0.5. omega = (0.5 * 1.0 + 0.5 * 0.25) / (0.5 * 2 * 0.5) = 1.25
    dist = np.zeros((1, 2, 3))
    dist[0, 1, 0] = dist[0, 1, 2] = 0.5
    dist[0, 0, 1] = 1.0
    dist[0, 0, 0] = dist[0, 0, 2] = 0.5
    omega = ope.pbm_weights([1], [1], [0.5], dist, [1.0, 0.5, 0.25])
    np.testing.assert_allclose(omega, [(0.5 * 1.0 + 0.5 * 0.25) / (0.5 * 3 * 0.5)])
    data = _simulate(2000, [np.arange(N_ITEMS)] * L, seed=2)
    ci = ope.bootstrap_ci(ope.pbm_ipw, n_boot=200, random_state=0, examination=THETA, **data)
    assert ci["lower"] <= ci["estimate"] <= ci["upper"]
    with pytest.raises(ValueError, match="examination"):
        ope.pbm_ipw(examination=[1.0, 0.5], **data)
