"""Stability of a clustering: seed agreement and per-cluster bootstrap Jaccard (Hennig 2007).

* **Seed ARI**: the mean adjusted Rand index over all pairs of fits that differ only in their seed,
  ``seed_ari = mean_{s < s'} ARI(labels_s, labels_s')`` (1 = the seed does not matter).
* **Bootstrap Jaccard** (Hennig 2007, Comput. Stat. Data Anal. 52, 258-271; ``fpc::clusterboot``):
  for ``b = 1..B`` draw a bootstrap sample of the ``m`` points (multiplicities
  ``w ~ Multinomial(m, 1/m)``), re-fit the same clustering method on the points with ``w > 0``
  using ``w`` as sample weights (identical to fitting on the sample with duplicates), and for each
  original cluster ``C`` restricted to the distinct points of the sample, ``C* = C ∩ S_b``, record
  ``J_b(C) = max_{D in new clustering} |C* ∩ D| / |C* ∪ D|``. The cluster's stability is the mean
  over ``b``; Hennig's reading: mean ``J >= 0.75`` stable, ``<= 0.5`` dissolved. If ``C*`` is empty
  (a tiny cluster that the sample missed), ``J_b(C)`` is undefined and left out of the mean.

At a million playlists both the bootstrap and the silhouette run on one seeded subsample of ``m``
playlists (``clustering.stability_sample``); the reference clustering is the full-data fit
restricted to that subsample, so the Jaccard also includes the effect of fitting on ``m`` rather
than ``n`` points (a conservative estimate of stability).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import numpy as np
from sklearn.metrics import adjusted_rand_score


def mean_pairwise_ari(labelings: np.ndarray) -> float:
    """Mean ARI over all pairs of rows of ``labelings`` (shape ``(n_fits, n)``); 1.0 for one fit."""
    lab = np.asarray(labelings)
    if lab.ndim != 2:
        raise ValueError("labelings must have shape (n_fits, n_points)")
    if lab.shape[0] < 2:
        return 1.0
    return float(
        np.mean(
            [adjusted_rand_score(lab[i], lab[j]) for i, j in combinations(range(lab.shape[0]), 2)]
        )
    )


def contingency(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> np.ndarray:
    """``N[i, j] = #{points with a = i and b = j}`` for labels in ``[0, ka)`` x ``[0, kb)``."""
    return np.bincount(a.astype(np.int64) * kb + b, minlength=ka * kb).reshape(ka, kb)


def best_jaccard(reference: np.ndarray, new: np.ndarray, k_ref: int, k_new: int) -> np.ndarray:
    """For each reference cluster ``c``: ``max_d |c ∩ d| / |c ∪ d|``; NaN when ``c`` is empty."""
    n = contingency(reference, new, k_ref, k_new).astype(np.float64)
    size_ref = n.sum(axis=1, keepdims=True)
    size_new = n.sum(axis=0, keepdims=True)
    union = size_ref + size_new - n
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, n / union, 0.0).max(axis=1)
    jac[size_ref[:, 0] == 0] = np.nan
    return jac


def bootstrap_jaccard(
    x: np.ndarray,
    labels: np.ndarray,
    k: int,
    fit_predict: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
    *,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per-replicate, per-cluster Jaccard of the module doc, shape ``(n_bootstrap, k)``.

    ``fit_predict(x_sub, weights, random_state)`` re-fits the clustering method on ``x_sub`` with
    sample weights and returns its labels in ``[0, k)``; ``labels`` is the reference clustering of
    the rows of ``x``.
    """
    m = x.shape[0]
    if labels.shape != (m,):
        raise ValueError("labels must have one entry per row of x")
    out = np.empty((n_bootstrap, k))
    for b in range(n_bootstrap):
        w = rng.multinomial(m, np.full(m, 1.0 / m))
        in_sample = np.flatnonzero(w > 0)
        state = int(rng.integers(0, 2**31 - 1))
        new = fit_predict(x[in_sample], w[in_sample].astype(np.float64), state)
        out[b] = best_jaccard(labels[in_sample], np.asarray(new), k, int(np.max(new)) + 1)
    return out


def cluster_stability(jaccards: np.ndarray) -> np.ndarray:
    """Mean bootstrap Jaccard per cluster (NaN replicates left out; NaN if all are NaN)."""
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(jaccards)
        total = np.where(valid, jaccards, 0.0).sum(axis=0)
        count = valid.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
