"""Diagnostics of importance weights: how much information the logs hold about a target policy.

* ``w_i = action_dist[i, a_i, k_i] / pscore_i`` (:func:`importance_weights`);
* effective sample size ``ESS = (sum w)^2 / sum w^2`` (Kish): ``n`` when all weights are equal,
  small when a few rows dominate (:func:`effective_sample_size`);
* the largest weight (:func:`max_weight`) and the mean weight, which should be close to 1 when the
  propensities are right and the target's support is covered (:func:`weight_diagnostics`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from prefcal.ope.estimators import _weights

__all__ = ["effective_sample_size", "importance_weights", "max_weight", "weight_diagnostics"]


def importance_weights(
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    position: ArrayLike | None = None,
) -> np.ndarray:
    """``w_i = action_dist[i, a_i, k_i] / pscore_i`` (validated as in the estimators)."""
    return _weights(action, pscore, action_dist, position)[0]


def _check_w(w: ArrayLike) -> np.ndarray:
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("weights must be a non-empty 1-D array")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("weights must be finite and non-negative")
    return arr


def effective_sample_size(w: ArrayLike) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (0 when all weights are 0)."""
    arr = _check_w(w)
    sq = float(np.dot(arr, arr))
    return float(arr.sum()) ** 2 / sq if sq > 0 else 0.0


def max_weight(w: ArrayLike) -> float:
    """The largest importance weight."""
    return float(_check_w(w).max())


def weight_diagnostics(w: ArrayLike) -> dict[str, float]:
    """``{"n", "ess", "ess_share" = ess / n, "max_weight", "mean_weight"}``."""
    arr = _check_w(w)
    ess = effective_sample_size(arr)
    return {
        "n": float(arr.size),
        "ess": ess,
        "ess_share": ess / arr.size,
        "max_weight": float(arr.max()),
        "mean_weight": float(arr.mean()),
    }
