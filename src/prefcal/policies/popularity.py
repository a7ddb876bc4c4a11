"""The popularity baseline (STUDY 1, Semerci et al. 2019): one non-personal target for everybody.

The popularity policy calibrates every slate to the *population's stream mix*

.. math:: p^{pop}_g = \\frac{\\sum_s w_s 1[t_s = g]}{\\sum_s w_s},

the (optionally weighted, e.g. by ms played) share of type ``g`` among all streams ``s`` of all
users in the training window. Slates are then built with Steck's greedy
(:func:`prefcal.policies.steck_greedy`) using ``p^pop`` as the target for every request, so the
recommended types follow the population mix whatever the user's own history.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from prefcal.policies.steck import steck_greedy, steck_greedy_batch

__all__ = ["PopularityPolicy", "population_mix"]


def population_mix(
    stream_type: ArrayLike, n_types: int, weights: ArrayLike | None = None
) -> np.ndarray:
    """Population stream mix ``p_g = sum_s w_s 1[t_s = g] / sum_s w_s`` over all streams ``s``.

    ``stream_type`` holds the type id (``0..n_types-1``) of every stream; ``weights`` (same shape,
    non-negative) defaults to one per stream. Returns ``(n_types,)`` summing to one.
    """
    t = np.asarray(stream_type)
    if t.ndim != 1 or t.size == 0:
        raise ValueError("stream_type must be a non-empty 1-D array of type ids")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError("stream_type must hold integer type ids")
    if t.min() < 0 or t.max() >= n_types:
        raise ValueError(f"stream_type ids must lie in 0..{n_types - 1}")
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != t.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite, non-negative and shaped like stream_type")
    counts = np.bincount(t, weights=w, minlength=n_types).astype(np.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("weights sum to zero: the population mix is undefined")
    return counts / total


class PopularityPolicy:
    """Non-personal baseline: Steck greedy slates with the population stream mix as every target.

    Parameters
    ----------
    n_types : int
        Number of types ``G``.
    lam, alpha : float
        Passed to :func:`prefcal.policies.steck_greedy`.

    Attributes
    ----------
    mix_ : (G,) population mix after :meth:`fit`.
    """

    def __init__(self, n_types: int, lam: float = 0.5, alpha: float = 0.01) -> None:
        self.n_types = int(n_types)
        self.lam = float(lam)
        self.alpha = float(alpha)

    def fit(self, stream_type: ArrayLike, weights: ArrayLike | None = None) -> PopularityPolicy:
        """Set ``mix_`` = :func:`population_mix` of the training streams."""
        self.mix_ = population_mix(stream_type, self.n_types, weights)
        return self

    def _mix(self) -> np.ndarray:
        if not hasattr(self, "mix_"):
            raise RuntimeError("PopularityPolicy is not fitted: call fit(stream_type) first")
        return self.mix_

    def slate(self, relevance: ArrayLike, item_type: ArrayLike, k: int) -> np.ndarray:
        """One request's slate (indices in slate order)."""
        return steck_greedy(relevance, item_type, self._mix(), k, self.lam, self.alpha)

    def slates(self, relevance: ArrayLike, item_type: ArrayLike, k: int) -> np.ndarray:
        """Slates of ``B`` requests, ``relevance (B, N)``: ``(B, min(k, N))``."""
        return steck_greedy_batch(relevance, item_type, self._mix(), k, self.lam, self.alpha)
