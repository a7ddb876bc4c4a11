"""Single-feature policy: the sanity check of the off-policy estimators (Semerci et al. 2019).

Semerci et al. validated their counterfactual estimators with a deliberately simple model that uses
one feature and is optimised for impression-to-click rate. Here the policy bins one context feature
``x_f`` with fixed thresholds and plays a fixed arm per bin:

.. math:: \\pi(x) = a_{b(x)}, \\qquad b(x) = \\#\\{j : x_f \\ge \\tau_j\\} \\;(\\text{np.digitize}),

a deterministic policy whose true value is computable wherever the expected reward of every arm is
known (the simulator's ground truth): :math:`V(\\pi) = \\frac1n \\sum_i \\mu(x_i, \\pi(x_i))`
(:meth:`SingleFeaturePolicy.true_value`). :meth:`SingleFeaturePolicy.fit` picks the arm of each bin
that maximises the IPW estimate of the click (stream) rate in that bin from logged data, i.e. the
"single-feature model optimised for impression-to-click rate".
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["SingleFeaturePolicy"]


class SingleFeaturePolicy:
    """Deterministic policy ``pi(x) = arms[digitize(x[:, feature], thresholds)]``.

    Parameters
    ----------
    feature : int
        Column of the context matrix that drives the policy.
    thresholds : sequence of float, increasing
        Bin edges; ``len(thresholds) + 1`` bins.
    n_arms : int
        Number of arms.
    arms : sequence of int, optional
        Arm per bin (length ``len(thresholds) + 1``); set by :meth:`fit` when omitted.
    """

    def __init__(
        self,
        feature: int,
        thresholds: ArrayLike,
        n_arms: int,
        arms: ArrayLike | None = None,
    ) -> None:
        self.feature = int(feature)
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        if self.thresholds.ndim != 1 or np.any(np.diff(self.thresholds) <= 0):
            raise ValueError("thresholds must be a strictly increasing 1-D sequence")
        self.n_arms = int(n_arms)
        if arms is not None:
            a = np.asarray(arms, dtype=np.int64)
            if a.shape != (self.thresholds.size + 1,):
                raise ValueError(f"arms must have {self.thresholds.size + 1} entries (one per bin)")
            if a.min() < 0 or a.max() >= self.n_arms:
                raise ValueError(f"arms must lie in 0..{self.n_arms - 1}")
            self.arms_ = a

    def bins(self, X: ArrayLike) -> np.ndarray:
        """Bin index ``b(x) = digitize(x_f, thresholds)`` of every row."""
        x = np.asarray(X, dtype=np.float64)
        if x.ndim != 2 or not 0 <= self.feature < x.shape[1]:
            raise ValueError(f"X must be 2-D with a column {self.feature}, got shape {x.shape}")
        return np.digitize(x[:, self.feature], self.thresholds)

    def fit(
        self, X: ArrayLike, action: ArrayLike, reward: ArrayLike, pscore: ArrayLike
    ) -> SingleFeaturePolicy:
        """Per bin, the arm with the highest IPW click rate ``sum 1[a_i=a] r_i / pscore_i / n_bin``.

        Ties (and bins without data) go to the lowest arm index.
        """
        b = self.bins(X)
        a = np.asarray(action, dtype=np.int64)
        r = np.asarray(reward, dtype=np.float64)
        ps = np.asarray(pscore, dtype=np.float64)
        if not (a.shape == r.shape == ps.shape == b.shape):
            raise ValueError("X, action, reward and pscore must have the same number of rows")
        if np.any(ps <= 0) or np.any(ps > 1):
            raise ValueError("pscore must lie in (0, 1]")
        n_bins = self.thresholds.size + 1
        cell = b * self.n_arms + a
        value = np.bincount(cell, weights=r / ps, minlength=n_bins * self.n_arms)
        n_bin = np.bincount(b, minlength=n_bins).astype(np.float64)
        rate = value.reshape(n_bins, self.n_arms) / np.maximum(n_bin, 1.0)[:, None]
        self.arms_ = np.argmax(rate, axis=1).astype(np.int64)
        return self

    def choose(self, X: ArrayLike) -> np.ndarray:
        """The arm played in every row."""
        if not hasattr(self, "arms_"):
            raise RuntimeError("SingleFeaturePolicy has no arms: pass arms= or call fit first")
        return self.arms_[self.bins(X)]

    def action_dist(self, X: ArrayLike) -> np.ndarray:
        """One-hot ``(n, n_arms, 1)`` action distribution (obp layout, ``len_list = 1``)."""
        chosen = self.choose(X)
        dist = np.zeros((chosen.size, self.n_arms, 1))
        dist[np.arange(chosen.size), chosen, 0] = 1.0
        return dist

    def true_value(self, X: ArrayLike, expected_reward: ArrayLike) -> float:
        """``V = mean_i mu(x_i, pi(x_i))`` from the true expected rewards ``mu`` ``(n, n_arms)``."""
        mu = np.asarray(expected_reward, dtype=np.float64)
        chosen = self.choose(X)
        if mu.shape != (chosen.size, self.n_arms):
            raise ValueError(f"expected_reward must have shape ({chosen.size}, {self.n_arms})")
        return float(mu[np.arange(chosen.size), chosen].mean())
