"""Per-snapshot divergence and likelihood of the recommended types under each target.

For snapshot ``s`` with recommended type counts ``n_s`` (slate size ``K_s = sum_g n_sg``), observed
distribution ``q_s = n_s / K_s`` and a target ``p_s`` (section 1 of STUDY.md):

* **Jensen-Shannon divergence, base 2** (:func:`js_rows`, which calls
  :func:`prefcal.metrics.js_divergence_rows`)

  .. math:: JS(q, p) = \\tfrac12 \\sum_g q_g \\log_2 \\frac{q_g}{m_g}
                      + \\tfrac12 \\sum_g p_g \\log_2 \\frac{p_g}{m_g}, \\qquad m = (q + p)/2,

  in [0, 1]; finite for any two distributions, so no floor is needed.
* **Multinomial log-likelihood** (:func:`multinomial_loglik_rows`), natural log,

  .. math:: \\ell(n_s \\mid p_s) = \\ln \\Gamma(K_s + 1) - \\sum_g \\ln \\Gamma(n_{sg} + 1)
            + \\sum_g n_{sg} \\ln \\tilde p_{sg}, \\qquad
            \\tilde p = (1 - \\varepsilon) p + \\varepsilon / G.

  The floor ``epsilon`` (config ``rq.ll_floor``, default 1e-3) smooths the target towards uniform so
  that a recommended type the target gives probability 0 costs ``ln(epsilon / G)`` instead of
  ``-inf``. Counts may be fractional (soft taste memberships): Gamma generalises the factorials.

A target row that is undefined (all NaN) gives NaN. :func:`cross_js_matrix` is the user x user
matrix that the H1 permutation test needs: the mean JS of a user's snapshots against every user's
(time-averaged) target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import gammaln

from prefcal.metrics import js_divergence_rows
from prefcal.rq.contract import TARGETS, SnapshotData

__all__ = [
    "cross_js_factors",
    "cross_js_matrix",
    "entropy_bits_rows",
    "js_rows",
    "multinomial_loglik_rows",
    "smooth_target",
    "snapshot_divergences",
]


def _check_pair(q: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = np.atleast_2d(np.asarray(q, dtype=np.float64))
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    if q.shape[-1] != p.shape[-1]:
        raise ValueError(f"q and p must have the same number of types, got {q.shape} and {p.shape}")
    q, p = np.broadcast_arrays(q, p)
    return q, p


#: rows per block of the row-wise functions (their temporaries stay a few MB whatever S is)
ROW_BLOCK = 65_536


def js_rows(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Row-wise JS(q_s, p_s) in bits; ``q`` may be counts; NaN where the ``p`` row is undefined.

    ``q`` and ``p`` are (S, G) (one of them may be (G,)). Returns (S,). Computed in blocks of
    :data:`ROW_BLOCK` rows (each row's value does not depend on the block).
    """
    q, p = _check_pair(q, p)
    out = np.full(q.shape[0], np.nan)
    for lo in range(0, q.shape[0], ROW_BLOCK):
        qb, pb = q[lo : lo + ROW_BLOCK], p[lo : lo + ROW_BLOCK]
        ok = np.isfinite(pb).all(axis=1)
        if ok.any():
            out[lo : lo + ROW_BLOCK][ok] = js_divergence_rows(qb[ok], pb[ok], base=2)
    return out


def smooth_target(p: np.ndarray, floor: float) -> np.ndarray:
    """``(1 - floor) p + floor / G`` (rows of ``p`` are distributions over the last axis)."""
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor (config rq.ll_floor) must lie in [0, 1), got {floor}")
    p = np.asarray(p, dtype=np.float64)
    return (1.0 - floor) * p + floor / p.shape[-1]


def multinomial_loglik_rows(counts: np.ndarray, p: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Row-wise multinomial log-likelihood ``ln P(n_s | K_s, p~_s)`` (natural log), see module doc.

    ``counts`` (S, G) non-negative (fractional allowed), ``p`` (S, G) or (G,) target rows (NaN rows
    give NaN). ``floor`` = epsilon of the smoothing ``p~ = (1 - eps) p + eps / G``.
    """
    n, p = _check_pair(counts, p)
    if np.any(n < 0):
        raise ValueError("counts must be non-negative")
    pt = smooth_target(p, floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.where(n > 0, np.log(pt), 0.0)
    coef = gammaln(n.sum(axis=1) + 1.0) - gammaln(n + 1.0).sum(axis=1)
    ll = coef + (n * log_p).sum(axis=1)
    return np.where(np.isfinite(p).all(axis=1), ll, np.nan)


def entropy_bits_rows(p: np.ndarray) -> np.ndarray:
    """Row-wise Shannon entropy ``H(p) = -sum_g p_g log2 p_g`` (0 log 0 = 0); NaN rows stay NaN.
    Computed in blocks of :data:`ROW_BLOCK` rows."""
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    out = np.empty(p.shape[0])
    for lo in range(0, p.shape[0], ROW_BLOCK):
        pb = p[lo : lo + ROW_BLOCK]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(pb > 0, -pb * np.log2(np.where(pb > 0, pb, 1.0)), 0.0)
        out[lo : lo + ROW_BLOCK] = np.where(np.isfinite(pb).all(axis=1), terms.sum(axis=1), np.nan)
    return out


def snapshot_divergences(data: SnapshotData, floor: float = 1e-3) -> pd.DataFrame:
    """One row per snapshot: participant_id, snapshot_id, n_items (= K_s), and for every target
    ``js__<target>`` (JS base 2 of q_s against the target) and ``ll__<target>`` (multinomial
    log-likelihood of the counts under the floor-smoothed target)."""
    cols: dict[str, np.ndarray] = {
        "participant_id": data.participant_ids[data.user],
        "snapshot_id": data.snapshot_id,
        "n_items": data.counts.sum(axis=1),
    }
    for name in TARGETS:
        cols[f"js__{name}"] = js_rows(data.counts, data.targets[name])
    for name in TARGETS:
        cols[f"ll__{name}"] = multinomial_loglik_rows(data.counts, data.targets[name], floor)
    return pd.DataFrame(cols)


def _xlog2x(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log2(np.where(x > 0, x, 1.0)), 0.0)


def cross_js_factors(
    q: np.ndarray,
    user: np.ndarray,
    n_users: int,
    p_users: np.ndarray,
    block_elements: int = 4_000_000,
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The factors ``D = W @ J`` of :func:`cross_js_matrix`: ``J (K, V)`` = JS (bits) of each of
    the ``K`` distinct snapshot distributions against each column user's target, and the sparse
    ``W (n_users, K)`` with ``W[u, k]`` = share of u's snapshots whose distribution is the k-th.

    With few distinct slates (integer type counts of a K-slot slate) both factors are small, and
    any entry ``D[u, v] = sum_k W[u, k] J[k, v]`` is cheap without forming the ``U x V`` matrix.
    """
    q = np.asarray(q, dtype=np.float64)
    q = q / q.sum(axis=1, keepdims=True)
    p_users = np.asarray(p_users, dtype=np.float64)
    if not np.isfinite(p_users).all():
        raise ValueError("p_users must be finite (drop users without a target first)")
    uq, inverse = np.unique(q, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n_v, g = p_users.shape
    h_q = -_xlog2x(uq).sum(axis=1)
    h_p = -_xlog2x(p_users).sum(axis=1)
    j = np.empty((uq.shape[0], n_v))
    step = max(1, block_elements // max(1, n_v))
    pt = np.ascontiguousarray(p_users.T)  # (G, V): one contiguous row per type
    for start in range(0, uq.shape[0], step):
        blk = uq[start : start + step]
        h_m = np.zeros((blk.shape[0], n_v))
        for k in range(g):  # a loop over the few types; each step is a (block, V) array
            m = blk[:, k, None] + pt[k][None, :]
            m *= 0.5
            mlogm = np.log2(m, out=np.zeros_like(m), where=m > 0)
            mlogm *= m
            h_m -= mlogm
        j[start : start + step] = h_m - 0.5 * (h_q[start : start + step, None] + h_p[None, :])
    np.maximum(j, 0.0, out=j)
    per_user = np.bincount(user, minlength=n_users).astype(np.float64)
    if np.any(per_user == 0):
        raise ValueError("every user index 0..n_users-1 must have at least one snapshot")
    w = sparse.csr_matrix((1.0 / per_user[user], (user, inverse)), shape=(n_users, uq.shape[0]))
    return w, j


def cross_js_matrix(
    q: np.ndarray,
    user: np.ndarray,
    n_users: int,
    p_users: np.ndarray,
    block_elements: int = 4_000_000,
) -> np.ndarray:
    """``D[u, v] = mean over u's snapshots s of JS(q_s, p_v)`` (bits), shape (n_users, V).

    ``q`` (S, G) snapshot distributions (or counts), ``user`` (S,) in 0..n_users-1, ``p_users``
    (V, G) one target per column user (finite rows). Uses ``JS(q, p) = H((q + p)/2) - (H(q) +
    H(p))/2``; identical snapshot distributions are evaluated once (``np.unique`` over rows), then
    averaged per user with a sparse (n_users x unique) weight matrix (:func:`cross_js_factors`).
    Memory is bounded by ``block_elements`` (unique rows x V per block) plus the result.
    """
    w, j = cross_js_factors(q, user, n_users, p_users, block_elements)
    return np.asarray(w @ j)
