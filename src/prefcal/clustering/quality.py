"""Silhouette of several labelings of the same points, sharing one pass over the distances.

For point ``i`` in cluster ``A`` (Euclidean distance ``d``; Rousseeuw 1987):

    a(i) = sum_{j in A, j != i} d(i, j) / (|A| - 1),
    b(i) = min_{B != A} sum_{j in B} d(i, j) / |B|,
    s(i) = (b(i) - a(i)) / max(a(i), b(i)),   s(i) = 0 when |A| = 1,

and the silhouette of the labeling is ``mean_i s(i)`` (identical to
:func:`sklearn.metrics.silhouette_score`). Here the distance matrix is computed block by block with
one BLAS product (``||x||^2 + ||y||^2 - 2 x.y``) and multiplied by the concatenated one-hot matrices
of all labelings, so the ``O(n^2 d)`` work is done once for the whole k grid instead of once per k.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def silhouette_many(
    x: np.ndarray, labelings: Sequence[np.ndarray], *, block: int = 2048
) -> np.ndarray:
    """Silhouette (module doc) of each labeling of the rows of ``x``; NaN if it has < 2 clusters."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    n = x.shape[0]
    labs = [np.unique(np.asarray(lab), return_inverse=True)[1].ravel() for lab in labelings]
    for lab in labs:
        if lab.shape != (n,):
            raise ValueError("every labeling must have one entry per row of x")
    ks = [int(lab.max()) + 1 for lab in labs]
    offsets = np.concatenate([[0], np.cumsum(ks)])
    onehot = np.zeros((n, offsets[-1]), dtype=x.dtype)
    for lab, off in zip(labs, offsets[:-1], strict=True):
        onehot[np.arange(n), off + lab] = 1.0
    sq = np.einsum("ij,ij->i", x, x)
    sums = np.empty((n, offsets[-1]), dtype=np.float64)
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        d = x[lo:hi] @ x.T
        d *= -2.0
        d += sq[lo:hi, None]
        d += sq[None, :]
        np.maximum(d, 0.0, out=d)
        np.sqrt(d, out=d)
        d[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        sums[lo:hi] = d @ onehot
    out = np.full(len(labs), np.nan)
    rows = np.arange(n)
    for i, (lab, k, off) in enumerate(zip(labs, ks, offsets[:-1], strict=True)):
        if k < 2:
            continue
        s = sums[:, off : off + k]
        size = np.bincount(lab, minlength=k).astype(np.float64)
        own = size[lab]
        a = s[rows, lab] / np.maximum(own - 1.0, 1.0)
        mean_other = s / size[None, :]
        mean_other[rows, lab] = np.inf
        b = mean_other.min(axis=1)
        denom = np.maximum(a, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            sil = np.where((own > 1) & (denom > 0), (b - a) / denom, 0.0)
        out[i] = float(sil.mean())
    return out
