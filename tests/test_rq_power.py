"""prefcal.rq.power: H1 keeps its level under a preference-ignoring recommender and has power."""

from __future__ import annotations

from dataclasses import replace

import pytest

from prefcal.rq.power import clopper_pearson, h1_null_rate, h1_power_curve
from prefcal.rq.synthetic import SyntheticConfig

TINY = replace(SyntheticConfig(), n_users=25, snapshots_per_user=4, burn_in_days=90, study_days=14)


def test_h1_false_positive_rate_small():
    """150 null replications (the bench runs >= 200 at the configured size): 5 % +/- 4.5 %."""
    res = h1_null_rate(TINY, 150, 99, 0.05, seed=1)
    assert res.n_replications == 150
    assert 0.005 <= res.rate <= 0.095
    assert res.ci_low <= res.rate <= res.ci_high
    assert res.ks_statistic < 0.15


def test_h1_power_grows_with_alignment_and_users():
    curve = h1_power_curve(TINY, [10, 40], [0.0, 0.6], 20, 99, 0.05, seed=2)
    power = curve.set_index(["n_users", "alignment"])["power"]
    assert power[(40, 0.6)] >= 0.9
    assert power[(40, 0.6)] >= power[(10, 0.6)] >= power[(10, 0.0)] - 0.1
    assert (curve["n_replications"] == 20).all()


def test_clopper_pearson():
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.30849, abs=1e-4)
    lo, hi = clopper_pearson(5, 100)
    assert lo == pytest.approx(0.01643, abs=1e-4) and hi == pytest.approx(0.11284, abs=1e-4)
