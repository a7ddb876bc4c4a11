"""Position-based-model (PBM) correction for slot-level rewards.

Model (Craswell et al. 2008; used for Home shelves by Semerci et al. 2019): the reward of item ``a``
shown in slot ``k`` of context ``x`` is

.. math:: P(r = 1 \\mid x, a, k) = \\theta_k \\, \\gamma(x, a),

with examination probabilities ``theta_k`` (slot ``k`` is looked at) and attractiveness ``gamma``.
Logged rows are impressions ``(x_i, a_i, k_i, r_i)`` with propensity
``pscore_i = mu(a_i, k_i | x_i)`` (probability that the logging policy put ``a_i`` in slot ``k_i``).
A target policy puts item ``a`` in slot ``k'`` with probability ``action_dist[i, a, k']``; its value
per impression is

.. math:: V = \\frac1L \\sum_{k'} \\sum_a \\pi(a, k' \\mid x) \\, \\theta_{k'} \\, \\gamma(x, a).

Because ``r_i / theta_{k_i}`` is unbiased for ``gamma(x_i, a_i)``, a row logged in slot ``k_i``
can stand for its item in *any* target slot ``k'`` after re-weighting by the examination ratio:

.. math::

    \\hat V_{PBM} = \\frac1n \\sum_i \\omega_i r_i, \\qquad
    \\omega_i = \\frac{\\sum_{k'} \\theta_{k'} \\, \\pi(a_i, k' \\mid x_i)}
                     {\\theta_{k_i} \\, m(a_i \\mid x_i)}, \\qquad
    m(a \\mid x) = \\sum_k \\mu(a, k \\mid x),

where ``m`` (``pscore_item``) is the expected number of times the logging policy shows item ``a`` in
the slate. In expectation the ``L`` rows of one slate give
``sum_k sum_a mu(a, k) theta_k gamma(a) omega(a, k)``
``= sum_a gamma(a) sum_k' theta_k' pi(a, k') = L V``, so the mean over rows is unbiased for ``V``
under the PBM whenever every item the target shows is logged in *some* slot (``m(a | x) > 0``)
and every logged slate contributes its ``L`` rows. When the logging policy draws every slot from
the same distribution (e.g. uniform random),
``m = L mu(a_i, k_i)`` (the default when ``pscore_item`` is not given) and
``omega_i = sum_k' (theta_k' / theta_{k_i}) pi(a_i, k') / (L mu_i)``.

Self-normalised variant: ``omega`` itself does not average to one (the examination ratios), but the
position-free item weight ``nu_i = sum_k' pi(a_i, k' | x_i) / m(a_i | x_i)`` does (the ``L`` rows of
a slate give ``sum_a sum_k' pi(a, k') = L`` in expectation), so
``V_SN = sum_i omega_i r_i / sum_i nu_i``. Only ratios of ``theta`` enter, so ``theta`` may be known
up to a constant (e.g.
:func:`examination_from_uniform_logs`). The plain per-slot IPW (``w_i = pi(a_i, k_i) / mu_i``,
:func:`prefcal.ope.ipw`) needs no click model but only uses rows logged in the slot where the target
shows the item; the PBM estimator pools all slots.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from prefcal.ope.estimators import (
    PARTS,
    Parts,
    _check_action,
    _check_action_dist,
    _check_position,
    _check_pscore,
    _check_reward,
    _reject_unknown,
)

__all__ = ["examination_from_uniform_logs", "pbm_ipw", "pbm_weights"]


def _check_examination(examination: ArrayLike, len_list: int) -> np.ndarray:
    theta = np.asarray(examination, dtype=np.float64)
    if theta.shape != (len_list,):
        raise ValueError(
            f"examination must have shape ({len_list},) = (len_list,), got {theta.shape}"
        )
    if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
        raise ValueError("examination probabilities must be finite and positive")
    return theta


def _pbm_weights(
    action: ArrayLike,
    position: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    examination: ArrayLike,
    pscore_item: ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(omega, nu)``: PBM weights and position-free item weights (module docstring)."""
    ad = _check_action_dist(action_dist)
    n, n_actions, len_list = ad.shape
    act = _check_action(action, n, n_actions)
    pos = _check_position(position, n, len_list)
    ps = _check_pscore(pscore, n)
    theta = _check_examination(examination, len_list)
    if pscore_item is None:
        m = len_list * ps
    else:
        m = np.asarray(pscore_item, dtype=np.float64)
        if m.shape != (n,):
            raise ValueError(f"pscore_item must have shape ({n},), got {m.shape}")
        if not np.all((m >= ps) & (m <= len_list)):
            raise ValueError(
                "pscore_item must lie in [pscore, len_list] "
                "(it sums the item's probability over slots)"
            )
    pi_item = ad[np.arange(n), act, :]  # (n, L): target probability of a_i in every slot
    return (pi_item @ theta) / (theta[pos] * m), pi_item.sum(axis=1) / m


def pbm_weights(
    action: ArrayLike,
    position: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    examination: ArrayLike,
    pscore_item: ArrayLike | None = None,
) -> np.ndarray:
    """``omega_i = sum_k' theta_k' action_dist[i, a_i, k'] / (theta_{k_i} m_i)``.

    ``m_i = pscore_item[i]`` (expected count of item ``a_i`` in the logged slate), by default
    ``len_list * pscore[i]`` (slot-independent logging).
    """
    return _pbm_weights(action, position, pscore, action_dist, examination, pscore_item)[0]


def pbm_ipw_parts(
    reward: ArrayLike,
    action: ArrayLike,
    position: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    examination: ArrayLike,
    pscore_item: ArrayLike | None = None,
    self_normalize: bool = False,
    **kwargs: Any,
) -> Parts:
    """Parts of :func:`pbm_ipw`: ``a = omega r`` (self-normalised: ``b = omega r``, ``c = nu``)."""
    _reject_unknown(kwargs, "pbm_ipw")
    omega, nu = _pbm_weights(action, position, pscore, action_dist, examination, pscore_item)
    r = _check_reward(reward, omega.size)
    if self_normalize:
        return Parts(b=omega * r, c=nu)
    return Parts(a=omega * r)


def pbm_ipw(
    reward: ArrayLike,
    action: ArrayLike,
    position: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    examination: ArrayLike,
    pscore_item: ArrayLike | None = None,
    self_normalize: bool = False,
    **kwargs: Any,
) -> float:
    """PBM-corrected IPS estimate of the target's reward per impression (module docstring).

    ``examination`` is ``theta (len_list,)``; ``pscore_i`` is the logging probability of item
    ``a_i`` in slot ``k_i`` (obp's meaning); ``pscore_item_i`` the expected number of times the
    logging policy shows ``a_i`` in the slate (default ``len_list * pscore_i``); rows are all ``L``
    impressions of every logged slate; ``self_normalize`` divides by the mean position-free item
    weight ``nu``.
    """
    return pbm_ipw_parts(
        reward,
        action,
        position,
        pscore,
        action_dist,
        examination,
        pscore_item,
        self_normalize,
        **kwargs,
    ).value()


def examination_from_uniform_logs(
    reward: ArrayLike, position: ArrayLike, len_list: int | None = None
) -> np.ndarray:
    """Relative examination ``theta_k = CTR_k / CTR_0`` from logs with a slot-independent item mix.

    Under the PBM, ``E[r | k] = theta_k E[gamma]`` when the logging policy draws items the same way
    in every slot (e.g. uniform random), so click rates by slot are proportional to ``theta``.
    """
    r = np.asarray(reward, dtype=np.float64)
    pos = np.asarray(position)
    if r.ndim != 1 or pos.shape != r.shape:
        raise ValueError("reward and position must be 1-D of equal length")
    if not np.issubdtype(pos.dtype, np.integer) or pos.min() < 0:
        raise ValueError("position must hold non-negative integers")
    n_slots = int(pos.max()) + 1 if len_list is None else int(len_list)
    shown = np.bincount(pos, minlength=n_slots).astype(np.float64)
    clicks = np.bincount(pos, weights=r, minlength=n_slots)
    if np.any(shown == 0) or clicks[0] <= 0 or np.any(clicks <= 0):
        raise ValueError("every slot needs impressions and at least one positive reward")
    ctr = clicks / shown
    return ctr / ctr[0]


PARTS[pbm_ipw] = pbm_ipw_parts
