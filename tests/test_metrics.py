"""Known answers for the divergences in prefcal.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prefcal.metrics import (
    calibration_kl,
    calibration_kl_rows,
    js_divergence,
    js_divergence_rows,
)


def test_calibration_kl_hand_case() -> None:
    # q~ = 0.99 * (1, 0) + 0.01 * (0.5, 0.5) = (0.995, 0.005)
    expected = 0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(0.5 / 0.005)
    assert calibration_kl([0.5, 0.5], [1.0, 0.0]) == pytest.approx(expected, rel=1e-12)
    assert calibration_kl([0.5, 0.5], [1.0, 0.0], alpha=0.1) == pytest.approx(
        0.5 * math.log(0.5 / 0.95) + 0.5 * math.log(0.5 / 0.05), rel=1e-12
    )


def test_calibration_kl_zero_iff_equal_and_counts_are_normalised() -> None:
    assert calibration_kl([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0, abs=1e-15)
    assert calibration_kl([2, 3, 5], [4, 6, 10]) == pytest.approx(0.0, abs=1e-15)
    assert calibration_kl([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]) > 0


def test_calibration_kl_target_zero_terms_and_empty_slate() -> None:
    # p has a zero: its term is 0 ln 0 = 0
    p, q = [0.0, 1.0], [0.5, 0.5]
    assert calibration_kl(p, q) == pytest.approx(-math.log(0.99 * 0.5 + 0.01), rel=1e-12)
    # empty slate: q~ = alpha p, value -ln(alpha)
    assert calibration_kl([0.3, 0.7], [0, 0], alpha=0.01) == pytest.approx(-math.log(0.01))
    # alpha = 0 and q misses a type of p: infinite
    assert calibration_kl([0.5, 0.5], [1, 0], alpha=0.0) == math.inf


def test_js_divergence_known_values() -> None:
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_divergence([0.3, 0.7], [0.3, 0.7]) == pytest.approx(0.0, abs=1e-15)
    p, q = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    m = (p + q) / 2
    expected = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * (1.0 * np.log2(1.0 / 0.75))
    assert js_divergence(p, q) == pytest.approx(expected, rel=1e-12)
    assert js_divergence(p, q) == pytest.approx(js_divergence(q, p), rel=1e-15)
    assert js_divergence(p, q, base=math.e) == pytest.approx(expected * math.log(2), rel=1e-12)


def test_rows_equal_single_calls() -> None:
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4), 50)
    Q = rng.dirichlet(np.ones(4), 50)
    Q[::7, 1] = 0.0
    kl = calibration_kl_rows(P, Q, alpha=0.05)
    js = js_divergence_rows(P, Q)
    for i in range(50):
        assert kl[i] == calibration_kl(P[i], Q[i], alpha=0.05)
        assert js[i] == js_divergence(P[i], Q[i])
    assert np.all((js >= 0) & (js <= 1))
    # broadcasting one distribution against rows
    np.testing.assert_array_equal(calibration_kl_rows(P[0], Q), calibration_kl_rows(P[[0] * 50], Q))


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([0.5, 0.5], [0.5, 0.3, 0.2], "same number of types"),
        ([-0.1, 1.1], [0.5, 0.5], "non-negative"),
        ([0, 0], [0.5, 0.5], "positive sum"),
        ([np.nan, 1], [0.5, 0.5], "finite"),
    ],
)
def test_bad_input_raises(p: list[float], q: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibration_kl(p, q)


def test_bad_alpha_and_base() -> None:
    with pytest.raises(ValueError, match="alpha"):
        calibration_kl([0.5, 0.5], [0.5, 0.5], alpha=1.5)
    with pytest.raises(ValueError, match="base"):
        js_divergence([0.5, 0.5], [0.5, 0.5], base=1)
    with pytest.raises(ValueError, match="positive sum"):
        js_divergence([0.5, 0.5], [0, 0])
