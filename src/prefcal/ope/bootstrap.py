"""Nonparametric bootstrap confidence intervals for the off-policy estimators.

Rows (logged rounds) are resampled with replacement ``n_boot`` times; the interval is the
percentile interval ``[Q(alpha/2), Q(1 - alpha/2)]`` of the ``n_boot`` re-estimates.

For the estimators of :mod:`prefcal.ope.estimators` the re-estimates are vectorised: each estimator
is ``mean(a) + sum(b) / sum(c)`` of per-row parts, computed once; every replicate only gathers the
parts at a matrix of resampled indices (drawn in blocks of replicates, about 2^24 indices a block,
so memory stays bounded for a million rows). Any other callable is re-run on each resample (slow
path, a Python loop over replicates). The index draws are the same in both paths, so both give the
same replicates for the same ``random_state``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from prefcal.ope.estimators import OBP_ARGUMENTS, PARTS

__all__ = ["bootstrap_ci"]

_BLOCK = 2**24  # indices drawn per block of replicates
# per-row arguments that the slow path resamples (the others, e.g. lambda_, pass unchanged)
ROW_ARGUMENTS = OBP_ARGUMENTS | {"pscore_item"}


def _index_blocks(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    per_block = max(1, _BLOCK // n)
    for lo in range(0, n_boot, per_block):
        yield rng.integers(0, n, size=(min(per_block, n_boot - lo), n))


def _n_rows(kwargs: dict[str, Any]) -> int:
    for name in ("action_dist", "reward", "action", "pscore", "estimated_rewards_by_reg_model"):
        if kwargs.get(name) is not None:
            return int(np.shape(kwargs[name])[0])
    raise ValueError("bootstrap_ci needs the logged data as keyword arguments (e.g. reward=...)")


def bootstrap_ci(
    estimator: Callable[..., float],
    n_boot: int = 1000,
    alpha: float = 0.05,
    random_state: int | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Percentile bootstrap interval of ``estimator(**kwargs)``.

    Parameters
    ----------
    estimator : callable
        One of :func:`prefcal.ope.dm`, ``ipw``, ``snipw``, ``dr``, ``sndr``, ``switch_dr``,
        ``dr_os`` (vectorised), or any function of the obp arguments returning a float.
    n_boot : int
        Number of bootstrap replicates.
    alpha : float in (0, 1)
        The interval covers ``1 - alpha``.
    random_state : int | None
        Seed of the index draws.
    **kwargs
        The estimator's arguments (obp names; arrays with one row per logged round are resampled,
        other arguments such as ``lambda_`` are passed unchanged).

    Returns
    -------
    ``{"estimate": value on the full data, "mean": mean of the replicates, "lower", "upper",
    "n_boot", "alpha"}``. Replicates that are undefined (a self-normalised estimate whose resampled
    weights sum to zero) are dropped from the quantiles; if all are, lower/upper are nan.
    """
    n_boot = int(n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    rng = np.random.default_rng(random_state)
    n = _n_rows(kwargs)
    reps = np.empty(n_boot)
    parts_fn = PARTS.get(estimator)
    if parts_fn is not None:
        parts = parts_fn(**kwargs)
        estimate = parts.value()
        lo = 0
        for idx in _index_blocks(n, n_boot, rng):
            val = np.zeros(idx.shape[0])
            if parts.a is not None:
                val += parts.a[idx].mean(axis=1)
            if parts.b is not None and parts.c is not None:
                den = parts.c[idx].sum(axis=1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    val += np.where(den != 0, parts.b[idx].sum(axis=1) / den, np.nan)
            reps[lo : lo + idx.shape[0]] = val
            lo += idx.shape[0]
    else:
        estimate = float(estimator(**kwargs))
        lo = 0
        for idx in _index_blocks(n, n_boot, rng):
            for row in idx:
                resampled = {
                    key: (
                        np.asarray(val)[row]
                        if key in ROW_ARGUMENTS and val is not None and np.ndim(val) >= 1
                        else val
                    )
                    for key, val in kwargs.items()
                }
                reps[lo] = float(estimator(**resampled))
                lo += 1
    finite = reps[np.isfinite(reps)]
    if finite.size:
        lower, upper = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
        mean = float(finite.mean())
    else:
        lower = upper = mean = float("nan")
    return {
        "estimate": float(estimate),
        "mean": mean,
        "lower": float(lower),
        "upper": float(upper),
        "n_boot": n_boot,
        "alpha": alpha,
    }
