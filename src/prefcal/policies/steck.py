"""Steck's calibrated greedy slate builder (SC-W policies, STUDY 6.3), fast and naive.

Objective. For a slate ``S`` (ordered item indices) of a request with candidate relevances ``r``,
item types ``t_i`` in ``0..G-1`` and target type distribution ``p`` (normalised to sum one):

.. math::

    F(S) = (1 - \\lambda) \\sum_{i \\in S} r_i - \\lambda \\, KL(p \\| \\tilde q(S)), \\qquad
    \\tilde q(S) = (1 - \\alpha) q(S) + \\alpha p, \\qquad
    q(S)_g = \\frac{|\\{i \\in S : t_i = g\\}|}{|S|},

``KL(p || x) = sum_g p_g ln(p_g / x_g)`` with ``0 ln 0 = 0``
(:func:`prefcal.metrics.calibration_kl`), i.e. ``q`` of a partial slate is the share of each type
among the items chosen so far.

Greedy rule. Start from the empty slate; at step ``j = 0..k-1`` (``|S| = j``) append the remaining
item ``i`` that maximises the marginal objective

.. math:: \\Delta_i = (1 - \\lambda) r_i - \\lambda \\, KL(p \\| \\tilde q(S \\cup \\{i\\})),

which has the same argmax as ``F(S + [i])`` (the term ``(1 - lam) sum_{S} r`` is common to all
candidates and is left out so that floating point cannot reorder them). Ties in ``Delta`` are broken
by the higher relevance, then by the lower item index. With ``0 <= lam < 1`` two items of one type
tie in ``Delta`` only if their relevances tie, so this is "ties broken by the lower item index";
with ``lam = 1`` relevance is ignored by ``Delta`` and decides only among items of equally good
types.

Fast algorithm. ``Delta_i`` depends on the item only through ``r_i`` and ``t_i``, and is
non-decreasing in ``r_i`` within a type, so the winner of every step is the best remaining item
(by ``(-r, index)``) of some type. Items are sorted once by ``(type, -r, index)``; each step
evaluates ``G`` candidates: ``O(N log N + k G^2)`` per request (``G`` is 2-3; the single-request
function also tabulates the ``G (k + 1) k`` possible KL terms in one vectorised call). The naive
reference
(:func:`steck_greedy_naive`) evaluates every remaining item at every step, ``O(k N G)``. Both use
the same floating-point expressions (shared helpers of :mod:`prefcal.metrics`) and return identical
slates; :func:`steck_greedy_batch` runs the fast algorithm for many requests at once, vectorised
over requests (all requests advance one slot per step).

Slates have ``min(k, N)`` items: with ``k >= N`` every candidate is returned, in greedy order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from prefcal.metrics import (
    _as_distributions,
    _kl_last_axis,
    _kl_terms,
    _seq_sum_last,
    _steck_qtilde,
)

__all__ = ["steck_greedy", "steck_greedy_batch", "steck_greedy_naive"]


def _check_scalars(k: int, lam: float, alpha: float) -> tuple[int, float, float]:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    alpha = float(alpha)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
    return int(k), lam, alpha


def _check_types(item_type: ArrayLike, shape: tuple[int, ...], n_types: int) -> np.ndarray:
    raw = np.asarray(item_type)
    if raw.shape != shape and raw.shape != shape[-1:]:
        raise ValueError(f"item_type must have shape {shape} or {shape[-1:]}, got {raw.shape}")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        if not np.issubdtype(raw.dtype, np.floating) or np.any(raw != np.round(raw)):
            raise ValueError("item_type must hold integer type ids")
    types = raw.astype(np.int64)
    if types.size and (types.min() < 0 or types.max() >= n_types):
        bad = types[(types < 0) | (types >= n_types)][0]
        raise ValueError(
            f"item_type holds type id {bad}; ids must lie in 0..{n_types - 1} "
            f"(len(target) = {n_types})"
        )
    return np.broadcast_to(types, shape)


def _check_relevance(relevance: ArrayLike, ndim: int) -> np.ndarray:
    rel = np.asarray(relevance, dtype=np.float64)
    if rel.ndim != ndim:
        raise ValueError(f"relevance must be {ndim}-D, got shape {rel.shape}")
    if not np.all(np.isfinite(rel)):
        raise ValueError("relevance must hold finite values")
    return rel


def _validate_single(
    relevance: ArrayLike, item_type: ArrayLike, target: ArrayLike, k: int, lam: float, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, float, float]:
    k, lam, alpha = _check_scalars(k, lam, alpha)
    rel = _check_relevance(relevance, 1)
    p = _as_distributions(target, "target")
    if p.ndim != 1:
        raise ValueError(f"target must be 1-D (G,), got shape {p.shape}")
    types = np.ascontiguousarray(_check_types(item_type, rel.shape, p.size))
    return rel, types, p, min(k, rel.size), lam, alpha


def _kl_if_added(counts: np.ndarray, j: int, p: np.ndarray, alpha: float) -> np.ndarray:
    """KL(p || q~) of the slate after adding one item of each type; ``counts (..., G)``, |S| = j.

    Returns ``(..., G)``: entry ``g`` is the value when the next item has type ``g``. The terms
    ``p_h ln(p_h / q~_h)`` are computed once for ``c_h`` and once for ``c_h + 1`` and assembled, so
    every entry is bit-identical to evaluating the KL of the enlarged slate directly (as the naive
    reference does): the elementwise values are the same and the sum runs in the same order.
    """
    n_types = counts.shape[-1]
    t_keep = _kl_terms(p, _steck_qtilde(counts / (j + 1), p, alpha))
    t_add = _kl_terms(p, _steck_qtilde((counts + 1) / (j + 1), p, alpha))
    eye = np.eye(n_types, dtype=bool)
    return _seq_sum_last(np.where(eye, t_add[..., None, :], t_keep[..., None, :]))


def _better(
    d_new: np.ndarray,
    r_new: np.ndarray,
    i_new: np.ndarray,
    d_old: np.ndarray,
    r_old: np.ndarray,
    i_old: np.ndarray,
) -> np.ndarray:
    """Lexicographic (Delta desc, relevance desc, index asc) comparison: is 'new' better?"""
    return (d_new > d_old) | (
        (d_new == d_old) & ((r_new > r_old) | ((r_new == r_old) & (i_new < i_old)))
    )


def steck_greedy(
    relevance: ArrayLike,
    item_type: ArrayLike,
    target: ArrayLike,
    k: int,
    lam: float,
    alpha: float = 0.01,
) -> np.ndarray:
    """Steck's calibrated greedy slate for one request (fast ``O(N log N + k G^2)`` algorithm).

    Parameters
    ----------
    relevance : (N,) float
        Relevance score of each candidate (finite).
    item_type : (N,) int
        Type id of each candidate, in ``0..len(target) - 1``.
    target : (G,) float
        Target type distribution ``p`` (normalised to sum one; zeros allowed).
    k : int
        Slate size; the slate has ``min(k, N)`` items.
    lam : float in [0, 1]
        Weight of the calibration penalty (0: pure relevance ranking).
    alpha : float in (0, 1]
        Smoothing of ``q~ = (1 - alpha) q + alpha p`` (Steck: 0.01).

    Returns
    -------
    (min(k, N),) int64 array of candidate indices in slate order. The greedy step maximises
    ``Delta_i = (1 - lam) r_i - lam KL(p || q~(S + [i]))`` with ``q(S)_g`` = share of type ``g``
    among the chosen items; ties go to the higher relevance, then the lower index (see the module
    docstring).
    """
    rel, types, p, k_eff, lam, alpha = _validate_single(relevance, item_type, target, k, lam, alpha)
    n = rel.size
    n_types = p.size
    order = np.lexsort((np.arange(n), -rel, types))
    sorted_rel = rel[order].tolist()
    sorted_idx = order.tolist()
    n_of_type = np.bincount(types, minlength=n_types).tolist()
    start = np.concatenate(([0], np.cumsum(n_of_type)[:-1])).tolist()
    # terms[h][c][j] = p_h ln(p_h / q~_h) when c of the j + 1 slate items have type h: one
    # vectorised evaluation; the loop below only adds table entries (in type order, as
    # _seq_sum_last does), so every value is bit-identical to the naive and batched builders
    table = _kl_term_table(p, k_eff, alpha)
    counts = [0] * n_types
    slate = np.empty(k_eff, dtype=np.int64)
    w_rel = 1.0 - lam
    for j in range(k_eff):
        base = [table[h][counts[h]] for h in range(n_types)]
        plus = [table[h][counts[h] + 1] for h in range(n_types)]
        best = -1
        best_d = best_r = 0.0
        best_i = 0
        for g in range(n_types):
            if counts[g] >= n_of_type[g]:
                continue
            kl = plus[0][j] if g == 0 else base[0][j]
            for h in range(1, n_types):
                kl = kl + (plus[h][j] if h == g else base[h][j])
            pos = start[g] + counts[g]
            r_g = sorted_rel[pos]
            i_g = sorted_idx[pos]
            d_g = w_rel * r_g - lam * kl
            if (
                best < 0
                or d_g > best_d
                or (d_g == best_d and (r_g > best_r or (r_g == best_r and i_g < best_i)))
            ):
                best, best_d, best_r, best_i = g, d_g, r_g, i_g
        slate[j] = best_i
        counts[best] += 1
    return slate


def _kl_term_table(p: np.ndarray, k_eff: int, alpha: float) -> list:
    """``table[h][c][j] = p_h ln(p_h / q~_h)`` with ``q_h = c / (j + 1)``, c = 0..k, j = 0..k-1."""
    c = np.arange(k_eff + 1, dtype=np.int64)[:, None]
    j = np.arange(k_eff, dtype=np.int64)[None, :]
    q = np.broadcast_to(c / (j + 1), (p.size, k_eff + 1, k_eff))
    pb = np.broadcast_to(p[:, None, None], q.shape)
    return _kl_terms(pb, _steck_qtilde(q, pb, alpha)).tolist()


def steck_greedy_naive(
    relevance: ArrayLike,
    item_type: ArrayLike,
    target: ArrayLike,
    k: int,
    lam: float,
    alpha: float = 0.01,
) -> np.ndarray:
    """Reference implementation of :func:`steck_greedy`: ``O(k N G)``, all remaining items a step.

    At step ``j`` it computes ``Delta_i = (1 - lam) r_i - lam KL(p || q~(S + [i]))`` for every
    remaining candidate ``i`` and appends the lexicographic best by ``(Delta desc, r desc, index
    asc)``. Same arguments and result as :func:`steck_greedy`; kept to test it.
    """
    rel, types, p, k_eff, lam, alpha = _validate_single(relevance, item_type, target, k, lam, alpha)
    n_types = p.size
    eye = np.eye(n_types, dtype=np.int64)
    taken = np.zeros(rel.size, dtype=bool)
    counts = np.zeros(n_types, dtype=np.int64)
    slate = np.empty(k_eff, dtype=np.int64)
    for j in range(k_eff):
        remaining = np.flatnonzero(~taken)
        q = (counts + eye[types[remaining]]) / (j + 1)  # (R, G): q(S + [i]) per candidate
        pb = np.broadcast_to(p, q.shape)
        kl = _kl_last_axis(pb, _steck_qtilde(q, pb, alpha))
        r = rel[remaining]
        delta = (1.0 - lam) * r - lam * kl
        pick = remaining[np.lexsort((remaining, -r, -delta))[0]]
        slate[j] = pick
        taken[pick] = True
        counts[types[pick]] += 1
    return slate


def _sort_rows_by_type_relevance(
    rel: np.ndarray, types: np.ndarray, n_types: int, depth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, candidate indices sorted by (type asc, relevance desc, index asc).

    Returns ``(order (B, N), n_of_type (B, G), start (B, G))``: the items of type ``g`` are
    ``order[b, start[b, g] : start[b, g] + n_of_type[b, g]]``. Only the first ``depth`` items of
    every type are guaranteed to be in exact order (the greedy builders take at most ``k`` items of
    a type); pass ``depth >= N`` for a fully exact order.

    One ``np.sort`` of packed int64 keys ``type | q | index``, where
    ``q = floor((max r - r) * (2^b - 1) / (max r - min r))`` quantises the relevance of the row to
    ``b`` (<= 51) bits. ``q`` is non-decreasing in ``-r``, so the packed order is exact unless two
    items of one type with *different* relevances share ``q``; rows where that happens among the
    first ``depth + 1`` items of a type (or whose relevance span overflows) are re-sorted with an
    exact ``np.lexsort``.
    """
    n_rows, n = rel.shape
    rows = np.arange(n_rows)
    flat_types = types + n_types * rows[:, None]
    n_of_type = np.bincount(flat_types.ravel(), minlength=n_rows * n_types)
    n_of_type = n_of_type.reshape(n_rows, n_types)
    start = np.cumsum(n_of_type, axis=1) - n_of_type
    bits_idx = max(1, (n - 1).bit_length())
    bits_type = (n_types - 1).bit_length()
    bits_q = min(51, 63 - bits_idx - bits_type)
    idx = np.arange(n, dtype=np.int64)
    if bits_q < 16:  # enormous pools or type counts: exact sort only
        order = np.lexsort((np.broadcast_to(idx, rel.shape), -rel, types), axis=-1)
        return order, n_of_type, start
    hi = rel.max(axis=1, keepdims=True)
    span = hi - rel.min(axis=1, keepdims=True)
    ok_span = np.isfinite(span[:, 0])
    # (hi - r) <= span, so (hi - r) * (C / span) < C + 1 for C < 2^51: q fits in bits_q bits
    scale = float(2**bits_q - 1) / np.where(ok_span[:, None] & (span > 0), span, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = hi - rel
        scaled *= scale
        np.floor(scaled, out=scaled)
    if not ok_span.all():
        scaled[~ok_span] = 0.0
    key = scaled.astype(np.int64)
    key <<= bits_idx
    key |= idx
    key |= types << (bits_q + bits_idx)
    key.sort(axis=1)
    order = key & ((1 << bits_idx) - 1)
    # adjacent pairs (t, t + 1) among the first depth + 1 items of every type
    t = np.arange(min(depth, n))
    valid = t + 1 < n_of_type[:, :, None]
    pos = np.where(valid, start[:, :, None] + t, 0) + (rows * n)[:, None, None]
    key_flat = key.ravel()
    nxt = np.where(valid, pos + 1, pos)
    same = valid & ((key_flat[pos] >> bits_idx) == (key_flat[nxt] >> bits_idx))
    redo = np.flatnonzero(~ok_span)
    if same.any():
        order_flat = order.ravel()
        left = pos[same]
        clash = (
            rel.ravel()[order_flat[left] + (left // n) * n]
            != rel.ravel()[order_flat[left + 1] + (left // n) * n]
        )
        redo = np.union1d(redo, left[clash] // n)
    if redo.size:
        order[redo] = np.lexsort(
            (np.broadcast_to(idx, (redo.size, n)), -rel[redo], types[redo]), axis=-1
        )
    return order, n_of_type, start


def steck_greedy_batch(
    relevance: ArrayLike,
    item_type: ArrayLike,
    target: ArrayLike,
    k: int,
    lam: float,
    alpha: float = 0.01,
    chunk_size: int = 2048,
) -> np.ndarray:
    """:func:`steck_greedy` for ``B`` requests at once; row ``b`` equals ``steck_greedy`` of it.

    Parameters
    ----------
    relevance : (B, N) float
    item_type : (B, N) or (N,) int
        Type ids in ``0..G-1`` (a 1-D array is shared by all requests).
    target : (B, G) or (G,) float
        Target distribution per request (rows normalised to sum one).
    k, lam, alpha
        As in :func:`steck_greedy` (shared by all requests).
    chunk_size : int
        Requests processed together (memory ~ ``chunk_size * N * 40`` bytes).

    Returns
    -------
    (B, min(k, N)) int64 array of candidate indices in slate order.

    All requests advance one slot per step; each step evaluates the best remaining item of every
    type for every request with ``(B, G, G)`` numpy operations.
    """
    k, lam, alpha = _check_scalars(k, lam, alpha)
    rel = _check_relevance(relevance, 2)
    n_req, n = rel.shape
    p_all = _as_distributions(target, "target")
    n_types = p_all.shape[-1]
    if p_all.ndim == 2 and p_all.shape[0] != n_req:
        raise ValueError(f"target must have shape ({n_req}, G) or (G,), got {p_all.shape}")
    p_all = np.broadcast_to(p_all, (n_req, n_types))
    types_all = _check_types(item_type, rel.shape, n_types)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    k_eff = min(k, n)
    out = np.empty((n_req, k_eff), dtype=np.int64)
    if k_eff == 0 or n_req == 0:
        return out
    for lo in range(0, n_req, int(chunk_size)):
        hi = min(lo + int(chunk_size), n_req)
        out[lo:hi] = _batch_chunk(rel[lo:hi], types_all[lo:hi], p_all[lo:hi], k_eff, lam, alpha)
    return out


def _batch_chunk(
    rel: np.ndarray, types: np.ndarray, p: np.ndarray, k_eff: int, lam: float, alpha: float
) -> np.ndarray:
    n_rows, n = rel.shape
    n_types = p.shape[1]
    rows = np.arange(n_rows)
    types = np.ascontiguousarray(types)
    order, n_of_type, start = _sort_rows_by_type_relevance(rel, types, n_types, k_eff)
    order_flat = order.ravel()
    rel_flat = rel.ravel()
    row_off = (rows * n)[:, None]
    counts = np.zeros((n_rows, n_types), dtype=np.int64)
    slate = np.empty((n_rows, k_eff), dtype=np.int64)
    for j in range(k_eff):
        kl = _kl_if_added(counts, j, p, alpha)  # (B, G)
        avail = counts < n_of_type
        pos = np.minimum(start + counts, n - 1) + row_off
        top_idx = order_flat[pos]
        top_rel = rel_flat[top_idx + row_off]
        delta = (1.0 - lam) * top_rel - lam * kl
        best = np.where(avail[:, 0], 0, -1)
        b_d, b_r, b_i = delta[:, 0], top_rel[:, 0], top_idx[:, 0]
        for g in range(1, n_types):
            better = avail[:, g] & (
                (best < 0) | _better(delta[:, g], top_rel[:, g], top_idx[:, g], b_d, b_r, b_i)
            )
            best = np.where(better, g, best)
            b_d = np.where(better, delta[:, g], b_d)
            b_r = np.where(better, top_rel[:, g], b_r)
            b_i = np.where(better, top_idx[:, g], b_i)
        slate[:, j] = b_i
        counts[rows, best] += 1
    return slate
