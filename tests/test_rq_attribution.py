"""prefcal.rq.attribution: the weight MLE, the calibration fit, the one-SE choice, and recovery of
the true policy on simulated data (synthetic generator and a distorting slate builder)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from prefcal.rq.attribution import (
    _one_se_choice,
    attribute_policy,
    attribution_confusion,
    calibrated_probs,
    fit_calibration,
    fit_weight,
)
from prefcal.rq.contract import TARGETS, SnapshotData
from prefcal.rq.synthetic import SyntheticConfig, simulate_snapshots

SMALL = replace(SyntheticConfig(), n_users=150, snapshots_per_user=20)
# a slate builder that distorts: row z = realised type mix for a pure-type-z target
DISTORT = np.array([[0.86, 0.09, 0.05], [0.36, 0.57, 0.07], [0.40, 0.14, 0.46]])


def test_fit_weight_recovers_mixing_strength():
    rng = np.random.default_rng(0)
    p = rng.dirichlet([0.5, 0.5, 0.5], 20000)
    pi = 0.6 * p + 0.4 / 3
    counts = rng.multinomial(20, pi).astype(float)
    assert fit_weight(counts, p, floor=0.0) == pytest.approx(0.6, abs=0.01)
    # a target unrelated to the recommendations gets weight 0
    assert fit_weight(counts, rng.dirichlet([0.5] * 3, 20000), floor=0.0) < 0.05


def test_fit_weight_newton_matches_bisection_reference():
    rng = np.random.default_rng(5)
    p = rng.dirichlet([1.0, 1.0, 1.0], 3000)
    counts = rng.multinomial(10, 0.3 * p + 0.7 / 3).astype(float)
    pt = 0.999 * p + 0.001 / 3
    diff = pt - 1 / 3

    lo, hi = 0.0, 1.0  # naive reference: bisection on the derivative
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if (counts * diff / (mid * pt + (1 - mid) / 3)).sum() > 0:
            lo = mid
        else:
            hi = mid
    assert fit_weight(counts, p) == pytest.approx(0.5 * (lo + hi), abs=1e-9)


def test_fit_calibration_recovers_distortion_and_probs_sum_to_one():
    rng = np.random.default_rng(1)
    p = rng.dirichlet([0.7, 0.7, 0.7], 40000)
    counts = rng.multinomial(6, p @ DISTORT).astype(float)
    c, rank, cond = fit_calibration(counts, p, floor=0.0)
    assert rank == 3 and cond > 1e-4
    np.testing.assert_allclose(c, DISTORT, atol=0.03)
    np.testing.assert_allclose(c.sum(axis=1), 1.0, atol=1e-9)  # least squares keeps row sums
    pi = calibrated_probs(p[:10], c)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)
    # a constant target has rank 1; its calibrated prediction is the overall type mix
    const = np.broadcast_to([0.5, 0.3, 0.2], p.shape)
    c1, r1, cond1 = fit_calibration(counts, const)
    assert r1 == 1 and cond1 < 1e-10
    np.testing.assert_allclose(
        calibrated_probs(const[:1], c1)[0], counts.sum(axis=0) / counts.sum(), atol=1e-6
    )


def test_one_se_rule_prefers_fewer_parameters_within_noise():
    scores = np.array([[-1.0000, -0.9999, -0.9]])  # model 2 is best by far
    assert _one_se_choice(scores, np.array([2.0, 6.0, 6.0]), np.array([0.01, 0.01, 0.0]))[0] == 2
    scores = np.array([[-1.0000, -0.9999, -1.2]])  # models 0 and 1 tie within one SE
    assert _one_se_choice(scores, np.array([2.0, 6.0, 6.0]), np.array([0.01, 0.0, 0.01]))[0] == 0


def _distorted_study(policy: str, seed: int) -> SnapshotData:
    """Synthetic snapshots whose types pass the policy's target through DISTORT (one draw per
    slot of a 6-slot slate) with epsilon = 0.5 uniform exploration before the distortion."""
    base = simulate_snapshots(replace(SMALL, n_users=300), policy, 1.0, seed).data
    rng = np.random.default_rng(seed + 1)
    p = base.targets[policy].copy()
    bad = ~np.isfinite(p).all(axis=1)
    p[bad] = base.targets["hist_90"][bad]
    p[~np.isfinite(p).all(axis=1)] = 1 / 3
    counts = rng.multinomial(6, (0.5 * p + 0.5 / 3) @ DISTORT).astype(float)
    return SnapshotData(
        base.participant_ids,
        base.user,
        base.snapshot_id,
        base.time,
        base.types,
        counts,
        base.targets,
        base.extras,
    )


@pytest.mark.parametrize("policy", ["hist_90", "hist_7", "context", "global_mix"])
def test_calibrated_attribution_sees_through_a_distorting_slate_builder(policy):
    data = _distorted_study(policy, 40 + TARGETS.index(policy))
    att = attribute_policy(data, 200, np.random.default_rng(2))
    assert att.winner == policy
    # a fixed mix wins by the one-SE rule, not by a margin: fewer resamples agree
    share = 0.5 if policy == "global_mix" else 0.9
    assert att.table.set_index("target").loc[policy, "win_share"] >= share
    if policy != "global_mix":  # responsiveness of C = 0.5 exploration x DISTORT: (tr - 1) / 2
        expected = (np.trace(0.5 * DISTORT + 0.5 * DISTORT.mean(axis=0)) - 1) / 2
        assert att.table.set_index("target").loc[policy, "weight"] == pytest.approx(
            expected, abs=0.06
        )


def test_level_method_is_fooled_by_the_distortion():
    data = _distorted_study("hist_90", 41)
    assert attribute_policy(data, 0, method="level").winner != "hist_90"
    with pytest.raises(ValueError, match="method"):
        attribute_policy(data, 0, method="bogus")


@pytest.mark.parametrize("policy", TARGETS)
def test_attribution_recovers_true_policy_strong_signal(policy):
    study = simulate_snapshots(SMALL, policy, 0.9, 100 + TARGETS.index(policy))
    att = attribute_policy(study.data, 200, np.random.default_rng(1))
    assert att.winner == policy
    row = att.table.set_index("target").loc[policy]
    if row["model"] == "level":
        assert row["weight"] == pytest.approx(0.9, abs=0.1)
    assert row["win_share"] >= (0.8 if policy == "popularity" else 0.9)
    assert att.margin_ci_low <= att.margin <= att.margin_ci_high


def test_confusion_matrix_small():
    conf = attribution_confusion(replace(SMALL, n_users=100), 0.8, 1, seed=3)
    assert conf.matrix.shape == (5, 5) and int(conf.matrix.to_numpy().sum()) == 5
    assert conf.accuracy == 1.0 == conf.accuracy_merged
    assert np.trace(conf.matrix.to_numpy()) == 5


def test_bootstrap_block_does_not_change_the_attribution():
    study = simulate_snapshots(
        SyntheticConfig(n_users=60, snapshots_per_user=6), "hist_90", 0.6, np.random.default_rng(8)
    )
    a = attribute_policy(study.data, 37, np.random.default_rng(1), block=250)
    b = attribute_policy(study.data, 37, np.random.default_rng(1), block=1)  # one draw a block
    cols = ["ll_ci_low", "ll_ci_high", "win_share"]
    assert a.table[cols].to_numpy().tobytes() == b.table[cols].to_numpy().tobytes()
    assert (a.margin_ci_low, a.margin_ci_high) == (b.margin_ci_low, b.margin_ci_high)
    assert np.isfinite(a.table["ll_ci_low"]).all() and a.table["win_share"].sum() == 1.0


def test_attribution_users_is_a_seeded_rule_on_ids():
    from prefcal.rq.attribution import attribution_users
    from prefcal.rq.subsample import ATTRIBUTION_STREAM, user_subsample

    data = simulate_snapshots(
        SyntheticConfig(n_users=30, snapshots_per_user=3), "hist_90", 0.5, np.random.default_rng(2)
    ).data
    assert attribution_users(data, 30, 7) is data and attribution_users(data, None, 7) is data
    sub = attribution_users(data, 12, 7)
    want = user_subsample(data.participant_ids, 12, 7, ATTRIBUTION_STREAM)
    assert sub.n_users == 12 and sub.participant_ids.tolist() == want.tolist()
    keep = np.isin(data.participant_ids[data.user], want)
    np.testing.assert_array_equal(sub.counts, data.counts[keep])
    assert attribution_users(data, 12, 8).participant_ids.tolist() != want.tolist()
