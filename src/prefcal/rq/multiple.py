"""Benjamini-Hochberg control of the false discovery rate across the hypotheses H1-H6.

For ``m`` finite p-values sorted ``p_(1) <= ... <= p_(m)``, the BH-adjusted value of the i-th is

.. math:: \\tilde p_{(i)} = \\min_{j \\ge i} \\min\\left(1, \\frac{m}{j} p_{(j)}\\right),

and hypothesis i is rejected at level ``q`` iff ``p~_i <= q`` (equivalently: reject the k smallest,
k the largest i with ``p_(i) <= i q / m``). NaN p-values (a hypothesis that could not be tested)
are left out of ``m`` and stay NaN / not rejected. Same values as statsmodels'
``multipletests(p, method="fdr_bh")``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["benjamini_hochberg"]


def benjamini_hochberg(p_values: ArrayLike, q: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """BH-adjusted p-values and rejections at FDR level ``q`` (config ``rq.fdr``).

    Returns ``(p_adjusted, reject)`` with the input's shape (1-D). Raises on p outside [0, 1].
    """
    if not 0 < q < 1:
        raise ValueError(f"FDR level q (config rq.fdr) must lie in (0, 1), got {q}")
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    ok = np.isfinite(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    adj = np.full(p.shape, np.nan)
    reject = np.zeros(p.shape, dtype=bool)
    m = int(ok.sum())
    if m == 0:
        return adj, reject
    idx = np.flatnonzero(ok)
    order = np.argsort(p[idx], kind="stable")
    ranked = p[idx][order] * m / np.arange(1, m + 1)
    ranked = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    adj[idx[order]] = ranked
    reject[ok] = adj[ok] <= q
    return adj, reject
