"""prefcal.rq.attribution: the weight MLE, and recovery of the true policy on simulated data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from prefcal.rq.attribution import attribute_policy, attribution_confusion, fit_weight
from prefcal.rq.contract import TARGETS
from prefcal.rq.synthetic import SyntheticConfig, simulate_snapshots

SMALL = replace(SyntheticConfig(), n_users=150, snapshots_per_user=20)


def test_fit_weight_recovers_mixing_strength():
    rng = np.random.default_rng(0)
    p = rng.dirichlet([0.5, 0.5, 0.5], 20000)
    pi = 0.6 * p + 0.4 / 3
    counts = rng.multinomial(20, pi).astype(float)
    assert fit_weight(counts, p, floor=0.0) == pytest.approx(0.6, abs=0.01)
    # a target unrelated to the recommendations gets weight 0
    assert fit_weight(counts, rng.dirichlet([0.5] * 3, 20000), floor=0.0) < 0.05


@pytest.mark.parametrize("policy", TARGETS)
def test_attribution_recovers_true_policy_strong_signal(policy):
    study = simulate_snapshots(SMALL, policy, 0.9, 100 + TARGETS.index(policy))
    att = attribute_policy(study.data, 200, np.random.default_rng(1))
    assert att.winner == policy
    row = att.table.set_index("target").loc[policy]
    assert row["weight"] == pytest.approx(0.9, abs=0.1)
    assert row["win_share"] >= 0.9
    assert att.margin_ci_low <= att.margin <= att.margin_ci_high


def test_confusion_matrix_small():
    conf = attribution_confusion(replace(SMALL, n_users=100), 0.8, 1, seed=3)
    assert conf.matrix.shape == (5, 5) and int(conf.matrix.to_numpy().sum()) == 5
    assert conf.accuracy == 1.0
    assert np.trace(conf.matrix.to_numpy()) == 5
