"""prefcal.rq.multiple: Benjamini-Hochberg against a hand computation and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from prefcal.rq.multiple import benjamini_hochberg


def test_bh_hand_computed():
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    # sorted 0.005, 0.01, 0.03, 0.04, 0.5 -> p * 5 / rank = .025, .025, .05, .05, .5 (monotone)
    adj, rej = benjamini_hochberg(p, q=0.05)
    np.testing.assert_allclose(adj, [0.025, 0.05, 0.05, 0.025, 0.5])
    assert rej.tolist() == [True, True, True, True, False]
    adj, rej = benjamini_hochberg(p, q=0.04)
    assert rej.tolist() == [True, False, False, True, False]


def test_bh_step_up_takes_running_minimum():
    # 0.02 * 2 / 1 = 0.04 at rank 1 but rank 2 gives 0.021 * 2 / 2 = 0.021: both adjusted to 0.021
    adj, _ = benjamini_hochberg([0.021, 0.02], q=0.05)
    np.testing.assert_allclose(adj, [0.021, 0.021])


def test_bh_matches_statsmodels_and_skips_nan():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.05, 5), rng.uniform(0, 1, 20)])
    adj, rej = benjamini_hochberg(p, q=0.1)
    ref_rej, ref_adj, _, _ = multipletests(p, alpha=0.1, method="fdr_bh")
    np.testing.assert_allclose(adj, ref_adj, atol=1e-15)
    assert rej.tolist() == ref_rej.tolist()
    with_nan = np.insert(p, 3, np.nan)
    adj2, rej2 = benjamini_hochberg(with_nan, q=0.1)
    assert np.isnan(adj2[3]) and not rej2[3]
    np.testing.assert_allclose(np.delete(adj2, 3), ref_adj, atol=1e-15)


def test_bh_rejects_bad_input():
    with pytest.raises(ValueError, match="rq.fdr"):
        benjamini_hochberg([0.1], q=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([1.2])
