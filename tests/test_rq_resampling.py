"""prefcal.rq.resampling: vectorised draws equal the loop references; exact nulls are uniform."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from prefcal.rq.resampling import (
    assignment_permutation_loop,
    assignment_permutation_test,
    assignment_statistic,
    block_rows,
    bootstrap_mean,
    bootstrap_mean_loop,
    bootstrap_slope,
    permutation_p_value,
    sign_flip_loop,
    sign_flip_test,
    slope_permutation_test,
)


def test_assignment_vectorised_equals_loop_same_seed():
    d = np.random.default_rng(1).random((7, 7))
    fast = assignment_permutation_test(d, 50, np.random.default_rng(9), block=8)
    slow = assignment_permutation_loop(d, 50, np.random.default_rng(9))
    np.testing.assert_allclose(fast.null, slow.null, atol=1e-14)
    assert fast.statistic == pytest.approx(slow.statistic, abs=1e-14)
    assert fast.p_value == slow.p_value


def test_sign_flip_and_bootstrap_equal_loops_same_seed():
    x = np.random.default_rng(2).normal(0.1, 1, 9)
    fast = sign_flip_test(x, 40, np.random.default_rng(5), block=7)
    slow = sign_flip_loop(x, 40, np.random.default_rng(5))
    np.testing.assert_allclose(fast.null, slow.null, atol=1e-14)
    assert fast.p_value == slow.p_value
    bf = bootstrap_mean(x, 40, np.random.default_rng(6), block=3)
    bs = bootstrap_mean_loop(x, 40, np.random.default_rng(6))
    np.testing.assert_allclose(bf.replicates, bs.replicates, atol=1e-14)
    assert (bf.ci_low, bf.ci_high) == pytest.approx((bs.ci_low, bs.ci_high))


def test_block_size_does_not_change_results():
    x = np.random.default_rng(3).normal(size=30)
    y = 0.5 * x + np.random.default_rng(4).normal(size=30)
    a = bootstrap_slope(x, y, 101, np.random.default_rng(0), block=7)
    b = bootstrap_slope(x, y, 101, np.random.default_rng(0), block=500)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    pa = slope_permutation_test(x, y, 101, np.random.default_rng(1), block=10)
    pb = slope_permutation_test(x, y, 101, np.random.default_rng(1), block=1000)
    assert pa.p_value == pb.p_value and pa.p_value < 0.05


def test_element_cap_bounds_blocks_without_changing_the_draws():
    assert block_rows(500, 1_000) == 500  # small studies: the blocks they always had
    assert block_rows(500, 100_000, 8_000_000) == 80
    assert block_rows(500, 10**9, 8_000_000) == 1
    x = np.random.default_rng(3).normal(size=300)
    y = 0.5 * x + np.random.default_rng(4).normal(size=300)
    a = bootstrap_mean(x, 57, np.random.default_rng(2), block=500)
    b = bootstrap_mean(x, 57, np.random.default_rng(2), block=500, block_elements=900)  # 3 rows
    assert a.replicates.tobytes() == b.replicates.tobytes()
    s1 = bootstrap_slope(x, y, 57, np.random.default_rng(2))
    s2 = bootstrap_slope(x, y, 57, np.random.default_rng(2), block_elements=301)  # 1 row
    assert s1.replicates.tobytes() == s2.replicates.tobytes()
    p1 = slope_permutation_test(x, y, 57, np.random.default_rng(5))
    p2 = slope_permutation_test(x, y, 57, np.random.default_rng(5), block_elements=1_000)
    assert p1.null.tobytes() == p2.null.tobytes()
    f1 = sign_flip_test(x, 57, np.random.default_rng(6))
    f2 = sign_flip_test(x, 57, np.random.default_rng(6), block_elements=1_000)
    np.testing.assert_allclose(f1.null, f2.null, rtol=0, atol=1e-15)  # BLAS rounding only
    assert f1.p_value == f2.p_value


def test_assignment_statistic_identity_and_known_value():
    d = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    # own = 0, other = 1 for everyone
    assert assignment_statistic(d) == pytest.approx(1.0)
    # the reversal (0 -> 2, 1 -> 1, 2 -> 0): users 0 and 2 get a foreign target
    assert assignment_statistic(d, np.array([[2, 1, 0]]))[0] == pytest.approx(
        np.mean([(2 - 1) / 2 - 1, 1.0, (2 - 1) / 2 - 1])
    )


def test_p_value_conventions():
    null = np.array([0.0, 1.0, 2.0, 3.0])
    assert permutation_p_value(2.0, null, "greater") == pytest.approx(3 / 5)
    assert permutation_p_value(2.0, null, "less") == pytest.approx(4 / 5)
    assert permutation_p_value(-3.0, null, "two-sided") == pytest.approx(2 / 5)
    assert np.isnan(permutation_p_value(np.nan, null))
    with pytest.raises(ValueError, match="alternative"):
        permutation_p_value(1.0, null, "bigger")


def test_exact_null_permutation_p_values_are_uniform():
    """Users i.i.d., recommendations independent of targets: H1's p-values ~ U(0, 1)."""
    rng = np.random.default_rng(11)
    pv = []
    for _ in range(300):
        q = rng.dirichlet([1, 1, 1], 15)  # recommendations, independent of ...
        p = rng.dirichlet([1, 1, 1], 15)  # ... the users' targets
        m = 0.5 * (q[:, None] + p[None])
        d = 0.5 * (q[:, None] * np.log2(q[:, None] / m)).sum(-1) + 0.5 * (
            p[None] * np.log2(p[None] / m)
        ).sum(-1)
        pv.append(assignment_permutation_test(d, 99, rng).p_value)
    pv = np.array(pv)
    assert stats.kstest(pv, "uniform").pvalue > 0.01
    assert 0.02 <= np.mean(pv <= 0.05) <= 0.09
    sf = [sign_flip_test(rng.normal(size=12), 99, rng).p_value for _ in range(300)]
    assert stats.kstest(sf, "uniform").pvalue > 0.01


def test_bootstrap_ci_covers_and_nan_dropped():
    x = np.r_[np.random.default_rng(8).normal(1.0, 1.0, 200), np.nan]
    res = bootstrap_mean(x, 500, np.random.default_rng(0))
    assert res.ci_low < 1.0 < res.ci_high
    assert res.estimate == pytest.approx(np.nanmean(x))
