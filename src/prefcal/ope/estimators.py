"""Off-policy estimators of a target policy's value, with Open Bandit Pipeline's arguments.

Logged data of ``n`` rounds (rows) collected by a logging policy ``pi_0``:

* ``reward (n,)``: observed reward ``r_i`` (e.g. stream >= 30 s, click);
* ``action (n,)`` int: logged action ``a_i`` in ``0..n_actions-1``;
* ``position (n,)`` int or ``None``: slot ``k_i`` in ``0..len_list-1`` (``None`` means 0 for all
  rows and requires ``len_list = 1``);
* ``pscore (n,)``: logging propensity ``pi_0(a_i | x_i)`` (of ``a_i`` at ``k_i``), in (0, 1];
* ``action_dist (n, n_actions, len_list)``: target policy ``pi(a | x_i, k)``, summing to one over
  actions for every row and slot;
* ``estimated_rewards_by_reg_model (n, n_actions, len_list)``: reward model ``q^(x_i, a, k)``.

With the importance weight ``w_i = pi(a_i | x_i, k_i) / pscore_i``, the residual
``e_i = r_i - q^(x_i, a_i, k_i)`` and the model's value of the target policy
``d_i = sum_a pi(a | x_i, k_i) q^(x_i, a, k_i)``, the estimates of the policy value (mean reward per
logged row, as in obp) are

=============  ===========================================================================
``dm``         ``(1/n) sum_i d_i``
``ipw``        ``(1/n) sum_i min(w_i, lambda_) r_i``  (``lambda_ = inf``: no clipping)
``snipw``      ``sum_i w_i r_i / sum_i w_i``
``dr``         ``(1/n) sum_i [d_i + min(w_i, lambda_) e_i]``
``sndr``       ``(1/n) sum_i d_i + sum_i w_i e_i / sum_i w_i``
``switch_dr``  ``(1/n) sum_i [d_i + 1[w_i <= lambda_] w_i e_i]``: the DR (IPW-corrected) term
               where the weight is at most ``lambda_``, DM alone otherwise (Wang et al. 2017;
               obp's SwitchDoublyRobust). ``lambda_ = inf`` gives DR, ``lambda_ = 0`` DM.
``dr_os``      ``(1/n) sum_i [d_i + w~_i e_i]``, ``w~ = lambda_ w / (w^2 + lambda_)`` (optimistic
               shrinkage, Su et al. 2020; obp's DoublyRobustWithShrinkage). ``lambda_ = inf``
               gives DR, ``lambda_ = 0`` DM.
=============  ===========================================================================

Each function returns a float. Every estimator is also available as its *parts*: arrays
``(a, b, c)`` with ``value = mean(a) + sum(b) / sum(c)`` (unused parts are ``None``), which the
vectorised bootstrap (:mod:`prefcal.ope.bootstrap`) resamples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["dm", "dr", "dr_os", "ipw", "sndr", "snipw", "switch_dr"]

OBP_ARGUMENTS = frozenset(
    {"reward", "action", "position", "pscore", "action_dist", "estimated_rewards_by_reg_model"}
)


@dataclass(frozen=True)
class Parts:
    """An estimate as ``mean(a) + sum(b) / sum(c)`` over logged rows (``None`` = term absent)."""

    a: np.ndarray | None = None
    b: np.ndarray | None = None
    c: np.ndarray | None = None

    def value(self) -> float:
        out = 0.0
        if self.a is not None:
            out += float(self.a.mean()) if self.a.size else float("nan")
        if self.b is not None and self.c is not None:
            den = float(self.c.sum())
            if den == 0.0:
                warnings.warn(
                    "self-normalised estimate is undefined: the importance weights sum to zero "
                    "(the target policy never takes a logged action); returning nan",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return float("nan")
            out += float(self.b.sum()) / den
        return out


def _reject_unknown(kwargs: dict[str, Any], func: str) -> None:
    unknown = set(kwargs) - OBP_ARGUMENTS
    if unknown:
        raise TypeError(f"{func}() got unexpected argument(s) {sorted(unknown)}")


def _vector(x: ArrayLike, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_rounds,), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows (like action_dist), got {arr.shape[0]}")
    return arr


def _check_action_dist(action_dist: ArrayLike) -> np.ndarray:
    ad = np.asarray(action_dist, dtype=np.float64)
    if ad.ndim != 3:
        raise ValueError(
            f"action_dist must be 3-D (n_rounds, n_actions, len_list), got shape {ad.shape}"
        )
    if ad.shape[0] == 0:
        raise ValueError("action_dist has no rounds")
    if not np.all(np.isfinite(ad)) or ad.min() < 0:
        raise ValueError("action_dist must hold finite non-negative probabilities")
    sums = ad.sum(axis=1)
    bad = np.abs(sums - 1.0) > 1e-6
    if bad.any():
        i, k = np.unravel_index(np.argmax(bad), sums.shape)
        raise ValueError(
            f"action_dist must sum to 1 over actions; row {i}, position {k} "
            f"sums to {sums[i, k]:.6g}"
        )
    return ad


def _check_position(position: ArrayLike | None, n: int, len_list: int) -> np.ndarray:
    if position is None:
        if len_list != 1:
            raise ValueError(f"position is required when action_dist has len_list = {len_list} > 1")
        return np.zeros(n, dtype=np.int64)
    pos = _vector(position, "position", n)
    if not np.issubdtype(pos.dtype, np.integer):
        raise ValueError("position must hold integers")
    pos = pos.astype(np.int64)
    if pos.min() < 0 or pos.max() >= len_list:
        raise ValueError(f"position must lie in 0..{len_list - 1} (len_list of action_dist)")
    return pos


def _check_action(action: ArrayLike, n: int, n_actions: int) -> np.ndarray:
    act = _vector(action, "action", n)
    if not np.issubdtype(act.dtype, np.integer):
        raise ValueError("action must hold integers")
    act = act.astype(np.int64)
    if act.min() < 0 or act.max() >= n_actions:
        raise ValueError(f"action must lie in 0..{n_actions - 1} (n_actions of action_dist)")
    return act


def _check_reward(reward: ArrayLike, n: int) -> np.ndarray:
    r = _vector(reward, "reward", n).astype(np.float64)
    if not np.all(np.isfinite(r)):
        raise ValueError("reward must hold finite values")
    return r


def _check_pscore(pscore: ArrayLike, n: int) -> np.ndarray:
    ps = _vector(pscore, "pscore", n).astype(np.float64)
    if not np.all((ps > 0) & (ps <= 1)):
        i = int(np.flatnonzero(~((ps > 0) & (ps <= 1)))[0])
        raise ValueError(f"pscore must lie in (0, 1]; row {i} has {ps[i]!r}")
    return ps


def _check_q(q: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    qa = np.asarray(q, dtype=np.float64)
    if qa.shape != shape:
        raise ValueError(
            f"estimated_rewards_by_reg_model must have the shape of action_dist {shape}, "
            f"got {qa.shape}"
        )
    if not np.all(np.isfinite(qa)):
        raise ValueError("estimated_rewards_by_reg_model must hold finite values")
    return qa


def _check_lambda(lambda_: float) -> float:
    lam = float(lambda_)
    if np.isnan(lam) or lam < 0:
        raise ValueError(f"lambda_ must be >= 0 (inf allowed), got {lambda_}")
    return lam


def _at_position(arr: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``arr[i, :, pos_i]`` as ``(n, n_actions)`` (a view when ``len_list = 1``)."""
    if arr.shape[2] == 1:
        return arr[:, :, 0]
    return np.take_along_axis(arr, pos[:, None, None], axis=2)[:, :, 0]


def _weights(
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    position: ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``(w, action, position, action_dist)``, ``w_i = pi(a_i|x_i,k_i) / pscore_i``."""
    ad = _check_action_dist(action_dist)
    n, n_actions, len_list = ad.shape
    act = _check_action(action, n, n_actions)
    pos = _check_position(position, n, len_list)
    ps = _check_pscore(pscore, n)
    return ad[np.arange(n), act, pos] / ps, act, pos, ad


def _dm_terms(
    ad: np.ndarray, q: np.ndarray, act: np.ndarray, pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``d_i = sum_a pi(a|x_i,k_i) q^(x_i,a,k_i)`` and ``q^(x_i, a_i, k_i)``."""
    pi_k = _at_position(ad, pos)
    q_k = _at_position(q, pos)
    d = np.einsum("ij,ij->i", pi_k, q_k)
    return d, q_k[np.arange(act.size), act]


def dm_parts(
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    **kwargs: Any,
) -> Parts:
    """Parts of :func:`dm`: ``a_i = d_i``."""
    _reject_unknown(kwargs, "dm")
    ad = _check_action_dist(action_dist)
    q = _check_q(estimated_rewards_by_reg_model, ad.shape)
    pos = _check_position(position, ad.shape[0], ad.shape[2])
    pi_k = _at_position(ad, pos)
    return Parts(a=np.einsum("ij,ij->i", pi_k, _at_position(q, pos)))


def ipw_parts(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    position: ArrayLike | None = None,
    lambda_: float = np.inf,
    **kwargs: Any,
) -> Parts:
    """Parts of :func:`ipw`: ``a_i = min(w_i, lambda_) r_i``."""
    _reject_unknown(kwargs, "ipw")
    w, act, _, _ = _weights(action, pscore, action_dist, position)
    r = _check_reward(reward, act.size)
    return Parts(a=np.minimum(w, _check_lambda(lambda_)) * r)


def snipw_parts(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    position: ArrayLike | None = None,
    **kwargs: Any,
) -> Parts:
    """Parts of :func:`snipw`: ``b_i = w_i r_i``, ``c_i = w_i``."""
    _reject_unknown(kwargs, "snipw")
    w, act, _, _ = _weights(action, pscore, action_dist, position)
    r = _check_reward(reward, act.size)
    return Parts(b=w * r, c=w)


def _dr_inputs(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w, d, e)``: weights, DM terms and residuals ``e_i = r_i - q^(x_i, a_i, k_i)``."""
    w, act, pos, ad = _weights(action, pscore, action_dist, position)
    r = _check_reward(reward, act.size)
    q = _check_q(estimated_rewards_by_reg_model, ad.shape)
    d, q_logged = _dm_terms(ad, q, act, pos)
    return w, d, r - q_logged


def dr_parts(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    lambda_: float = np.inf,
    **kwargs: Any,
) -> Parts:
    """Parts of :func:`dr`: ``a_i = d_i + min(w_i, lambda_) e_i``."""
    _reject_unknown(kwargs, "dr")
    w, d, e = _dr_inputs(
        reward, action, pscore, action_dist, estimated_rewards_by_reg_model, position
    )
    return Parts(a=d + np.minimum(w, _check_lambda(lambda_)) * e)


def sndr_parts(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    **kwargs: Any,
) -> Parts:
    """Parts of :func:`sndr`: ``a_i = d_i``, ``b_i = w_i e_i``, ``c_i = w_i``."""
    _reject_unknown(kwargs, "sndr")
    w, d, e = _dr_inputs(
        reward, action, pscore, action_dist, estimated_rewards_by_reg_model, position
    )
    return Parts(a=d, b=w * e, c=w)


def switch_dr_parts(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    lambda_: float = np.inf,
    **kwargs: Any,
) -> Parts:
    """Parts of :func:`switch_dr`: ``a_i = d_i + 1[w_i <= lambda_] w_i e_i``."""
    _reject_unknown(kwargs, "switch_dr")
    w, d, e = _dr_inputs(
        reward, action, pscore, action_dist, estimated_rewards_by_reg_model, position
    )
    return Parts(a=d + np.where(w <= _check_lambda(lambda_), w * e, 0.0))


def dr_os_parts(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    lambda_: float = np.inf,
    **kwargs: Any,
) -> Parts:
    """Parts of :func:`dr_os`: ``a_i = d_i + lambda_ w_i / (w_i^2 + lambda_) e_i``."""
    _reject_unknown(kwargs, "dr_os")
    w, d, e = _dr_inputs(
        reward, action, pscore, action_dist, estimated_rewards_by_reg_model, position
    )
    lam = _check_lambda(lambda_)
    if np.isinf(lam):
        shrunk = w
    elif lam == 0:
        shrunk = np.zeros_like(w)
    else:
        shrunk = lam * w / (w * w + lam)
    return Parts(a=d + shrunk * e)


def dm(
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    **kwargs: Any,
) -> float:
    """Direct method: ``V = (1/n) sum_i sum_a pi(a | x_i, k_i) q^(x_i, a, k_i)``.

    Other obp arguments (``reward``, ``action``, ``pscore``) are accepted and ignored, so one dict
    of logged data can be passed to every estimator.
    """
    return dm_parts(action_dist, estimated_rewards_by_reg_model, position, **kwargs).value()


def ipw(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    position: ArrayLike | None = None,
    lambda_: float = np.inf,
    **kwargs: Any,
) -> float:
    """Inverse probability weighting: ``V = (1/n) sum_i min(w_i, lambda_) r_i``.

    ``w_i = action_dist[i, a_i, k_i] / pscore_i``; ``lambda_`` clips the weights (obp's
    ``lambda_``; ``inf`` = plain IPW, unbiased when the logging propensities are right).
    """
    return ipw_parts(reward, action, pscore, action_dist, position, lambda_, **kwargs).value()


def snipw(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    position: ArrayLike | None = None,
    **kwargs: Any,
) -> float:
    """Self-normalised IPW: ``V = sum_i w_i r_i / sum_i w_i`` (invariant to scaling all weights)."""
    return snipw_parts(reward, action, pscore, action_dist, position, **kwargs).value()


def dr(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    lambda_: float = np.inf,
    **kwargs: Any,
) -> float:
    """Doubly robust: ``V = DM + (1/n) sum_i min(w_i, lambda_) (r_i - q^(x_i, a_i, k_i))``."""
    return dr_parts(
        reward,
        action,
        pscore,
        action_dist,
        estimated_rewards_by_reg_model,
        position,
        lambda_,
        **kwargs,
    ).value()


def sndr(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    **kwargs: Any,
) -> float:
    """Self-normalised DR: ``V = DM + sum_i w_i (r_i - q^_i) / sum_i w_i``."""
    return sndr_parts(
        reward, action, pscore, action_dist, estimated_rewards_by_reg_model, position, **kwargs
    ).value()


def switch_dr(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    lambda_: float = np.inf,
    **kwargs: Any,
) -> float:
    """Switch-DR: ``V = DM + (1/n) sum_i 1[w_i <= lambda_] w_i (r_i - q^_i)``.

    The importance-weighted correction is used where the weight is at most ``lambda_`` and the
    reward model alone elsewhere (obp's definition; ``inf``: DR, ``0``: DM).
    """
    return switch_dr_parts(
        reward,
        action,
        pscore,
        action_dist,
        estimated_rewards_by_reg_model,
        position,
        lambda_,
        **kwargs,
    ).value()


def dr_os(
    reward: ArrayLike,
    action: ArrayLike,
    pscore: ArrayLike,
    action_dist: ArrayLike,
    estimated_rewards_by_reg_model: ArrayLike,
    position: ArrayLike | None = None,
    lambda_: float = np.inf,
    **kwargs: Any,
) -> float:
    """DR with optimistic shrinkage: ``V = DM + (1/n) sum_i w~_i (r_i - q^_i)``,
    ``w~ = lambda_ w / (w^2 + lambda_)`` (``inf``: DR, ``0``: DM)."""
    return dr_os_parts(
        reward,
        action,
        pscore,
        action_dist,
        estimated_rewards_by_reg_model,
        position,
        lambda_,
        **kwargs,
    ).value()


PARTS: dict[Callable[..., float], Callable[..., Parts]] = {
    dm: dm_parts,
    ipw: ipw_parts,
    snipw: snipw_parts,
    dr: dr_parts,
    sndr: sndr_parts,
    switch_dr: switch_dr_parts,
    dr_os: dr_os_parts,
}
