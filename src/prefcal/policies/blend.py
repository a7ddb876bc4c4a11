"""Multinomial blending (MB, Lichtenberg et al. 2024; STUDY 6.3): the type of each slot is drawn.

For slot ``j = 0..k-1`` with ``c_g`` items of type ``g`` still unused, the slot's type is drawn from

.. math:: P(g) = \\frac{m_g \\, 1[c_g > 0]}{\\sum_h m_h \\, 1[c_h > 0]},

i.e. the mix ``m`` renormalised over the types that still have items, and the slot gets the best
remaining item of that type (highest relevance, ties to the lower index). A type with ``m_g = 0`` is
never shown; when no type with positive mix has items left, the slate ends early (the single-request
function returns fewer than ``k`` items, the batched one pads with ``-1``).

Randomness: exactly ``k`` uniforms ``u_j`` are drawn per request (``rng.random(k)``; the batch draws
``rng.random((B, k))``, the same stream as ``B`` consecutive single calls), and the slot type is the
inverse CDF ``g = min{g : u_j * total < cumsum(P)_g}`` over the renormalised mix.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from prefcal.metrics import _seq_sum_last
from prefcal.policies.steck import _check_relevance, _check_types, _sort_rows_by_type_relevance

__all__ = ["multinomial_blend", "multinomial_blend_batch"]


def _check_mix(mix: ArrayLike) -> np.ndarray:
    m = np.asarray(mix, dtype=np.float64)
    if m.ndim not in (1, 2) or m.shape[-1] == 0:
        raise ValueError(f"mix must be (G,) or (B, G) with G >= 1, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError("mix must hold finite non-negative values")
    if np.any(_seq_sum_last(m) <= 0):
        raise ValueError("mix must have a positive sum (in every row)")
    return m


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    return int(k)


def _pick_types(u: np.ndarray, avail_mix: np.ndarray) -> np.ndarray:
    """Inverse-CDF type per row of ``avail_mix (B, G)`` for uniforms ``u (B,)``; -1 if all zero."""
    cum = np.cumsum(avail_mix, axis=-1)
    total = cum[..., -1]
    x = u * total
    g = np.sum(cum <= x[..., None], axis=-1)
    # u * total can round up to total: fall back to the last type with positive mass
    n_types = avail_mix.shape[-1]
    last_pos = n_types - 1 - np.argmax((avail_mix > 0)[..., ::-1], axis=-1)
    g = np.where(g >= n_types, last_pos, g)
    return np.where(total > 0, g, -1)


def multinomial_blend(
    relevance: ArrayLike,
    item_type: ArrayLike,
    mix: ArrayLike,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Multinomial-blending slate for one request.

    Parameters
    ----------
    relevance : (N,) float
    item_type : (N,) int, type ids in ``0..len(mix) - 1``
    mix : (G,) float, non-negative (normalised internally)
    k : int, slate size
    rng : numpy Generator; exactly ``k`` uniforms are drawn

    Returns
    -------
    int64 array of at most ``k`` candidate indices in slate order (shorter only when every type
    with positive mix has run out of items).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator")
    k = _check_k(k)
    rel = _check_relevance(relevance, 1)
    m = _check_mix(mix)
    if m.ndim != 1:
        raise ValueError(f"mix must be 1-D (G,), got shape {m.shape}")
    n_types = m.size
    types = np.ascontiguousarray(_check_types(item_type, rel.shape, n_types))
    u = rng.random(k)
    order = np.lexsort((np.arange(rel.size), -rel, types))
    n_of_type = np.bincount(types, minlength=n_types)
    start = np.concatenate(([0], np.cumsum(n_of_type)[:-1]))
    counts = np.zeros(n_types, dtype=np.int64)
    slate: list[int] = []
    for j in range(k):
        g = int(_pick_types(u[j : j + 1], (m * (counts < n_of_type))[None, :])[0])
        if g < 0:
            break
        slate.append(int(order[start[g] + counts[g]]))
        counts[g] += 1
    return np.asarray(slate, dtype=np.int64)


def multinomial_blend_batch(
    relevance: ArrayLike,
    item_type: ArrayLike,
    mix: ArrayLike,
    k: int,
    rng: np.random.Generator | np.ndarray,
) -> np.ndarray:
    """:func:`multinomial_blend` for ``B`` requests; row ``b`` equals the b-th of B single calls.

    ``relevance (B, N)``, ``item_type (B, N)`` or ``(N,)``, ``mix (B, G)`` or ``(G,)``. Returns
    ``(B, k)`` int64 indices, ``-1`` after a slate ended early. Draws ``rng.random((B, k))``;
    ``rng`` may instead be those ``(B, k)`` uniforms in ``[0, 1)`` themselves (common random
    numbers drawn per user, so a user's slates do not depend on the other users).
    """
    k = _check_k(k)
    rel = _check_relevance(relevance, 2)
    n_req, n = rel.shape
    m = _check_mix(mix)
    n_types = m.shape[-1]
    if m.ndim == 2 and m.shape[0] != n_req:
        raise ValueError(f"mix must have shape ({n_req}, G) or (G,), got {m.shape}")
    m = np.broadcast_to(m, (n_req, n_types))
    types = np.ascontiguousarray(_check_types(item_type, rel.shape, n_types))
    if isinstance(rng, np.random.Generator):
        u = rng.random((n_req, k))
    elif isinstance(rng, np.ndarray):
        u = np.asarray(rng, dtype=np.float64)
        if u.shape != (n_req, k) or (u.size and (u.min() < 0.0 or u.max() >= 1.0)):
            raise ValueError(f"uniforms must be ({n_req}, {k}) values in [0, 1), got {u.shape}")
    else:
        raise TypeError("rng must be a numpy.random.Generator or an array of uniforms")
    out = np.full((n_req, k), -1, dtype=np.int64)
    if n_req == 0 or n == 0 or k == 0:
        return out
    rows = np.arange(n_req)
    order, n_of_type, start = _sort_rows_by_type_relevance(rel, types, n_types, k)
    counts = np.zeros((n_req, n_types), dtype=np.int64)
    for j in range(k):
        g = _pick_types(u[:, j], m * (counts < n_of_type))
        ok = g >= 0
        if not ok.any():
            break
        r_ok = rows[ok]
        g_ok = g[ok]
        out[r_ok, j] = order[r_ok, start[r_ok, g_ok] + counts[r_ok, g_ok]]
        counts[r_ok, g_ok] += 1
    return out
