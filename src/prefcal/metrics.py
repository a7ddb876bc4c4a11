"""Divergences between type distributions: Steck's miscalibration KL and Jensen-Shannon.

Both take probability vectors over the same ``G`` types (music, podcast, ... or taste clusters).
Inputs may be counts: every vector is divided by its sum first (a zero or negative sum raises).

* :func:`calibration_kl` (Steck 2018, "Calibrated recommendations"):

  .. math:: C_{KL}(p, q) = \\sum_g p_g \\ln \\frac{p_g}{\\tilde q_g},
            \\qquad \\tilde q = (1 - \\alpha) q + \\alpha p,

  natural log, with :math:`0 \\ln 0 = 0`. ``p`` is the target (e.g. the user's history), ``q``
  the distribution of the recommended types; the small ``alpha`` keeps the value finite when ``q``
  misses a type that ``p`` has. ``C_KL = 0`` iff ``q = p`` (for ``alpha < 1``).
* :func:`js_divergence`: :math:`JS(p, q) = \\tfrac12 KL(p \\| m) + \\tfrac12 KL(q \\| m)`,
  :math:`m = (p + q) / 2`, in log base ``base`` (base 2 gives values in [0, 1]).

The ``*_rows`` variants take ``(n, G)`` arrays (one distribution per row; a ``(G,)`` argument is
broadcast against the other) and return ``(n,)``.

Implementation note: the sums over types run as an explicit sequential loop over the (few) types, so
that every caller, whatever the array shape, gets bit-identical values. The greedy slate builders in
:mod:`prefcal.policies.steck` rely on this to make their fast and naive versions agree exactly.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "calibration_kl",
    "calibration_kl_rows",
    "js_divergence",
    "js_divergence_rows",
]


def _seq_sum_last(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis in index order (bit-identical for any leading shape)."""
    out = x[..., 0].copy()
    for g in range(1, x.shape[-1]):
        out = out + x[..., g]
    return out


def _kl_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Elementwise p ln(p / q) with 0 ln(0 / x) = 0 (inf where q = 0 < p)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p > 0, p / q, 1.0)
        return np.where(p > 0, p * np.log(ratio), 0.0)


def _kl_last_axis(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """sum_g p_g ln(p_g / q_g) over the last axis, with 0 ln(0/x) = 0 (inf where q_g = 0 < p_g)."""
    return _seq_sum_last(_kl_terms(p, q))


def _steck_qtilde(q: np.ndarray, p: np.ndarray, alpha: float) -> np.ndarray:
    """q~ = (1 - alpha) q + alpha p (the one expression every caller uses)."""
    return (1.0 - alpha) * q + alpha * p


def _as_distributions(x: ArrayLike, name: str, allow_zero: bool = False) -> np.ndarray:
    """``x`` as float64 rows normalised to sum one; ``(G,)`` stays 1-D."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise ValueError(
            f"{name} must be a 1-D (G,) or 2-D (n, G) array with G >= 1, got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite values")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    total = _seq_sum_last(arr)
    if np.any(total <= 0) and not allow_zero:
        raise ValueError(f"{name} must have a positive sum (in every row)")
    safe = np.where(total > 0, total, 1.0)
    return arr / (safe[..., None] if arr.ndim == 2 else safe)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return alpha


def _pair(p: ArrayLike, q: ArrayLike, allow_zero_q: bool) -> tuple[np.ndarray, np.ndarray]:
    pa = _as_distributions(p, "p")
    qa = _as_distributions(q, "q", allow_zero=allow_zero_q)
    if pa.shape[-1] != qa.shape[-1]:
        raise ValueError(
            f"p and q must have the same number of types, got {pa.shape} and {qa.shape}"
        )
    if pa.ndim == 2 and qa.ndim == 2 and pa.shape[0] != qa.shape[0]:
        raise ValueError(
            f"p and q must have the same number of rows, got {pa.shape} and {qa.shape}"
        )
    return pa, qa


def calibration_kl_rows(p: ArrayLike, q: ArrayLike, alpha: float = 0.01) -> np.ndarray:
    """Row-wise Steck miscalibration ``KL(p_i || (1 - alpha) q_i + alpha p_i)``, natural log.

    ``p`` and ``q`` are ``(n, G)`` (or one of them ``(G,)``, broadcast). Rows are normalised to sum
    one; a ``q`` row of zeros (an empty slate) is allowed and gives ``q~ = alpha p``, i.e.
    ``-ln(alpha)``. Returns ``(n,)`` float64 (``inf`` where ``alpha = 0`` and ``q`` misses a type of
    ``p``).
    """
    alpha = _check_alpha(alpha)
    pa, qa = _pair(p, q, allow_zero_q=True)
    pa, qa = np.broadcast_arrays(np.atleast_2d(pa), np.atleast_2d(qa))
    return _kl_last_axis(pa, _steck_qtilde(qa, pa, alpha))


def calibration_kl(p: ArrayLike, q: ArrayLike, alpha: float = 0.01) -> float:
    """Steck's miscalibration ``KL(p || q~)``, ``q~ = (1 - alpha) q + alpha p``, natural log.

    .. math::

        C_{KL}(p, q) = \\sum_{g: p_g > 0} p_g \\ln \\frac{p_g}{(1 - \\alpha) q_g + \\alpha p_g}

    ``p`` (target) and ``q`` (recommended types) are ``(G,)`` vectors, normalised to sum one (counts
    are fine); ``q`` may be all zeros (empty slate: the value is ``-ln(alpha)``).

    >>> round(calibration_kl([0.5, 0.5], [0.5, 0.5]), 12)
    0.0
    """
    pa = np.asarray(p)
    qa = np.asarray(q)
    if pa.ndim != 1 or qa.ndim != 1:
        raise ValueError("calibration_kl takes 1-D p and q; use calibration_kl_rows for 2-D input")
    return float(calibration_kl_rows(pa, qa, alpha)[0])


def js_divergence_rows(p: ArrayLike, q: ArrayLike, base: float = 2) -> np.ndarray:
    """Row-wise Jensen-Shannon divergence ``0.5 KL(p||m) + 0.5 KL(q||m)``, ``m = (p + q)/2``.

    Log base ``base`` (default 2: values in [0, 1], 1 for disjoint supports). ``p`` and ``q`` are
    ``(n, G)`` (or one of them ``(G,)``), rows normalised to sum one. Returns ``(n,)``.
    """
    base = float(base)
    if not base > 0 or base == 1.0:
        raise ValueError(f"base must be positive and not 1, got {base}")
    pa, qa = _pair(p, q, allow_zero_q=False)
    pa, qa = np.broadcast_arrays(np.atleast_2d(pa), np.atleast_2d(qa))
    m = 0.5 * (pa + qa)
    js = 0.5 * _kl_last_axis(pa, m) + 0.5 * _kl_last_axis(qa, m)
    return np.maximum(js, 0.0) / np.log(base)


def js_divergence(p: ArrayLike, q: ArrayLike, base: float = 2) -> float:
    """Jensen-Shannon divergence of two ``(G,)`` distributions in log base ``base``.

    .. math:: JS(p, q) = \\tfrac12 \\sum_g p_g \\log_b \\frac{p_g}{m_g}
                        + \\tfrac12 \\sum_g q_g \\log_b \\frac{q_g}{m_g}, \\quad m = (p + q) / 2

    Symmetric, 0 iff ``p = q``, at most 1 in base 2. Inputs are normalised to sum one.

    >>> js_divergence([1, 0], [0, 1])
    1.0
    """
    pa = np.asarray(p)
    qa = np.asarray(q)
    if pa.ndim != 1 or qa.ndim != 1:
        raise ValueError("js_divergence takes 1-D p and q; use js_divergence_rows for 2-D input")
    return float(js_divergence_rows(pa, qa, base)[0])
