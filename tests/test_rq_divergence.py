"""prefcal.rq.divergence: JS and multinomial log-likelihood known answers, and the H1 matrix."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from prefcal.rq.divergence import (
    cross_js_matrix,
    entropy_bits_rows,
    js_rows,
    multinomial_loglik_rows,
    smooth_target,
)


def test_js_known_answers():
    q = np.array([[1.0, 0.0], [0.5, 0.5], [3.0, 1.0], [0.5, 0.5]])
    p = np.array([[0.0, 1.0], [1.0, 0.0], [0.75, 0.25], [0.5, 0.5]])
    # disjoint = 1 bit; JS((.5,.5),(1,0)) = H(.75,.25) - (1 + 0)/2; counts are normalised first
    h = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    np.testing.assert_allclose(js_rows(q, p), [1.0, h - 0.5, 0.0, 0.0], atol=1e-15)


def test_js_nan_target_row_gives_nan_and_broadcasts():
    q = np.array([[1.0, 1.0], [2.0, 0.0]])
    p = np.array([[np.nan, np.nan], [0.5, 0.5]])
    out = js_rows(q, p)
    assert np.isnan(out[0]) and out[1] == pytest.approx(js_rows([[1, 0]], [0.5, 0.5])[0])


def test_multinomial_loglik_known_answers():
    counts = np.array([[2.0, 1.0, 0.0]])
    p = np.array([[0.5, 0.25, 0.25]])
    # 3!/(2! 1! 0!) * 0.5^2 * 0.25 = 0.1875
    assert multinomial_loglik_rows(counts, p, floor=0.0)[0] == pytest.approx(
        np.log(0.1875), abs=1e-12
    )
    ref = stats.multinomial.logpmf([2, 1, 0], 3, smooth_target(p[0], 0.1))
    assert multinomial_loglik_rows(counts, p, floor=0.1)[0] == pytest.approx(ref, abs=1e-12)


def test_multinomial_loglik_floor_keeps_zero_probability_finite():
    counts = np.array([[0.0, 0.0, 2.0]])
    p = np.array([[1.0, 0.0, 0.0]])
    assert multinomial_loglik_rows(counts, p, floor=0.0)[0] == -np.inf
    assert multinomial_loglik_rows(counts, p, floor=0.01)[0] == pytest.approx(2 * np.log(0.01 / 3))
    assert np.isnan(multinomial_loglik_rows(counts, [[np.nan] * 3], 0.01)[0])


def test_entropy_bits():
    np.testing.assert_allclose(
        entropy_bits_rows([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]]),
        [1.0, 0.0, 0.811278124459133],
        atol=1e-12,
    )


def test_cross_js_matrix_equals_brute_force():
    rng = np.random.default_rng(3)
    user = np.repeat(np.arange(6), [3, 1, 4, 2, 5, 3])
    counts = rng.integers(0, 4, (user.size, 3)).astype(float)
    counts[:, 0] += 1  # no empty slate
    counts[4] = counts[2]  # a duplicate row (the unique-row shortcut)
    p_users = rng.dirichlet([1, 1, 1], 6)
    p_users[1] = [1.0, 0.0, 0.0]
    d = cross_js_matrix(counts, user, 6, p_users, block_elements=7)
    ref = np.array(
        [[js_rows(counts[user == u], p_users[v]).mean() for v in range(6)] for u in range(6)]
    )
    np.testing.assert_allclose(d, ref, atol=1e-13)
