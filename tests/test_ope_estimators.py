"""Off-policy estimators: hand-computed answers, on-policy identity, a 200k-row simulation."""

from __future__ import annotations

import numpy as np
import pytest

from prefcal import ope

# --- a tiny hand case: 4 rounds, 2 actions, len_list = 1 ------------------------------------
REWARD = np.array([1.0, 0.0, 1.0, 0.0])
ACTION = np.array([0, 1, 1, 0])
PSCORE = np.array([0.5, 0.5, 0.25, 0.8])
PI0 = np.array([0.2, 0.6, 1.0, 0.5])  # target probability of action 0
ACTION_DIST = np.stack([PI0, 1 - PI0], axis=1)[:, :, None]
Q_HAT = np.array([[0.5, 0.2], [0.1, 0.3], [0.6, 0.6], [0.0, 1.0]])[:, :, None]
HAND = dict(
    reward=REWARD,
    action=ACTION,
    pscore=PSCORE,
    action_dist=ACTION_DIST,
    estimated_rewards_by_reg_model=Q_HAT,
)
# w = pi(a_i)/pscore = [0.2/0.5, 0.4/0.5, 0/0.25, 0.5/0.8]
W = np.array([0.4, 0.8, 0.0, 0.625])
# d_i = sum_a pi q = [0.26, 0.18, 0.6, 0.5]; e_i = r - q(a_i) = [0.5, -0.3, 0.4, 0.0]
DM = (0.26 + 0.18 + 0.6 + 0.5) / 4
E = np.array([0.5, -0.3, 0.4, 0.0])


def test_hand_case_values() -> None:
    assert ope.ipw(**HAND) == pytest.approx(0.4 / 4)
    assert ope.ipw(**HAND, lambda_=0.3) == pytest.approx(0.3 / 4)
    assert ope.snipw(**HAND) == pytest.approx(0.4 / W.sum())
    assert ope.dm(**HAND) == pytest.approx(DM)
    assert ope.dr(**HAND) == pytest.approx(DM + np.mean(W * E))
    assert ope.dr(**HAND) == pytest.approx(0.375)
    assert ope.sndr(**HAND) == pytest.approx(DM + np.sum(W * E) / W.sum())
    # switch-DR with lambda_ = 0.5: correction only where w <= 0.5 (rows 0 and 2)
    assert ope.switch_dr(**HAND, lambda_=0.5) == pytest.approx(DM + (0.4 * 0.5 + 0.0) / 4)
    shrunk = W / (W**2 + 1.0)
    assert ope.dr_os(**HAND, lambda_=1.0) == pytest.approx(DM + np.mean(shrunk * E))


def test_lambda_extremes() -> None:
    assert ope.switch_dr(**HAND, lambda_=np.inf) == pytest.approx(ope.dr(**HAND))
    assert ope.switch_dr(**HAND, lambda_=0.0) == pytest.approx(ope.dm(**HAND))
    assert ope.dr_os(**HAND, lambda_=np.inf) == pytest.approx(ope.dr(**HAND))
    assert ope.dr_os(**HAND, lambda_=0.0) == pytest.approx(ope.dm(**HAND))
    assert ope.ipw(**HAND, lambda_=np.inf) == ope.ipw(**HAND)


def test_positions_select_the_slot_of_each_row() -> None:
    # len_list = 2: row i is scored against action_dist[i, :, position_i]
    rng = np.random.default_rng(0)
    n, n_actions = 6, 3
    dist = rng.dirichlet(np.ones(n_actions), size=(n, 2)).transpose(0, 2, 1)
    q = rng.random((n, n_actions, 2))
    action = rng.integers(0, n_actions, n)
    position = np.array([0, 1, 1, 0, 1, 0])
    pscore = np.full(n, 1 / 3)
    reward = rng.integers(0, 2, n).astype(float)
    w = dist[np.arange(n), action, position] * 3
    d = np.array([dist[i, :, position[i]] @ q[i, :, position[i]] for i in range(n)])
    e = reward - q[np.arange(n), action, position]
    args = dict(reward=reward, action=action, position=position, pscore=pscore, action_dist=dist)
    assert ope.ipw(**args) == pytest.approx(np.mean(w * reward))
    assert ope.dr(**args, estimated_rewards_by_reg_model=q) == pytest.approx(np.mean(d + w * e))
    with pytest.raises(ValueError, match="position is required"):
        ope.ipw(reward=reward, action=action, pscore=pscore, action_dist=dist)


def test_on_policy_ipw_is_the_empirical_mean() -> None:
    rng = np.random.default_rng(1)
    n, n_actions = 5000, 4
    logging = rng.dirichlet(np.ones(n_actions), n)
    action = (rng.random(n)[:, None] > np.cumsum(logging, axis=1)).sum(axis=1)
    reward = rng.random(n)
    pscore = logging[np.arange(n), action]
    args = dict(reward=reward, action=action, pscore=pscore, action_dist=logging[:, :, None])
    assert ope.ipw(**args) == pytest.approx(reward.mean(), rel=1e-13)
    assert ope.snipw(**args) == pytest.approx(reward.mean(), rel=1e-13)


def test_snipw_is_invariant_to_weight_scaling() -> None:
    scaled = dict(HAND, pscore=PSCORE * 0.5)  # every weight doubles
    assert ope.snipw(**scaled) == pytest.approx(ope.snipw(**HAND), rel=1e-14)
    assert ope.ipw(**scaled) == pytest.approx(2 * ope.ipw(**HAND), rel=1e-14)
    assert ope.sndr(**scaled) == pytest.approx(ope.sndr(**HAND), rel=1e-14)


def test_simulation_estimates_are_within_two_percent_of_the_truth() -> None:
    """200k rounds, 5 actions, softmax logging vs a different softmax target; truth analytic."""
    rng = np.random.default_rng(2026)
    n, n_actions = 200_000, 5
    x = rng.normal(size=(n, 2))
    beta = np.array([[0.5, -0.3], [-0.2, 0.4], [0.3, 0.3], [0.0, -0.5], [-0.4, 0.1]])
    q_true = 1 / (1 + np.exp(-(x @ beta.T + np.linspace(-1, 0.5, n_actions))))

    def softmax(z: np.ndarray) -> np.ndarray:
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    logging = 0.8 * softmax(x @ beta.T) + 0.2 / n_actions
    target = softmax(3.0 * q_true)
    action = (rng.random(n)[:, None] > np.cumsum(logging, axis=1)).sum(axis=1)
    action = np.minimum(action, n_actions - 1)
    reward = (rng.random(n) < q_true[np.arange(n), action]).astype(float)
    truth = float(np.mean(np.sum(target * q_true, axis=1)))
    args = dict(
        reward=reward,
        action=action,
        pscore=logging[np.arange(n), action],
        action_dist=target[:, :, None],
        estimated_rewards_by_reg_model=q_true[:, :, None],  # a perfect reward model
    )
    assert ope.dm(**args) == pytest.approx(truth, rel=1e-12)
    for estimator in (ope.ipw, ope.snipw, ope.dr, ope.sndr, ope.switch_dr, ope.dr_os):
        assert estimator(**args) == pytest.approx(truth, rel=0.02), estimator.__name__
    # DR with the perfect model is much tighter than IPW's 2 %
    assert ope.dr(**args) == pytest.approx(truth, rel=0.005)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(pscore=np.array([0.5, 0.0, 0.25, 0.8])), r"pscore must lie in \(0, 1\]; row 1"),
        (dict(pscore=np.array([0.5, 1.5, 0.25, 0.8])), "pscore"),
        (dict(action_dist=ACTION_DIST * 0.9), "sum to 1 over actions; row 0"),
        (dict(action_dist=ACTION_DIST[:, :, 0]), "3-D"),
        (dict(action=np.array([0, 1, 2, 0])), r"action must lie in 0..1"),
        (dict(action=np.array([0.0, 1.0, 1.0, 0.0])), "integers"),
        (dict(reward=REWARD[:3]), "reward must have 4 rows"),
        (dict(estimated_rewards_by_reg_model=Q_HAT[:, :1]), "shape of action_dist"),
        (dict(position=np.array([0, 0, 1, 0])), r"position must lie in 0..0"),
    ],
)
def test_validation_messages(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ope.dr(**dict(HAND, **change))


def test_unknown_argument_is_rejected() -> None:
    with pytest.raises(TypeError, match="rewards"):
        ope.ipw(**HAND, rewards=REWARD)


def test_snipw_with_zero_weights_warns_and_returns_nan() -> None:
    dist = np.zeros_like(ACTION_DIST)
    dist[:, 1, 0] = 1.0
    args = dict(HAND, action=np.zeros(4, dtype=int), action_dist=dist)
    with pytest.warns(RuntimeWarning, match="sum to zero"):
        assert np.isnan(ope.snipw(**args))
